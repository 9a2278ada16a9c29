"""One Dask task per archive; the coordinator writes each result as it arrives.

A task is keyed by the archive's name and resume key, so a re-submitted archive is
the same task. No more tasks are submitted than the cluster has sandboxes: each
carries its archive's bytes, which the scheduler holds until a worker takes them,
so a class of thousands never sits in its memory; and a task waiting in a worker's
queue would count as "running there" if that worker died, so an archive that was
never started could be charged with another's crash.

Failures, as in a local run, cost a row and never the batch:
- a worker that dies while grading (killed, out of memory): the scheduler gives the
  task to another worker once (allowed failures = 1, grader/cluster/start.py), then
  the archive gets an error row naming the workers that died and how;
- an exception in the task itself: Dask retries it once, then an error row;
- the scheduler going away: the run stops like Ctrl-C, keeping what was written and
  listing the rest.
Ctrl-C: archives not started are cancelled; those running finish and are kept
(a second Ctrl-C abandons them too)."""

from __future__ import annotations

import queue
import signal
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__
from grader.cluster.context import GradingContext
from grader.cluster.probe import RESOURCE, WorkerState
from grader.cluster.start import Connection
from grader.cluster.store import write_returned
from grader.cluster.task import STARTED_TOPIC, RemoteJob, ReturnedGrade, grade_on_worker
from grader.records import Problem, Severity, Student
from grader.score.records import SubmissionGrade

MEMORY_TOPIC = "worker-restart-memory"     # a nanny's word that it restarted its worker over the memory limit
SCHEDULER_LOST = "scheduler-connection-lost"
TASK_RETRIES = 1
WAKE_SECONDS = 2.0                         # also how often the window follows workers that joined or left


@dataclass
class ClusterExecutor:
    """Grades a batch's archives on the cluster behind ``connection`` (grader.batch.grade_batch)."""

    connection: Connection
    sandbox_name: str
    workers: list[WorkerState] = field(default_factory=list)

    @property
    def sandboxes(self) -> int:
        return sum(w.sandboxes for w in self.workers)

    def describe(self) -> str:
        return (f"{self.connection.description}: {len(self.workers)} worker(s), {self.sandboxes} sandbox(es) "
                f"at once ({self.sandbox_name} on each worker)")

    def close(self) -> None:
        self.connection.close()

    def grade(self, todo, out_dir: Path, rubric, data, rerun, summary, notify, placed) -> None:
        run = _Run(self.connection, GradingContext(rubric, data, rerun, self.sandbox_name), todo, Path(out_dir),
                   rubric, data, summary, notify, placed)
        run.go()


def task_key(archive: Path, key: str) -> tuple[str, str, str]:
    """One task group for every archive (Dask learns how long an archive takes from the
    first ones, which its placement and work stealing use), the name and resume key after."""
    return ("grade-archive", archive.name, key)


class _Run:
    def __init__(self, connection: Connection, context: GradingContext, todo, out_dir: Path, rubric, data, summary,
                 notify, placed):
        self.connection, self.client, self.context = connection, connection.client, context
        self.out_dir, self.rubric, self.data, self.summary = out_dir, rubric, data, summary
        self.notify, self.placed = notify, placed or (lambda name, worker, attempt: None)
        self.waiting = deque(todo)
        self.running: dict = {}                                    # Future -> (archive, key)
        self.attempts: dict[str, list[tuple[str, int]]] = {}       # archive name -> [(worker, pid)]
        self.over_memory: dict[str, int] = {}                      # worker address -> its RSS when restarted
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.wake = threading.Event()
        self.topic = f"{STARTED_TOPIC}-{uuid.uuid4().hex[:12]}"
        self.window, self.window_checked = 1, 0.0

    # ------------------------------------------------------------------ the loop

    def go(self) -> None:
        self.client.subscribe_topic(self.topic, lambda event: self._heard("started", event))
        self.client.subscribe_topic(MEMORY_TOPIC, lambda event: self._heard("memory", event))
        self.client.register_plugin(self.context, name=self.context.name)
        self.context_name = self.context.name
        self.context = None          # sent: its copy of the test data and the ImageNet files is not needed here
        try:
            self._loop()
        except KeyboardInterrupt:
            self._interrupted()
        finally:
            self._tidy()

    def _loop(self) -> None:
        while self.waiting or self.running:
            if self.client.status != "running":      # the scheduler went away: reconnecting, or closed
                return self._lost()
            self._submit()
            self.wake.wait(WAKE_SECONDS)
            self.wake.clear()
            self._hear()
            for future in [f for f in self.running if f.done()]:
                if self._finish(future) == SCHEDULER_LOST:
                    return self._lost()

    def _submit(self) -> None:
        if time.monotonic() - self.window_checked > WAKE_SECONDS:
            self.window = max(1, self._sandboxes_now())
            self.window_checked = time.monotonic()
        while self.waiting and len(self.running) < self.window:
            archive, key = self.waiting.popleft()
            job = self._job(archive, key)
            if job is None:        # too large to send (or unreadable): intake rejects it here, unsent
                self._grade_here(archive, key)
                continue
            future = self.client.submit(grade_on_worker, job, self.context_name, self.topic, str(self.out_dir),
                                        key=task_key(archive, key), resources={RESOURCE: 1}, retries=TASK_RETRIES)
            future.add_done_callback(lambda _: self.wake.set())
            self.running[future] = (archive, key)

    def _sandboxes_now(self) -> int:
        try:
            workers = self.client.scheduler_info()["workers"].values()
        except Exception:  # noqa: BLE001 - a scheduler going away is noticed by the futures
            return 1
        return sum(int(w.get("resources", {}).get(RESOURCE, 0)) for w in workers)

    def _job(self, archive: Path, key: str) -> RemoteJob | None:
        from grader.report import output_paths

        try:
            if archive.stat().st_size > self.rubric.extraction.max_archive_bytes:
                return None
            content = archive.read_bytes()
        except OSError:
            return None
        try:
            previous = output_paths(archive.name, self.out_dir).json.read_bytes()
        except OSError:
            previous = None
        return RemoteJob(archive.name, key, content, previous)

    def _grade_here(self, archive: Path, key: str) -> None:
        from grader.batch import grade_and_write
        from grader.report import output_paths

        grade = grade_and_write(archive, key, self.out_dir, self.rubric, None, self.data, None,
                                output_paths(archive.name, self.out_dir).json)
        self.notify("finished", archive.name, self.summary.add(grade))

    # ------------------------------------------------------------ one result

    def _finish(self, future) -> str:
        """Write one finished task's result; SCHEDULER_LOST if the scheduler went away."""
        from grader.batch import internal_error
        from grader.report import write_submission_outputs

        started = time.perf_counter()
        archive, key = self.running[future]
        reason = _cancel_reason(future) if future.status == "cancelled" else ""
        if reason == SCHEDULER_LOST:
            return SCHEDULER_LOST                         # not graded: listed with the rest
        with _ctrl_c_after():        # an archive's files are written whole, and counted, or not at all
            if future.status == "finished":
                try:
                    returned: ReturnedGrade = future.result()
                    write_returned(returned, self.out_dir)
                    grade = returned.grade
                except Exception as exc:  # noqa: BLE001 - a result that cannot be read or written costs its row
                    grade = internal_error(archive, exc)
                    write_submission_outputs(grade, self.out_dir)
            else:
                grade = (self._failure_row(archive, future.exception()) if future.status == "error" else
                         _cluster_error(archive, f"its task was cancelled on the cluster ({reason})", None))
                write_submission_outputs(grade, self.out_dir)
            del self.running[future]
            self.summary.add(grade)
        future.release()
        self.summary.coordinator_seconds += time.perf_counter() - started
        self.notify("finished", archive.name, grade)
        return ""

    def _failure_row(self, archive: Path, exc: BaseException) -> SubmissionGrade:
        from distributed.scheduler import KilledWorker

        tried = self.attempts.get(archive.name, [])
        if isinstance(exc, KilledWorker):
            last = exc.last_worker.address
            where = ", then ".join(f"{w} (pid {pid})" for w, pid in tried) or last
            memory = [f"{w} went over its memory limit ({self.over_memory[w] // (1024 * 1024)} MB) and was "
                      "restarted by its nanny" for w, _ in tried if w in self.over_memory]
            cause = "; ".join(memory) or "each worker process was killed or ran out of memory (see its log)"
            return _cluster_error(archive, f"the Dask worker grading it died {len(tried) or 2} time(s), "
                                           f"on {where}: {cause}", last)
        worker = tried[-1][0] if tried else None
        return _cluster_error(archive, f"its task failed on {worker or 'a worker'} twice "
                                       f"({type(exc).__name__}: {exc})", worker)

    # ---------------------------------------------------------------- events

    def _heard(self, kind: str, event) -> None:
        self.events.put((kind, event[1] if isinstance(event, tuple) and len(event) == 2 else event))
        self.wake.set()

    def _hear(self) -> None:
        while True:
            try:
                kind, message = self.events.get_nowait()
            except queue.Empty:
                return
            if not isinstance(message, dict):
                continue
            if kind == "memory":
                self.over_memory[str(message.get("worker"))] = int(message.get("rss") or 0)
                continue
            name, worker = str(message.get("archive")), str(message.get("worker"))
            tried = self.attempts.setdefault(name, [])
            tried.append((worker, int(message.get("pid") or 0)))
            if len(tried) > 1 and name not in self.summary.retried:
                self.summary.retried.append(name)
            self.placed(name, worker, len(tried))

    # ----------------------------------------------------- stopping early

    def _interrupted(self) -> None:
        """Ctrl-C: cancel what has not started; keep what is running, as a local run does."""
        self._hear()
        self.summary.interrupted, self.summary.stopped_by = True, "Ctrl-C"
        remaining = [archive.name for archive, _ in self.waiting]
        self.waiting.clear()
        unstarted = [f for f, (archive, _) in self.running.items() if archive.name not in self.attempts]
        self._cancel(unstarted)
        remaining += [self.running.pop(f)[0].name for f in unstarted]
        try:
            self._drain_running()
        except KeyboardInterrupt:   # a second Ctrl-C: stop waiting for them
            self._cancel(list(self.running))
        remaining += [archive.name for archive, _ in self.running.values()]
        self.running.clear()
        self.summary.remaining = sorted(remaining)

    def _drain_running(self) -> None:
        """Wait for the archives already running, writing each; stop if the scheduler goes."""
        while self.running:
            self.wake.wait(WAKE_SECONDS)
            self.wake.clear()
            self._hear()
            for future in [f for f in self.running if f.done()]:
                if self._finish(future) == SCHEDULER_LOST:
                    return

    def _lost(self) -> None:
        self.summary.interrupted = True
        self.summary.stopped_by = f"the Dask scheduler at {self.connection.address} went away"
        names = [archive.name for archive, _ in self.waiting] + [archive.name for archive, _ in self.running.values()]
        self.waiting.clear()
        self.running.clear()
        self.summary.remaining = sorted(names)

    def _cancel(self, futures) -> None:
        if futures:
            try:
                self.client.cancel(futures)
            except Exception:  # noqa: BLE001 - a scheduler already gone cancels nothing
                pass

    def _tidy(self) -> None:
        if self.client.status != "running":
            return
        for topic in (self.topic, MEMORY_TOPIC):
            try:
                self.client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001
                pass
        try:
            self.client.unregister_worker_plugin(self.context_name)
        except Exception:  # noqa: BLE001 - workers forget it when they stop anyway
            pass


@contextmanager
def _ctrl_c_after():
    """Hold a Ctrl-C (SIGINT) until the block is done, then raise it. Locally the writes run in
    pool threads, which a KeyboardInterrupt never reaches; here they run in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[bool] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _cancel_reason(future) -> str:
    """Why a cancelled future was cancelled (its status is set a moment before its reason)."""
    try:
        future.result(timeout=10)
    except Exception as exc:  # noqa: BLE001 - FutureCancelledError carries the reason
        return str(getattr(exc, "reason", "") or exc)
    return ""


def _cluster_error(archive: Path, what: str, worker: str | None) -> SubmissionGrade:
    """An error row for an archive the cluster, not the student, failed to grade. It has
    no resume key: running the same command again grades it again."""
    message = (f"{archive.name} was not graded: {what}. Run the same command again to retry it; if it fails "
               f"again, grade it alone with `grade {archive.name}` and read the worker's log")
    return SubmissionGrade(archive=archive.name, student=Student(None, None, source=archive.name), status="error",
                           score=0.0, max_score=0.0, rubric="", note=message,
                           problems=[Problem("worker-failed", message, Severity.ERROR, archive.name)],
                           grader_version=__version__, worker=worker)
