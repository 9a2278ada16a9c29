"""The cost of the Keras 2 runtime. A benchmark, not a test: it prints figures.

    python benchmarks/rerun_era.py [--build] [--sandbox docker] [--submissions 2]

- the keras2 image: its disk size (and the keras3 image's, for comparison),
  the size of its wheelhouse and host venv (.venv-keras2), and, with
  ``--build``, the wall time of a forced rebuild (wheels already downloaded:
  the first build also downloads about 430 MB);
- a capped re-run per submission: N copies of the Keras 2 era submission of
  tests/era_notebooks.py (three notebooks, one from Colab and one from
  Windows, 6.3 with ResNet50, a script) re-run with ``--max-epochs 1`` on the
  real MNIST and CIFAR-10 from ../shared, one after the other, and the
  seconds each took (TensorFlow's import, the data loading and one epoch per
  fit call, in the runtime the evidence chose).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def folder_size(path: Path) -> int:
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(done.stdout.split()[0]) if done.returncode == 0 else 0


def image_size(tag: str) -> int:
    done = subprocess.run(["docker", "image", "inspect", tag, "--format", "{{.Size}}"], capture_output=True, text=True)
    return int(done.stdout.strip()) if done.returncode == 0 else 0


def build_seconds(base_image: str) -> float:
    from grader.evaluate.image import build_runtime_image

    started = time.monotonic()
    build_runtime_image(base_image=base_image, runtime="keras2", force=True, log=lambda _: None)
    return time.monotonic() - started


def capped_reruns(n: int, sandbox_name: str, work: Path) -> list[tuple[float, str, str]]:
    """(seconds, runtime, status) of each of n capped re-runs."""
    import era_notebooks as era
    from conftest import CIFAR_CACHE, SHARED, build_shared_cifar10

    from grader import rubric as rubric_mod
    from grader.evaluate.sandbox import choose_backend
    from grader.rerun import rerun_submission

    rubric = rubric_mod.load()
    data = era.era_data_dir(SHARED, build_shared_cifar10(), CIFAR_CACHE.parent, with_resnet_weights=True)
    sandbox = choose_backend(sandbox_name)
    sources = era.keras2_submission_sources(weights_in_data=True)
    runs = []
    for number in range(n):
        folder = work / f"student{number}" / "assignment06"
        paths = era.write_submission(folder, sources)
        started = time.monotonic()
        result = rerun_submission(folder, paths, sandbox, rubric.sandbox, data, work / f"out{number}",
                                  max_epochs=1, cell_timeout=600, total_timeout=1800, rubric=rubric,
                                  source_parts={s.path: s.part for s in sources})
        runs.append((time.monotonic() - started, result.runtime, result.status))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="time a forced rebuild of the keras2 image")
    parser.add_argument("--base-image", default="dl-autograder-base:bookworm")
    parser.add_argument("--sandbox", default="docker", choices=["docker", "bwrap"])
    parser.add_argument("--submissions", type=int, default=2)
    args = parser.parse_args()

    from grader.evaluate import runtimes
    from grader.evaluate.image import host_platform, wheelhouse_for

    gb = 1e9
    keras2, keras3 = runtimes.get("keras2"), runtimes.get("keras3")
    python, _, machine = host_platform()
    if args.build:
        print(f"keras2 image build:          {build_seconds(args.base_image):.0f} s (forced, wheels cached)")
    print(f"keras2 image disk:           {image_size(keras2.image) / gb:.2f} GB  ({keras2.image})")
    print(f"keras3 image disk:           {image_size(keras3.image) / gb:.2f} GB  ({keras3.image})")
    print(f"keras2 wheelhouse:           {folder_size(wheelhouse_for(keras2, python, machine)) / gb:.2f} GB")
    print(f"keras2 host venv (bwrap):    {folder_size(REPO / keras2.venv) / gb:.2f} GB  ({keras2.venv})")
    with tempfile.TemporaryDirectory(prefix="rerun-era-") as tmp:
        runs = capped_reruns(args.submissions, args.sandbox, Path(tmp))
    for seconds, runtime, status in runs:
        print(f"capped re-run (max-epochs 1): {seconds:.0f} s  runtime {runtime}, {status}")
    import era_notebooks as era

    sources = era.keras2_submission_sources(weights_in_data=True)
    cells = sum(1 if s.is_script else len(s.cells) for s in sources)
    print(f"median per submission:       {statistics.median(s for s, _, _ in runs):.0f} s "
          f"({args.sandbox}, {len(sources)} sources, {cells} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
