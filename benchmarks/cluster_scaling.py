"""Scaling of `grade --cluster`: the same N archives on 1 and on 2 Dask workers. A benchmark,
not a test: it prints figures.

    python benchmarks/cluster_scaling.py [--n 6] [--workers 1 2] [--sandbox auto]

The class is N copies of the shipped example archive assignment06_DoeJane.zip (all four
parts: three convnets on their 10,000 test images and ResNet50 on three pictures) under
different student names, graded against the project's synthetic data set. Each run starts
a `dask scheduler` and W `dask worker --resources sandbox=1` processes on localhost, as on
lab machines, and a fresh coordinator process (`grade --cluster tcp://...` through the
Python API). For each W it prints:

- archives per minute, and the ratio to one worker (on 2 cores the ceiling is low: each
  sandbox is given one core, and the coordinator and the workers share the same two);
- the median seconds a worker spent on one archive (unpacking to rendering);
- the coordinator's own time per archive receiving a result and writing its files, and
  that as a share of a worker's (the target: under 5 %);
- the coordinator's CPU seconds per archive, over the whole grading call (start-up, the
  test data sent to the workers, the class outputs at the end) and between the first
  result and the last (what each further archive costs; the scheduler and the workers
  are other processes); and its peak memory and growth per archive.

From those it says how many workers a class of 10,000 needs for a deadline, and how many
workers one coordinator could keep busy.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "submissions" / "example" / "assignment06_DoeJane.zip"
LAST = ["Adams", "Baker", "Clark", "Davis", "Evans", "Foster", "Green", "Hill", "Irwin", "Jones"]


def build_class(folder: Path, n: int) -> Path:
    import shutil

    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(EXAMPLE, folder / f"assignment06_{LAST[i % len(LAST)]}{'' if i < len(LAST) else i}Pat.zip")
    return folder


def start_dask(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` workers on 127.0.0.1; returns its address and the processes."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    folder.mkdir(parents=True)
    log = open(folder / "dask.log", "wb")
    scheduler_file = folder / "scheduler.json"
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], stdout=log, stderr=log,
                                  start_new_session=True)]
    deadline = time.monotonic() + 60
    while not (scheduler_file.is_file() and scheduler_file.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    processes += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--resources", "sandbox=1",
                                    "--no-dashboard", "--local-directory", str(folder / f"w{n}")],
                                   stdout=log, stderr=log, start_new_session=True) for n in range(workers)]
    with Client(address, timeout=30) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def stop_dask(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait(timeout=30)


def child(subs: Path, out: Path, address: str, sandbox: str) -> None:
    """The coordinator: grade the class on the scheduler at ``address``, print one JSON line of figures."""
    sys.path.insert(0, str(REPO))
    from grader import rubric as rubric_mod
    from grader.batch import find_archives, grade_batch
    from grader.cluster.session import open_executor
    from grader.datasets import ensure_synthetic_data
    from grader.pipeline import load_test_data

    rubric = rubric_mod.load()
    data = load_test_data(rubric, ensure_synthetic_data(0))
    executor = open_executor(address, None, "grade.toml", rubric.sandbox.cpus, sandbox, None, out)
    archives = find_archives(subs)
    at_results: list[tuple[float, int]] = []     # this process's CPU seconds and RSS at each result

    def progress(event: str, name: str, grade) -> None:
        if event == "finished":
            at_results.append((time.process_time(), _status_kb("VmRSS")))

    try:
        cpu, wall = time.process_time(), time.perf_counter()
        summary = grade_batch(archives, out, rubric, None, data, cluster=executor, progress=progress)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        executor.close()
    done = summary.graded + summary.errors
    between = max(1, len(at_results) - 1)        # the first result to the last: no start-up, no class outputs
    print(json.dumps({
        "archives": len(archives), "graded": summary.graded, "errors": summary.errors, "wall": wall,
        "worker_seconds": [g.seconds for g in summary.grades],
        "coordinator_seconds": summary.coordinator_seconds / done,
        "cpu_per_archive": cpu / done, "marginal_cpu": (at_results[-1][0] - at_results[0][0]) / between,
        "rss_growth_mb": (at_results[-1][1] - at_results[0][1]) / 1024 / between,
        "peak_mb": _status_kb("VmHWM") / 1024, "workers": summary.workers}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run(subs: Path, out: Path, workers: int, sandbox: str) -> dict:
    address, processes = start_dask(out.with_name(f"dask-{workers}"), workers)
    try:
        command = [sys.executable, __file__, "--child", str(subs), str(out), address, sandbox]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    finally:
        stop_dask(processes)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the {workers}-worker run failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def report(results: dict[int, dict], sandbox: str) -> None:
    first = results[min(results)]
    rate = {w: r["archives"] / r["wall"] * 60 for w, r in results.items()}
    print(f"\nsandbox {sandbox}, {first['archives']} copies of {EXAMPLE.name}, one sandbox per worker\n")
    print("workers  wall s  archives/min  ratio  median worker s  coordinator per archive: "
          "writing ms (% of worker)  CPU s (all / between results)  MB (peak / growth)")
    for workers, r in sorted(results.items()):
        median = statistics.median(r["worker_seconds"])
        share = r["coordinator_seconds"] / median * 100
        print(f"{workers:7d}  {r['wall']:6.1f}  {rate[workers]:12.2f}  {rate[workers] / rate[min(rate)]:5.2f}  "
              f"{median:15.1f}  {r['coordinator_seconds'] * 1000:34.1f} ({share:4.2f} %)  "
              f"{r['cpu_per_archive']:13.2f} / {r['marginal_cpu']:.3f}  "
              f"{r['peak_mb']:11.0f} / {r['rss_growth_mb']:.1f}")
    last = results[max(results)]
    median = statistics.median(last["worker_seconds"])
    per_worker = 60 / median                     # archives per minute, one sandbox
    print(f"\none sandbox grades {per_worker:.1f} archives per minute; 10,000 archives need "
          f"{10_000 / per_worker / 60:.0f} sandbox-hours: {10_000 / per_worker / 60 / 8:.0f} sandboxes for an "
          f"8-hour deadline, {10_000 / per_worker / 60 / 24:.0f} for 24 hours")
    print(f"one coordinator at {last['coordinator_seconds'] * 1000:.0f} ms per archive keeps about "
          f"{median / last['coordinator_seconds']:.0f} sandboxes busy")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        subs, out, address, sandbox = sys.argv[2:6]
        return child(Path(subs), Path(out), address, sandbox)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6, help="archives (default 6)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grade-scaling-") as tmp:
        subs = build_class(Path(tmp) / "submissions", args.n)
        results = {}
        for workers in args.workers:
            print(f"grading {args.n} archives on {workers} worker(s) ...", flush=True)
            results[workers] = run(subs, Path(tmp) / f"grades-{workers}", workers, args.sandbox)
    report(results, args.sandbox)


if __name__ == "__main__":
    main()
