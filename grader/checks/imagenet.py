"""The ImageNet-classification part: reported labels against a re-run."""

from __future__ import annotations

import ntpath
import posixpath
import re

from grader.checks.registry import CheckContext, check
from grader.records import CheckResult, ImagenetPrediction


def label_key(label: str) -> str:
    """'King Penguin', 'king_penguin' and 'king-penguin' are one label."""
    return re.sub(r"[\s_\-]+", " ", label.strip().lower())


def image_key(name: str) -> str:
    """Base name without folders (Windows or POSIX), lower case."""
    return posixpath.basename(ntpath.basename(name)).strip().lower()


def top_labels(predictions: list[ImagenetPrediction]) -> dict[str, list[str]]:
    """image -> labels in rank order."""
    by_image: dict[str, list[ImagenetPrediction]] = {}
    for p in predictions:
        by_image.setdefault(image_key(p.image), []).append(p)
    return {img: [label_key(p.label) for p in sorted(rows, key=lambda r: r.rank)] for img, rows in by_image.items()}


def comparison_rows(reported: list[ImagenetPrediction], rerun: list[ImagenetPrediction]) -> list[dict]:
    """One row per reported image: its top label, the re-run's top labels, agreement."""
    mine, theirs = top_labels(reported), top_labels(rerun)
    rows = []
    for image, labels in mine.items():
        again = theirs.get(image)
        rows.append({
            "image": image,
            "reported": labels[0] if labels else None,
            "rerun": again[:3] if again else None,
            "agree": bool(labels and again and labels[0] in again[:5]),
            "exact": bool(labels and again and labels[0] == again[0]),
        })
    return rows


@check("imagenet_labels_match")
def imagenet_labels_match(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The student's top label for each image is among the re-run's top five."""
    minimum = float(params.get("min_agreement", 0.8))
    reported = ctx.files.imagenet
    if not reported:
        where = ctx.files.imagenet_path or "no predictions file"
        return CheckResult("imagenet_labels_match", 0.0, points, False,
                           f"no readable labels ({where}); save the top predictions per image as "
                           f"{ctx.part.canonical_path('predictions')}")
    rerun = ctx.imagenet
    if rerun is None:
        # No images in the submission, no sandbox job: the run's summary would not say why.
        why = ctx.not_run if ctx.files.images else (
            f"the submission holds none of the images it classified, so they cannot be classified again; "
            f"include them in {ctx.part.input_dirs[0] if ctx.part.input_dirs else 'images'}/")
        return CheckResult("imagenet_labels_match", 0.0, points, False, f"not verifiable: {why}",
                           {"not_verifiable": True})
    if not rerun.ok:
        return CheckResult("imagenet_labels_match", 0.0, points, False, f"not verifiable: {rerun.message}",
                           {"not_verifiable": True})
    rows = comparison_rows(reported, rerun.predictions)
    rerun_images = {image_key(p.image) for p in rerun.predictions}
    missing = [r["image"] for r in rows if r["image"] not in rerun_images]
    compared = [r for r in rows if r["image"] in rerun_images]
    if not compared:
        return CheckResult("imagenet_labels_match", 0.0, points, False,
                           "none of the images named in the predictions file is in the submission; include the "
                           f"images you classified in {ctx.part.input_dirs[0] if ctx.part.input_dirs else 'images'}/",
                           {"missing_images": missing})
    agree = sum(r["agree"] for r in compared) / len(compared)
    evidence = {"agreement": round(agree, 3), "min_agreement": minimum, "images_compared": len(compared),
                "missing_images": missing, "rows": rows}
    passed = agree >= minimum and not missing
    message = f"{sum(r['agree'] for r in compared)} of {len(compared)} reported labels agree with the re-run"
    if missing:
        message += f"; {len(missing)} image(s) named in the predictions are not in the submission: {', '.join(missing)}"
    score = points * min(1.0, agree / minimum) * (len(compared) / len(rows))
    return CheckResult("imagenet_labels_match", score, points, passed, message, evidence)
