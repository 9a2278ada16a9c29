"""Read what discovery found, part by part, with the host-safe readers.

Nothing here loads a model or unpickles anything: models are read as
metadata, pickles as opcodes, images with a pixel cap. Each unreadable or
suspicious file becomes a Problem that names the file and the fix.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from grader.discover.documents import read_part_discussion, read_part_table
from grader.discover.layout import shape_fits
from grader.discover.names import _parts_named_by, normalise
from grader.hashing import sha256_of
from grader.readers import (
    NotebookCell,
    ReadError,
    ReportedFigure,
    layer_summary,
    read_image,
    read_imagenet_predictions,
    read_metrics,
    read_model_meta,
    read_notebook,
    read_predictions,
    reported_figures,
    source_mentions,
)
from grader.records import (
    FoundFile,
    ImageInfo,
    ImagenetPrediction,
    Layout,
    MetricsFile,
    ModelMeta,
    PredictionsFile,
    Problem,
    Role,
    Severity,
)
from grader.readers.discussions import Discussion
from grader.readers.model_table import ModelTable
from grader.rubric import Part, Rubric


@dataclass
class PlotFile:
    path: str
    info: ImageInfo | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.info is not None and not self.info.blank


@dataclass
class PartFiles:
    """Everything read for one part, ready for the checks."""

    part: str
    model: FoundFile | None = None
    model_meta: ModelMeta | None = None
    model_sha256: str | None = None
    architecture: dict = field(default_factory=dict)   # readers.layer_summary
    predictions_path: str | None = None
    predictions: PredictionsFile | None = None
    metrics_path: str | None = None
    # The part's reported metrics: its metrics file's; or, when it has none or
    # the file gives no test accuracy, with the test accuracy a notebook's saved
    # output shows (``notebook_figure``, read from ``notebook_figure_path``).
    metrics: MetricsFile | None = None
    notebook_figure: ReportedFigure | None = None
    notebook_figure_path: str | None = None
    plots: list[PlotFile] = field(default_factory=list)
    imagenet_path: str | None = None
    imagenet: list[ImagenetPrediction] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    source_flags: dict = field(default_factory=dict)   # readers.source_mentions, merged
    # A part that compares others' models (grader/discover/documents.py): its
    # table of the models and its written discussion, and where each was read.
    table_path: str | None = None
    table: ModelTable | None = None
    discussion_path: str | None = None
    discussion: Discussion | None = None


@dataclass
class Contents:
    parts: dict[str, PartFiles]
    problems: list[Problem]


def read_contents(layout: Layout, rubric: Rubric) -> Contents:
    problems: list[Problem] = []
    figures = _notebook_figures(layout, rubric, problems)
    parts = {part.id: _read_part(part, layout, rubric, problems, figures.get(part.id)) for part in rubric.parts}
    problems.extend(_duplicate_plots(parts))
    problems.extend(_copied_results(parts, layout.root))
    return Contents(parts, problems)


def _read_part(part: Part, layout: Layout, rubric: Rubric, problems: list[Problem],
               figure: tuple[str, ReportedFigure] | None) -> PartFiles:
    files = PartFiles(part.id)
    root = layout.root
    model = layout.best(part.id, Role.MODEL)
    if model:
        _read_model(files, model, part, rubric, root, problems)
    predictions = layout.best(part.id, Role.PREDICTIONS)
    if predictions and "model" in part.expects:
        _read_predictions(files, predictions.path, part, rubric, root, problems)
    elif predictions:
        _read_imagenet(files, predictions.path, part, root, problems)
    metrics = layout.best(part.id, Role.METRICS)
    if metrics:
        _read_metrics(files, metrics.path, part, root, problems, figure)
    if figure is not None:
        _use_notebook_figure(files, *figure)
    for plot in layout.find(part.id, Role.PLOT):
        files.plots.append(_read_plot(plot.path, part, root, problems))
    files.images = [f.path for f in layout.find(part.id, Role.IMAGE)]
    # A notebook without a part in its name may hold every part's code.
    sources = layout.find(part.id, Role.SOURCE) or layout.find(None, Role.SOURCE)
    files.sources = [f.path for f in sources]
    files.source_flags = _source_flags(files.sources, root)
    _read_documents(files, part, layout, rubric, problems)
    return files


def _read_documents(files: PartFiles, part: Part, layout: Layout, rubric: Rubric, problems: list[Problem]) -> None:
    """The comparison table and the discussion, where the part expects them."""
    table = layout.best(part.id, Role.TABLE) if "table" in part.expects else None
    if table is not None:
        files.table_path = table.path
        try:
            files.table = read_part_table(layout.root / table.path, part, rubric)
        except ReadError as exc:
            problems.append(Problem(exc.code, str(exc), Severity.ERROR, table.path, part.id))
        else:
            if files.table is None:
                problems.append(Problem(
                    "table-without-models",
                    f"{table.path}: no table in it has a row for two or more of the models compared "
                    f"({', '.join(part.compares)}); write one row per model, named so (\"CNN\", \"ResNet\", "
                    f"...), with their test accuracy, parameters and time per image, e.g. as "
                    f"{part.canonical_path('table')}", Severity.ERROR, table.path, part.id))
    discussion = layout.best(part.id, Role.DISCUSSION) if "discussion" in part.expects else None
    if discussion is not None:
        files.discussion_path = discussion.path
        # A notebook of another part (or shared) speaks for this one only under its headings.
        own = not discussion.path.lower().endswith(".ipynb") or any(
            f.path == discussion.path for f in layout.find(part.id, Role.SOURCE))
        try:
            files.discussion = read_part_discussion(layout.root / discussion.path, part, own)
        except ReadError as exc:
            problems.append(Problem(exc.code, str(exc), Severity.ERROR, discussion.path, part.id))


def _read(reader, root: Path, rel: str, part: Part, problems: list[Problem], **options):
    """``reader(root / rel)``, or None with the reader's problem recorded."""
    try:
        return reader(root / rel, **options)
    except ReadError as exc:
        problems.append(Problem(exc.code, str(exc), Severity.ERROR, rel, part.id))
        return None


def _read_model(files: PartFiles, model: FoundFile, part: Part, rubric: Rubric, root: Path, problems: list[Problem]) -> None:
    files.model = model
    path = root / model.path
    if path.is_file():
        files.model_sha256 = sha256_of(path)
    meta = _read(read_model_meta, root, model.path, part, problems)
    if meta is None:
        return
    files.model_meta = meta
    files.architecture = layer_summary(meta)
    dataset = rubric.dataset_of(part)
    if meta.input_shape and not shape_fits(list(meta.input_shape), dataset.input_shape):
        problems.append(Problem(
            "wrong-input-shape",
            f"{model.path}: the model takes inputs of shape {_shape(meta.input_shape)}, but {part.id} is "
            f"{part.dataset} with images of {_shape(dataset.input_shape)}; save the {part.id} model here",
            Severity.ERROR, model.path, part.id))
    if meta.output_units is not None and meta.output_units != dataset.num_classes:
        problems.append(Problem(
            "wrong-output-size",
            f"{model.path}: the last layer has {meta.output_units} units, but {part.dataset} has "
            f"{dataset.num_classes} classes; end the model with Dense({dataset.num_classes}, activation='softmax')",
            Severity.ERROR, model.path, part.id))
    if not meta.has_weights:
        problems.append(Problem(
            "model-without-weights",
            f"{model.path}: the saved model has no weights ({'; '.join(meta.notes) or 'weights missing'}); "
            "save the whole trained model with model.save(...)",
            Severity.ERROR, model.path, part.id))


def _read_predictions(files: PartFiles, rel: str, part: Part, rubric: Rubric, root: Path, problems: list[Problem]) -> None:
    dataset = rubric.dataset_of(part)
    files.predictions_path = rel
    files.predictions = _read(read_predictions, root, rel, part, problems, num_classes=dataset.num_classes,
                              class_names=dataset.class_names, expected_rows=dataset.test_size)
    if files.predictions is None:
        return
    rows = files.predictions.n_rows
    if dataset.test_size and rows != dataset.test_size:
        hint = " These look like predictions on the training set." if rows > dataset.test_size else ""
        problems.append(Problem(
            "predictions-wrong-length",
            f"{rel}: {rows:,} rows, but the {part.dataset} test set has {dataset.test_size:,} images.{hint} "
            "Save model.predict(x_test): one row per test image, in the test set's order",
            Severity.ERROR, rel, part.id))


def _read_imagenet(files: PartFiles, rel: str, part: Part, root: Path, problems: list[Problem]) -> None:
    files.imagenet_path = rel
    files.imagenet = _read(read_imagenet_predictions, root, rel, part, problems) or []


def _read_metrics(files: PartFiles, rel: str, part: Part, root: Path, problems: list[Problem],
                  figure: tuple[str, ReportedFigure] | None) -> None:
    files.metrics_path = rel
    files.metrics = _read(read_metrics, root, rel, part, problems)
    if files.metrics is None:
        return
    if files.metrics.test_accuracy is None:
        used = (f" (the grader used {figure[1].accuracy:.4f} from the notebook's output, {figure[0]} "
                f"{figure[1].where})" if figure is not None else "")
        problems.append(Problem(
            "no-test-accuracy",
            f"{rel}: no test accuracy found{used}; write the result of model.evaluate(x_test, y_test) as "
            f"{part.canonical_path('metrics')} with a \"test_accuracy\" key",
            Severity.WARNING, rel, part.id))


def _use_notebook_figure(files: PartFiles, notebook: str, figure: ReportedFigure) -> None:
    """The notebook's test accuracy as the reported one, unless the metrics file gives one (the file wins)."""
    if files.metrics is not None and files.metrics.test_accuracy is not None:
        return
    base = files.metrics or MetricsFile(format="notebook-output")
    files.metrics = dataclasses.replace(
        base, test_accuracy=figure.accuracy, test_loss=base.test_loss if base.test_loss is not None else figure.loss)
    files.notebook_figure, files.notebook_figure_path = figure, notebook


# ------------------------------------------------------- notebook outputs


def _notebook_figures(layout: Layout, rubric: Rubric, problems: list[Problem]) -> dict[str, tuple[str, ReportedFigure]]:
    """The last test accuracy each part's notebook shows in its saved outputs: (notebook, figure).

    A notebook the layout gave to a part speaks for that part. One without a
    part (one notebook for every part) speaks, cell by cell, for the part its
    nearest heading names or the data set its nearest code loads. A notebook
    given to the part wins over a shared one.
    """
    reporting = {p.id for p in rubric.parts if "metrics" in p.expects}
    notebooks = [f for f in layout.files if f.role == Role.SOURCE and f.path.lower().endswith(".ipynb")]
    notebooks.sort(key=lambda f: (f.part is not None, f.confidence))   # the likeliest last, so it wins
    chosen: dict[str, tuple[str, ReportedFigure]] = {}
    for found in notebooks:
        try:
            info = read_notebook(layout.root / found.path)
        except ReadError as exc:
            problems.append(Problem(exc.code, f"{exc} (its saved outputs were not read for a reported test accuracy)",
                                    Severity.WARNING, found.path, found.part))
            continue
        for figure in reported_figures(info):
            part = found.part or _part_of_cell(info.cells, figure.cell, rubric, found.candidates)
            if part in reporting:
                chosen[part] = (found.path, figure)
    return chosen


def _part_of_cell(cells: list[NotebookCell], index: int, rubric: Rubric, candidates: list[str]) -> str | None:
    """The one part a cell of a shared notebook belongs to, or None when that is not clear.

    The nearest markdown heading above it (``## 6.2b CIFAR-10 with dropout``)
    and the nearest code cell, itself included, that names one data set
    (``cifar10.load_data()``) each name parts; where they disagree, the nearer
    one decides. A notebook whose name narrowed it to some parts stays within them.
    """
    above = cells[: index + 1][::-1]
    heading = next(((c.index, named) for c in above if c.kind == "markdown"
                    for named in [_parts_a_heading_names(c.source, rubric)] if named), None)
    loaded = next(((c.index, named) for c in above if c.kind == "code"
                   for named in [_parts_of_the_data_set_named(c.source, rubric)] if named), None)
    if heading and loaded:
        named = heading[1] & loaded[1] or (heading[1] if heading[0] > loaded[0] else loaded[1])
    else:
        named = (heading or loaded or (0, set()))[1]
    if candidates:
        named &= set(candidates)
    return next(iter(named)) if len(named) == 1 else None


def _parts_a_heading_names(markdown: str, rubric: Rubric) -> set[str]:
    """Parts its heading lines name (the last one that names any), else its whole text.

    A part's own number decides first: "6.2a CIFAR-10 without dropout" is 6.2a,
    though "dropout" alone would say 6.2b."""
    headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.lstrip().startswith("#")]
    for text in [*headings[::-1], markdown]:
        text = normalise(text)
        named = _parts_numbered_in(text, rubric) or _parts_named_by(text, rubric)[0]
        if named:
            return set(named)
    return set()


def _parts_numbered_in(text: str, rubric: Rubric) -> set[str]:
    """Parts whose id is written in ``text`` (normalised): 6.2a as 6.2a, 6-2a, 6_2_a or 62a."""
    named = set()
    for part in rubric.parts:
        spelled = "-?".join(re.escape(char) for char in normalise(part.id).replace("-", ""))
        if re.search(rf"(?<![0-9a-z]){spelled}(?![0-9a-z])", text):
            named.add(part.id)
    return named


def _parts_of_the_data_set_named(code: str, rubric: Rubric) -> set[str]:
    """The parts on the one data set the code names (none when it names two: an import line)."""
    text = normalise(code)
    named = [n for n, d in rubric.datasets.items() if any(re.search(k, text) for k in d.keywords)]
    return {p.id for p in rubric.parts if p.dataset == named[0]} if len(named) == 1 else set()


def _read_plot(rel: str, part: Part, root: Path, problems: list[Problem]) -> PlotFile:
    try:
        info = read_image(root / rel)
    except ReadError as exc:
        problems.append(Problem(exc.code, str(exc), Severity.ERROR, rel, part.id))
        return PlotFile(rel, error=str(exc))
    if info.blank:
        problems.append(Problem(
            "blank-plot",
            f"{rel}: the image is blank (one colour); call plt.savefig(...) before plt.show(), which clears the figure",
            Severity.ERROR, rel, part.id))
    if info.extension_mismatch:
        problems.append(Problem(
            "image-extension",
            f"{rel}: the file is a {info.format} image but its name says otherwise; save it with the "
            f".{info.format.lower()} extension",
            Severity.WARNING, rel, part.id))
    return PlotFile(rel, info)


def _same_bytes(entries: Iterable[tuple[str, str, str]]) -> Iterator[tuple[str, str, str, str]]:
    """(part, path, first part, first path) for each (part, path, digest) whose
    digest a file of another part had first."""
    owners: dict[str, tuple[str, str]] = {}
    for part_id, path, digest in entries:
        first = owners.setdefault(digest, (part_id, path))
        if first[0] != part_id:
            yield part_id, path, *first


def _duplicate_plots(parts: dict[str, PartFiles]) -> list[Problem]:
    """Byte-identical plots used for two different parts. Blank images are left
    out: each is already a blank-plot error, and two empty canvases of one
    figure size are the same bytes without one being a copy of the other."""
    plots = ((part_id, plot.path, plot.info.sha256) for part_id, files in parts.items() for plot in files.plots
             if plot.info is not None and not plot.info.blank)
    return [Problem("duplicate-plot",
                    f"{path} ({part_id}) is the same image as {first_path} ({first_part}); "
                    f"save each part's own training curves",
                    Severity.ERROR, path, part_id)
            for part_id, path, first_part, first_path in _same_bytes(plots)]


# A part's results file with the same bytes as another part's: what the copy
# reports is the other part's (seen: one metrics file saved three times as 6.1's,
# 6.2a's and 6.2b's), so the report must say so beside any check it affects.
_RESULT_FILES = {"predictions": "predictions_path", "metrics": "metrics_path"}


def _copied_results(parts: dict[str, PartFiles], root: Path) -> list[Problem]:
    """Predictions or metrics files of two parts that are different files with the same contents."""
    problems = []
    for role, attribute in _RESULT_FILES.items():
        files = []
        for part_id, part_files in parts.items():
            rel = getattr(part_files, attribute)
            digest = _digest_or_none(root / rel) if rel else None
            if digest is not None:
                files.append((part_id, rel, digest))
        problems += [Problem(f"copied-{role}",
                             f"{rel} ({part_id}) has the same contents as {first_rel} ({first_part}): the {role} "
                             f"it gives are {first_part}'s, not {part_id}'s; save each part's own {role} from its "
                             "own model",
                             Severity.WARNING, rel, part_id)
                     for part_id, rel, first_part, first_rel in _same_bytes(files) if first_rel != rel]
    return problems


def _digest_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


def _source_flags(sources: list[str], root: Path) -> dict:
    merged: dict = {}
    for rel in sources:
        try:
            if rel.lower().endswith(".ipynb"):
                text = read_notebook(root / rel).cells_source
            else:
                text = (root / rel).read_text(encoding="utf-8", errors="replace")
        except (ReadError, OSError):
            continue
        for key, value in source_mentions(text).items():
            if key != "evidence":
                merged[key] = bool(merged.get(key)) or bool(value)
    return merged


def is_plot_duplicate(problems: list[Problem], path: str) -> bool:
    return any(p.code == "duplicate-plot" and p.path == path for p in problems)


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)
