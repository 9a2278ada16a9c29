"""grader.datasets: the instructor's data files in their real formats, and synthetic stand-ins."""

from __future__ import annotations

import ast
import builtins
import gzip
import os
import io
import pickle
import pickletools
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from grader import datasets
from grader import rubric as rubric_lib
from grader.datasets import DataError, DataMissing

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"
# The official MNIST test set's label counts, 0..9.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# ... and its training set's.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def rubric():
    return rubric_lib.load()


@pytest.fixture(scope="module")
def mnist(rubric):
    return next(d for d in rubric.datasets.values() if d.loader == "mnist")


@pytest.fixture(scope="module")
def cifar(rubric):
    return next(d for d in rubric.datasets.values() if d.loader == "cifar10")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    return datasets.write_synthetic_data(folder, n_train=500, n_test=200, seed=3)


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", 0x800 | array.ndim, *array.shape) + array.astype(np.uint8).tobytes()


# ---------------------------------------------------------------- locations


def test_default_data_dir_prefers_grader_data_dir_then_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "grading"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert datasets.default_data_dir() == tmp_path / "grading"
    monkeypatch.delenv("GRADER_DATA_DIR")
    assert datasets.default_data_dir() == tmp_path / "keras"
    monkeypatch.delenv("KERAS_HOME")
    assert datasets.default_data_dir() == Path.home() / ".keras"


def test_data_missing_names_the_files_every_place_and_the_fix(mnist, tmp_path):
    with pytest.raises(DataMissing) as caught:
        datasets.load_test_set(mnist, tmp_path)
    message = str(caught.value)
    assert "mnist.npz" in message and "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    for place in (tmp_path / "datasets", tmp_path / "models", tmp_path, tmp_path / "mnist"):
        assert f"  {place}\n" in message
    assert "grade data fetch" in message and "GRADER_DATA_DIR" in message
    assert caught.value.places[:3] == [tmp_path / "datasets", tmp_path / "models", tmp_path]


def test_imagenet_files_found_or_missing(tmp_path):
    with pytest.raises(DataMissing) as caught:
        datasets.imagenet_files(tmp_path)
    assert datasets.RESNET50_WEIGHTS in str(caught.value) and datasets.IMAGENET_CLASS_INDEX in str(caught.value)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / datasets.RESNET50_WEIGHTS).write_bytes(b"h5")
    with pytest.raises(DataMissing) as caught:
        datasets.imagenet_files(tmp_path)
    assert datasets.IMAGENET_CLASS_INDEX in str(caught.value)
    assert datasets.RESNET50_WEIGHTS not in str(caught.value).split("Looked for")[1].split(" in:")[0]
    (tmp_path / datasets.IMAGENET_CLASS_INDEX).write_text("{}")
    found = datasets.imagenet_files(tmp_path)
    assert found == {"weights": tmp_path / "models" / datasets.RESNET50_WEIGHTS,
                     "class_index": tmp_path / datasets.IMAGENET_CLASS_INDEX}


def test_sha256_of_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    import hashlib
    assert datasets.sha256_of(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


# ----------------------------------------------------------------------- IDX


def test_idx_files_gzipped_or_plain_load_without_the_npz(mnist, tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([4, 0, 9])
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels))
    x, y = datasets.load_test_set(mnist, tmp_path)
    assert x.shape == (3, 28, 28, 1) and x.dtype == np.uint8
    assert y.tolist() == [4, 0, 9] and y.dtype == np.int64
    assert np.array_equal(x[..., 0], images.astype(np.uint8))
    assert datasets.dataset_files(mnist, tmp_path) == [tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte"]


def test_idx_with_the_wrong_magic_number_is_a_clear_error(mnist, tmp_path):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    # The images file put where the labels belong.
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(images))
    with pytest.raises(DataError) as caught:
        datasets.load_test_set(mnist, tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in message
    assert "magic number 0x00000803" in message and "expected 0x00000801" in message


def test_idx_truncated_or_not_gzip_is_a_clear_error(tmp_path):
    cut = tmp_path / "cut-idx3-ubyte"
    cut.write_bytes(_idx(np.zeros((2, 28, 28), dtype=np.uint8))[:-10])
    with pytest.raises(DataError, match="truncated or padded"):
        datasets.read_idx(cut, datasets.IDX_IMAGES_MAGIC)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(DataError, match="un-gzipped"):
        datasets.read_idx(broken, datasets.IDX_IMAGES_MAGIC)
    with pytest.raises(DataError, match="too short"):
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
        datasets.read_idx(empty, datasets.IDX_LABELS_MAGIC)


# ----------------------------------------------------------------------- npz


def test_npz_is_preferred_and_read_without_pickle(mnist, tmp_path):
    (tmp_path / "datasets").mkdir()
    x = np.full((4, 28, 28), 7, dtype=np.uint8)
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=x, y_train=np.arange(4), x_test=x[:2], y_test=np.array([1, 2]))
    got_x, got_y = datasets.load_test_set(mnist, tmp_path)
    assert got_x.shape == (2, 28, 28, 1) and got_y.tolist() == [1, 2]
    train_x, train_y = datasets.load_train_set(mnist, tmp_path)
    assert train_x.shape == (4, 28, 28, 1) and train_y.tolist() == [0, 1, 2, 3]


def test_npz_with_an_object_array_is_refused(mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros(3), np.zeros(4)]
    np.savez(path, x_test=ragged, y_test=np.arange(2))
    with pytest.raises(DataError) as caught:
        datasets.load_test_set(mnist, tmp_path)
    assert str(path) in str(caught.value) and "plain arrays" in str(caught.value)


def test_wrong_shape_or_labels_out_of_range_are_reported(mnist, tmp_path):
    np.savez(tmp_path / "mnist.npz", x_test=np.zeros((2, 32, 32), np.uint8), y_test=np.array([1, 2]))
    with pytest.raises(DataError, match=r"not uint8 \(28, 28, 1\)"):
        datasets.load_test_set(mnist, tmp_path)
    np.savez(tmp_path / "mnist.npz", x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([1, 12]))
    with pytest.raises(DataError, match=r"outside 0\.\.9"):
        datasets.load_test_set(mnist, tmp_path)


# ------------------------------------------------------------------ CIFAR-10


class _RunsCommand:
    target = f"{os.system.__module__}.system"   # posix.system on Linux

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


class _ExecsCode:
    target = "builtins.exec"

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.sentinel)!r}, 'w').close()",))


class _Evals(_ExecsCode):
    target = "builtins.eval"

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.sentinel)!r}, 'w').close()",))


@pytest.mark.parametrize("gadget", [_RunsCommand, _ExecsCode, _Evals])
def test_malicious_cifar_pickle_is_refused_and_never_runs(cifar, tmp_path, gadget):
    sentinel = tmp_path / "pwned"
    batch_dir = tmp_path / "datasets" / "cifar-10-batches-py"
    batch_dir.mkdir(parents=True)
    payload = {b"data": gadget(sentinel), b"labels": [0]}
    # Protocol 3 keeps the bytes keys free of globals: the gadget is the first one met.
    (batch_dir / "test_batch").write_bytes(pickle.dumps(payload, protocol=3))
    with pytest.raises(DataError) as caught:
        datasets.load_test_set(cifar, tmp_path)
    assert not sentinel.exists()
    message = str(caught.value)
    assert str(batch_dir / "test_batch") in message
    assert f"refused to load {gadget.target}" in message and "not loaded" in message


class _Python2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the official CIFAR files: every string
    as a byte string (BINSTRING) and numpy's array helper under numpy.core."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_byte_string(self, obj):
        raw = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_byte_string
    dispatch[str] = _save_byte_string

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)


def _python2_pickle(value) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(value)
    return buffer.getvalue()


def test_cifar_batch_pickled_the_way_python2_did_loads(cifar, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(4, 3072), dtype=np.uint8)
    batch = {"batch_label": "testing batch 1 of 1", "labels": [3, 1, 4, 1], "data": images,
             "filenames": [f"img_{i}.png" for i in range(4)]}
    raw = _python2_pickle(batch)
    opcodes = {(op.name, arg) for op, arg, _ in pickletools.genops(raw)}
    assert ("GLOBAL", "numpy.core.multiarray _reconstruct") in opcodes
    assert not any(name.endswith("UNICODE") for name, _ in opcodes)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(raw)
    x, y = datasets.load_test_set(cifar, tmp_path)
    assert y.tolist() == [3, 1, 4, 1]
    assert np.array_equal(x, images.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1))


def _python3_protocol2_batch(data, labels) -> bytes:
    """A batch the way an instructor's Python 3 script re-pickles it with
    protocol=2: every bytes value (the keys, batch_label, filenames, the
    array's raw pixels) goes through _codecs.encode(str, "latin1")."""
    return pickle.dumps({b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data,
                         b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}, protocol=2)


def _globals_of(raw: bytes) -> set[str]:
    return {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}


def test_cifar_batch_pickled_by_python3_with_protocol_2_loads(cifar, tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    raw = _python3_protocol2_batch(images, [9, 0, 5])
    assert "_codecs encode" in _globals_of(raw)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(raw)
    x, y = datasets.load_test_set(cifar, tmp_path)
    assert y.tolist() == [9, 0, 5]
    assert np.array_equal(x, images.reshape(3, 3, 32, 32).transpose(0, 2, 3, 1))
    meta = {b"num_cases_per_batch": 3, b"label_names": [n.encode() for n in cifar.class_names], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    assert datasets.load_class_names(cifar, tmp_path) == list(cifar.class_names)


class _Rot13:
    """_codecs.encode put to another use than turning latin1 text into bytes."""

    def __reduce__(self):
        import codecs

        return (codecs.encode, ("pixels", "rot13"))


@pytest.mark.parametrize("make, refused", [
    (lambda sentinel: _RunsCommand(sentinel), f"refused to load {os.system.__module__}.system"),
    (lambda sentinel: _ExecsCode(sentinel), "refused to load __builtin__.exec"),
    (lambda sentinel: _Evals(sentinel), "refused to load __builtin__.eval"),
    (lambda sentinel: _Rot13(), "refused _codecs.encode of a str to 'rot13'"),
    (lambda sentinel: np.ma.array([1, 2], mask=[0, 1]), "refused to load numpy.ma.core._mareconstruct"),
    (lambda sentinel: np.float64(0.5), "multiarray.scalar"),
    (lambda sentinel: np.zeros(2, dtype=[("r", "u1")]).view(np.recarray), "refused to load numpy.rec.recarray"),
], ids=["os.system", "builtins.exec", "builtins.eval", "codecs-rot13", "masked-array", "numpy-scalar", "recarray"])
def test_protocol_2_pickles_still_refuse_every_other_global(cifar, tmp_path, make, refused):
    sentinel = tmp_path / "pwned"
    raw = _python3_protocol2_batch(make(sentinel), [0])
    assert "_codecs encode" in _globals_of(raw)      # allowed, and met before the refused one
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(raw)
    with pytest.raises(DataError) as caught:
        datasets.load_test_set(cifar, tmp_path)
    assert not sentinel.exists()
    message = str(caught.value)
    assert refused in message and "not an official CIFAR-10 file" in message
    assert str(folder / "test_batch") in message


def test_cifar_read_from_the_official_archive(cifar, synthetic, tmp_path):
    source = synthetic / "datasets" / "cifar-10-batches-py"
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("data_batch_1", "test_batch", "batches.meta"):
            tar.add(source / name, arcname=f"cifar-10-batches-py/{name}")
    x, y = datasets.load_test_set(cifar, tmp_path)
    expected_x, expected_y = datasets.load_test_set(cifar, synthetic)
    assert np.array_equal(x, expected_x) and np.array_equal(y, expected_y)
    assert datasets.dataset_files(cifar, tmp_path) == [archive]
    assert datasets.load_class_names(cifar, tmp_path) == list(cifar.class_names)
    with pytest.raises(DataMissing, match="data_batch_2"):   # the archive lacks the other batches
        datasets.load_train_set(cifar, tmp_path)


def test_cifar_rows_are_rgb_planes(cifar, synthetic):
    raw = (synthetic / "datasets" / "cifar-10-batches-py" / "test_batch").read_bytes()
    batch = pickle.loads(raw, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (200, 3072)
    x, y = datasets.load_test_set(cifar, synthetic)
    red_plane = batch[b"data"][5, :1024].reshape(32, 32)
    assert np.array_equal(x[5, :, :, 0], red_plane)
    assert np.array_equal(x[5, :, :, 2], batch[b"data"][5, 2048:].reshape(32, 32))
    assert y.tolist() == batch[b"labels"]


def test_cifar_class_names_fall_back_to_the_rubric(cifar, tmp_path):
    assert datasets.load_class_names(cifar, tmp_path) == list(cifar.class_names)


# ----------------------------------------------------------------- synthetic


def test_synthetic_data_round_trips_in_every_format(mnist, cifar, synthetic):
    x_test, y_test = datasets.load_test_set(mnist, synthetic)
    x_train, y_train = datasets.load_train_set(mnist, synthetic)
    assert (x_test.shape, x_test.dtype, y_test.dtype) == ((200, 28, 28, 1), np.uint8, np.int64)
    assert x_train.shape == (500, 28, 28, 1) and set(y_train.tolist()) == set(range(10))
    # The IDX copies hold the same images as the npz.
    idx_images = datasets.read_idx(synthetic / "datasets" / "t10k-images-idx3-ubyte.gz", datasets.IDX_IMAGES_MAGIC)
    idx_labels = datasets.read_idx(synthetic / "datasets" / "t10k-labels-idx1-ubyte.gz", datasets.IDX_LABELS_MAGIC)
    assert np.array_equal(idx_images, x_test[..., 0]) and np.array_equal(idx_labels, y_test)
    cx, cy = datasets.load_test_set(cifar, synthetic)
    tx, ty = datasets.load_train_set(cifar, synthetic)
    assert (cx.shape, cx.dtype, cy.dtype) == ((200, 32, 32, 3), np.uint8, np.int64)
    assert tx.shape == (500, 32, 32, 3) and set(ty.tolist()) == set(range(10))
    assert datasets.load_class_names(cifar, synthetic) == list(cifar.class_names)
    index = datasets.load_imagenet_class_index(synthetic / "models" / datasets.IMAGENET_CLASS_INDEX)
    assert len(index) == 1000 and index[0][0].startswith("n")


@pytest.mark.parametrize("generate", [datasets.synthetic_mnist, datasets.synthetic_cifar])
def test_synthetic_classes_have_distinct_patterns(generate):
    """Even a nearest-class-mean rule on raw pixels tells the classes apart (chance is 0.1)."""
    rng = np.random.default_rng(3)
    (x, y), (x_test, y_test) = generate(500, rng), generate(200, rng)
    x, x_test = x.reshape(len(x), -1).astype(float), x_test.reshape(len(x_test), -1).astype(float)
    means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    nearest = np.argmin(((x_test[:, None] - means[None]) ** 2).sum(axis=-1), axis=1)
    assert (nearest == y_test).mean() > 0.7


def test_synthetic_data_is_reproducible(tmp_path):
    first = datasets.write_synthetic_data(tmp_path / "a", n_train=50, n_test=20, seed=1)
    second = datasets.write_synthetic_data(tmp_path / "b", n_train=50, n_test=20, seed=1)
    for name in ("datasets/mnist.npz", "datasets/t10k-images-idx3-ubyte.gz", "datasets/cifar-10-batches-py/test_batch"):
        assert datasets.sha256_of(first / name) == datasets.sha256_of(second / name)


def test_synthetic_images_are_real_jpeg_and_png(tmp_path):
    from PIL import Image

    paths = datasets.write_synthetic_images(tmp_path, count=3)
    formats = [Image.open(p).format for p in paths]
    assert formats == ["JPEG", "PNG", "JPEG"]
    assert all(min(Image.open(p).size) >= 180 for p in paths)


# -------------------------------------------------------------------- fetch


def test_fetch_hands_keras_the_data_folder_as_its_cache(monkeypatch, tmp_path):
    import keras
    from keras.src.backend import config as keras_config

    before = keras_config.keras_home()
    calls = []

    def downloader(name):
        def fake(*args, **kwargs):
            calls.append((name, keras_config.keras_home(), kwargs.get("weights")))
            (Path(keras_config.keras_home()) / f"{name}.done").write_text("x")
        return fake

    monkeypatch.setattr(keras.datasets.mnist, "load_data", downloader("mnist"))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", downloader("cifar10"))
    monkeypatch.setattr(keras.applications, "ResNet50", downloader("resnet50"))
    monkeypatch.setattr(keras.applications.imagenet_utils, "decode_predictions", downloader("class_index"))
    files = datasets.fetch(tmp_path / "cache")
    assert [name for name, _, _ in calls] == ["mnist", "cifar10", "resnet50", "class_index"]
    assert all(home == str(tmp_path / "cache") for _, home, _ in calls)
    assert calls[2][2] == "imagenet"
    assert keras_config.keras_home() == before      # restored
    assert {p.name for p in files} == {"mnist.done", "cifar10.done", "resnet50.done", "class_index.done"}


def _calls(path: Path) -> list[tuple[str, str, str]]:
    """(called name, enclosing function, source line) of every call in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                weights = [k for k in child.keywords if k.arg == "weights" and isinstance(k.value, ast.Constant)]
                if weights and weights[0].value.value == "imagenet":
                    name += "(weights='imagenet')"
                found.append((name, inner, f"line {child.lineno}: {ast.unparse(child)[:80]}"))
            visit(child, inner)

    visit(tree, "")
    return found


def _imports_fetch(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.ImportFrom) and node.module == "grader.datasets"
               and any(alias.name == "fetch" for alias in node.names) for node in ast.walk(tree))


def test_nothing_but_fetch_downloads_and_only_the_cli_calls_fetch():
    sources = sorted((REPO / "grader").rglob("*.py")) + sorted((REPO / "reference").rglob("*.py"))
    fetch_module = REPO / "grader" / "datasets" / "fetch.py"     # the only module that downloads
    fetch_calls = {name for name, _, _ in _calls(fetch_module)}
    assert {"load_data", "ResNet50(weights='imagenet')", "decode_predictions"} <= fetch_calls   # the scan sees them
    offenders = []
    for path in sources:
        relative = path.relative_to(REPO).as_posix()
        for name, function, text in _calls(path):
            downloads = name in ("load_data", "decode_predictions", "get_file") or "weights='imagenet'" in name
            if downloads and relative != "grader/datasets/fetch.py":
                offenders.append(f"{relative}: {text}")
            if name == "fetch" and ("datasets" in text or _imports_fetch(path)) and "cli" not in relative:
                offenders.append(f"{relative}: {text}")
    assert offenders == []


# ----------------------------------------------------------- real data (shared)


@pytest.mark.shared
def test_real_mnist_test_set_from_shared(mnist):
    folder = SHARED_DATA / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is absent")
    x, y = datasets.load_test_set(mnist, folder)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.uint8
    assert y[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y, minlength=10).tolist() == MNIST_TEST_COUNTS


@pytest.mark.shared
def test_real_mnist_training_set_from_shared(mnist):
    folder = SHARED_DATA / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist has no training images")
    x, y = datasets.load_train_set(mnist, folder)
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert datasets.dataset_files(mnist, folder, "train") == [folder / "train-images-idx3-ubyte.gz",
                                                              folder / "train-labels-idx1-ubyte.gz"]


@pytest.mark.shared
def test_real_cifar_batches_meta_from_shared(cifar):
    if not (SHARED_DATA / "cifar10" / "batches.meta").is_file():
        pytest.skip("../shared/data/cifar10 is absent")
    # The official file, pickled by Python 2, goes through the restricted unpickler.
    names = datasets.load_class_names(cifar, SHARED_DATA)
    assert names == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.shared
def test_real_imagenet_class_index_from_shared():
    path = SHARED_DATA / "imagenet" / "imagenet_class_index.json"
    if not path.is_file():
        pytest.skip("../shared/data/imagenet is absent")
    index = datasets.load_imagenet_class_index(path)
    assert len(index) == 1000
    assert index[0] == ("n01440764", "tench") and index[999] == ("n15075141", "toilet_tissue")


def test_class_index_in_another_shape_is_reported(tmp_path):
    path = tmp_path / "imagenet_class_index.json"
    path.write_text('{"0": "tench"}')
    with pytest.raises(DataError, match="not shaped like Keras's class index"):
        datasets.load_imagenet_class_index(path)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match="not a readable JSON"):
        datasets.load_imagenet_class_index(path)


def test_loader_without_arrays_is_refused(rubric, tmp_path):
    folder_set = next(d for d in rubric.datasets.values() if d.loader == "imagenet-images")
    with pytest.raises(DataError, match="folder of images"):
        datasets.load_test_set(folder_set, tmp_path)



# ------------------------------------------------- the official files, or a copy


@pytest.mark.shared
def test_the_official_mnist_files_carry_no_note(mnist):
    folder = SHARED_DATA / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is absent")
    assert datasets.unofficial_test_files(mnist, folder, 10_000) == ""


def test_a_copy_of_the_official_size_is_named_with_its_digest(mnist, cifar, tmp_path):
    """Stand-ins of the official size are copies as far as a student's figure goes:
    each test file is named with its digest and the official one's."""
    folder = datasets.write_synthetic_data(tmp_path, n_train=10, n_test=10_000, seed=1)
    assert datasets.unofficial_test_files(mnist, folder, 10_000) == ""       # it says it is synthetic
    (folder / "SYNTHETIC.txt").unlink()                                     # an instructor's copy does not
    note = datasets.unofficial_test_files(mnist, folder, 10_000)
    npz = folder / "datasets" / "mnist.npz"
    found = datasets.sha256_of(npz)
    assert note.startswith(f"The mnist test set graded here is not the official file: {npz} (sha256 {found[:12]}…, "
                           "the official file's is 731c5ac60275…). The grader's accuracies are right for these images")
    assert "weigh a reported_metrics_match or predictions_match_model result on this part" in note
    batch = folder / "datasets" / "cifar-10-batches-py" / "test_batch"
    note = datasets.unofficial_test_files(cifar, folder, 10_000)
    assert f"{batch} (md5 " in note and "the official file's is 40351d587109…" in note
    # A smaller stand-in is no copy of the official set; nor is a set that lost images.
    assert datasets.unofficial_test_files(mnist, folder, 1_000) == ""
    assert datasets.unofficial_test_files(cifar, folder, 9_999) == ""


@pytest.mark.shared
def test_the_jpeg_copy_of_cifar10_is_said_to_be_a_copy(cifar, shared_cifar10_dir):
    note = datasets.unofficial_test_files(cifar, shared_cifar10_dir, 10_000)
    assert "test_batch (md5 " in note and "the official file's is 40351d587109…" in note


def test_graded_parts_carry_the_note_and_only_theirs(rubric):
    from grader.pipeline import HeldOutData, _unofficial_data_problems

    data = HeldOutData(unofficial={"cifar10": "not the official file"})
    found = [(p.code, p.part, p.severity.value, p.message) for p in _unofficial_data_problems(rubric, data)]
    cifar_parts = [part.id for part in rubric.parts if part.dataset == "cifar10"]
    assert cifar_parts == ["6.2a", "6.2b"]
    assert found == [("test-set-not-official", part, "info", "not the official file") for part in cifar_parts]
