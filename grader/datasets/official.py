"""Whether the instructor's test files are byte for byte the official ones.

A copy that is not (images re-encoded as JPEG, say) grades correctly on its own
terms, but a student who measured a figure on the official images can then
differ from the grader by more than sampling does: on ../shared's JPEG copy of
CIFAR-10 real models score 1 to 6 points lower. The tolerance of
reported_metrics_match is not widened for that (it follows the test set's
statistics); instead the parts graded on such a copy carry a note that says so,
so that a flag there is read with the data in mind, not blamed on the student.

Each loader registers the digests of the official files it reads
(``DatasetLoader.official``: file name -> (algorithm, hex digest)), from the
data sets' own distributions and Keras's download checks.
"""

from __future__ import annotations

from pathlib import Path

from grader.datasets.registry import get_loader
from grader.datasets.synthetic import SYNTHETIC_MARKER
from grader.hashing import file_digest
from grader.rubric import Dataset


def unofficial_test_files(dataset: Dataset, data_dir: Path, images: int) -> str:
    """One line for the parts graded on ``dataset``'s test split when it has the
    official number of images but a file of it is not the official one ("" else:
    a smaller stand-in is no copy of the official set, nor is the project's
    synthetic data, and a file name the loader knows no digest for is not judged)."""
    loader = get_loader(dataset.loader)
    if not loader.official or not dataset.test_size or images != dataset.test_size:
        return ""
    if (Path(data_dir) / SYNTHETIC_MARKER).is_file():
        return ""          # the project's own stand-ins, which say what they are
    differing = []
    for path in loader.files(dataset, Path(data_dir), "test"):
        known = loader.official.get(path.name)
        if known is None:
            continue
        algorithm, official = known
        found = file_digest(path, algorithm)
        if found != official:
            differing.append(f"{path} ({algorithm} {found[:12]}…, the official file's is {official[:12]}…)")
    if not differing:
        return ""
    return (f"The {dataset.loader} test set graded here is not the official file: {'; '.join(differing)}. "
            "The grader's accuracies are right for these images, but a figure a student measured on the "
            "official images can differ from them by more than sampling does (a re-encoded copy costs real "
            "models points): weigh a reported_metrics_match or predictions_match_model result on this part "
            "with that in mind, or grade with the official files")
