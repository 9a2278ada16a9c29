"""Readers on real students' files from ../shared (skipped when it is absent).

Each expectation below was read off the file by hand (cat -A, h5py) and is
written down per file, so a change in what a reader makes of real input shows
up here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from grader.readers import (
    ReadError,
    layer_summary,
    read_image,
    read_imagenet_predictions,
    read_metrics,
    read_model_meta,
    read_predictions,
    thumbnail_png,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "real-world-samples"
DIGITS = [str(i) for i in range(10)]
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/real-world-samples is not available"),
]


def sample(relative: str) -> Path:
    path = SAMPLES / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this copy of ../shared")
    return path


# ------------------------------------------------------------------- models

# path, Keras version, input shape, Dense units at the end, layer types in order (InputLayer left out)
MNIST_CONVNET = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
CIFAR_CONVNET = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
CIFAR_DROPOUT = CIFAR_CONVNET[:7] + ["Dropout", "Dense", "Dense"]
MODELS = [
    ("AartiRamani/assignment06/results/Assignment_6-1_model.h5", "2.12.0", [28, 28, 1], MNIST_CONVNET),
    ("AartiRamani/assignment06/results/Assignment_6-2a_model.h5", "2.12.0", [32, 32, 3], CIFAR_CONVNET),
    ("GabeAvinaz/assignment06/results/mnist_model.h5", "2.9.0", [28, 28, 1], MNIST_CONVNET),
    ("Yousof-Rahimian/assignment06/results/mnist.h5/mnist.h5", "2.12.0", [28, 28, 1], MNIST_CONVNET),
    ("Yousof-Rahimian/assignment06/results/mnist.h5/mnist/mnist.h5", "2.12.0", [28, 28, 1], MNIST_CONVNET),
    ("adanque/assignment06/results/Assignment_6.1_model.h5", "2.4.0", [28, 28, 1], MNIST_CONVNET),
    ("bkudaimi/assignment06/results/cnn.h5", "2.4.0", [32, 32, 3], CIFAR_CONVNET),
    ("bkudaimi/assignment06/results/cnn1.h5", "2.4.0", [32, 32, 3], CIFAR_DROPOUT),
    ("joshgreenert/assignment06/results/model-6-1.h5", "2.10.0", [28, 28, 1], MNIST_CONVNET),
    ("micgonzalez/repo_root/Gonzalez_Michael_assignment06_cifar10_model01_save.h5", "2.2.4", [32, 32, 3],
     ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]),
    ("micgonzalez/repo_root/Gonzalez_Michael_assignment06_cifar10_model02_save.h5", "2.2.4", [32, 32, 3],
     ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dropout", "Dense", "Dense"]),
    ("phillipseb/assignment06/results/mnist_convnet.h5", "2.3.0-tf", [28, 28, 1], MNIST_CONVNET),
    ("samantoz/assignment06/results/assignment_6.1_mnist.h5", "2.3.1", [28, 28, 1],
     ["Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dense"]),
    ("samantoz/assignment06/results/assignment_6.2a_cifar10.h5", "2.3.1", [32, 32, 3], CIFAR_CONVNET),
    ("samantoz/assignment06/results/assignment_6.2b_cifar10.h5", "2.3.1", [32, 32, 3],
     ["Conv2D", "MaxPooling2D", "Dropout"] * 3 + ["Flatten", "Dense", "Dropout", "Dense"]),
    ("santosh0924/assignment06_from_submission_zip/results/6_1_model.h5", "2.4.0", [28, 28, 1], MNIST_CONVNET),
    ("santosh0924/assignment06_from_submission_zip/results/6_2a_model.h5", "2.4.0", [32, 32, 3], CIFAR_CONVNET),
    ("santosh0924/assignment06_from_submission_zip/results/6_2b_model.h5", "2.4.0", [32, 32, 3], CIFAR_DROPOUT),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_1_model.h5", "2.4.0", [28, 28, 1], MNIST_CONVNET),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_2a_model.h5", "2.4.0", [32, 32, 3], CIFAR_CONVNET),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_2b_model.h5", "2.4.0", [32, 32, 3], CIFAR_DROPOUT),
]


@pytest.mark.parametrize(("relative", "version", "shape", "types"), MODELS, ids=[m[0].split("/")[0] + ":" + Path(m[0]).name for m in MODELS])
def test_real_h5_models(relative, version, shape, types):
    meta = read_model_meta(sample(relative))
    assert (meta.format, meta.keras_version, meta.backend, meta.class_name) == ("h5", version, "tensorflow", "Sequential")
    assert meta.input_shape == shape
    assert meta.output_units == 10
    assert meta.layer_types == types
    assert meta.has_weights is True and meta.notes == []
    summary = layer_summary(meta)
    assert summary["has_dropout"] == ("Dropout" in types)
    assert summary["has_augmentation"] is False  # augmentation lived in ImageDataGenerator, not the model


def test_every_real_h5_file_is_listed_above():
    listed = {relative for relative, *_ in MODELS}
    found = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.h5") if p.is_file()}
    assert found <= listed, f"new .h5 samples without expectations: {sorted(found - listed)}"


def test_folder_named_mnist_h5_is_refused_with_its_contents():
    error = pytest.raises(ReadError, read_model_meta, sample("Yousof-Rahimian/assignment06/results/mnist.h5")).value
    assert error.code == "model-unreadable"
    assert "mnist.h5 is a folder" in error.message and "mnist.h5, train_val_accuracy.png" in error.message


# -------------------------------------------------------------- predictions


def mnist_test_labels() -> np.ndarray:
    path = SHARED / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    if not path.is_file():
        pytest.skip("../shared/data/mnist is not available")
    return np.frombuffer(gzip.decompress(path.read_bytes())[8:], dtype=np.uint8)


# path, classes, n_rows, format, first 8 predicted labels, first 8 true labels (None when the file has none)
PREDICTIONS = [
    ("AartiRamani/assignment06/results/Assignment_6-1_predictions.csv", DIGITS, 10000, "csv-labels",
     [7, 2, 1, 0, 4, 1, 4, 9], [7, 2, 1, 0, 4, 1, 4, 9]),        # true labels as one-hot "[0. 0. ... 1. 0. 0.]" cells
    ("AartiRamani/assignment06/results/Assignment_6-2a_predictions.csv", CIFAR, 10000, "csv-labels",
     [3, 0, 8, 0, 4, 6, 1, 4], [3, 8, 8, 0, 6, 6, 1, 6]),
    ("AartiRamani/assignment06/results/Assignment_6-2b_predictions.csv", CIFAR, 10000, "csv-labels",
     [3, 0, 8, 0, 4, 6, 1, 4], [3, 8, 8, 0, 6, 6, 1, 6]),        # byte-identical to her 6-2a file
    ("santosh0924/assignment06_from_submission_zip/results/6_1_predictions.csv", DIGITS, 10000, "csv-probabilities",
     [7, 2, 1, 0, 4, 1, 4, 9], None),                            # pandas header 0..9, no index
    ("santosh0924/assignment06_from_submission_zip/results/6_2a_predictions.csv", CIFAR, 10000, "csv-probabilities",
     [8, 1, 9, 3, 6, 6, 5, 6], None),
    ("santosh0924/assignment06_from_submission_zip/results/6_2b_predictions.csv", CIFAR, 10000, "csv-probabilities",
     [8, 1, 1, 0, 8, 9, 1, 6], None),                            # mostly 0.0/1.0 rows, not all
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_1_predictions.csv", DIGITS, 10000, "csv-probabilities",
     [7, 2, 1, 0, 4, 1, 4, 9], None),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_2a_predictions.csv", CIFAR, 10000, "csv-probabilities",
     [3, 8, 8, 0, 4, 6, 1, 6], None),
    ("joshgreenert/assignment06/results/predictions-6-1.txt", DIGITS, 10000, "text-labels", [7, 2, 1, 0, 4, 1, 4, 9], None),
    ("joshgreenert/assignment06/results/predictions-6-2-a.txt", CIFAR, 10000, "text-labels", [3, 8, 8, 0, 6, 6, 1, 2], None),
    ("joshgreenert/assignment06/results/predictions-6-2-b.txt", CIFAR, 10000, "text-labels", [0, 0, 0, 0, 0, 1, 1, 1], None),
    # "0,7\r\r\n": an index column 0..59103 without a header, then a label; 59,104 rows (not the test set)
    ("adanque/assignment06/results/Assignment_6.1_PredictedValues.csv", DIGITS, 59104, "csv-labels", [7] * 8, None),
]


@pytest.mark.parametrize(("relative", "classes", "rows", "fmt", "labels", "actual"), PREDICTIONS,
                         ids=[p[0].split("/")[0] + ":" + Path(p[0]).name for p in PREDICTIONS])
def test_real_predictions(relative, classes, rows, fmt, labels, actual):
    result = read_predictions(sample(relative), len(classes), classes)
    assert (result.n_rows, result.format) == (rows, fmt)
    assert result.labels[:8] == labels
    assert (result.actual[:8] if result.actual else None) == actual
    assert len(result.labels) == rows
    if fmt == "csv-probabilities":
        assert len(result.probabilities) == rows and all(len(row) == 10 for row in result.probabilities[:50])


@pytest.mark.parametrize(("relative", "accuracy"), [
    ("AartiRamani/assignment06/results/Assignment_6-1_predictions.csv", 0.9917),
    ("santosh0924/assignment06_from_submission_zip/results/6_1_predictions.csv", 0.9913),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_1_predictions.csv", 0.9932),
    ("joshgreenert/assignment06/results/predictions-6-1.txt", 0.9909),
])
def test_real_mnist_predictions_score_what_the_students_reported(relative, accuracy):
    """Scored against the real MNIST test labels, each file gives its author's reported test accuracy."""
    truth = mnist_test_labels()
    result = read_predictions(sample(relative), 10, DIGITS)
    assert np.mean(np.array(result.labels) == truth) == pytest.approx(accuracy, abs=1e-4)


def test_real_aarti_true_labels_are_the_mnist_test_labels():
    result = read_predictions(sample("AartiRamani/assignment06/results/Assignment_6-1_predictions.csv"), 10, DIGITS)
    assert np.array_equal(np.array(result.actual), mnist_test_labels())


def test_real_one_byte_file_is_empty():
    error = pytest.raises(ReadError, read_predictions, sample("Yousof-Rahimian/assignment06/images/q"), 10, DIGITS).value
    assert error.code == "predictions-empty" and error.message.startswith("q is empty")


# ------------------------------------------------------------------ metrics

# path, format, test accuracy, test loss, {history key: (length, first value)}
METRICS = [
    ("AartiRamani/assignment06/results/Assignment_6-1_metrics.txt", "text", 0.9916999936103821, 0.051524363458156586,
     {"loss": (15, 0.18175633251667023), "accuracy": (15, 0.9430500268936157)}),
    ("AartiRamani/assignment06/results/Assignment_6-2a_metrics.txt", "text", 0.6800000071525574, 0.950763463973999,
     {"loss": (30, 1.9091206789016724), "accuracy": (30, 0.3081749975681305)}),
    ("AartiRamani/assignment06/results/Assignment_6-2b_metrics.txt", "text", 0.5788999795913696, 1.2052512168884277,
     {"loss": (30, 2.065556049346924), "accuracy": (30, 0.23192499577999115)}),
    ("phillipseb/assignment06/results/mnist_convnet_metrics.txt", "text", 0.99, 0.03, {}),   # " Test Set Accuracy", no final newline
    ("santosh0924/assignment06_from_submission_zip/results/6_1_metrics.txt", "text", 0.9912999868392944, 0.03314976766705513,
     {"loss": (3, 0.020281070843338966), "accuracy": (3, 0.9941333532333374)}),
    ("santosh0924/assignment06_from_submission_zip/results/6_2a_metrics.txt", "text", 0.6259999871253967, 1.324597716331482,
     {"loss": (10, 0.9304795265197754), "accuracy": (10, 0.7674000263214111)}),
    ("santosh0924/assignment06_from_submission_zip/results/6_2b_metrics.txt", "text", 0.40070000290870667, 216.67605590820312,
     {"loss": (16, 1.4714223146438599), "accuracy": (16, 0.47523999214172363)}),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_1_metrics.txt", "text", 0.9932000041007996, 0.025841906666755676,
     {"loss": (3, 0.021496890112757683), "accuracy": (3, 0.9939166903495789)}),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_2a_metrics.txt", "text", 0.637499988079071, 1.445312261581421,
     {"loss": (10, 0.8943189978599548), "accuracy": (10, 0.7724400162696838)}),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_2b_metrics.txt", "text", 0.3377000093460083, 284.42132568359375,
     {"loss": (16, 1.4511739015579224), "accuracy": (16, 0.479559987783432)}),
    # four unlabelled columns per epoch: loss acc val_loss val_acc (the same file for all three parts)
    ("joshgreenert/assignment06/results/metrics-6-1.txt", "text-table-guessed", None, None,
     {"loss": (5, 0.015307), "accuracy": (5, 0.995292), "val_loss": (5, 0.015182), "val_accuracy": (5, 0.99525)}),
    ("joshgreenert/assignment06/results/metrics-6-2-b.txt", "text-table-guessed", None, None,
     {"loss": (5, 0.015307), "accuracy": (5, 0.995292), "val_loss": (5, 0.015182), "val_accuracy": (5, 0.99525)}),
    # Keras 2.2 CSVLogger logs: acc/val_acc renamed, the epoch column dropped
    ("GabeAvinaz/assignment06/results/mnist_model.log", "csv-log", None, None,
     {"accuracy": (5, 0.9446666836738586), "loss": (5, 0.17515434324741364)}),
    ("GabeAvinaz/assignment06/results/cifar10_model.log", "csv-log", None, None,
     {"accuracy": (120, 0.206787109375), "loss": (120, 2.2632956504821777), "val_accuracy": (120, 0.23828125),
      "val_loss": (120, 2.067615270614624)}),
    ("GabeAvinaz/assignment06/results/cifar10_model_augmented.log", "csv-log", None, None,
     {"accuracy": (120, 0.123291015625), "loss": (120, 2.5987114906311035), "val_accuracy": (120, 0.153076171875),
      "val_loss": (120, 2.2408342361450195)}),
    # pickled dicts without an extension, protocol 4: walked, never unpickled
    ("Yousof-Rahimian/assignment06/results/mnist.h5/mnist/training_metrics", "pickle", 0.9914000034332275, 0.031020058318972588,
     {"loss": (5, 0.21853262186050415), "accuracy": (5, 0.930620014667511), "val_loss": (5, 0.06545019149780273),
      "val_accuracy": (5, 0.9797000288963318)}),
    ("Yousof-Rahimian/assignment06/results/mnist.h5/CIFGAR10/no/training_metrics", "pickle", 0.6973000168800354, 1.8336701393127441,
     {"loss": (30, 1.7726390361785889), "accuracy": (30, 0.3615249991416931), "val_loss": (30, 1.5114786624908447),
      "val_accuracy": (30, 0.4560999870300293)}),
    ("Yousof-Rahimian/assignment06/results/mnist.h5/CIFGAR10/yes/training_metrics", "pickle", 0.8572999835014343, 0.44339194893836975,
     {"loss": (200, 2.2390308380126953), "accuracy": (200, 0.27730000019073486), "val_loss": (200, 1.4818518161773682),
      "val_accuracy": (200, 0.4562999904155731)}),
]


@pytest.mark.parametrize(("relative", "fmt", "accuracy", "loss", "history"), METRICS,
                         ids=[m[0].split("/")[0] + ":" + "/".join(Path(m[0]).parts[-2:]) for m in METRICS])
def test_real_metrics(relative, fmt, accuracy, loss, history):
    result = read_metrics(sample(relative))
    assert result.format == fmt
    assert (result.test_accuracy, result.test_loss) == (accuracy, loss)
    assert {key: (len(values), values[0]) for key, values in result.history.items()} == history


# ------------------------------------------------------------------- images

BLANK = {
    "AartiRamani/assignment06/results/Assignment_6-1_Accuracy.png",
    "AartiRamani/assignment06/results/Assignment_6-1_Loss.png",
    *(f"joshgreenert/assignment06/results/validation-6-{part}.png" for part in ("1", "2-a", "2-b")),
    *(f"{who}/assignment06_from_submission_zip/results/6_{part}_{kind}plot.png"
      for who in ("santosh0924", "vinaynagaraj88") for part in ("1", "2a", "2b") for kind in ("acc", "loss")),
}
MISNAMED = {"adanque/assignment06/Data/sample_image-4.png": "JPEG"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".jfif"}


def real_images() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if SAMPLES.is_dir() else []


def test_real_images_blank_and_misnamed():
    images = real_images()
    assert len(images) > 100
    seen_blank, seen_misnamed = set(), {}
    for path in images:
        relative = str(path.relative_to(SAMPLES))
        info = read_image(path)
        assert info.width > 0 and info.height > 0 and len(info.sha256) == 64
        if info.blank:
            seen_blank.add(relative)
        if info.extension_mismatch:
            seen_misnamed[relative] = info.format
    assert seen_blank == {b for b in BLANK if (SAMPLES / b).exists()}
    assert seen_misnamed == {m: f for m, f in MISNAMED.items() if (SAMPLES / m).exists()}


def test_real_big_photo_size_and_thumbnail():
    path = sample("GabeAvinaz/assignment06/images/Image08 - obi-pixel7propix-SCUPx5far-M-unsplash.jpg")
    info = read_image(path)
    assert (info.format, info.width, info.height, info.blank) == ("JPEG", 7848, 5723, False)
    png = thumbnail_png(path)
    assert png.startswith(b"\x89PNG") and len(png) < 2_000_000


def test_real_webp_and_extensionless_file():
    info = read_image(sample("AartiRamani/assignment06/images/62WplVyX4AKxuNRTGKDi.webp"))
    assert (info.format, info.width, info.height, info.extension_mismatch) == ("WEBP", 750, 600, False)
    error = pytest.raises(ReadError, read_image, sample("Yousof-Rahimian/assignment06/images/q")).value
    assert error.code == "image-unreadable"


# ----------------------------------------------------------------- imagenet

# path, number of rows, images, first (image, rank, label, probability, wnid)
IMAGENET = [
    ("AartiRamani/assignment06/results/predictions/resnet50/Assignment_6-3_predictions.txt", 10, 10,
     ("3fc97f163d3a272a53e6c7c6b54cbee5.jpg", 1, "king_penguin", 0.9999255, None)),
    ("GabeAvinaz/assignment06/results/predictions/resnet50/predictions.txt", 30, 10,
     ("Image01 - barnabas-lartey-odoi-tetteh-5pGFc1XssnQ-unsplash.jpg", 1, "theater_curtain", 0.4265667, "n04418357")),
    ("joshgreenert/assignment06/results/predictions/resnet50/predictions-6-3.txt", 50, 10,
     ("amy-hirschi-szrJ3wjzOMg-unsplash.jpg", 1, "envelope", 0.21261807, "n03291819")),
    ("phillipseb/assignment06/results/predictions/resnet50/predictions.txt", 7, 7,
     ("dog.jpg", 1, "bull_mastiff", 0.510823, "n02108422")),
]


@pytest.mark.parametrize(("relative", "rows", "images", "first"), IMAGENET, ids=[i[0].split("/")[0] for i in IMAGENET])
def test_real_imagenet_predictions(relative, rows, images, first):
    predictions = read_imagenet_predictions(sample(relative))
    assert len(predictions) == rows and len({p.image for p in predictions}) == images
    top = predictions[0]
    assert (top.image, top.rank, top.label, top.probability, top.wnid) == first
    assert all("\\" not in p.image and "/" not in p.image for p in predictions)
    ranks: dict[str, list[int]] = {}
    for p in predictions:
        ranks.setdefault(p.image, []).append(p.rank)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks.values())


def test_real_imagenet_ranks_and_windows_names():
    gabe = read_imagenet_predictions(sample("GabeAvinaz/assignment06/results/predictions/resnet50/predictions.txt"))
    assert [(p.rank, p.label) for p in gabe[3:6]] == [(1, "corn"), (2, "grocery_store"), (3, "ear")]
    josh = read_imagenet_predictions(sample("joshgreenert/assignment06/results/predictions/resnet50/predictions-6-3.txt"))
    quino = [p for p in josh if p.image == "quino-al-8gWEAAXJjtI-unsplash.jpg"]
    assert [p.label for p in quino] == ["dial_telephone", "pay-phone", "stopwatch", "wall_clock", "reflex_camera"]
    assert quino[-1].probability == 7.302062e-05


@pytest.mark.parametrize(("relative", "image"), [
    ("santosh0924/assignment06_from_submission_zip/results/6_3_predictions.txt", "car_race.jpg"),
    ("vinaynagaraj88/assignment06_from_submission_zip/results/6_3_predictions.txt", "gecko.jpg"),
])
def test_real_image_names_without_predictions(relative, image):
    error = pytest.raises(ReadError, read_imagenet_predictions, sample(relative)).value
    assert error.code == "no-labels"
    assert f"lists 1 image name ({image})" in error.message and "predictions are missing" in error.message
