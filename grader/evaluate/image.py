"""Build the Docker image the sandbox runs in, with no image registry and no
network inside the build.

The base image needs only Python 3.11 (``python:3.11-slim``, or the Debian
bookworm image that ``scripts/build-base-image.sh`` makes with debootstrap).
The Python packages come from a wheelhouse that ``pip download`` fills on the
host for the base image's Python version and platform, cached between builds.
An image whose label carries the hash of the build files and the base image is
not built again.

    python -m grader.evaluate.image [--base-image IMAGE] [--tag TAG] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from grader.evaluate.sandbox import DEFAULT_BASE_IMAGE, DEFAULT_IMAGE

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
BUILD_FILES = ("Dockerfile", "requirements.txt", "requirements-nodeps.txt")
HASH_LABEL = "org.dl-autograder.runtime-hash"
BASE_LABEL = "org.dl-autograder.base-image"
BUILD_STAGE_LABEL = "org.dl-autograder.stage=build"   # set in the Dockerfile's build stage
OLDEST_GLIBC_MINOR = 17  # manylinux2014

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The runtime image could not be built; the message says why and what to do."""


def runtime_hash(base_image: str) -> str:
    """Hash of what goes into the image: the build files and the base image's name."""
    digest = hashlib.sha256(base_image.encode())
    for name in BUILD_FILES:
        digest.update(name.encode() + b"\0" + (RUNTIME_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def default_wheelhouse_root() -> Path:
    cache = os.environ.get("GRADER_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "grader")
    return Path(cache) / "wheelhouse"


def docker_client():
    """A docker SDK client whose engine answers, or ImageBuildError."""
    try:
        import docker
    except ImportError:
        raise ImageBuildError("the docker Python package is missing: pip install docker") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        raise ImageBuildError(
            f"no Docker engine answers ({exc.__class__.__name__}); start one (dockerd) and try again"
        ) from None
    return client


def image_is_current(client, tag: str, base_image: str) -> bool:
    """Whether ``tag`` exists and was built from the current build files and base."""
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    labels = image.attrs.get("Config", {}).get("Labels") or {}
    return labels.get(HASH_LABEL) == runtime_hash(base_image)


def probe_base_image(client, base_image: str) -> dict[str, str]:
    """The base image's Python version, glibc version and machine, from a
    throwaway container with no network."""
    import docker

    try:
        client.images.get(base_image)
    except docker.errors.ImageNotFound:
        raise ImageBuildError(
            f"the base image {base_image} is not on this machine and no registry may be reachable; "
            "build one with scripts/build-base-image.sh and pass it with --base-image"
        ) from None
    script = (
        "import json, os, platform, sys; print(json.dumps({"
        "'python': '%d.%d' % sys.version_info[:2], "
        "'glibc': os.confstr('CS_GNU_LIBC_VERSION').split()[-1], "
        "'machine': platform.machine()}))"
    )
    try:
        output = client.containers.run(
            base_image, ["python3", "-c", script], network_mode="none", remove=True
        )
        return json.loads(output.decode().strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001
        raise ImageBuildError(f"the base image {base_image} has no working python3: {exc}") from None


def _platform_tags(glibc: str, machine: str) -> list[str]:
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux2014_{machine}"]
    tags += [f"manylinux_{major}_{m}_{machine}" for m in range(OLDEST_GLIBC_MINOR, minor + 1)]
    return tags


def ensure_wheelhouse(target: Path, python: str, glibc: str, machine: str, log: Log = print) -> Path:
    """Fill ``target`` with wheels for the pinned requirements (skipped when a
    previous download for the same requirements and platform completed)."""
    stamp = hashlib.sha256(
        f"{python} {glibc} {machine}".encode()
        + (RUNTIME_DIR / "requirements.txt").read_bytes()
        + (RUNTIME_DIR / "requirements-nodeps.txt").read_bytes()
    ).hexdigest()
    marker = target / ".complete"
    if marker.is_file() and marker.read_text().strip() == stamp:
        return target
    target.mkdir(parents=True, exist_ok=True)
    common = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
        "--dest", str(target), "--only-binary=:all:",
        "--python-version", python, "--implementation", "cp",
        "--abi", "cp" + python.replace(".", ""), "--abi", "abi3", "--abi", "none",
    ]
    for tag in _platform_tags(glibc, machine):
        common += ["--platform", tag]
    commands = [
        common + ["-r", str(RUNTIME_DIR / "requirements.txt")],
        common + ["--no-deps", "-r", str(RUNTIME_DIR / "requirements-nodeps.txt")],
    ]
    log(f"downloading wheels for Python {python} ({machine}, glibc {glibc}) into {target}")
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise ImageBuildError(f"pip download failed for the runtime wheelhouse:\n{tail}")
    marker.write_text(stamp + "\n")
    return target


def _make_context(context: Path, wheelhouse: Path) -> None:
    for name in BUILD_FILES:
        shutil.copy2(RUNTIME_DIR / name, context / name)
    wheels = context / "wheelhouse"
    wheels.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        try:
            os.link(wheel, wheels / wheel.name)
        except OSError:
            shutil.copy2(wheel, wheels / wheel.name)


def build_runtime_image(
    base_image: str = DEFAULT_BASE_IMAGE,
    tag: str = DEFAULT_IMAGE,
    wheelhouse: Path | None = None,
    *,
    force: bool = False,
    log: Log = print,
) -> str:
    """Build (or find up to date) the sandbox runtime image; returns its tag.

    Raises ImageBuildError with a plain message when the engine, the base image
    or the wheels are missing, or the build fails.
    """
    client = docker_client()
    if not force and image_is_current(client, tag, base_image):
        log(f"runtime image {tag} is up to date")
        return tag
    probe = probe_base_image(client, base_image)
    if wheelhouse is None:
        wheelhouse = default_wheelhouse_root() / f"py{probe['python']}-{probe['machine']}"
    ensure_wheelhouse(wheelhouse, probe["python"], probe["glibc"], probe["machine"], log)

    log(f"building {tag} from {base_image} (a few minutes the first time)")
    with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
        context = Path(tmp)
        _make_context(context, wheelhouse)
        lines: list[str] = []
        stream = client.api.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            labels={HASH_LABEL: runtime_hash(base_image), BASE_LABEL: base_image},
            network_mode="none",
            pull=False,
            rm=True,
            forcerm=True,
            decode=True,
            use_config_proxy=False,
        )
        for chunk in stream:
            if "error" in chunk:
                tail = "\n".join(lines[-15:])
                raise ImageBuildError(f"docker build of {tag} failed: {chunk['error'].strip()}\n{tail}")
            text = chunk.get("stream", "").rstrip()
            if text:
                lines.append(text)
    if not image_is_current(client, tag, base_image):
        raise ImageBuildError(f"docker build of {tag} finished but the image is missing or unlabelled")
    # Neither the build stage (wheelhouse and all, about 2 GB) nor a runtime
    # image this build replaced is needed any more.
    for label in (BUILD_STAGE_LABEL, HASH_LABEL):
        client.images.prune(filters={"dangling": True, "label": label})
    log(f"built {tag}")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the sandbox runtime image.")
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--tag", default=DEFAULT_IMAGE)
    parser.add_argument("--wheelhouse", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="build even when the image is up to date")
    args = parser.parse_args(argv)
    try:
        build_runtime_image(args.base_image, args.tag, args.wheelhouse, force=args.force)
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
