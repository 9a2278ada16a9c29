"""Model metadata read in a child process, under memory, CPU and time limits.

h5py hands a student's bytes to libhdf5, a C library: a hostile or damaged
file can crash it (a segfault takes the whole interpreter), loop in it or make
it allocate without end. So the host never parses a model in its own process:
a small child process (``python -c BOOTSTRAP``) runs the in-process reader
(:func:`grader.readers.models.read_model_meta_here`) with RLIMIT_AS and
RLIMIT_CPU set on itself, the parent waits with a wall-clock timeout, and a
crash, a hang or an exhausted limit becomes a ReadError for that one file.

Cheap enough to run for every model: the children are kept (a small pool per
process, one child per thread that reads at the same time), so a submission's
models cost one interpreter start (about half a second) plus a pipe round trip
per file; and each result is cached by path and file identity, so discovery's
read and the contents reader's second read of the same model are served once.

The reply is one JSON line (plain data, never a pickle: a child that a file
has subverted must not be able to run code in the parent) and is checked
field by field before it becomes a :class:`~grader.records.ModelMeta`.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import fields
from pathlib import Path
from typing import Any

from grader.limits import MetadataLimits
from grader.readers.errors import ReadError
from grader.records import ModelMeta

# "module:function" the child calls with (path, config_cap=...). Tests point it
# at a reader that hangs, loops or allocates, to prove the limits hold.
READER = "grader.readers.models:read_model_meta_here"
LIMITS = MetadataLimits()
CACHE_SIZE = 1024

# The child: take the parent's import path, then serve requests. Kept to a
# line so nothing but the module below runs before the limits are set.
BOOTSTRAP = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
             "from grader.readers.model_process import serve; serve(sys.argv[2], json.loads(sys.argv[3]))")

_FIX = "save the model again with model.save('model.keras') and submit that file"


class ChildFailed(Exception):
    """The child died, hung or answered nonsense; ``why`` says which, in words."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# ------------------------------------------------------------------- parent


def read_in_child(path: Path, config_cap: int) -> ModelMeta:
    """:func:`read_model_meta_here` run in a child process; see the module doc."""
    key = _cache_key(path, config_cap)
    cached = _cache_get(key)
    if cached is None:
        cached = _read_uncached(path, config_cap)
        _cache_put(key, cached)
    kind, value = cached
    if kind == "error":
        raise ReadError(*value)
    return _meta_from_plain(value, path.name)


def _read_uncached(path: Path, config_cap: int) -> tuple[str, Any]:
    reader, limits = READER, LIMITS
    try:
        child = _pool.take(reader, limits)
    except ChildFailed as failed:
        return "error", ("model-unreadable", _unsafe_message(path.name, failed.why))
    try:
        reply = child.request({"path": str(path), "config_cap": config_cap})
    except ChildFailed as failed:
        child.close()
        return "error", ("model-unreadable", _unsafe_message(path.name, failed.why))
    _pool.give_back(child)
    if "error" in reply:
        code, message = reply["error"]
        return "error", (str(code), str(message))
    return "meta", reply.get("meta")


def _unsafe_message(name: str, why: str) -> str:
    return (f"{name}: the model's metadata could not be read safely ({why}); the file is damaged "
            f"or not a model the grader can read: {_FIX}.")


class MetadataChild:
    """One child process that reads model metadata, one request at a time."""

    def __init__(self, reader: str, limits: MetadataLimits) -> None:
        self.reader = reader
        self.limits = limits
        self.owner_pid = os.getpid()
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOTSTRAP, json.dumps([p for p in sys.path if p]), reader,
             limits.model_dump_json()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True, close_fds=True, env=_child_environment(),
        )
        self._buffer = b""
        started.append(self.process.pid)
        try:
            hello = self._reply(limits.start_seconds)
        except ChildFailed as failed:
            self.close()
            raise ChildFailed(f"the reader process did not start: {failed.why}; {self.stderr_tail()}") from None
        if hello.get("ready") != self.process.pid:
            self.close()
            raise ChildFailed("the reader process did not start")

    def alive(self) -> bool:
        return self.process.poll() is None and self.owner_pid == os.getpid()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ChildFailed(self._death()) from None
        reply = self._reply(self.limits.timeout_seconds)
        if not isinstance(reply, dict) or not ("meta" in reply or _is_error_pair(reply.get("error"))):
            raise ChildFailed("the reader process answered something that is not metadata")
        return reply

    def _reply(self, timeout: float) -> Any:
        """The next JSON line from the child, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        stream = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise ChildFailed(f"reading it took longer than {timeout:g} s")
            ready, _, _ = select.select([stream], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(stream, 1 << 16)
            if not chunk:
                raise ChildFailed(self._death())
            self._buffer += chunk
            if len(self._buffer) > self.limits.max_reply_bytes:
                self.kill()
                raise ChildFailed(f"its metadata is over {self.limits.max_reply_bytes // 2**20} MB")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            raise ChildFailed("the reader process answered something that is not JSON") from None

    def _death(self) -> str:
        """Why the child is gone, in words: a signal, a limit or an exit code."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the reader process stopped answering"
        if code == -signal.SIGXCPU:
            return f"reading it used more than {self.limits.cpu_seconds} s of CPU time"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the reader crashed: killed by {name}"
        return f"the reader process exited with code {code}"

    def stderr_tail(self, limit: int = 600) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", errors="replace").strip() or "no error output"
        except (OSError, ValueError):
            return "no error output"

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        """End the child: EOF on its stdin lets it exit; a stuck one is killed."""
        if self.owner_pid != os.getpid():
            return   # a forked copy: the child belongs to the parent process
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            try:
                stream.close()
            except OSError:
                pass


def _is_error_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def _child_environment() -> dict[str, str]:
    """The parent's environment, with numpy's thread pools at one thread: each
    thread reserves address space that RLIMIT_AS would count."""
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class _Pool:
    """Idle children per (reader, limits), shared by the threads of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[MetadataChild]] = {}
        self._pid = os.getpid()

    def take(self, reader: str, limits: MetadataLimits) -> MetadataChild:
        key = (reader, limits.model_dump_json())
        with self._lock:
            if self._pid != os.getpid():   # forked: the children are the parent's
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.setdefault(key, [])
            while idle:
                child = idle.pop()
                if child.alive():
                    return child
                child.close()
        return MetadataChild(reader, limits)

    def give_back(self, child: MetadataChild) -> None:
        with self._lock:
            if child.alive() and self._pid == os.getpid():
                self._idle.setdefault((child.reader, child.limits.model_dump_json()), []).append(child)
                return
        child.close()

    def close_all(self) -> None:
        with self._lock:
            children = [child for idle in self._idle.values() for child in idle]
            self._idle = {}
        for child in children:
            child.close()


_pool = _Pool()
atexit.register(_pool.close_all)
started: list[int] = []   # pids of the children this process started (tests count them)


def close_children() -> None:
    """End the idle children (tests; the pool also ends them at exit)."""
    _pool.close_all()


# -------------------------------------------------------------------- cache

_cache: OrderedDict[tuple, tuple[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(path: Path, config_cap: int) -> tuple | None:
    """Path, file identity and the reader: a file changed in place is read again."""
    try:
        resolved = path.resolve()
        parts = [resolved] if not resolved.is_dir() else [
            resolved, resolved / "saved_model.pb", resolved / "saved_model.pbtxt", resolved / "keras_metadata.pb",
            resolved / "variables" / "variables.index", resolved / "variables"]
        identity = tuple(_identity(p) for p in parts)
    except OSError:
        return None
    return str(resolved), identity, config_cap, READER, LIMITS.model_dump_json()


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _cache_get(key: tuple | None) -> tuple[str, Any] | None:
    if key is None:
        return None
    with _cache_lock:
        value = _cache.get(key)
        if value is not None:
            _cache.move_to_end(key)
        return value


def _cache_put(key: tuple | None, value: tuple[str, Any]) -> None:
    if key is None:
        return
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# ------------------------------------------------------- checking the reply

_OPTIONAL_TEXT = ("keras_version", "backend", "class_name")


def _meta_from_plain(value: Any, name: str) -> ModelMeta:
    """A ModelMeta from the child's JSON, refusing anything of the wrong shape."""
    known = {f.name for f in fields(ModelMeta)}
    if not isinstance(value, dict) or not set(value) <= known or not isinstance(value.get("format"), str):
        raise ReadError("model-unreadable", _unsafe_message(name, "the reader answered something that is not metadata"))
    ok = all(value.get(key) is None or isinstance(value.get(key), str) for key in _OPTIONAL_TEXT)
    shape = value.get("input_shape")
    ok = ok and (shape is None or (isinstance(shape, list) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in shape)))
    units = value.get("output_units")
    ok = ok and (units is None or (isinstance(units, int) and not isinstance(units, bool)))
    ok = ok and all(isinstance(value.get(key, []), list) and all(isinstance(v, str) for v in value.get(key, []))
                    for key in ("layer_types", "notes"))
    ok = ok and isinstance(value.get("has_weights", True), bool)
    ok = ok and isinstance(value.get("layer_graph"), (dict, type(None)))   # plain JSON, read by grader/architecture
    if not ok:
        raise ReadError("model-unreadable", _unsafe_message(name, "the reader answered something that is not metadata"))
    return ModelMeta(**copy.deepcopy(value))   # the cached lists stay the cache's


# -------------------------------------------------------------------- child


def serve(reader: str, limits: dict[str, Any]) -> None:
    """The child's loop: one JSON request per stdin line, one JSON reply per
    stdout line, until stdin closes. Runs in the child only."""
    import importlib
    import resource

    from grader.readers.errors import ReadError as ChildReadError

    # What libhdf5 prints (on fd 1 or 2) must not corrupt the replies.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    module_name, _, function_name = reader.partition(":")
    read = getattr(importlib.import_module(module_name), function_name)
    settings = MetadataLimits(**limits)
    memory = settings.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _exit_when_orphaned()

    def send(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    send({"ready": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        _cpu_budget(settings.cpu_seconds)
        path = Path(request["path"])
        try:
            meta = read(path, config_cap=int(request["config_cap"]))
            send({"meta": meta.to_dict()})
        except ChildReadError as exc:
            send({"error": [exc.code, exc.message]})
        except MemoryError:
            send({"error": ["model-unreadable", _unsafe_message(
                path.name, f"reading it needed more than the {settings.memory_mb} MB the reader may use")]})
            os._exit(3)   # the heap may be in pieces: start afresh
        except RecursionError:
            send({"error": ["model-unreadable", _unsafe_message(path.name, "its structure is nested too deeply")]})
        except Exception as exc:  # noqa: BLE001 - a reader bug or an odd file costs that file only
            send({"error": ["model-unreadable", _unsafe_message(path.name, f"{type(exc).__name__} while reading it")]})


def _cpu_budget(seconds: int) -> None:
    """RLIMIT_CPU counts the whole life of the process: allow ``seconds`` more."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, resource.RLIM_INFINITY))


def _exit_when_orphaned() -> None:
    """End the child when the parent is gone, even while a read is stuck
    (stdin's EOF ends an idle child; this covers a busy one)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(4)

    threading.Thread(target=watch, daemon=True).start()
