"""Score a submission: recompute metrics from the sandbox's output, run the
rubric's checks, add up the points."""

from __future__ import annotations

import numpy as np

from grader.checks import CheckContext, Recomputed, run_check
from grader.checks.registry import Peer
from grader.checks.imagenet import comparison_rows
from grader.checks.models import reported_accuracy
from grader.discover.contents import Contents
from grader.records import Evaluation, Layout, ModelEvaluation, Problem
from grader.rubric import Dataset, Part, Rubric
from grader.score.records import PartGrade, SubmissionGrade

__all__ = ["PartGrade", "SubmissionGrade", "recompute", "score_parts"]


def recompute(evaluation: ModelEvaluation | None, labels: np.ndarray | None, dataset: Dataset,
              missing_data: str = "") -> Recomputed:
    """Accuracy, loss and confusion matrix from the returned probabilities.

    The labels never left the host; the probabilities were validated by the
    evaluate stage (shape, dtype, finite) before they reach this point.
    """
    if labels is None:
        return Recomputed(reason=_missing_data_reason(missing_data))
    if evaluation is None or not evaluation.ok or evaluation.probabilities is None:
        return Recomputed(reason=evaluation.message if evaluation is not None else "")
    probabilities = np.asarray(evaluation.probabilities, dtype=np.float64)
    if probabilities.shape != (len(labels), dataset.num_classes):
        return Recomputed(reason=f"the model's output has shape {probabilities.shape}, "
                                 f"expected ({len(labels)}, {dataset.num_classes})")
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())
    confusion = np.zeros((dataset.num_classes, dataset.num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    alternatives = {}
    for scaling, alt in (evaluation.alternative_probabilities or {}).items():
        alt = np.asarray(alt)
        if alt.ndim == 2 and alt.shape[1] == dataset.num_classes and len(alt) <= len(labels):
            alternatives[scaling] = float((alt.argmax(axis=1) == labels[: len(alt)]).mean())
    return Recomputed(
        accuracy=float((predicted == labels).mean()),
        loss=loss,
        predicted=predicted,
        confusion=confusion.tolist(),
        scaling=evaluation.scaling or dataset.scaling,
        alternatives=alternatives,
    )


def _missing_data_reason(missing_data: str) -> str:
    """Why nothing could be recomputed: the data folder's own message (which
    file, where it was looked for, how to get it), on one line."""
    if not missing_data:
        return "the test labels are not available"
    return "the instructor's test data is missing: " + " ".join(line.strip() for line in missing_data.splitlines())


def score_parts(rubric: Rubric, layout: Layout, contents: Contents, problems: list[Problem],
                evaluation: Evaluation | None, labels: dict[str, np.ndarray | None],
                missing_data: dict[str, str], not_run: str, rerun=None) -> dict[str, PartGrade]:
    """Run each part's checks; `labels` and `missing_data` are keyed by data set;
    `rerun` is the notebook re-run's RerunResult, when there was one."""
    from grader.rerun import rerun_evidence

    grades = {}
    peers = {}      # every part's results first: a comparison part's checks read the others'
    for part in rubric.parts:
        model_eval = evaluation.models.get(part.id) if evaluation else None
        peers[part.id] = Peer(part, contents.parts[part.id], model_eval,
                              recompute(model_eval, labels.get(part.dataset), rubric.dataset_of(part),
                                        missing_data.get(part.dataset, "")))
    for part in rubric.parts:
        dataset = rubric.dataset_of(part)
        model_eval = peers[part.id].evaluation
        ctx = CheckContext(
            rubric=rubric, part=part, dataset=dataset, files=contents.parts[part.id], contents=contents,
            layout=layout, problems=problems, evaluation=model_eval,
            imagenet=evaluation.imagenet.get(part.id) if evaluation else None,
            recomputed=peers[part.id].recomputed,
            baseline=rubric.baselines.get(part.id),
            not_run=(evaluation.message if evaluation and evaluation.message else not_run),
            rerun=rerun_evidence(rerun, part.id) if rerun is not None else None,
            peers=peers,
        )
        grades[part.id] = _grade_part(part, ctx)
        # For the class's integrity step (grader/integrity/evidence.py), in memory only.
        details = grades[part.id].details
        if ctx.recomputed.predicted is not None:
            details["predicted"] = ctx.recomputed.predicted
            details["correct"] = ctx.recomputed.predicted == labels[part.dataset]
        if model_eval is not None and model_eval.weight_fingerprints:
            details["weight_fingerprints"] = model_eval.weight_fingerprints
    return grades


def _grade_part(part: Part, ctx: CheckContext) -> PartGrade:
    results = [run_check(spec, ctx) for spec in part.checks]
    files = ctx.files
    metrics = files.metrics
    reported = None
    if metrics is not None:
        reported = {"accuracy": reported_accuracy(ctx), "loss": metrics.test_loss, "file": files.metrics_path,
                    "source": "metrics file"}
        if files.notebook_figure is not None:
            # The figure came from a notebook's saved output: the record says which cell.
            reported.update(source="notebook output", notebook=files.notebook_figure_path,
                            cell=files.notebook_figure.where, text=files.notebook_figure.text)
    recomputed = ctx.recomputed.to_dict() if "model" in part.expects else None
    details: dict = {
        "plots": [p.path for p in files.plots if p.info is not None],
        "history": metrics.history if metrics else {},
        "class_names": ctx.dataset.class_names,
    }
    if ctx.recomputed.confusion is not None:
        details["confusion_matrix"] = ctx.recomputed.confusion
    arch = dict(files.architecture)
    if ctx.evaluation is not None:
        arch.update(ctx.evaluation.architecture)
        arch["loader"] = ctx.evaluation.loader
    if arch:
        details["architecture"] = arch
    if ctx.evaluation is not None and ctx.evaluation.measurements:
        details["measurements"] = ctx.evaluation.measurements   # the report's models side by side
    if ctx.rerun is not None:
        details["rerun"] = ctx.rerun
    if files.imagenet and ctx.imagenet is not None and ctx.imagenet.ok:
        details["imagenet"] = comparison_rows(files.imagenet, ctx.imagenet.predictions)
    return PartGrade(
        id=part.id, title=part.title,
        score=sum(r.score for r in results), max_score=part.max_points,
        checks=results, recomputed=recomputed, reported=reported,
        found=[f for f in ctx.layout.files if f.part == part.id], details=details,
    )
