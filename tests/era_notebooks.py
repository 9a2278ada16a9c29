"""Notebooks and scripts written the way this course's students wrote them in
2020-2023 (TensorFlow 2.x with Keras 2), for the re-run tests.

Real student code cannot be shipped, so each builder writes one in the style
seen in real submissions, covering the patterns of issue 10: standalone
``keras`` imports from ``keras.layers.core`` / ``keras.layers.convolutional``,
``np_utils``, ``optimizers.RMSprop(lr=...)``, ``ImageDataGenerator`` with
``fit_generator``, ``predict_classes``, ``metrics=['acc']`` (and the classic
bug: ``metrics=['accuracy']`` read back as ``history.history['acc']``),
``workers=``/``use_multiprocessing=``, ``tf.compat.v1``, Colab's
``drive.mount`` and ``%tensorflow_version``, Windows paths (absolute, with
``Path(...)`` and ``os.chdir``, and relative with backslashes), scikit-learn,
pandas, seaborn, OpenCV, imageio, IPython.display, a plain ``.py`` script, and
a Python 3.6-3.8 kernel in the metadata.

Every source says what its re-run must show: per code cell (1-based) that
fails, the cause grader/rerun/causes.py must give; every other cell runs.
Trainings are small (a few filters) so that a capped epoch on the real 60,000
or 50,000 training images stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

WINDOWS_ROOT = "C:\\Users\\jdoe\\Documents\\GitHub\\dsc650\\dsc650\\assignments\\assignment06"
WINDOWS_FORWARD = "C:/Users/jdoe/Documents/GitHub/dsc650/dsc650/assignments/assignment06"


@dataclass
class EraSource:
    path: str                                   # relative to the assignment folder
    part: str | None
    cells: list[str]                            # code cells (a script: one)
    python: str | None = None                   # language_info.version in the metadata
    colab: bool = False
    failures: dict[int, str] = field(default_factory=dict)   # cell -> cause, with the data folder of the tests
    runtime: str = "keras2"                     # what choose_runtime must say
    saved_outputs: dict[int, str] = field(default_factory=dict)   # cell -> what the student's run printed

    @property
    def is_script(self) -> bool:
        return self.path.endswith(".py")


def kernel_metadata(python: str | None, colab: bool) -> dict:
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    if python:
        metadata["language_info"] = {"name": "python", "version": python, "mimetype": "text/x-python",
                                     "file_extension": ".py", "codemirror_mode": {"name": "ipython", "version": 3}}
    if colab:
        metadata["colab"] = {"name": "Assignment_6_2a.ipynb", "provenance": []}
        metadata["accelerator"] = "GPU"
    return metadata


def write_source(folder: Path, source: EraSource) -> str:
    """Write ``source`` under ``folder``; returns its path relative to it."""
    target = folder / source.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_script:
        target.write_text("\n\n".join(source.cells) + "\n", encoding="utf-8")
        return source.path
    cells = [new_markdown_cell(f"# {source.path}\nDSC 650, assignment 6.")]
    for number, code in enumerate(source.cells, start=1):
        printed = source.saved_outputs.get(number)
        outputs = [new_output("stream", name="stdout", text=printed)] if printed else []
        cells.append(new_code_cell(code, outputs=outputs, execution_count=number if printed else None))
    notebook = new_notebook(cells=cells, metadata=kernel_metadata(source.python, source.colab))
    nbformat.write(notebook, str(target))
    return source.path


# ------------------------------------------------------------------ sources


def mnist_keras2_notebook() -> EraSource:
    """6.1 after Chollet's listing 5.1, standalone Keras 2 on a Python 3.6 kernel."""
    return EraSource("6.1_mnist_convnet.ipynb", "6.1", python="3.6.9", cells=[
        "import os, json\nimport numpy as np\nimport pandas as pd\nimport seaborn as sns\n"
        "import matplotlib.pyplot as plt\nfrom sklearn.metrics import confusion_matrix\n"
        "from keras.datasets import mnist\nfrom keras import models, optimizers\n"
        "from keras.layers.core import Dense, Flatten\n"
        "from keras.layers.convolutional import Conv2D, MaxPooling2D\nfrom keras.utils import np_utils",
        "(train_images, train_labels), (test_images, test_labels) = mnist.load_data()\n"
        "train_images = train_images.reshape((60000, 28, 28, 1)).astype('float32') / 255\n"
        "test_images = test_images.reshape((10000, 28, 28, 1)).astype('float32') / 255\n"
        "train_labels = np_utils.to_categorical(train_labels)\ntest_labels = np_utils.to_categorical(test_labels)",
        "model = models.Sequential()\n"
        "model.add(Conv2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)))\n"
        "model.add(MaxPooling2D((2, 2)))\nmodel.add(Conv2D(16, (3, 3), activation='relu'))\n"
        "model.add(MaxPooling2D((2, 2)))\nmodel.add(Flatten())\nmodel.add(Dense(32, activation='relu'))\n"
        "model.add(Dense(10, activation='softmax'))\n"
        "model.compile(optimizer=optimizers.RMSprop(lr=1e-3), loss='categorical_crossentropy', metrics=['acc'])",
        "history = model.fit(train_images, train_labels, epochs=5, batch_size=128, validation_split=0.1, verbose=2)",
        "test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)\nprint('Test accuracy:', test_acc)",
        f"results_dir = {WINDOWS_ROOT + chr(92) + 'results' + chr(92) + '6.1'!r}\n"
        "os.makedirs(results_dir, exist_ok=True)\nmodel.save(os.path.join(results_dir, 'model.h5'))\n"
        "with open(os.path.join(results_dir, 'metrics.json'), 'w') as f:\n"
        "    json.dump({'test_accuracy': test_acc, 'test_loss': test_loss}, f)",
        "acc = history.history['acc']\nval_acc = history.history['val_acc']\n"
        "plt.plot(range(1, len(acc) + 1), acc, 'bo', label='Training acc')\n"
        "plt.plot(range(1, len(acc) + 1), val_acc, 'b', label='Validation acc')\nplt.legend()\n"
        "plt.savefig(os.path.join(results_dir, 'accuracy.png'))\nplt.show()",
        "predicted = model.predict_classes(test_images)\nactual = test_labels.argmax(axis=1)\n"
        "pd.DataFrame({'predicted': predicted, 'actual': actual}).to_csv(os.path.join(results_dir, "
        "'predictions.csv'), index=False)\nsns.heatmap(confusion_matrix(actual, predicted), annot=False)\nplt.show()",
    ])


def cifar_colab_notebook() -> EraSource:
    """6.2a on Colab (Python 3.7): drive.mount, os.chdir into Drive, tf.keras,
    workers=/use_multiprocessing=, and the student's bug: metrics=['accuracy']
    read back as history.history['acc'] (cell 9)."""
    return EraSource("6.2a_cifar10_colab.ipynb", "6.2a", python="3.7.12", colab=True, failures={9: "student-code"},
                     cells=[
        "%tensorflow_version 2.x\nfrom google.colab import drive\ndrive.mount('/content/drive')",
        "import os\nos.chdir('/content/drive/My Drive/assignment06')\nprint(os.getcwd())",
        "import tensorflow as tf\nfrom tensorflow.keras.datasets import cifar10\n"
        "from tensorflow.keras import layers, models\nfrom tensorflow.keras.utils import to_categorical\n"
        "import matplotlib.pyplot as plt\ntf.compat.v1.set_random_seed(42)",
        "(x_train, y_train), (x_test, y_test) = cifar10.load_data()\n"
        "x_train, x_test = x_train.astype('float32') / 255, x_test.astype('float32') / 255\n"
        "y_train, y_test = to_categorical(y_train), to_categorical(y_test)\nprint(x_train.shape, x_test.shape)",
        "model = models.Sequential([layers.Conv2D(8, (3, 3), activation='relu', input_shape=(32, 32, 3)),\n"
        "                           layers.MaxPooling2D((2, 2)), layers.Flatten(),\n"
        "                           layers.Dense(10, activation='softmax')])\n"
        "model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])",
        "history = model.fit(x_train, y_train, epochs=20, batch_size=256, validation_data=(x_test, y_test),\n"
        "                    workers=4, use_multiprocessing=True, verbose=2)",
        "test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)\nprint(f'Test accuracy: {test_acc:.4f}')",
        "os.makedirs('results/6.2a', exist_ok=True)\nmodel.save('results/6.2a/model.h5')",
        "plt.plot(history.history['acc'], label='train')\nplt.plot(history.history['val_acc'], label='validation')\n"
        "plt.savefig('results/6.2a/accuracy.png')",
    ])


def cifar_augmented_windows_notebook() -> EraSource:
    """6.2b on Windows (Python 3.8): Path('C:/...') and os.chdir, ImageDataGenerator
    with fit_generator and a ModelCheckpoint at a backslashed absolute path,
    Adam(lr=, decay=), a model saved at a relative backslashed path, predict_classes."""
    return EraSource("6.2b_cifar10_augmented.ipynb", "6.2b", python="3.8.5",
                     saved_outputs={7: "Test accuracy: 0.7012\nval_acc per epoch: [0.41, 0.52, 0.61]\n"}, cells=[
        f"from pathlib import Path\nimport os\nbase_dir = Path({WINDOWS_FORWARD + '/'!r})\nos.chdir(base_dir)\n"
        "results_dir = base_dir.joinpath('results').joinpath('6.2b')\nos.makedirs(results_dir, exist_ok=True)",
        "from keras.datasets import cifar10\nfrom keras.preprocessing.image import ImageDataGenerator\n"
        "from keras import layers, models, optimizers\nfrom keras.callbacks import ModelCheckpoint\n"
        "from keras.utils import to_categorical",
        "(x_train, y_train), (x_test, y_test) = cifar10.load_data()\n"
        "x_train, x_test = x_train.astype('float32') / 255, x_test.astype('float32') / 255\n"
        "y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)",
        "model = models.Sequential()\nmodel.add(layers.Conv2D(8, (3, 3), activation='relu', input_shape=(32, 32, 3)))\n"
        "model.add(layers.MaxPooling2D((2, 2)))\nmodel.add(layers.Flatten())\nmodel.add(layers.Dropout(0.5))\n"
        "model.add(layers.Dense(10, activation='softmax'))\n"
        "model.compile(optimizer=optimizers.Adam(lr=1e-3, decay=1e-6), loss='categorical_crossentropy',\n"
        "              metrics=['acc'])",
        "datagen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1,\n"
        "                             horizontal_flip=True)\ntrain_generator = datagen.flow(x_train, y_train, batch_size=32)",
        f"checkpoint = ModelCheckpoint({WINDOWS_ROOT + chr(92) + 'results' + chr(92) + '6.2b' + chr(92) + 'best_model.h5'!r},\n"
        "                             monitor='val_acc', save_best_only=True)\n"
        "history = model.fit_generator(train_generator, steps_per_epoch=20, epochs=100,\n"
        "                              validation_data=(x_test[:1000], y_test[:1000]), callbacks=[checkpoint])",
        "model.save('results\\\\6.2b\\\\model.h5')\ntest_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)\n"
        "print('Test accuracy:', test_acc)\npredicted = model.predict_classes(x_test)\n"
        "print('val_acc per epoch:', history.history['val_acc'])",
    ])


def resnet_windows_notebook(weights_in_data: bool) -> EraSource:
    """6.3: ResNet50(weights='imagenet') and pictures read with Windows paths
    (absolute forward-slash, relative backslash) through Keras, OpenCV,
    imageio and IPython.display. Without the weights in the data folder (the
    real ones are not on these machines), cell 2 fails for want of data and
    the cells that use its model fail after it."""
    failures = {} if weights_in_data else {2: "data-missing", 5: "earlier-failure", 6: "earlier-failure"}
    return EraSource("6.3_resnet50.ipynb", "6.3", python="3.8.5", failures=failures, cells=[
        "import numpy as np\nimport pandas as pd\nimport cv2\nimport imageio\nfrom IPython.display import Image, display\n"
        "from keras.applications.resnet50 import ResNet50, preprocess_input, decode_predictions\n"
        "from keras.preprocessing import image",
        "model = ResNet50(weights='imagenet')",
        "img_path = 'images\\\\tiger.jpg'\nimg = image.load_img(img_path, target_size=(224, 224))\n"
        "x = preprocess_input(np.expand_dims(image.img_to_array(img), axis=0))\nprint(x.shape)",
        f"bird = cv2.imread({WINDOWS_FORWARD + '/images/bird.jpg'!r})\nprint('bird', bird.shape)\n"
        "frame = imageio.imread('images\\\\bird.jpg')\ndisplay(Image(filename='images\\\\tiger.jpg'))",
        "preds = model.predict(x)\nprint('Predicted:', decode_predictions(preds, top=3)[0])",
        "rows = [(name, label, float(p)) for name, label, p in decode_predictions(preds, top=3)[0]]\n"
        "os_path = 'results\\\\predictions\\\\resnet50'\nimport os\nos.makedirs(os_path, exist_ok=True)\n"
        "pd.DataFrame(rows, columns=['wnid', 'label', 'probability']).to_csv(os_path + '\\\\predictions.csv')",
    ])


def mnist_script() -> EraSource:
    """A plain .py script of the era: np_utils, scikit-learn's train_test_split, fit(epochs=10)."""
    return EraSource("6.1_mnist_dense.py", "6.1", cells=[
        "import numpy as np\nfrom keras.datasets import mnist\nfrom keras.models import Sequential\n"
        "from keras.layers.core import Dense, Flatten\nfrom keras.utils import np_utils\n"
        "from sklearn.model_selection import train_test_split",
        "(x, y), (x_test, y_test) = mnist.load_data()\nx = x.reshape((60000, 28 * 28)).astype('float32') / 255\n"
        "x_test = x_test.reshape((10000, 28 * 28)).astype('float32') / 255\n"
        "x_train, x_val, y_train, y_val = train_test_split(x, np_utils.to_categorical(y), test_size=0.2, "
        "random_state=0)",
        "model = Sequential([Dense(32, activation='relu', input_shape=(784,)), Dense(10, activation='softmax')])\n"
        "model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['acc'])\n"
        "history = model.fit(x_train, y_train, epochs=10, batch_size=256, validation_data=(x_val, y_val), verbose=0)",
        "loss, acc = model.evaluate(x_test, np_utils.to_categorical(y_test), verbose=0)\n"
        "print('epochs run:', len(history.history['acc']))\nprint('Test accuracy:', acc)",
    ])


def keras3_all_parts_notebook() -> EraSource:
    """One notebook for all parts, written for Keras 3 (keras.ops): the MNIST
    file fetched with get_file and Keras's own URL (found in the data folder),
    a data set from elsewhere (not on these machines), a package the course
    does not allow (xgboost), and a model saved as .keras."""
    return EraSource("assignment06_all_parts.ipynb", None, python="3.11.7", runtime="keras3",
                     failures={4: "data-missing", 5: "package-not-allowed"}, cells=[
        "import numpy as np\nimport keras\nfrom keras import layers, ops\nkeras.utils.set_random_seed(0)",
        "path = keras.utils.get_file('mnist.npz', 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz')\n"
        "with np.load(path) as data:\n    x_train, y_train = data['x_train'] / 255.0, data['y_train']\n"
        "    x_test, y_test = data['x_test'] / 255.0, data['y_test']\nprint(x_train.shape)",
        "model = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(32, activation='relu'),\n"
        "                          layers.Dense(10, activation='softmax')])\n"
        "model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])\n"
        "history = model.fit(x_train, y_train, epochs=3, batch_size=256, verbose=0)\n"
        "print('Test accuracy:', model.evaluate(x_test, y_test, verbose=0)[1])\n"
        "print('mean prob', float(ops.mean(model(x_test[:10]))))",
        "flowers = keras.utils.get_file('flower_photos', 'https://example.org/datasets/flower_photos.tgz', untar=True)",
        "import xgboost",
        "import os\nos.makedirs('results/6.1', exist_ok=True)\nmodel.save('results/6.1/model.keras')\nprint('saved')",
    ])


def generator_workers_notebook() -> EraSource:
    """ImageDataGenerator batches read by a pool of workers: fit_generator with
    workers=4, use_multiprocessing=True, then fit(generator, steps_per_epoch=,
    workers=2) and evaluate_generator, as 6.2b notebooks did to feed a GPU.
    Keras 2 starts that pool in a thread whose failure it never reports; a
    sandbox where multiprocessing cannot make its locks must not hang on it."""
    return EraSource("6.2b_generator_workers.ipynb", "6.2b", python="3.7.12", cells=[
        "import numpy as np\nfrom keras.preprocessing.image import ImageDataGenerator\n"
        "from keras import layers, models",
        "x = np.random.RandomState(0).rand(256, 8, 8, 1).astype('float32')\n"
        "y = (x.mean(axis=(1, 2, 3)) > 0.5).astype('float32')\n"
        "model = models.Sequential([layers.Flatten(input_shape=(8, 8, 1)), layers.Dense(1, activation='sigmoid')])\n"
        "model.compile('sgd', 'binary_crossentropy', metrics=['acc'])\n"
        "flow = ImageDataGenerator(horizontal_flip=True).flow(x, y, batch_size=32)",
        "history = model.fit_generator(flow, steps_per_epoch=8, epochs=30, workers=4, use_multiprocessing=True,\n"
        "                              verbose=0)\nprint('epochs run:', len(history.history['acc']))",
        "history = model.fit(flow, steps_per_epoch=8, epochs=20, workers=2, verbose=0)\n"
        "print('epochs run:', len(history.history['loss']))",
        "loss, acc = model.evaluate_generator(flow, steps=4, workers=2, use_multiprocessing=True)\n"
        "print('Test accuracy:', acc)",
    ])


def keras2_submission_sources(weights_in_data: bool) -> list[EraSource]:
    return [mnist_keras2_notebook(), cifar_colab_notebook(), cifar_augmented_windows_notebook(),
            resnet_windows_notebook(weights_in_data), mnist_script()]


def write_pictures(folder: Path) -> None:
    """images/tiger.jpg and images/bird.jpg, as a student's 6.3 folder holds."""
    from grader.datasets import write_synthetic_images

    written = write_synthetic_images(folder / "images", count=3, seed=5)
    jpegs = [p for p in written if p.suffix == ".jpg"]
    jpegs[0].rename(folder / "images" / "tiger.jpg")
    jpegs[1].rename(folder / "images" / "bird.jpg")


def write_submission(folder: Path, sources: list[EraSource]) -> list[str]:
    """An assignment06/ folder with ``sources`` and the pictures; returns the source paths."""
    folder.mkdir(parents=True, exist_ok=True)
    write_pictures(folder)
    return [write_source(folder, source) for source in sources]


# --------------------------------------------------------------------- data


def era_data_dir(shared: Path, cifar_dir: Path, cache: Path, with_resnet_weights: bool = False) -> Path:
    """A data folder in Keras's layout from the real files: MNIST (train 60,000
    and test 10,000, as mnist.npz), CIFAR-10 (the shared JPEG copy's batches),
    Keras's ImageNet class index, and, when asked, ResNet50 weights (random,
    in the real file's format: the real ones are not on these machines).
    Built once into ``cache``."""
    mnist_dir = shared / "data" / "mnist"
    key = hashlib.sha256(f"{sorted(os.listdir(mnist_dir))}{cifar_dir}{with_resnet_weights}".encode()).hexdigest()[:12]
    target = cache / f"era-data-{key}"
    if (target / ".complete").is_file():
        return target
    staging = cache / f".era-data-{key}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "datasets").mkdir(parents=True)
    (staging / "models").mkdir()
    from grader.datasets import npz_from_idx

    (staging / "datasets" / "mnist.npz").write_bytes(npz_from_idx(mnist_dir))
    shutil.copytree(cifar_dir / "cifar-10-batches-py", staging / "datasets" / "cifar-10-batches-py")
    shutil.copyfile(shared / "data" / "imagenet" / "imagenet_class_index.json",
                    staging / "models" / "imagenet_class_index.json")
    if with_resnet_weights:
        from grader.datasets import RESNET50_WEIGHTS, write_synthetic_resnet50_weights

        write_synthetic_resnet50_weights(staging / "models" / RESNET50_WEIGHTS, seed=0)
    (staging / ".complete").write_text(json.dumps({"mnist": str(mnist_dir), "cifar": str(cifar_dir)}))
    try:
        staging.rename(target)
    except OSError:                      # a concurrent build won
        shutil.rmtree(staging, ignore_errors=True)
    return target
