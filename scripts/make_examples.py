"""Rebuild submissions/example/: three archives made by the reference solutions.

    python scripts/make_examples.py

A correct submission, a partial one (6.2b without its model and metrics, a
blank 6.1 accuracy plot) and a broken one (a download cut short). They are
made against the synthetic data set of seed 0, which the folder's grade.toml
names, so `grade submissions/example/` grades them on any machine.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PIL import Image

import reference
from grader.datasets import ensure_synthetic_data, write_synthetic_images
from reference.pack import pack

EXAMPLE = Path(__file__).resolve().parents[1] / "submissions" / "example"


def main() -> None:
    data_dir = ensure_synthetic_data(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        write_synthetic_images(images, count=3)
        reference.run(None, tmp / "ref", data_dir, quick=True, images_dir=images)
        tree = tmp / "ref" / "assignment06"
        for old in EXAMPLE.glob("*.zip"):
            old.unlink()
        correct = pack(tree, EXAMPLE, "Doe", "Jane")

        partial = tmp / "partial" / "assignment06"
        shutil.copytree(tree, partial)
        (partial / "results/6.2b/model.keras").unlink()
        (partial / "results/6.2b/metrics.json").unlink()
        Image.new("RGB", (640, 480), "white").save(partial / "results/6.1/accuracy.png")
        pack(partial, EXAMPLE, "Roe", "Richard")

        # A download cut short: the first 40 kB of a real archive.
        (EXAMPLE / "assignment06_BrokenBob.zip").write_bytes(correct.read_bytes()[:40_000])
    for archive in sorted(EXAMPLE.glob("*.zip")):
        print(f"{archive.name}: {archive.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
