"""Build the Docker image the sandbox runs in, with no image registry and no
network inside the build.

The base image needs only Python 3.11 (``python:3.11-slim``, or the Debian
bookworm image that ``scripts/build-base-image.sh`` makes with debootstrap).
The Python packages come from a wheelhouse that ``pip download`` fills on the
host for the base image's Python version and platform, cached between builds.
There is one image per runtime (grader/evaluate/runtimes.py: keras3, keras2),
each with the course's extra packages (a rubric's ``[sandbox] packages``) at
the versions that runtime supports. An image whose label carries the hash of
its build files, packages and base image is not built again.

    python -m grader.evaluate.image [--runtime keras2] [--base-image IMAGE] [--tag TAG] [--force]
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

from collections.abc import Sequence

from grader.evaluate import runtimes
from grader.evaluate.runtimes import Runtime
from grader.evaluate.sandbox import DEFAULT_BASE_IMAGE, DEFAULT_IMAGE  # noqa: F401 (the CLI imports it from here)

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
BUILD_FILES = ("Dockerfile", "requirements.txt", "requirements-nodeps.txt")   # the keras3 runtime's
RUNTIME_LABEL = "org.dl-autograder.runtime"
HASH_LABEL = "org.dl-autograder.runtime-hash"
BASE_LABEL = "org.dl-autograder.base-image"
BUILD_STAGE_LABEL = "org.dl-autograder.stage=build"   # set in the Dockerfile's build stage
OLDEST_GLIBC_MINOR = 17  # manylinux2014

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The runtime image could not be built; the message says why and what to do."""


def _runtime(runtime: Runtime | str | None) -> Runtime:
    if isinstance(runtime, Runtime):
        return runtime
    return runtimes.get(runtime or runtimes.DEFAULT_RUNTIME)


def _packages(packages: Sequence[str] | None) -> list[str]:
    return runtimes.course_requirements(runtimes.default_packages() if packages is None else packages)


def runtime_hash(base_image: str, runtime: Runtime | str | None = None, packages: Sequence[str] | None = None) -> str:
    """Hash of what goes into the image: the Dockerfile, the runtime's pins,
    the course packages and the base image's name."""
    runtime = _runtime(runtime)
    digest = hashlib.sha256(base_image.encode() + b"\0" + runtime.name.encode())
    for name in ["Dockerfile", *runtime.files()]:
        digest.update(name.encode() + b"\0" + (RUNTIME_DIR / name).read_bytes())
    digest.update("\n".join(_packages(packages)).encode())
    return digest.hexdigest()[:16]


def host_platform() -> tuple[str, str, str]:
    """(Python version, glibc version, machine) of this host, for a host venv's wheelhouse."""
    import platform

    return "%d.%d" % sys.version_info[:2], os.confstr("CS_GNU_LIBC_VERSION").split()[-1], platform.machine()


def wheelhouse_for(runtime: Runtime | str | None, python: str, machine: str) -> Path:
    """The runtime's wheelhouse folder (the keras3 one keeps its original name)."""
    runtime = _runtime(runtime)
    suffix = "" if runtime.name == runtimes.DEFAULT_RUNTIME else f"-{runtime.name}"
    return default_wheelhouse_root() / f"py{python}-{machine}{suffix}"


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


def image_is_current(client, tag: str, base_image: str, runtime: Runtime | str | None = None,
                     packages: Sequence[str] | None = None) -> bool:
    """Whether ``tag`` exists and was built from the current build files, packages and base."""
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    labels = image.attrs.get("Config", {}).get("Labels") or {}
    return labels.get(HASH_LABEL) == runtime_hash(base_image, runtime, packages)


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


def ensure_wheelhouse(target: Path, python: str, glibc: str, machine: str, log: Log = print, *,
                      runtime: Runtime | str | None = None, packages: Sequence[str] | None = None) -> Path:
    """Fill ``target`` with wheels for the runtime's pins and the course
    packages (skipped when a previous download for the same requirements and
    platform completed)."""
    runtime = _runtime(runtime)
    course = _packages(packages)
    stamp = hashlib.sha256(
        f"{python} {glibc} {machine} {runtime.name}".encode()
        + b"".join((RUNTIME_DIR / name).read_bytes() for name in runtime.files())
        + "\n".join(course).encode()
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
        common + ["-r", str(RUNTIME_DIR / runtime.requirements), "-c", str(RUNTIME_DIR / runtime.course_pins),
                  *course],
        common + ["--no-deps", "-r", str(RUNTIME_DIR / runtime.nodeps)],
    ]
    log(f"downloading wheels for the {runtime.name} runtime, Python {python} ({machine}, glibc {glibc}), "
        f"into {target}")
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise ImageBuildError(f"pip download failed for the runtime wheelhouse:\n{tail}")
    marker.write_text(stamp + "\n")
    return target


def _make_context(context: Path, wheelhouse: Path, runtime: Runtime, packages: list[str]) -> None:
    """The Dockerfile's generic names: the runtime's pins as requirements.txt
    and requirements-nodeps.txt; the course packages, with the runtime's
    course pins appended as constraints-style exact pins; what must import."""
    shutil.copy2(RUNTIME_DIR / "Dockerfile", context / "Dockerfile")
    shutil.copy2(RUNTIME_DIR / runtime.requirements, context / "requirements.txt")
    shutil.copy2(RUNTIME_DIR / runtime.nodeps, context / "requirements-nodeps.txt")
    pins = (RUNTIME_DIR / runtime.course_pins).read_text(encoding="utf-8")
    (context / "requirements-course.txt").write_text(
        "\n".join(packages) + "\n-c constraints-course.txt\n", encoding="utf-8")
    (context / "constraints-course.txt").write_text(pins, encoding="utf-8")
    checks = ["tensorflow", "keras", "tf_keras", "h5py", "numpy", "PIL", *runtimes.import_names(packages)]
    (context / "imports.txt").write_text("\n".join(dict.fromkeys(checks)) + "\n", encoding="utf-8")
    wheels = context / "wheelhouse"
    wheels.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        try:
            os.link(wheel, wheels / wheel.name)
        except OSError:
            shutil.copy2(wheel, wheels / wheel.name)


def build_runtime_image(
    base_image: str = DEFAULT_BASE_IMAGE,
    tag: str | None = None,
    wheelhouse: Path | None = None,
    *,
    runtime: Runtime | str | None = None,
    packages: Sequence[str] | None = None,
    force: bool = False,
    log: Log = print,
) -> str:
    """Build (or find up to date) a sandbox runtime image; returns its tag.

    ``runtime`` is a name from grader/evaluate/runtimes.py (default keras3),
    ``tag`` defaults to that runtime's, ``packages`` to the default rubric's
    ``[sandbox] packages``. Raises ImageBuildError with a plain message when
    the engine, the base image or the wheels are missing, or the build fails.
    """
    runtime = _runtime(runtime)
    tag = tag or runtime.image
    course = _packages(packages)
    client = docker_client()
    if not force and image_is_current(client, tag, base_image, runtime, course):
        log(f"runtime image {tag} is up to date")
        return tag
    probe = probe_base_image(client, base_image)
    if wheelhouse is None:
        wheelhouse = wheelhouse_for(runtime, probe["python"], probe["machine"])
    ensure_wheelhouse(wheelhouse, probe["python"], probe["glibc"], probe["machine"], log, runtime=runtime,
                      packages=course)

    log(f"building {tag} ({runtime.title}; course packages: {', '.join(course) or 'none'}) from {base_image} "
        "(a few minutes the first time)")
    with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
        context = Path(tmp)
        _make_context(context, wheelhouse, runtime, course)
        lines: list[str] = []
        stream = client.api.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            labels={HASH_LABEL: runtime_hash(base_image, runtime, course), BASE_LABEL: base_image,
                    RUNTIME_LABEL: runtime.name},
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
    if not image_is_current(client, tag, base_image, runtime, course):
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
    parser.add_argument("--runtime", default=runtimes.DEFAULT_RUNTIME, choices=list(runtimes.RUNTIMES))
    parser.add_argument("--tag", default=None, help="default: the runtime's tag")
    parser.add_argument("--wheelhouse", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="build even when the image is up to date")
    args = parser.parse_args(argv)
    try:
        build_runtime_image(args.base_image, args.tag, args.wheelhouse, runtime=args.runtime, force=args.force)
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
