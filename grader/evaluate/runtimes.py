"""The sandbox's runtimes: which TensorFlow/Keras a student's code runs in.

Real submissions of a course span Keras generations: 2020-2023 notebooks were
written for TensorFlow 2.x with Keras 2 (``ImageDataGenerator``,
``fit_generator``, ``predict_classes``, ``lr=``), which Keras 3 removed. Each
runtime is a Docker image (built offline from a host wheelhouse, image.py) and,
for the bubblewrap backend, a host Python with the same packages:

    keras3  TensorFlow 2.21, Keras 3.15 (+ tf_keras)    image dl-autograder-runtime:<v>          the grader's .venv
    keras2  TensorFlow 2.15, Keras 2.15 (+ tf_keras)    image dl-autograder-runtime-keras2:<v>   .venv-keras2

A re-run picks its runtime from evidence (:func:`choose_runtime`): the Keras
version the student's saved models record, Keras-3-removed APIs in the code,
the notebook's Python version; a rubric may pin one (``[sandbox] runtime``).
Both images hold the course's extra packages (``[sandbox] packages``) at the
versions each runtime supports (``course-packages*.txt`` beside the Dockerfile).

    python -m grader.evaluate.runtimes venv --runtime keras2     # the host Python for bwrap
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader import __version__

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
REPO = Path(__file__).resolve().parents[2]
IMPORT_NAMES_FILE = RUNTIME_DIR / "import-names.json"
DEFAULT_RUNTIME = "keras3"
AUTO = "auto"
HOST_PYTHON_ENV = "GRADER_{name}_PYTHON"      # e.g. GRADER_KERAS2_PYTHON=/opt/keras2/bin/python

Log = Callable[[str], None]


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str                   # the Docker image tag
    title: str                   # what it loads, for reports
    requirements: str            # the runtime's own pins (files in grader/evaluate/runtime/)
    nodeps: str                  # installed with --no-deps
    course_pins: str             # the course packages' versions for this runtime
    venv: str | None             # the host venv bwrap runs, relative to the repository; None: the grader's own
    keras_major: int

    def host_python(self) -> str:
        """The Python the bubblewrap backend runs for this runtime."""
        override = os.environ.get(HOST_PYTHON_ENV.format(name=self.name.upper()))
        if override:
            return override
        if self.venv is None:
            return sys.executable
        return str(REPO / self.venv / "bin" / "python")

    def files(self) -> list[str]:
        return [self.requirements, self.nodeps, self.course_pins]


RUNTIMES: dict[str, Runtime] = {
    "keras3": Runtime("keras3", f"dl-autograder-runtime:{__version__}", "TensorFlow 2.21 with Keras 3.15",
                      "requirements.txt", "requirements-nodeps.txt", "course-packages.txt", None, 3),
    "keras2": Runtime("keras2", f"dl-autograder-runtime-keras2:{__version__}", "TensorFlow 2.15 with Keras 2.15",
                      "requirements-keras2.txt", "requirements-keras2-nodeps.txt", "course-packages-keras2.txt",
                      ".venv-keras2", 2),
}


def get(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise KeyError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


# ---------------------------------------------------------------- packages


def canonical(name: str) -> str:
    """pip's name comparison: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def course_requirements(packages: Iterable[str]) -> list[str]:
    """The requirement lines for the course's ``packages``: their names. Their
    versions come from the runtime's ``course_pins``, used as pip constraints
    (``-c``), so a pinned companion (scipy for scikit-learn) is held too and a
    package without a pin is resolved against the runtime's own pins."""
    lines: list[str] = []
    for package in packages:
        if canonical(package) not in {canonical(line) for line in lines}:
            lines.append(package)
    return lines


def import_name_map() -> dict[str, str]:
    """Import name -> pip package, where they differ (data: import-names.json)."""
    data = json.loads(IMPORT_NAMES_FILE.read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


def package_for_module(module: str) -> str:
    """The pip package that provides ``import module`` (``cv2`` -> opencv-python-headless)."""
    names = import_name_map()
    for candidate in (module, module.split(".")[0]):
        if candidate in names:
            return names[candidate]
    return module.split(".")[0]


def import_names(packages: Iterable[str]) -> list[str]:
    """What must import once ``packages`` are installed (the image build checks it)."""
    reverse: dict[str, str] = {}
    for module, package in import_name_map().items():
        reverse.setdefault(canonical(package), module)
    return [reverse.get(canonical(p), canonical(p).replace("-", "_")) for p in packages]


def default_packages() -> list[str]:
    """The default rubric's course packages (what install.sh builds into the images)."""
    from grader import rubric

    try:
        return list(rubric.load().sandbox.packages)
    except rubric.RubricError:
        return []


# --------------------------------------------------------------- host venv


def ensure_host_venv(runtime: Runtime, packages: Sequence[str], path: Path | None = None,
                     log: Log = print) -> Path:
    """The host Python for ``runtime`` under bubblewrap: a venv made from the
    runtime's wheelhouse (offline, the same wheels as its image). Skipped when
    it exists with the same requirements. Returns its python."""
    from grader.evaluate.image import ensure_wheelhouse, host_platform, wheelhouse_for

    target = Path(path) if path else (REPO / runtime.venv if runtime.venv else None)
    if target is None:
        raise ValueError(f"the {runtime.name} runtime runs the grader's own Python; it has no venv of its own")
    python, glibc, machine = host_platform()
    wheelhouse = ensure_wheelhouse(wheelhouse_for(runtime, python, machine), python, glibc, machine, log,
                                   runtime=runtime, packages=packages)
    stamp = (wheelhouse / ".complete").read_text().strip()
    marker = target / ".grader-runtime"
    if marker.is_file() and marker.read_text().strip() == stamp and (target / "bin" / "python").exists():
        log(f"{runtime.name} host Python {target} is up to date")
        return target / "bin" / "python"
    log(f"making the {runtime.name} host Python in {target} from {wheelhouse}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
           "--no-index", "--find-links", str(wheelhouse)]
    with _requirements_files(runtime, packages) as (main, nodeps):
        constraints = ["-c", str(RUNTIME_DIR / runtime.course_pins)]
        for command in (pip + ["-r", main, *constraints], pip + ["--no-deps", "-r", nodeps]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"installing the {runtime.name} runtime into {target} failed:\n"
                                   + "\n".join(done.stderr.strip().splitlines()[-15:]))
    marker.write_text(stamp + "\n")
    log(f"made {target}")
    return target / "bin" / "python"


def install_course_packages(runtime: Runtime, packages: Sequence[str], python: str, log: Log = print) -> None:
    """Put the course packages into an existing Python (the grader's .venv for
    keras3 under bubblewrap), offline from the runtime's wheelhouse."""
    from grader.evaluate.image import ensure_wheelhouse, host_platform, wheelhouse_for

    version, glibc, machine = host_platform()
    wheelhouse = ensure_wheelhouse(wheelhouse_for(runtime, version, machine), version, glibc, machine, log,
                                   runtime=runtime, packages=packages)
    lines = course_requirements(packages)
    if not lines:
        return
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-index",
               "--find-links", str(wheelhouse), "-c", str(RUNTIME_DIR / runtime.course_pins), *lines]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("installing the course packages failed:\n" + "\n".join(done.stderr.splitlines()[-15:]))
    log(f"course packages in {python}: {', '.join(lines)}")


@contextlib.contextmanager
def _requirements_files(runtime: Runtime, packages: Sequence[str]) -> Iterator[tuple[str, str]]:
    """The runtime's pins plus the course's packages, and its --no-deps file, as files for pip."""
    with tempfile.TemporaryDirectory(prefix="grader-reqs-") as folder:
        main = Path(folder) / "requirements.txt"
        main.write_text((RUNTIME_DIR / runtime.requirements).read_text(encoding="utf-8") + "\n"
                        + "\n".join(course_requirements(packages)) + "\n", encoding="utf-8")
        yield str(main), str(RUNTIME_DIR / runtime.nodeps)


# ----------------------------------------------------------------- sandboxes


def sandbox_for(sandbox, runtime: Runtime):
    """A sandbox of the same backend as ``sandbox`` that runs ``runtime``, and
    why not (None, reason) when this machine lacks it."""
    name = getattr(sandbox, "name", "")
    if runtime.name == DEFAULT_RUNTIME and getattr(sandbox, "runtime", DEFAULT_RUNTIME) == DEFAULT_RUNTIME:
        return sandbox, ""
    if name == "none":
        return None, "the none backend runs the grader's own Python only"
    from grader.evaluate.sandbox import SandboxUnavailable, choose_backend

    try:
        return choose_backend(name, runtime=runtime.name), ""
    except SandboxUnavailable as exc:
        return None, str(exc)


# ------------------------------------------------------------------ evidence

# Keras-2 code that Keras 3 rejects: (what it is, regular expression over code
# with comments removed). Each was seen in real 2020-2023 submissions.
KERAS2_ONLY_CODE: tuple[tuple[str, str], ...] = (
    ("imports keras.preprocessing.image.ImageDataGenerator",
     r"preprocessing\.image\s+import\s+[^\n]*ImageDataGenerator|preprocessing\.image\.ImageDataGenerator"),
    ("calls fit_generator", r"\.fit_generator\s*\("),
    ("calls evaluate_generator / predict_generator", r"\.(?:evaluate|predict)_generator\s*\("),
    ("calls predict_classes", r"\.predict_classes\s*\("),
    ("imports keras.wrappers", r"keras\.wrappers\b|from\s+keras\s+import\s+[^\n]*\bwrappers\b"),
    ("imports keras.utils.np_utils", r"\bnp_utils\b"),
    ("imports keras.layers.core / keras.layers.convolutional / keras.layers.pooling",
     r"keras\.layers\.(?:core|convolutional|pooling|normalization|recurrent)\b"),
    ("builds an optimizer with lr=", r"\b(?:RMSprop|Adam|SGD|Adagrad|Adadelta|Adamax|Nadam|rmsprop|adam|sgd)\s*\([^)]*\blr\s*="),
    ("imports keras.engine", r"\bkeras\.engine\b"),
    ("passes workers= / use_multiprocessing= to fit", r"\.fit(?:_generator)?\s*\([^)]*\b(?:workers|use_multiprocessing)\s*="),
    ("uses Colab's %tensorflow_version magic (2020-2022)", r"(?m)^\s*%tensorflow_version\b"),
)
KERAS3_ONLY_CODE: tuple[tuple[str, str], ...] = (
    ("uses keras.ops", r"\bkeras\.ops\b|from\s+keras\s+import\s+[^\n]*\bops\b"),
    ("sets KERAS_BACKEND", r"KERAS_BACKEND"),
    ("uses keras.config", r"\bkeras\.config\b"),
)
# Python versions of the Keras 2 era in a notebook's metadata (Colab and
# Anaconda of 2020-2023 ran 3.6-3.8; TensorFlow with Keras 3 needs 3.9+).
KERAS2_ERA_PYTHON = ((3, 6), (3, 8))
MODEL_SUFFIXES = (".h5", ".hdf5", ".keras")


@dataclass
class RuntimeChoice:
    """The runtime a submission's code runs in, and why."""

    runtime: str
    reason: str                                   # one sentence for the report
    evidence: list[str] = field(default_factory=list)   # every clue found, with where
    pinned: bool = False
    fallback: str = ""                            # set when the chosen runtime was not available here

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Clues:
    models2: list[str] = field(default_factory=list)
    models3: list[str] = field(default_factory=list)
    code2: list[str] = field(default_factory=list)
    code3: list[str] = field(default_factory=list)
    python: list[str] = field(default_factory=list)


def _code_of(path: Path) -> tuple[list[str], dict]:
    """The code cells (or the script) and the notebook's metadata, read as data."""
    import nbformat

    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if path.suffix.lower() != ".ipynb":
        return [text], {}
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook gives no clue
        return [], {}
    cells = [str(c.get("source", "")) for c in notebook.cells if c.get("cell_type") == "code"]
    return cells, dict(notebook.get("metadata") or {})


def _without_comments(code: str) -> str:
    try:
        tokens = tokenize.generate_tokens(io.StringIO(code).readline)
        kept = []
        for token in tokens:
            if token.type != tokenize.COMMENT:
                kept.append(token)
        return tokenize.untokenize(kept)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(line.split("#", 1)[0] for line in code.splitlines())


def _python_version(metadata: dict) -> tuple[int, int] | None:
    version = str((metadata.get("language_info") or {}).get("version") or "")
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _source_clues(root: Path, source: str, clues: _Clues) -> None:
    try:
        cells, metadata = _code_of(root / source)
    except OSError:
        return
    for number, cell in enumerate(cells, start=1):
        code = _without_comments(cell.replace("\r\n", "\n"))
        where = f"{source}" + (f" cell {number}" if source.lower().endswith(".ipynb") else "")
        for what, pattern in KERAS2_ONLY_CODE:
            if re.search(pattern, code):
                clues.code2.append(f"{where} {what}")
        for what, pattern in KERAS3_ONLY_CODE:
            if re.search(pattern, code):
                clues.code3.append(f"{where} {what}")
    version = _python_version(metadata)
    if version is not None and KERAS2_ERA_PYTHON[0] <= version <= KERAS2_ERA_PYTHON[1]:
        shown = (metadata.get("language_info") or {}).get("version")
        clues.python.append(f"{source} was saved by a Python {shown} kernel (Keras 2 era)")


def _model_clues(root: Path, model: str, clues: _Clues) -> None:
    """The Keras version a saved model records, read as metadata on the host."""
    from grader.readers import ReadError, read_model_meta

    try:
        version = read_model_meta(root / model).keras_version
    except (ReadError, OSError, ValueError):
        return
    if not version:
        return
    major = re.match(r"\s*(\d+)", version)
    if major is None:
        return
    target = clues.models3 if int(major.group(1)) >= 3 else clues.models2
    target.append(f"{model} records keras_version {version}")


def saved_models(root: Path, limit: int = 20) -> list[str]:
    """The submission's saved Keras files (by name), for when discover's roles are not at hand."""
    found = []
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in MODEL_SUFFIXES:
            found.append(path.relative_to(root).as_posix())
            if len(found) >= limit:
                break
    return found


def choose_runtime(root: Path, sources: Sequence[str], models: Sequence[str] | None = None,
                   pin: str | None = AUTO) -> RuntimeChoice:
    """The runtime for a submission's code, from evidence (module docstring);
    ``pin`` (a rubric's ``[sandbox] runtime``) other than "auto" decides alone."""
    root = Path(root)
    clues = _Clues()
    for source in sources:
        if PurePosixPath(source).suffix.lower() in (".ipynb", ".py"):
            _source_clues(root, source, clues)
    for model in (saved_models(root) if models is None else models):
        _model_clues(root, model, clues)
    evidence = clues.models2 + clues.models3 + clues.code2 + clues.code3 + clues.python
    if pin and pin != AUTO:
        return RuntimeChoice(pin, f"the rubric pins the {pin} runtime ([sandbox] runtime)", evidence, pinned=True)
    runtime, reason = _decide(clues)
    return RuntimeChoice(runtime, reason, evidence)


def _decide(clues: _Clues) -> tuple[str, str]:
    def some(items: list[str]) -> str:
        return "; ".join(items[:3]) + (f" (and {len(items) - 3} more)" if len(items) > 3 else "")

    if clues.models2 and not clues.models3:
        return "keras2", f"the saved models were written by Keras 2: {some(clues.models2)}"
    if clues.models3 and not clues.models2:
        return "keras3", f"the saved models were written by Keras 3: {some(clues.models3)}"
    if clues.code2 and not clues.code3:
        return "keras2", f"the code uses APIs Keras 3 removed: {some(clues.code2)}"
    if clues.code3 and not clues.code2:
        return "keras3", f"the code uses Keras 3 APIs: {some(clues.code3)}"
    if clues.models2 or clues.code2:
        # Mixed evidence: the code is what runs, so what it calls decides.
        if len(clues.code2) > len(clues.code3):
            return "keras2", (f"mixed evidence; the code uses APIs Keras 3 removed: {some(clues.code2)} "
                              f"(Keras 3 clues: {some(clues.models3 + clues.code3)})")
        return "keras3", f"mixed evidence; Keras 3 clues: {some(clues.models3 + clues.code3)}"
    if clues.python:
        return "keras2", f"the notebooks come from the Keras 2 era: {some(clues.python)}"
    return DEFAULT_RUNTIME, "no Keras 2 evidence (saved models, removed APIs, kernel metadata): the current runtime"


# --------------------------------------------------- evaluation's fallback


def retry_failed_loads(evaluation, sandbox, evaluate: Callable[[Any, list[str]], Any], root: Path | None = None):
    """Model evaluation keeps its loader chain (Keras 3, then tf_keras, then
    SavedModel); a Keras 2 model that every loader of the current runtime
    rejected is tried once more in the Keras 2 runtime (TensorFlow 2.15), when
    this machine has it. With ``root`` (the submission), only a model whose
    HDF5 metadata, read on the host, records a Keras 2 version is retried: a
    damaged file is not worth a second sandbox. ``evaluate(other_sandbox,
    parts)`` evaluates those parts' models there and returns an Evaluation;
    each model it loads replaces the failure, with a note. Returns ``evaluation``."""
    if evaluation is None or not getattr(evaluation, "models", None):
        return evaluation
    failed = [part for part, model in evaluation.models.items()
              if _failed_to_load(model) and (root is None or _written_by_keras2(Path(root) / model.path))]
    if not failed:
        return evaluation
    current = getattr(sandbox, "runtime", DEFAULT_RUNTIME)
    if current == "keras2":
        return evaluation
    other, _ = sandbox_for(sandbox, RUNTIMES["keras2"])
    if other is None:
        return evaluation
    retried = evaluate(other, failed)
    for part in failed:
        model = (getattr(retried, "models", None) or {}).get(part)
        if model is not None and model.ok:
            model.message = "; ".join(filter(None, [model.message, (
                f"{part}: loaded in the Keras 2 runtime ({RUNTIMES['keras2'].title}); every loader of the "
                f"{current} runtime rejected it")]))
            evaluation.models[part] = model
    return evaluation


def _written_by_keras2(path: Path) -> bool:
    clues = _Clues()
    _model_clues(path.parent, path.name, clues)
    return bool(clues.models2)


def _failed_to_load(model) -> bool:
    """A Keras 2 format (HDF5) model every loader rejected (not a missing file,
    a timeout or a bad prediction; a .keras file is Keras 3's own format)."""
    if model.ok or model.loader is not None or PurePosixPath(model.path).suffix.lower() not in (".h5", ".hdf5"):
        return False
    return bool((model.architecture or {}).get("loader_errors"))


# ---------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The sandbox runtimes' host Pythons (for bubblewrap).")
    sub = parser.add_subparsers(dest="command", required=True)
    venv = sub.add_parser("venv", help="make the host venv of a runtime from its wheelhouse")
    venv.add_argument("--runtime", default="keras2", choices=[n for n, r in RUNTIMES.items() if r.venv])
    venv.add_argument("--path", type=Path, default=None)
    course = sub.add_parser("course", help="install the course packages into a Python (the grader's .venv)")
    course.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=list(RUNTIMES))
    course.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    # Run as ``python -m``, this file is __main__: use the package's module, whose classes image.py knows.
    from grader.evaluate import runtimes as registry

    packages = registry.default_packages()
    try:
        if args.command == "venv":
            registry.ensure_host_venv(registry.get(args.runtime), packages, args.path)
        else:
            registry.install_course_packages(registry.get(args.runtime), packages, args.python)
    except Exception as exc:  # noqa: BLE001 - a set-up step: say what failed and stop
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
