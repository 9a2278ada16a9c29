#!/usr/bin/env python3
"""Runs inside the sandbox: re-executes a student's notebooks and scripts.

Copied into the job folder as ``runner.py`` (the sandbox runs whatever
runner the job holds) and run as ``python3 /job/runner.py /job/job.json``.
Standalone on purpose: it imports only the standard library, and nbformat,
nbclient and jupyter_client inside the sandbox, never the grader.

What it does, in order:

1. copies /submission (the student's files, read-only; the host already
   rewrote absolute paths in the sources) to ``work_dir`` under /output, a
   writable working copy, since notebooks write results/;
2. makes a home folder in /tmp whose ``~/.keras`` shows the instructor's data
   (mounted read-only at /inputs) where Keras looks for it (the host lists
   the links in job.json);
3. runs each source in order: a notebook cell by cell in an IPython kernel
   (nbclient, allow_errors, a per-cell time limit), a script with runpy in a
   subprocess; both under one total time limit, and with ``keras.Model.fit``
   (and tf_keras's) patched to clamp ``epochs`` to ``max_epochs``, recording
   every call; Keras's downloads (``load_data()``, ``weights="imagenet"``,
   ``get_file``) answered from the data folder by file name, never the
   network; in the Keras 2 runtime, the Keras 2 APIs that TensorFlow 2.15
   dropped put back (each use recorded); Keras's pools of data workers
   (``workers=``, ``use_multiprocessing=``) run as one worker where the
   sandbox cannot make multiprocessing's locks (recorded too); a
   ``google.colab`` stub that says what it did not do;
4. writes the executed notebooks, script logs and result.json to /output.

Everything it writes is read by the host as untrusted data: the student's code
runs with the same rights and could have rewritten any of it.

The same file is also imported by the kernel's IPython startup file and by the
script subprocess (``--script``) for :func:`install_hooks`.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

RUNNER_VERSION = "rerun-1"
HOME = Path(os.environ.get("TMPDIR") or "/tmp") / "home"   # the "none" backend gives a private TMPDIR
KERNEL_NAME = "grader-sandbox-python3"
TRACEBACK_LIMIT = 6000          # characters of one failed cell's traceback
STREAM_LIMIT = 200_000          # characters kept of one cell's stream output
OUTPUTS_PER_CELL = 200
LOG_TAIL_BYTES = 1_000_000      # of a script's stdout/stderr
KERNEL_STARTUP_SECONDS = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
FIT_LOG_ENV = "GRADER_RERUN_FIT_LOG"
MAX_EPOCHS_ENV = "GRADER_RERUN_MAX_EPOCHS"
DATA_ROOT_ENV = "GRADER_RERUN_DATA_ROOT"
PLACEHOLDERS_ENV = "GRADER_RERUN_PLACEHOLDERS"
# What the host looks for to say "data not on these machines" (grader/rerun/causes.py).
NOT_IN_DATA = "is not in the instructor's data folder"
# Module paths of Keras 2.0-2.10 that Keras 2.15 no longer has, and where
# their names live now (old keras.layers.core held Dense, Dropout, Flatten...).
KERAS2_MODULE_ALIASES = {
    **{f"keras.layers.{old}": "keras.layers" for old in (
        "core", "convolutional", "pooling", "normalization", "recurrent", "merge", "embeddings",
        "advanced_activations", "noise", "local", "convolutional_recurrent", "wrappers")},
    "keras.utils.np_utils": "keras.src.utils.np_utils",
    "keras.utils.data_utils": "keras.src.utils.data_utils",
    "keras.utils.generic_utils": "keras.src.utils.generic_utils",
    "keras.utils.vis_utils": "keras.src.utils.vis_utils",
    "keras.engine": "keras.src.engine",
    "keras.engine.topology": "keras.src.engine.functional",
}
# Optimizers that took lr= and decay= until Keras 2.10: such a call gets the
# legacy optimizer, whose semantics those arguments had (2.15's new optimizers
# ignore lr= and reject decay=).
LEGACY_OPTIMIZERS = ("SGD", "RMSprop", "Adam", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl")
COLAB_MODULES = ("google.colab", "google.colab.drive", "google.colab.files", "google.colab.patches",
                 "google.colab.output")


# ------------------------------------------------------------ in-process hooks


def _log_fit(record: dict) -> None:
    path = os.environ.get(FIT_LOG_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    except OSError:
        pass


def _capping_fit(original, framework: str, max_epochs: int | None):
    """``fit`` that clamps the epochs it runs to ``max_epochs`` and logs each call."""
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        signature = None

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        if signature is None:
            return original(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)   # let fit raise its own error
        _threads_when_no_semaphores(bound.arguments, "fit")
        epochs = bound.arguments.get("epochs", signature.parameters["epochs"].default)
        initial = bound.arguments.get("initial_epoch", 0) or 0
        try:
            epochs, initial = int(epochs), int(initial)
        except (TypeError, ValueError):
            _log_fit({"framework": framework, "model": type(self).__name__, "epochs": None, "run": None,
                      "capped": False})
            return original(*bound.args, **bound.kwargs)
        planned = epochs - initial
        capped = max_epochs is not None and planned > max_epochs
        if capped:
            bound.arguments["epochs"] = initial + max_epochs
        _log_fit({"framework": framework, "model": type(self).__name__, "epochs": planned,
                  "run": max_epochs if capped else planned, "capped": capped})
        return original(*bound.args, **bound.kwargs)

    fit.__grader_capped__ = True
    return fit


def _threads_if_needed(original, method: str):
    """``evaluate`` / ``predict`` with ``use_multiprocessing`` handled as in fit."""
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        return original
    if "use_multiprocessing" not in signature.parameters:
        return original   # Keras 3 has no such argument

    @functools.wraps(original)
    def method_with_threads(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)
        _threads_when_no_semaphores(bound.arguments, method)
        return original(*bound.args, **bound.kwargs)

    method_with_threads.__grader_threads__ = True
    return method_with_threads


_SEMAPHORES: bool | None = None


def _semaphores_work() -> bool:
    """Whether this sandbox lets multiprocessing make its locks (POSIX
    semaphores in /dev/shm; a sandbox's /dev may not let its user write there)."""
    global _SEMAPHORES
    if _SEMAPHORES is None:
        try:
            import multiprocessing.synchronize

            multiprocessing.synchronize.Lock(ctx=multiprocessing.get_context())
            _SEMAPHORES = True
        except (OSError, ImportError):
            _SEMAPHORES = False
    return _SEMAPHORES


def _threads_when_no_semaphores(arguments: dict, method: str) -> None:
    """``workers=`` / ``use_multiprocessing=`` where multiprocessing cannot make
    a lock: Keras 2 starts its pool of workers (processes, or a ThreadPool,
    which needs such a lock too) in a thread whose failure it never reports,
    and the cell waits for batches for ever. One worker reads the same
    batches in order, without a pool."""
    extra = arguments.get("kwargs")
    options = extra if isinstance(extra, dict) and {"workers", "use_multiprocessing"} & set(extra) else arguments
    try:
        workers = int(options.get("workers", 1) or 1)
    except (TypeError, ValueError):
        return
    pooled = options.get("use_multiprocessing") is True or workers > 1
    if pooled and not _semaphores_work():
        asked = f"workers={workers}, use_multiprocessing={options.get('use_multiprocessing', False)}"
        options["workers"], options["use_multiprocessing"] = 1, False
        _log_compat(f"{method}({asked})", "ran with one worker and no pool: this sandbox cannot make "
                                          "multiprocessing's locks (POSIX semaphores), which Keras's pool needs")


def _under_data(path: str) -> bool:
    """Whether Keras is looking at the instructor's data (or a placeholder the
    runner made for a cache layout): the data folder is trusted and there is no
    network, so a hash mismatch (synthetic test data) must not start a download."""
    root = os.environ.get(DATA_ROOT_ENV, "/inputs")
    placeholders = set(filter(None, os.environ.get(PLACEHOLDERS_ENV, "").split(os.pathsep)))
    real = os.path.realpath(path)
    return real.startswith(root.rstrip("/") + "/") or real in placeholders


def _patch_validation(module) -> None:
    validate = getattr(module, "validate_file", None)
    if validate is not None and not getattr(validate, "__grader__", False):
        def validate_file(fpath, *args, **kwargs):
            return True if _under_data(str(fpath)) else validate(fpath, *args, **kwargs)
        validate_file.__grader__ = True
        module.validate_file = validate_file
    extract = getattr(module, "extract_archive", None)
    if extract is not None and not getattr(extract, "__grader__", False):
        # Keras 3 extracts the archive again on every load_data(); the data
        # mount is read-only, so an already extracted folder is used as is.
        def extract_archive(file_path, path=".", *args, **kwargs):
            if os.path.isdir(path) and os.listdir(path):
                return True
            return extract(file_path, path, *args, **kwargs)
        extract_archive.__grader__ = True
        module.extract_archive = extract_archive


_COMPAT_SEEN: set[str] = set()


def _log_compat(api: str, note: str) -> None:
    """Record (once per process) that the runner stood in for an API the runtime lacks."""
    if api not in _COMPAT_SEEN:
        _COMPAT_SEEN.add(api)
        _log_fit({"kind": "compat", "api": api, "note": note})


_DATA_INDEX: dict[str, str] | None = None


def _data_index() -> dict[str, str]:
    """File name -> path of every file in the instructor's data folder (first wins)."""
    global _DATA_INDEX
    if _DATA_INDEX is None:
        _DATA_INDEX = {}
        root = os.environ.get(DATA_ROOT_ENV, "/inputs")
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                _DATA_INDEX.setdefault(name, os.path.join(folder, name))
    return _DATA_INDEX


def _wanted_names(url: str, filename: str) -> list[str]:
    from urllib.parse import urlparse

    base = os.path.basename(str(filename))
    names = [base, base.removesuffix("_archive"), base.removesuffix(".part"),
             os.path.basename(urlparse(str(url)).path)]
    return [n for n in dict.fromkeys(names) if n]


def _offline_urlretrieve(url, filename, reporthook=None, data=None):
    """Keras's download step, answered from the data folder by file name: a
    symlink to the instructor's file, or a clear error (there is no network)."""
    for name in _wanted_names(url, filename):
        found = _data_index().get(name)
        if found:
            if os.path.lexists(filename):
                os.remove(filename)
            os.symlink(found, filename)
            return str(filename), None
    name = _wanted_names(url, filename)[-1]
    raise FileNotFoundError(
        2, f"{name} {NOT_IN_DATA}, and the re-run has no network (Keras would download it from {url}). "
           f"Fix: put {name} in the data folder (Keras's datasets/ or models/; `grade data fetch` gets "
           "Keras's own files), then re-run", str(filename))


def _patch_file_utils(module) -> None:
    if getattr(module, "urlretrieve", None) is not None and not getattr(module.urlretrieve, "__grader__", False):
        _offline_urlretrieve.__grader__ = True
        module.urlretrieve = _offline_urlretrieve
    _patch_validation(module)


def _keras_major(module) -> int:
    try:
        return int(str(getattr(module, "__version__", "0")).split(".")[0])
    except ValueError:
        return 0


def _predict_classes(self, x, batch_size=32, verbose=0):
    """Sequential.predict_classes as Keras 2.0-2.5 had it (removed in 2.6)."""
    _log_compat("Sequential.predict_classes", "argmax of predict() (sigmoid: > 0.5), as Keras <= 2.5 did")
    proba = self.predict(x, batch_size=batch_size, verbose=verbose)
    if proba.shape[-1] > 1:
        return proba.argmax(axis=-1)
    return (proba > 0.5).astype("int32")


def _predict_proba(self, x, batch_size=32, verbose=0):
    _log_compat("Sequential.predict_proba", "predict(), as Keras <= 2.5 did")
    return self.predict(x, batch_size=batch_size, verbose=verbose)


def _legacy_when_old_arguments(new_class, legacy_class) -> None:
    original_new = new_class.__new__

    def __new__(cls, *args, **kwargs):
        if cls is new_class and ("lr" in kwargs or "decay" in kwargs):
            _log_compat(f"optimizers.{new_class.__name__}(lr=/decay=)",
                        f"built keras.optimizers.legacy.{new_class.__name__}, where lr= and decay= still work")
            return legacy_class(*args, **kwargs)
        if original_new is object.__new__:
            return object.__new__(cls)
        return original_new(cls, *args, **kwargs)

    new_class.__new__ = staticmethod(__new__)


def _keras2_compat(module) -> None:
    """Keras 2.15 (the Keras 2 runtime) with the Keras 2 APIs it dropped put back."""
    sequential = getattr(module, "Sequential", None)
    if sequential is not None and not hasattr(sequential, "predict_classes"):
        sequential.predict_classes = _predict_classes
        sequential.predict_proba = _predict_proba
    optimizers = getattr(module, "optimizers", None)
    legacy = getattr(optimizers, "legacy", None)
    for name in LEGACY_OPTIMIZERS if legacy is not None else ():
        new_class, legacy_class = getattr(optimizers, name, None), getattr(legacy, name, None)
        if new_class is not None and legacy_class is not None and new_class is not legacy_class \
                and not getattr(new_class, "__grader_legacy__", False):
            _legacy_when_old_arguments(new_class, legacy_class)
            new_class.__grader_legacy__ = True


def _patch_framework(name: str, max_epochs: int | None) -> None:
    module = sys.modules.get(name)
    model = getattr(module, "Model", None)
    if model is not None and not getattr(model.fit, "__grader_capped__", False):
        model.fit = _capping_fit(model.fit, name, max_epochs)
    for method in ("evaluate", "predict"):
        original = getattr(model, method, None)
        if original is not None and not getattr(original, "__grader_threads__", False):
            setattr(model, method, _threads_if_needed(original, method))
    if name == "keras" and _keras_major(module) == 2:
        _keras2_compat(module)
    # Keras 3 keeps get_file in file_utils; Keras 2 and tf_keras in data_utils.
    for utils in (f"{name}.src.utils.file_utils", f"{name}.src.utils.data_utils"):
        try:
            _patch_file_utils(importlib.import_module(utils))
        except ImportError:
            pass


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Patches keras / tf_keras as soon as the student's code imports them
    (``import tensorflow`` imports keras lazily, which lands here too)."""

    def __init__(self, max_epochs: int | None) -> None:
        self.max_epochs = max_epochs
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ("keras", "tf_keras") or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, fullname, self.max_epochs)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, name: str, max_epochs: int | None) -> None:
        self.loader, self.name, self.max_epochs = loader, name, max_epochs

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        _patch_framework(self.name, self.max_epochs)

    def __getattr__(self, attribute):   # is_package, get_code, get_source...
        return getattr(self.loader, attribute)


STUBS = Path(__file__).resolve().parent / "stubs"   # the job's copy of grader/rerun/runtime/stubs


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Modules the student's code imports that this runtime lacks: the
    google.colab stub (stubs/google/colab), and, in the Keras 2 runtime, the
    Keras 2.0-2.10 module paths (KERAS2_MODULE_ALIASES)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in COLAB_MODULES:
            parts = fullname.split(".")
            file = STUBS.joinpath(*parts, "__init__.py") if fullname == "google.colab" else \
                STUBS.joinpath(*parts[:-1], parts[-1] + ".py")
            if file.is_file():
                if fullname == "google.colab":
                    _log_compat("google.colab", "a stand-in that does nothing and says so (not Colab)")
                return importlib.util.spec_from_file_location(
                    fullname, file, submodule_search_locations=[str(file.parent)] if fullname == "google.colab"
                    else None)
            return None
        if fullname in KERAS2_MODULE_ALIASES and self._keras2():
            return importlib.util.spec_from_loader(fullname, self)
        return None

    @staticmethod
    def _keras2() -> bool:
        try:
            return _keras_major(importlib.import_module("keras")) == 2
        except ImportError:
            return False

    def create_module(self, spec):
        target = KERAS2_MODULE_ALIASES[spec.name]
        _log_compat(f"import {spec.name}", f"the Keras 2.0-2.10 module path, served by {target}")
        return importlib.import_module(target)

    def exec_module(self, module) -> None:
        pass   # the target module is already loaded


def _tensorflow_version_magic(line: str = "") -> None:
    """Colab's %tensorflow_version line magic (2020-2022 notebooks start with it)."""
    print(f"[grader re-run] %tensorflow_version {line.strip()} is a Colab magic; it did nothing here "
          "(this runtime's TensorFlow is in the report).")


def _register_colab_magic() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(_tensorflow_version_magic, "line", "tensorflow_version")


def install_hooks() -> None:
    """Called first in the kernel (IPython startup file) and the script subprocess."""
    raw = os.environ.get(MAX_EPOCHS_ENV, "")
    max_epochs = int(raw) if raw.isdigit() and int(raw) > 0 else None
    for name in ("keras", "tf_keras"):
        if name in sys.modules:
            _patch_framework(name, max_epochs)
    if not any(isinstance(f, _PatchAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(max_epochs))
    if not any(isinstance(f, _StandIns) for f in sys.meta_path):
        sys.meta_path.insert(0, _StandIns())
    _register_colab_magic()


# ---------------------------------------------------------------- plumbing


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def clean(text: str, limit: int) -> str:
    """ANSI colours removed, cut to its last ``limit`` characters (where the error is)."""
    text = ANSI.sub("", text)
    return text if len(text) <= limit else "…" + text[-limit:]


def _process_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, session id, uid) of every live process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if fields[0] != b"Z":
                table[int(entry)] = (int(fields[1]), int(fields[3]), os.stat(f"/proc/{entry}").st_uid)
        except (OSError, ValueError, IndexError):
            continue
    return table


def kill_leftovers(sessions: set[int], whole_namespace: bool) -> None:
    """Kill what the student's code left running (a kernel's children, a
    daemon), so nothing rewrites /output after us: our descendants, the
    processes of our session and of the kernels' sessions, and, in a sandbox
    with its own pid namespace, every other process of the sandbox user."""
    me, uid = os.getpid(), os.getuid()
    for _ in range(20):
        table = _process_table()
        ancestors, pid = set(), table.get(me, (0, 0, 0))[0]
        while pid in table and pid not in ancestors:
            ancestors.add(pid)
            pid = table[pid][0]
        own = sessions | {os.getsid(0)}
        victims = set()
        for pid, (parent, session, owner) in table.items():
            if pid == me or pid == 1 or pid in ancestors or owner != uid:
                continue
            descendant, hops, up = False, 0, parent
            while up in table and hops < 64:
                if up == me:
                    descendant = True
                    break
                up, hops = table[up][0], hops + 1
            if descendant or session in own or whole_namespace:
                victims.add(pid)
        if not victims:
            break
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


# ----------------------------------------------------------------- set-up


def copy_submission(source: Path, target: Path, errors: list[str]) -> None:
    """The writable working copy; modification times kept, so the host can
    tell what the re-run wrote."""
    target.mkdir(parents=True, exist_ok=True)
    for folder, dirs, files in os.walk(source):
        relative = Path(folder).relative_to(source)
        for name in dirs:
            (target / relative / name).mkdir(exist_ok=True)
        for name in files:
            try:
                shutil.copy2(Path(folder) / name, target / relative / name, follow_symlinks=False)
            except OSError as exc:
                errors.append(f"{relative / name}: {exc.strerror}")


def make_home(job: dict) -> list[str]:
    """~/.keras with the data links the host listed; returns the placeholder files."""
    keras_home = HOME / ".keras"
    keras_home.mkdir(parents=True, exist_ok=True)
    placeholders = []
    for link in job.get("keras_home", []):
        where = keras_home / link["path"]
        where.parent.mkdir(parents=True, exist_ok=True)
        if where.exists() or where.is_symlink():
            continue
        if link.get("target"):
            where.symlink_to(link["target"])
        else:   # an empty stand-in for an archive Keras checks for but need not open
            where.touch()
            placeholders.append(str(where))
    startup = HOME / ".ipython" / "profile_default" / "startup" / "00-grader-rerun.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(
        "def _grader_rerun_hooks():\n"
        "    import importlib.util\n"
        f"    spec = importlib.util.spec_from_file_location('_grader_rerun', {str(Path(__file__).resolve())!r})\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    module.install_hooks()\n"
        "_grader_rerun_hooks()\n"
        "del _grader_rerun_hooks\n",
        encoding="utf-8",
    )
    kernel_dir = HOME / "kernels" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (grader sandbox)", "language": "python",
    }), encoding="utf-8")
    return placeholders


def set_environment(job: dict, placeholders: list[str]) -> None:
    threads = str(max(1, int(job.get("threads", 1))))
    os.environ.update({
        "HOME": str(HOME),
        "KERAS_HOME": str(HOME / ".keras"),
        "IPYTHONDIR": str(HOME / ".ipython"),
        "JUPYTER_PATH": str(HOME / "kernels"),
        "JUPYTER_RUNTIME_DIR": str(HOME / "runtime"),
        "JUPYTER_DATA_DIR": str(HOME / "jupyter-data"),
        "JUPYTER_CONFIG_DIR": str(HOME / "jupyter-config"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "MPLCONFIGDIR": str(HOME / "matplotlib"),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "-1",
        # TensorFlow sizes its thread pools by the machine's cores, not the
        # sandbox's CPU quota; the pids limit counts threads.
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        MAX_EPOCHS_ENV: str(job["max_epochs"]) if job.get("max_epochs") else "",
        DATA_ROOT_ENV: job.get("inputs", "/inputs"),
        PLACEHOLDERS_ENV: os.pathsep.join(placeholders),
    })
    os.environ.pop("KERAS_BACKEND", None)
    if job.get("python_path"):
        os.environ["PYTHONPATH"] = os.pathsep.join(job["python_path"])


# -------------------------------------------------------------- notebooks


def _failure(cell_number: int, output: dict) -> dict:
    traceback = "\n".join(output.get("traceback") or [])
    return {"cell": cell_number, "ename": str(output.get("ename", "Error"))[:200],
            "evalue": clean(str(output.get("evalue", "")), 1000),
            "traceback": clean(traceback, TRACEBACK_LIMIT)}


def _trim_outputs(cell) -> None:
    """Keep an endless printer from making a notebook the host cannot read."""
    outputs = cell.get("outputs", [])
    if len(outputs) > OUTPUTS_PER_CELL:
        cell["outputs"] = outputs = outputs[:OUTPUTS_PER_CELL // 2] + outputs[-OUTPUTS_PER_CELL // 2:]
    for output in outputs:
        if output.get("output_type") == "stream" and len(output.get("text", "")) > STREAM_LIMIT:
            text = output["text"]
            output["text"] = text[: STREAM_LIMIT // 2] + "\n…[output cut]…\n" + text[-STREAM_LIMIT // 2:]


def run_notebook(source: Path, executed: Path, deadline: float, cell_timeout: int, entry: dict,
                 sessions: set[int]) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        notebook = nbformat.read(str(source), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types on bad input
        entry.update(status="crashed", message=f"not a readable notebook ({type(exc).__name__})")
        return
    code_cells = [(index, cell) for index, cell in enumerate(notebook.cells)
                  if cell.get("cell_type") == "code" and cell.get("source", "").strip()]
    entry["cells_total"] = len(code_cells)
    for cell in notebook.cells:
        # The student's own outputs must not pass for the re-run's where a cell
        # is not run (a time limit, a dead kernel, a blank cell): "Test accuracy: 0.74".
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None

    def cell_time(cell) -> int:
        return max(1, int(min(cell_timeout, deadline - time.monotonic())))

    client = NotebookClient(
        notebook, kernel_name=KERNEL_NAME, timeout_func=cell_time, allow_errors=True,
        interrupt_on_timeout=False, record_timing=True, startup_timeout=KERNEL_STARTUP_SECONDS,
        resources={"metadata": {"path": str(source.parent)}}, shutdown_kernel="immediate",
    )
    status, message = "ok", ""
    try:
        with client.setup_kernel(cwd=str(source.parent)):
            process = getattr(getattr(client.km, "provisioner", None), "process", None)
            if process is not None:
                sessions.add(process.pid)   # the kernel leads its own session
            for number, (index, cell) in enumerate(code_cells, start=1):
                if deadline - time.monotonic() < 1:
                    status, message = "timeout", f"the total time limit was reached before cell {number}"
                    entry["timed_out_cell"] = number
                    break
                started = time.monotonic()
                entry["cells_run"] = number
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status = "timeout"
                    entry["timed_out_cell"] = number
                    spent = int(time.monotonic() - started)
                    total = deadline - time.monotonic() < 1
                    message = (f"cell {number} was stopped after {spent} s "
                               + ("(the total time limit)" if total else f"(the {cell_timeout} s per-cell limit)")
                               + "; the cells after it were not run")
                    break
                except DeadKernelError:
                    status, message = "crashed", f"the kernel died in cell {number} (out of memory, or the code ended it)"
                    break
                finally:
                    _trim_outputs(cell)
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        entry["failures"].append(_failure(number, output))
    except Exception as exc:  # noqa: BLE001 - a kernel that will not start, or will not stop
        if entry.get("cells_run", 0) == 0:
            status, message = "crashed", f"the kernel did not start ({type(exc).__name__}: {clean(str(exc), 300)})"
    if status == "ok" and entry["failures"]:
        status = "errors"
        message = f"{len(entry['failures'])} of {entry['cells_total']} code cells raised an error"
    entry.update(status=status, message=message)
    executed.parent.mkdir(parents=True, exist_ok=True)
    tmp = executed.with_name(f".{executed.name}.tmp")
    nbformat.write(notebook, str(tmp))
    os.replace(tmp, executed)


# ---------------------------------------------------------------- scripts


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_script(source: Path, output: Path, logs: str, deadline: float, entry: dict, sessions: set[int]) -> None:
    entry["cells_total"] = entry["cells_run"] = 1
    (output / logs).mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = output / logs / "stdout.txt", output / logs / "stderr.txt"
    env = dict(os.environ, MPLBACKEND="Agg")
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--script", str(source)],
            cwd=str(source.parent), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            env=env, start_new_session=True,
        )
        sessions.add(process.pid)
        try:
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = None
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
    entry["stdout"], entry["stderr"] = f"{logs}/stdout.txt", f"{logs}/stderr.txt"
    if code is None:
        entry.update(status="timeout", timed_out_cell=1,
                     message="the script was stopped at the total time limit")
    elif code != 0:
        error = clean(_tail(stderr_path), TRACEBACK_LIMIT)
        last = next((line for line in reversed(error.splitlines()) if line.strip()), f"exit code {code}")
        entry["failures"].append({"cell": 1, "ename": last.split(":")[0][:200], "evalue": last[:1000],
                                  "traceback": error})
        entry.update(status="errors", message=f"the script stopped with exit code {code}: {last[:300]}")
    else:
        entry.update(status="ok", message="")


def script_main(path: str) -> None:
    """``runner.py --script FILE``: the hooks, then the script as __main__."""
    import runpy

    install_hooks()
    sys.argv = [path]
    sys.path[0] = str(Path(path).parent)
    runpy.run_path(path, run_name="__main__")


# -------------------------------------------------------------------- main


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    started = time.monotonic()
    deadline = started + float(job["total_timeout"])
    output = Path(job["output"])
    work = Path(job["work_dir"])
    result = {"runner": RUNNER_VERSION, "finished": False, "copy_errors": [], "sources": {},
              "python": sys.version.split()[0]}
    result_path = output / "result.json"
    copy_submission(Path(job["submission"]), work, result["copy_errors"])
    placeholders = make_home(job)
    set_environment(job, placeholders)
    sessions: set[int] = set()
    for number, item in enumerate(job["sources"]):
        relative = item["path"]
        entry = {"kind": item["kind"], "status": "not-run", "message": "", "cells_total": 0, "cells_run": 0,
                 "failures": [], "timed_out_cell": None, "seconds": 0.0,
                 "fit_log": f"fit/{number}.jsonl"}
        result["sources"][relative] = entry
        atomic_write_text(result_path, json.dumps(result))
        if deadline - time.monotonic() < 1:
            entry.update(status="timeout", message="not run: the total time limit was reached before it")
            continue
        os.environ[FIT_LOG_ENV] = str(output / entry["fit_log"])
        (output / "fit").mkdir(parents=True, exist_ok=True)
        clock = time.monotonic()
        source = work / relative
        try:
            if item["kind"] == "notebook":
                entry["executed"] = f"executed/{number}.ipynb"
                run_notebook(source, output / entry["executed"], deadline, int(job["cell_timeout"]), entry,
                             sessions)
            else:
                run_script(source, output, f"logs/{number}", deadline, entry, sessions)
        except Exception as exc:  # noqa: BLE001 - one source's failure must not stop the others
            entry.update(status="crashed", message=f"the runner failed on it ({type(exc).__name__}: "
                                                    f"{clean(str(exc), 300)})")
        entry["seconds"] = round(time.monotonic() - clock, 3)
        kill_leftovers(sessions, bool(job.get("own_pid_namespace")))
        atomic_write_text(result_path, json.dumps(result))
    result["finished"] = True
    result["seconds"] = round(time.monotonic() - started, 3)
    atomic_write_text(result_path, json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--script":
        script_main(sys.argv[2])
    elif len(sys.argv) == 2:
        sys.exit(main(sys.argv[1]))
    else:
        print("usage: runner.py JOB.json | runner.py --script FILE", file=sys.stderr)
        sys.exit(2)
