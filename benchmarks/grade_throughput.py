"""Throughput of `grade` with the Docker sandbox. A benchmark, not a test: it prints figures.

    python benchmarks/grade_throughput.py [--n 30] [--jobs 2] [--sandbox docker]

It trains the reference solutions once at quick settings on the synthetic data
set, packs N copies under different student names, grades them in a child
process (`grade DIR -j JOBS`), and prints:

- archives per minute and the median seconds per archive;
- the overhead ratio: the grading wall time over the time the same models take
  to load and predict in one plain process with TensorFlow already imported
  (target on 2 cores: at most 1.5 with -j 2);
- the grading process's peak memory (target: under 1 GB whatever N is).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ["Doe", "Roe", "Poe", "Moe", "Loe", "Koe", "Joe", "Hoe", "Goe", "Foe"]


def build_class(base: Path, n: int) -> tuple[Path, Path, Path]:
    import reference
    from grader.datasets import ensure_synthetic_data, write_synthetic_images
    from reference.pack import pack

    data_dir = ensure_synthetic_data(0)
    images = base / "images"
    write_synthetic_images(images, count=3)
    reference.run(None, base / "ref", data_dir, quick=True, images_dir=images)
    tree = base / "ref" / "assignment06"
    subs = base / "submissions"
    subs.mkdir()
    for i in range(n):
        pack(tree, subs, NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else str(i)), f"Student{chr(65 + i % 26)}")
    return data_dir, subs, tree


def plain_process_seconds(tree: Path, data_dir: Path, n: int) -> float:
    """Load and predict every model of n submissions in this process, TensorFlow
    already imported: the three convnets on their test sets, and ResNet50 with
    its weights file on the submission's images."""
    import keras
    import numpy as np
    from PIL import Image

    from grader import datasets, rubric as rubric_mod

    rubric = rubric_mod.load()
    inputs = {name: datasets.load_test_set(d, data_dir)[0] for name, d in rubric.datasets.items()
              if d.loader != "imagenet-images"}
    models = [(p, tree / p.canonical_path("model")) for p in rubric.parts if "model" in p.expects]
    weights = datasets.imagenet_files(data_dir)["weights"]
    images = sorted((tree / "images").iterdir())
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224)), dtype=np.float32)
                       for p in images])
    keras.models.load_model(models[0][1]).predict(inputs["mnist"][:10], verbose=0)  # warm-up, not timed
    started = time.perf_counter()
    for _ in range(n):
        for part, path in models:
            model = keras.models.load_model(path, safe_mode=True, compile=False)
            model.predict(inputs[part.dataset].astype(np.float32) / 255.0, batch_size=256, verbose=0)
        resnet = keras.applications.ResNet50(weights=str(weights))
        resnet.predict(keras.applications.resnet50.preprocess_input(pixels.copy()), verbose=0)
        keras.backend.clear_session()
    return time.perf_counter() - started


def grade_in_child(subs: Path, out: Path, data_dir: Path, jobs: int, sandbox: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `grade` run as a child process.

    The peak is the child's own VmHWM, polled: ru_maxrss would report this
    benchmark's own (TensorFlow-sized) memory, which a forked child inherits.
    """
    command = [sys.executable, "-m", "grader.cli", str(subs), "--out", str(out), "-j", str(jobs),
               "--sandbox", sandbox, "--data-dir", str(data_dir)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while child.poll() is None:
        peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise SystemExit(f"grade failed: {child.stderr.read().decode()[-2000:]}")
    return seconds, peak_kb / 1024


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30, help="number of archives (default 30)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sandbox", default="docker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        base = Path(tmp)
        print(f"building {args.n} synthetic submissions from the quick reference models ...", flush=True)
        data_dir, subs, tree = build_class(base, args.n)
        print(f"grading them with --sandbox {args.sandbox} -j {args.jobs} ...", flush=True)
        seconds, peak_mb = grade_in_child(subs, base / "grades", data_dir, args.jobs, args.sandbox)
        per_archive = [json.loads(p.read_text())["seconds"] for p in (base / "grades" / "results").glob("*.json")]
        print("timing the same models in one plain process (TensorFlow already imported) ...", flush=True)
        plain = plain_process_seconds(tree, data_dir, args.n)
    print()
    print(f"archives:                    {args.n}")
    print(f"grading wall time:           {seconds:.1f} s  (-j {args.jobs}, {args.sandbox})")
    print(f"archives per minute:         {args.n / seconds * 60:.1f}")
    print(f"median seconds per archive:  {statistics.median(per_archive):.1f}  (each archive's own time, in parallel)")
    print(f"plain-process load+predict:  {plain:.1f} s")
    print(f"overhead ratio:              {seconds / plain:.2f}  (target <= 1.5)")
    print(f"grading process peak memory: {peak_mb:.0f} MB  (target < 1024 MB)")


if __name__ == "__main__":
    main()
