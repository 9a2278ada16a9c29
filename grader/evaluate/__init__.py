"""The evaluate stage: re-run every student model in a sandbox.

    evaluation = evaluate_submission(submission_dir, models, imagenet, inputs,
                                     imagenet_files, choose_backend(), limits, work_dir)

The host writes a job (job.json, runner.py, the test images without labels)
and runs the sandbox once for the whole submission; what comes back is read as
untrusted data (see readback.py) and every failure is told in plain words.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from grader.evaluate import readback, workspace
from grader.evaluate.digests import stage_references
from grader.evaluate.jobs import (
    IMAGENET_CLASS_INDEX,
    IMAGENET_WEIGHTS,
    ImagenetJob,
    ModelJob,
    probe_batch,
)
from grader.evaluate.readback import Malformed, OutputProblem
from grader.evaluate.sandbox import (
    DEFAULT_IMAGE,
    Sandbox,
    SandboxRun,
    SandboxUnavailable,
    choose_backend,
)
from grader.limits import SandboxLimits
from grader.records import Evaluation, ImagenetEvaluation, ImagenetPrediction, ModelEvaluation

__all__ = [
    "DEFAULT_IMAGE", "ModelEvaluation", "ImagenetJob", "ModelJob", "Sandbox", "SandboxUnavailable",
    "choose_backend", "evaluate_submission", "probe_batch",
]

LOADERS = {"keras3-safe", "tf_keras", "saved_model"}
SCALING_WORDS = {"unit": "pixels scaled to 0-1 (x / 255)", "raw": "raw 0-255 pixels"}
NPY_HEADER_SLACK = 64 * 1024


def evaluate_submission(
    submission_dir: Path,
    models: list[ModelJob],
    imagenet: list[ImagenetJob],
    inputs: dict[str, np.ndarray],
    imagenet_files: dict[str, Path] | None,
    sandbox: Sandbox,
    limits: SandboxLimits,
    work_dir: Path,
) -> Evaluation:
    """Run every model (and ImageNet job) of one submission in ``sandbox``, once.

    ``inputs`` maps each job's dataset name to its test images (uint8, labels
    never); a probe job's name to its probe batch (jobs.probe_batch), which
    checks that the model loads and what it outputs but keeps no
    probabilities. ``imagenet_files`` maps "weights" and "class_index" to the
    instructor's ResNet50 weights and imagenet_class_index.json. Returns an
    Evaluation whose models are ModelEvaluation records, keyed by part.
    """
    started = time.monotonic()
    evaluation = Evaluation(backend=sandbox.name, status="ok")
    space = workspace.make_workspace(Path(work_dir))
    for job in models:
        workspace.stage(space, Path(submission_dir), job.path)
    runnable_images, imagenet_names = _stage_imagenet(space, Path(submission_dir), imagenet, imagenet_files,
                                                      Path(work_dir), evaluation)
    runnable_models = _stage_models(space, models, inputs, Path(work_dir), evaluation)
    if not runnable_models and not runnable_images:
        evaluation.message = "nothing to run in the sandbox"
        evaluation.seconds = round(time.monotonic() - started, 3)
        return evaluation

    workspace.write_job(space, _job_json(runnable_models, runnable_images, imagenet_names, space, limits))
    try:
        run = sandbox.run(space.job_dir, space.submission_dir, space.inputs_dir, space.output_dir, limits)
    except SandboxUnavailable as exc:
        return _unavailable(evaluation, runnable_models, runnable_images, str(exc), started)

    result, result_problem = _read_result(space.output_dir)
    evaluation.status = _status(run, result, result_problem)
    stopped_at = _first_unfinished(runnable_models, runnable_images, result)
    for job in runnable_models:
        entry = _section(result, "models").get(job.part)
        if entry is None:
            reason = _unfinished_reason(job.part, evaluation.status, run, limits, stopped_at, result_problem)
            evaluation.models[job.part] = _failed(job, reason)
        else:
            rows = len(inputs[job.dataset])
            evaluation.models[job.part] = _model_from_entry(job, entry, space.output_dir, rows, limits)
    for job in runnable_images:
        entry = _section(result, "imagenet").get(job.part)
        if entry is None:
            reason = _unfinished_reason(job.part, evaluation.status, run, limits, stopped_at, result_problem)
            evaluation.imagenet[job.part] = ImagenetEvaluation(ok=False, message=f"{job.part}: {reason}")
        else:
            evaluation.imagenet[job.part] = _imagenet_from_entry(job, entry, space.unstageable)
    evaluation.message = _run_message(evaluation, run, limits, result_problem)
    evaluation.seconds = round(time.monotonic() - started, 3)
    return evaluation


# ------------------------------------------------------------------ staging


def _stage_models(space: workspace.Workspace, models: list[ModelJob], inputs: dict[str, np.ndarray],
                  work_dir: Path, evaluation: Evaluation) -> list[ModelJob]:
    runnable = []
    linked: set[str] = set()
    for job in models:
        why = space.unstageable.get(job.path)
        if why:
            evaluation.models[job.part] = _failed(job, f"{job.path}: {why}")
            continue
        if job.dataset not in inputs:
            raise ValueError(f"no test inputs were given for dataset {job.dataset!r} (part {job.part})")
        if job.dataset not in linked:
            cached = workspace.cached_inputs(work_dir, job.dataset, np.asarray(inputs[job.dataset]))
            workspace.add_input(space, cached, f"{job.dataset}.npy")
            linked.add(job.dataset)
        runnable.append(stage_references(space, job, work_dir))   # ImageNet weights files to compare with
    return runnable


def _stage_imagenet(space: workspace.Workspace, submission_dir: Path, jobs: list[ImagenetJob],
                    files: dict[str, Path] | None, work_dir: Path,
                    evaluation: Evaluation) -> tuple[list[ImagenetJob], dict[str, str]]:
    """The ImageNet jobs that can run, and the inputs-folder names of the
    weights and class index (linked there from the shared cache)."""
    if not jobs:
        return [], {}
    files = files or {}
    weights, class_index = files.get(IMAGENET_WEIGHTS), files.get(IMAGENET_CLASS_INDEX)
    missing = [f"{key} ({path})" if path else key for key, path in
               ((IMAGENET_WEIGHTS, weights), (IMAGENET_CLASS_INDEX, class_index))
               if path is None or not Path(path).is_file()]
    if missing:
        for job in jobs:
            evaluation.imagenet[job.part] = ImagenetEvaluation(
                ok=False,
                message=(f"{job.part}: weights missing: the ResNet50 ImageNet files are not in the data "
                         f"folder ({', '.join(missing)}); the student's images were not re-classified"),
            )
        return [], {}
    names = {}
    for key, path in ((IMAGENET_WEIGHTS, weights), (IMAGENET_CLASS_INDEX, class_index)):
        names[key] = Path(path).name
        workspace.add_input(space, workspace.cached_file(work_dir, Path(path)), names[key])
    runnable = []
    for job in jobs:
        for image in job.images:
            workspace.stage(space, submission_dir, image)
        if not job.images:
            evaluation.imagenet[job.part] = ImagenetEvaluation(ok=False, message=f"{job.part}: no images to classify")
            continue
        runnable.append(job)
    return runnable, names


def _job_json(models: list[ModelJob], images: list[ImagenetJob], imagenet_names: dict[str, str],
              space: workspace.Workspace, limits: SandboxLimits) -> dict:
    return {
        "models": [job.to_json() for job in models],
        "imagenet": [
            {"id": job.part, "images": [i for i in job.images if i not in space.unstageable],
             "weights": imagenet_names.get(IMAGENET_WEIGHTS, ""),
             "class_index": imagenet_names.get(IMAGENET_CLASS_INDEX, ""), "top": job.top,
             "max_pixels": limits.max_image_pixels}
            for job in images
        ],
        "limits": {"memory_mb": limits.memory_mb, "timeout_seconds": limits.timeout_seconds,
                   "pids": limits.pids, "max_image_pixels": limits.max_image_pixels},
    }


# ---------------------------------------------------------------- statuses


def _read_result(output_dir: Path) -> tuple[dict | None, str | None]:
    try:
        return readback.read_result(output_dir), None
    except Malformed as exc:
        return None, str(exc)


def _status(run: SandboxRun, result: dict | None, problem: str | None) -> str:
    if run.timed_out:
        return "timeout"
    if run.oom_killed:
        return "oom"
    if run.exit_code != 0 or result is None or problem or result.get("finished") is not True:
        return "crashed"
    return "ok"


def _section(result: dict | None, key: str) -> dict:
    """result["models"] or result["imagenet"], or {} when absent or not an object."""
    section = result.get(key) if isinstance(result, dict) else None
    return section if isinstance(section, dict) else {}


def _first_unfinished(models: list[ModelJob], images: list[ImagenetJob], result: dict | None) -> str | None:
    """The part that was running when the sandbox stopped (the runner goes in order)."""
    for job in models:
        if job.part not in _section(result, "models"):
            return job.part
    for job in images:
        if job.part not in _section(result, "imagenet"):
            return job.part
    return None


def _last_error_line(run: SandboxRun) -> str:
    lines = [line.strip() for line in run.stderr_tail.splitlines() if line.strip()]
    return readback.text(lines[-1], 200) if lines else ""


def _unfinished_reason(part: str, status: str, run: SandboxRun, limits: SandboxLimits,
                       stopped_at: str | None, problem: str | None) -> str:
    """Why a part has no result, in plain words (without the part prefix)."""
    if stopped_at is not None and part != stopped_at and status in ("timeout", "oom", "crashed"):
        return f"not evaluated: the sandbox was stopped while it ran {stopped_at}, before it reached this part"
    if status == "timeout":
        return f"the model did not finish within the {limits.timeout_seconds} s limit (the sandbox was stopped)"
    if status == "oom":
        return f"the model ran out of the {limits.memory_mb} MB memory limit (the sandbox was stopped)"
    if problem:
        return f"the sandbox's report could not be read ({problem}); the model was not graded"
    detail = _last_error_line(run)
    return (f"the sandbox stopped before this model finished (exit code {run.exit_code})"
            + (f": {detail}" if detail else ""))


def _unavailable(evaluation: Evaluation, models: list[ModelJob], images: list[ImagenetJob], why: str,
                 started: float) -> Evaluation:
    evaluation.status = "unavailable"
    evaluation.message = f"the sandbox could not run: {why}"
    for job in models:
        evaluation.models[job.part] = _failed(job, f"not evaluated: {why}")
    for job in images:
        evaluation.imagenet[job.part] = ImagenetEvaluation(ok=False, message=f"{job.part}: not evaluated: {why}")
    evaluation.seconds = round(time.monotonic() - started, 3)
    return evaluation


def _run_message(evaluation: Evaluation, run: SandboxRun, limits: SandboxLimits, problem: str | None) -> str:
    done = sum(1 for m in evaluation.models.values() if m.ok) + sum(1 for i in evaluation.imagenet.values() if i.ok)
    total = len(evaluation.models) + len(evaluation.imagenet)
    head = {
        "ok": f"{done} of {total} evaluated in the {evaluation.backend} sandbox in {run.seconds:.0f} s",
        "timeout": f"the sandbox was stopped at the {limits.timeout_seconds} s limit; {done} of {total} finished",
        "oom": f"the sandbox ran out of its {limits.memory_mb} MB memory limit; {done} of {total} finished",
    }.get(evaluation.status)
    if head is None:
        detail = problem or _last_error_line(run)
        head = f"the sandbox stopped with exit code {run.exit_code}" + (f" ({detail})" if detail else "")
        head += f"; {done} of {total} finished"
    if evaluation.backend == "none":
        head += " (NO SANDBOX: the models ran with the user's own permissions)"
    return head


# ---------------------------------------------------------------- models


def _failed(job: ModelJob, message: str) -> ModelEvaluation:
    return ModelEvaluation(part=job.part, path=job.path, ok=False, message=f"{job.part}: {message}")


def _architecture(entry: dict) -> dict:
    params = entry.get("params")
    if params is not None:
        params = readback.mapping(params, "params")
        params = {"total": readback.integer(params.get("total")),
                  "trainable": readback.integer(params.get("trainable"))}
    return {
        "format": readback.optional_text(entry.get("format"), 20),
        "input_shape": readback.shape(entry.get("input_shape")),
        "output_shape": readback.shape(entry.get("output_shape")),
        "params": params,
        "layer_types": readback.counts(entry.get("layer_types")),
        "has_dropout": readback.flag(entry.get("has_dropout")),
        "has_augmentation": readback.flag(entry.get("has_augmentation")),
        "reshape_note": readback.optional_text(entry.get("reshape_note")),
        "loader_errors": readback.text_map(entry.get("errors")),
    }


def _model_from_entry(job: ModelJob, entry, output_dir: Path, rows: int, limits: SandboxLimits) -> ModelEvaluation:
    try:
        entry = readback.mapping(entry, f"the entry for {job.part}")
        ok = readback.flag(entry.get("ok")) is True
        loader = readback.optional_text(entry.get("loader"), 20)
        if loader is not None and loader not in LOADERS:
            raise Malformed(f"unknown loader {loader!r}")
        architecture = _architecture(entry)
        notes = readback.texts(entry.get("notes"))
        message = readback.text(entry.get("message"))
        seconds = entry.get("seconds")
        seconds = None if seconds is None else readback.number(seconds, 0, 10**6)
        alternatives = readback.mapping(entry.get("alternatives") or {}, "alternatives")
    except Malformed as exc:
        return _failed(job, f"the sandbox's report for this model was malformed ({exc}); it was not graded")

    evaluation = ModelEvaluation(part=job.part, path=job.path, ok=False, loader=loader,
                                architecture=architecture, seconds=seconds,
                                layer_graph=readback.layer_graph(entry.get("layer_graph")),
                                weight_fingerprints=readback.optional_weight_fingerprints(entry.get("fingerprints")),
                                measurements=readback.measurements(entry.get("measurements")),
                                layer_digests=readback.layer_digests(entry.get("layer_digests")))
    if not ok:
        evaluation.message = f"{job.part}: {message or 'the model could not be evaluated'}"
        return evaluation
    max_bytes = limits.output_max_mb * 1024 * 1024
    try:
        scores = readback.read_probabilities(output_dir / f"{job.part}.npy", rows, job.num_classes, max_bytes)
    except OutputProblem as exc:
        evaluation.message = f"{job.part}: {exc}"
        return evaluation
    except (Malformed, FileNotFoundError) as exc:
        evaluation.message = f"{job.part}: the model's predictions could not be read back ({exc}); it was not graded"
        return evaluation
    probabilities, softmax_note = readback.as_probabilities(scores)
    evaluation.ok = True
    evaluation.scaling = job.scaling
    notes += [n for n in (architecture["reshape_note"], softmax_note) if n]
    if job.probe:
        return _probed(evaluation, job, rows, notes)
    evaluation.probabilities = probabilities
    evaluation.alternative_probabilities = _alternatives(job, alternatives, output_dir, rows, max_bytes, notes)
    evaluation.scaling_note = _scaling_note(job, evaluation.probabilities, evaluation.alternative_probabilities)
    if evaluation.scaling_note:
        notes.append(evaluation.scaling_note)
    evaluation.message = f"{job.part}: " + "; ".join(notes) if notes else ""
    return evaluation


def _probed(evaluation: ModelEvaluation, job: ModelJob, rows: int, notes: list[str]) -> ModelEvaluation:
    """A model that loaded and gave one row of class scores per probe image:
    its output was checked, and nothing is kept to compute an accuracy from."""
    shape = tuple(job.input_shape)
    notes.insert(0, f"loaded and run on {rows} generated images of shape {shape} only: the instructor's "
                    f"test set is missing, so there is no accuracy")
    evaluation.message = f"{job.part}: " + "; ".join(notes)
    return evaluation


def _alternatives(job: ModelJob, declared: dict, output_dir: Path, rows: int, max_bytes: int,
                  notes: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    subset = min(rows, 1000)
    for scaling in job.alternative_scalings:
        if scaling not in declared:
            continue
        try:
            scores = readback.read_probabilities(output_dir / f"{job.part}.{scaling}.npy", subset,
                                                 job.num_classes, max_bytes)
        except (Malformed, OutputProblem, FileNotFoundError) as exc:
            notes.append(f"the {scaling} scaling could not be read back ({exc})")
            continue
        out[scaling], _ = readback.as_probabilities(scores)
    return out


def _collapse(probabilities: np.ndarray) -> tuple[int, float]:
    """The most often predicted class and the share of inputs given it."""
    predicted = probabilities.argmax(axis=1)
    values, counts = np.unique(predicted, return_counts=True)
    top = int(np.argmax(counts))
    return int(values[top]), float(counts[top] / len(predicted))


def _scaling_note(job: ModelJob, main: np.ndarray, alternatives: dict[str, np.ndarray]) -> str | None:
    """Without labels: a model that gives one class to most inputs under the
    expected scaling but spreads its answers under another was probably
    trained on the other. The checks stage confirms it with the labels."""
    if job.num_classes < 3:
        return None
    collapsed_at = max(0.5, 3.0 / job.num_classes)
    spread_at = min(0.3, 2.5 / job.num_classes)
    for scaling, alternative in alternatives.items():
        head = main[: len(alternative)]
        main_class, main_share = _collapse(head)
        _, alternative_share = _collapse(alternative)
        if main_share >= collapsed_at and alternative_share <= spread_at:
            return (f"the model's predictions look far better on {SCALING_WORDS.get(scaling, scaling)} than on "
                    f"{SCALING_WORDS.get(job.scaling, job.scaling)}, where it predicts class {main_class} for "
                    f"{main_share:.0%} of the images; it was probably trained on {scaling} input")
    return None


# --------------------------------------------------------------- ImageNet


def _imagenet_from_entry(job: ImagenetJob, entry, unstageable: dict[str, str]) -> ImagenetEvaluation:
    try:
        entry = readback.mapping(entry, f"the entry for {job.part}")
        ok = readback.flag(entry.get("ok")) is True
        status = readback.text(entry.get("status"), 40)
        message = readback.text(entry.get("message"))
        rows = entry.get("predictions") or []
        if not isinstance(rows, list) or len(rows) > len(job.images) * job.top:
            raise Malformed("predictions is not a list of the expected length")
        predictions = [_imagenet_prediction(row, job) for row in rows]
        image_errors = entry.get("image_errors") or []
        if not isinstance(image_errors, list):
            raise Malformed("image_errors is not a list")
        problems = [f"{readback.text(mapping.get('image'), 200)}: {readback.text(mapping.get('error'), 200)}"
                    for mapping in (readback.mapping(e, "an image error") for e in image_errors[:50])]
    except Malformed as exc:
        return ImagenetEvaluation(ok=False, message=f"{job.part}: the sandbox's report was malformed ({exc})")
    problems = [f"{image}: {unstageable[image]}" for image in job.images if image in unstageable] + problems
    parts = [message] if message else []
    if problems:
        parts.append("images that could not be read: " + "; ".join(problems))
    text = "; ".join(parts) or ("" if ok else f"ResNet50 did not classify the images ({status})")
    return ImagenetEvaluation(ok=ok, message=f"{job.part}: {text}" if text else "", predictions=predictions)


def _imagenet_prediction(row, job: ImagenetJob) -> ImagenetPrediction:
    row = readback.mapping(row, "a prediction")
    image = readback.text(row.get("image"), 300)
    if image not in job.images:
        raise Malformed(f"a prediction names an image that was not asked for ({image[:60]!r})")
    return ImagenetPrediction(
        image=Path(image).name,
        rank=readback.integer(row.get("rank"), 1, job.top),
        label=readback.text(row.get("label"), 200),
        probability=readback.number(row.get("probability"), 0.0, 1.0 + 1e-6),
        wnid=readback.optional_text(row.get("wnid"), 20),
    )
