"""The image-folder loader: an instructor's own image-classification data set,
read as Keras's image_dataset_from_directory reads it (the same classes, the
same order, the same pixels), with unusable images listed and left out, the
decoded arrays cached by content, and the labels never in the sandbox."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader import datasets
from grader import rubric as rubric_lib
from grader.datasets import DataError, DataMissing, pixels
from tests.transfer_material import load_transfer_rubric, write_image_folder

CLASSES = ["circle", "square", "triangle"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test decodes into its own cache (the decoded-array cache is keyed by content)."""
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """<data>/datasets/tiny_images/test/<class>/*.jpg|png, three sizes, JPEG and PNG."""
    data = tmp_path_factory.mktemp("data")
    write_image_folder(data / "datasets" / "tiny_images" / "test", CLASSES, per_class=4)
    write_image_folder(data / "datasets" / "tiny_images" / "train", CLASSES, per_class=2, seed=1)
    return data


@pytest.fixture(scope="module")
def rubric(tmp_path_factory):
    return load_transfer_rubric(tmp_path_factory.mktemp("rubric"))


def _dataset(rubric, **changes):
    values = {**rubric.datasets["images"].model_dump(), **changes}
    return rubric_lib.Dataset.model_validate(values)


@pytest.fixture(scope="module")
def keras_reference(folder):
    """What Keras's own utility gives for the same folder (shuffle off), at 32x32: bilinear and nearest."""
    import keras

    out = {}
    for interpolation in ("bilinear", "nearest"):
        ds = keras.utils.image_dataset_from_directory(
            folder / "datasets" / "tiny_images" / "test", image_size=(32, 32), interpolation=interpolation,
            shuffle=False, batch_size=64, verbose=False)
        x, y = next(iter(ds))
        out[interpolation] = (x.numpy(), y.numpy(), list(ds.class_names),
                              [Path(p).relative_to(folder / "datasets" / "tiny_images" / "test").as_posix()
                               for p in ds.file_paths])
    return out


# ------------------------------------------------------------- as Keras reads


def test_classes_order_and_labels_are_keras_own(folder, rubric, keras_reference):
    loaded = datasets.load_split(rubric.datasets["images"], folder, "test")
    x_keras, y_keras, names, files = keras_reference["bilinear"]
    assert loaded.class_names == names == CLASSES
    assert loaded.y.tolist() == y_keras.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert [p.relative_to(folder / "datasets" / "tiny_images" / "test").as_posix()
            for p in datasets.dataset_files(rubric.datasets["images"], folder)] == files
    assert loaded.x.shape == (12, 32, 32, 3) and loaded.x.dtype == np.uint8
    assert loaded.left_out == [] and loaded.kept is None
    assert datasets.load_class_names(rubric.datasets["images"], folder) == CLASSES


def test_bilinear_pixels_equal_keras_png_exactly_jpeg_within_the_idct_difference(folder, rubric, keras_reference):
    x, _ = datasets.load_test_set(rubric.datasets["images"], folder)
    x_keras, _, _, files = keras_reference["bilinear"]
    difference = np.abs(x.astype(np.float64) - x_keras)
    png = np.array([name.endswith(".png") for name in files])
    # PNG: TensorFlow's resize computed the same way, then rounded to uint8.
    assert difference[png].max() <= 0.5 + 1e-3
    # JPEG: TensorFlow decodes with libjpeg's fast IDCT, Pillow with the accurate one.
    assert difference[~png].max() <= 5.0 and difference[~png].mean() < 1.0
    # Pillow's own bilinear filter antialiases when it shrinks: far from Keras's.
    shrunk = files.index("circle/circle_01.png")          # 96x80 to 32x32
    source = folder / "datasets" / "tiny_images" / "test" / files[shrunk]
    pillow = np.asarray(Image.open(source).convert("RGB").resize((32, 32), Image.BILINEAR), dtype=np.float64)
    assert np.abs(pillow - x_keras[shrunk]).max() > 20


def test_nearest_interpolation_equals_keras(folder, rubric, keras_reference):
    x, _ = datasets.load_test_set(_dataset(rubric, interpolation="nearest"), folder)
    x_keras, _, _, files = keras_reference["nearest"]
    png = np.array([name.endswith(".png") for name in files])
    assert np.array_equal(x[png], x_keras[png].astype(np.uint8))
    assert np.abs(x[~png].astype(int) - x_keras[~png]).max() <= 5


def test_load_img_resizing_equals_keras_load_img(folder, rubric):
    import keras

    dataset = _dataset(rubric, resize_like="load_img", interpolation="nearest")
    x, y = datasets.load_test_set(dataset, folder)
    for index, path in enumerate(datasets.dataset_files(dataset, folder)):
        expected = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(32, 32), interpolation="nearest"))
        assert np.array_equal(x[index], expected.astype(np.uint8)), path.name


def test_grey_channel_and_train_split(folder, rubric):
    grey = _dataset(rubric, input_shape=[20, 24, 1])
    x, y = datasets.load_train_set(grey, folder)
    assert x.shape == (6, 20, 24, 1) and y.tolist() == [0, 0, 1, 1, 2, 2]


# ---------------------------------------------------------------- bad images


def _png_16_bit(path: Path) -> None:
    """A valid 16-bit greyscale PNG (Keras's decoder is for 8-bit images)."""
    raw = b"".join(b"\x00" + b"\x12\x34" * 4 for _ in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_corrupt_and_odd_images_are_listed_and_left_out(tmp_path, rubric):
    test = tmp_path / "datasets" / "tiny_images" / "test"
    write_image_folder(test, CLASSES, per_class=3)
    good = (test / "circle" / "circle_00.jpg").read_bytes()
    (test / "circle" / "circle_01.png").write_bytes(b"this is not a picture")         # named .png
    (test / "square" / "square_00.jpg").write_bytes(good[: len(good) // 3])           # cut short
    _png_16_bit(test / "triangle" / "deep.png")
    Image.new("CMYK", (8, 8)).save(test / "triangle" / "print.jpg")
    (test / "square" / "notes.txt").write_text("taken on a phone")
    (test / "stray.jpg").write_bytes(good)                                            # not in a class folder
    (test / "circle" / ".DS_Store").write_bytes(b"\0")                                # said nothing about
    loaded = datasets.load_split(rubric.datasets["images"], tmp_path, "test")

    reasons = {item.file: item.reason for item in loaded.left_out}
    assert set(reasons) == {"stray.jpg", "square/notes.txt", "circle/circle_01.png", "square/square_00.jpg",
                            "triangle/deep.png", "triangle/print.jpg"}
    assert reasons["circle/circle_01.png"] == "not an image Pillow can read (UnidentifiedImageError)"
    assert reasons["square/square_00.jpg"].startswith("damaged or cut short (")
    assert reasons["triangle/deep.png"].startswith("I;16 pixels (not 8-bit grey, palette or RGB)")
    assert reasons["triangle/print.jpg"].startswith("CMYK pixels")
    assert reasons["stray.jpg"] == "not in a class folder"
    assert "Keras's loader skips it too" in reasons["square/notes.txt"]
    # 11 images indexed (Keras's extensions, in class folders); 4 unusable; 7 graded, labels kept in step.
    # In Keras's order: circle_00..02 (0-2), square_00..02 (3-5), deep, print, triangle_00..02 (6-10).
    assert loaded.indexed == 11 and loaded.kept.tolist() == [0, 2, 4, 5, 8, 9, 10]
    assert loaded.y.tolist() == [0, 0, 1, 1, 2, 2, 2] and len(loaded.x) == 7
    summary = loaded.left_out_summary()
    assert summary.startswith(f"{tmp_path / 'datasets' / 'tiny_images' / 'test'}: 6 file(s) left out of the test "
                              "set, 7 images graded: ")
    assert "circle/circle_01.png (not an image Pillow can read (UnidentifiedImageError))" in summary


def test_an_image_over_the_pixel_cap_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(pixels.OddImage, match=r"300x200 pixels, over the 50,000-pixel limit"):
        pixels.decode(path, (32, 32), 3, max_pixels=50_000)


def test_no_usable_image_or_wrong_classes_is_a_data_error(tmp_path, rubric):
    test = tmp_path / "datasets" / "tiny_images" / "test"
    for name in CLASSES:
        (test / name).mkdir(parents=True)
        (test / name / "a.jpg").write_bytes(b"\xff\xd8 nothing")
    with pytest.raises(DataError, match="none of its 3 images could be used: circle/a.jpg"):
        datasets.load_test_set(rubric.datasets["images"], tmp_path)
    (test / "zebra").mkdir()
    with pytest.raises(DataError, match=r"its class folders are \['circle', 'square', 'triangle', 'zebra'\] "
                                        r"\(sorted, as Keras labels them\) but the rubric's class_names are"):
        datasets.load_test_set(rubric.datasets["images"], tmp_path)
    with pytest.raises(DataError, match=r"4 class folder\(s\) .* but the rubric says num_classes = 3"):
        datasets.load_test_set(_dataset(rubric, class_names=[]), tmp_path)


def test_missing_folder_says_where_it_was_looked_for_and_the_layout(tmp_path, rubric):
    with pytest.raises(DataMissing) as caught:
        datasets.load_test_set(rubric.datasets["images"], tmp_path)
    message = str(caught.value)
    assert message.startswith("image folder 'tiny_images' (test split): not found. Looked for test/ in:")
    assert f"  {tmp_path / 'datasets' / 'tiny_images'}\n  {tmp_path / 'tiny_images'}\n" in message
    assert f"{tmp_path / 'datasets' / 'tiny_images/test/<class name>/<image>.jpg'}" in message
    assert "cannot be fetched" in message


def test_the_rubric_says_what_an_image_folder_needs(rubric):
    base = rubric.datasets["images"].model_dump()
    cases = [({"folder": None}, "needs folder ="), ({"folder": "../elsewhere"}, "must be a name inside"),
             ({"interpolation": "bicubic"}, "interpolation 'bicubic' is not one image_dataset_from_directory"),
             ({"input_shape": [32, 32, 2]}, "channels one of [1, 3, 4]"), ({"loader": "folders"}, "unknown data set loader")]
    for change, expected in cases:
        with pytest.raises(ValueError, match=re_escape(expected)):
            rubric_lib.Dataset.model_validate({**base, **change})
    assert rubric_lib.Dataset.model_validate({**base, "resize_like": "load_img", "interpolation": "bicubic"})


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


# ------------------------------------------------------------------- cache


def test_second_load_is_read_back_from_the_cache_without_decoding(folder, rubric, monkeypatch, tmp_path):
    first = datasets.load_split(rubric.datasets["images"], folder, "test")
    assert not first.cached
    cached = list((tmp_path / "cache" / "decoded").glob("image-folder-*.npz"))
    assert len(cached) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("grader.datasets.image_folder.decode", refuse)
    second = datasets.load_split(rubric.datasets["images"], folder, "test")
    assert second.cached and np.array_equal(second.x, first.x) and np.array_equal(second.y, first.y)
    # Another image size is another entry: decoded (here: refused) again.
    with pytest.raises(AssertionError, match="decoded again"):
        datasets.load_split(_dataset(rubric, input_shape=[16, 16, 3]), folder, "test")


def test_a_changed_image_is_a_cache_miss(tmp_path, rubric):
    test = tmp_path / "datasets" / "tiny_images" / "test"
    write_image_folder(test, CLASSES, per_class=2)
    first = datasets.load_split(rubric.datasets["images"], tmp_path, "test")
    Image.new("RGB", (10, 10), (255, 255, 0)).save(test / "square" / "square_01.png")
    second = datasets.load_split(rubric.datasets["images"], tmp_path, "test")
    assert not second.cached and np.all(second.x[3] == [255, 255, 0])
    assert not np.array_equal(first.x[3], second.x[3])
    assert datasets.load_split(rubric.datasets["images"], tmp_path, "test").cached
    # The first decoding, unread for over 30 days, is removed when the next entry is written.
    entries = sorted((tmp_path / "cache" / "decoded").glob("image-folder-*.npz"), key=lambda p: p.stat().st_mtime)
    assert len(entries) == 2
    os.utime(entries[0], (0, 0))
    datasets.load_split(_dataset(rubric, input_shape=[16, 16, 3]), tmp_path, "test")
    assert entries[0] not in set((tmp_path / "cache" / "decoded").glob("image-folder-*.npz"))
    assert entries[1].is_file()


# ------------------------------------------------------- labels stay outside


def test_the_sandbox_gets_the_images_and_never_the_labels(folder, rubric, tmp_path):
    from grader.evaluate import evaluate_submission
    from grader.evaluate.jobs import ModelJob
    from grader.evaluate.sandbox import SandboxRun
    from grader.pipeline import load_test_data

    data = load_test_data(rubric, folder)
    assert set(data.inputs) == {"images"} and data.inputs["images"].shape == (12, 32, 32, 3)
    submission = tmp_path / "submission"
    (submission / "results").mkdir(parents=True)
    (submission / "results" / "model.keras").write_bytes(b"not read here")
    seen = {}

    class Recording:
        name = "recording"

        def run(self, job_dir, submission_dir, inputs_dir, output_dir, limits):
            seen["inputs"] = sorted(p.name for p in Path(inputs_dir).iterdir())
            seen["arrays"] = {p.name: np.load(p) for p in Path(inputs_dir).glob("*.npy")}
            seen["job"] = (Path(job_dir) / "job.json").read_text()
            return SandboxRun(exit_code=1, timed_out=False, oom_killed=False, seconds=0.0)

    job = ModelJob.for_part(rubric.parts[0], rubric.datasets["images"], "results/model.keras")
    evaluate_submission(submission, [job], [], data.inputs, None, Recording(), rubric.sandbox, tmp_path / "work")
    assert seen["inputs"] == ["images.npy"]
    assert np.array_equal(seen["arrays"]["images.npy"], data.inputs["images"])
    labels = data.labels["images"]
    job_json = json.loads(seen["job"])
    assert "label" not in seen["job"] and job_json["models"][0]["input"] == "images"
    assert all(array.shape != labels.shape for array in seen["arrays"].values())
