"""google.colab.patches.cv2_imshow: shows the image inline, as Colab's does."""


def cv2_imshow(a):
    import io

    import numpy as np
    from IPython.display import Image, display
    from PIL import Image as Picture

    a = np.clip(np.asarray(a), 0, 255).astype("uint8")
    if a.ndim == 3 and a.shape[2] in (3, 4):       # OpenCV's BGR(A) -> RGB(A)
        a = a[..., [2, 1, 0, 3][: a.shape[2]]]
    buffer = io.BytesIO()
    Picture.fromarray(a).save(buffer, format="PNG")
    display(Image(data=buffer.getvalue()))
