"""The test accuracy a notebook's saved outputs show, read as data.

Most students write no metrics file: the figure they report is what their
notebook printed the last time it ran. :func:`reported_figures` reads it from
the outputs ``read_notebook`` kept, cell by cell; nothing is executed. Three
shapes are understood, the ones Keras 2-era notebooks (2020-2023) show:

- the result of ``model.evaluate(...)`` as the cell's value: ``[0.0297, 0.9911]``
  (loss, then the one compiled metric), ``{'loss': .., 'accuracy': ..}``, or
  ``(0.0297, 0.9911)`` from a cell that ends with ``test_loss, test_acc``;
- Keras's progress line for that call,
  ``313/313 [====] - 1s 3ms/step - loss: 0.0297 - accuracy: 0.9911`` (or the
  ``verbose=2`` form without the bar); the lines of a ``fit`` epoch (after
  ``Epoch 3/10``, or carrying ``val_`` figures) are training, never taken;
- a printed figure that names a test: ``Test accuracy: 0.9911``,
  ``test_acc: 0.99``, ``Accuracy on the test set = 99.11 %``, and a bare
  ``0.9908`` shown by a cell that ends with ``test_acc`` or ``print(test_acc)``
  (Chollet's listing 5.x).

Which part a figure belongs to is not decided here (that needs the rubric):
each figure says which cell it came from, and the notebook's cells (markdown
headings, the code that loads a data set) are in the NotebookInfo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from grader.readers.metrics import scalar_key
from grader.readers.notebooks import NotebookCell, NotebookInfo

# Words that make a printed figure a test figure, and those that make it not one.
_TEST_WORDS = {"test", "testing", "eval", "evaluation", "evaluate", "evaluated", "holdout"}
_NOT_TEST_WORDS = {"val", "validation", "train", "training", "epoch", "best", "baseline"}
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# "Test accuracy: 0.99", "test_acc = 99.1 %", "Test accuracy 0.9911", "test accuracy is np.float64(0.99)".
_PRINTED = re.compile(
    rf"(?P<label>[A-Za-z][A-Za-z0-9_ \t]{{0,60}}?)['\"]?[ \t]*(?:[:=]|\bis\b)?[ \t]*"
    rf"(?:np\.float(?:16|32|64)\()?(?P<number>{_NUMBER})\)?[ \t]*(?P<percent>%)?"
)
# "Test loss, test accuracy: [0.0297, 0.9911]": a loss-then-accuracy pair printed as one list.
_PRINTED_PAIR = re.compile(rf"(?P<label>[A-Za-z][A-Za-z0-9_ ,/&\t]{{0,80}}?)[:=][ \t]*[\[(][ \t]*"
                           rf"(?P<loss>{_NUMBER})[ \t]*,[ \t]*(?P<number>{_NUMBER})[ \t]*[\])]")
# Keras's progress line: "313/313 [===...] - 1s 3ms/step - loss: .. - accuracy: .." or "313/313 - 1s - loss: ..".
_PROGRESS = re.compile(r"^\s*\d+/\d+\s+(?:\[[=>.]*\]\s+)?-\s")
_PROGRESS_PAIR = re.compile(rf"(?:^|\s-\s)(?P<name>[A-Za-z_]+):\s*(?P<number>{_NUMBER})")
_EPOCH_HEADER = re.compile(r"^\s*Epoch\s+\d+\s*/\s*\d+\s*$")
_EVALUATE_CALL = re.compile(r"\.evaluate(?:_generator)?\s*\(")
_FIT_CALL = re.compile(r"\.fit(?:_generator)?\s*\(")
_RESULT_LIST = re.compile(rf"^\s*[\[(]\s*(?P<loss>{_NUMBER})\s*,\s*(?P<number>{_NUMBER})\s*,?\s*[\])]\s*$")
_RESULT_DICT_PAIR = re.compile(rf"['\"](?P<name>\w+)['\"]\s*:\s*(?:np\.float(?:16|32|64)\()?(?P<number>{_NUMBER})")
_BARE_NUMBER = re.compile(rf"^\s*(?:np\.float(?:16|32|64)\()?(?P<number>{_NUMBER})\)?\s*(?P<percent>%)?\s*$")
# The cell's last line shows a test-accuracy variable: `test_acc`, `print(test_accuracy)`,
# or the pair evaluate returned: `test_loss, test_acc`.
_SHOWS_TEST_VARIABLE = re.compile(r"^\s*(?:print\s*\(\s*)?(?P<name>[A-Za-z_]\w*)\s*\)?\s*;?\s*$")
_SHOWS_TEST_PAIR = re.compile(r"^\s*(?:print\s*\(\s*)?\(?\s*(?P<loss>[A-Za-z_]\w*)\s*,\s*(?P<name>[A-Za-z_]\w*)\s*\)?"
                              r"\s*\)?\s*;?\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_LINE = 500       # longer output lines are tables or arrays, not a printed figure
_MAX_LINES = 20_000   # output lines looked at per notebook


@dataclass
class ReportedFigure:
    """A test accuracy one cell's saved output shows."""

    accuracy: float               # as a fraction (a printed 99.11 % is 0.9911)
    cell: int                     # 0-based position of the cell among all the notebook's cells
    execution_count: int | None   # the "In [n]" Jupyter showed beside it
    kind: str                     # "evaluate-result" | "evaluate-progress" | "printed"
    text: str                     # the output line it was read from
    decimals: int | None = None   # decimal places it was shown with, as a fraction (0.99 -> 2, 99.1 % -> 3)
    loss: float | None = None     # the test loss beside it, when the same line or result gives one

    @property
    def where(self) -> str:
        """``cell 14 (In [12])``: the cell as Jupyter numbers it, 1-based."""
        shown = f"cell {self.cell + 1}"
        return f"{shown} (In [{self.execution_count}])" if self.execution_count is not None else shown


def reported_figures(info: NotebookInfo) -> list[ReportedFigure]:
    """Every test accuracy the notebook's saved outputs show, in notebook order."""
    figures: list[ReportedFigure] = []
    budget = _MAX_LINES
    for cell in info.cells:
        if cell.kind != "code" or not cell.outputs or budget <= 0:
            continue
        lines = _output_lines(cell.outputs)[:budget]
        budget -= len(lines)
        figures.extend(_cell_figures(cell, lines))
    return figures


# ------------------------------------------------------------------- a cell


def _cell_figures(cell: NotebookCell, lines: list[str]) -> list[ReportedFigure]:
    evaluates_test = _evaluates_test_data(cell.source)
    shows_test_variable = _last_line_shows(_SHOWS_TEST_VARIABLE, cell.source)
    shows_test_pair = _last_line_shows(_SHOWS_TEST_PAIR, cell.source)
    figures = []
    after_epoch_header = False
    for line in lines:
        if _EPOCH_HEADER.match(line):
            after_epoch_header = True
            continue
        if _PROGRESS.match(line):
            if evaluates_test and not after_epoch_header:
                figures.extend(_from_progress(cell, line))
            after_epoch_header = False
            continue
        if not line.strip():
            continue
        after_epoch_header = False
        found = _from_printed(cell, line)
        if not found and (evaluates_test or shows_test_pair):
            found = _from_evaluate_result(cell, line)
        if not found and shows_test_variable:
            found = _from_bare_number(cell, line)
        figures.extend(found)
    return figures


def _output_lines(outputs: list[str]) -> list[str]:
    """Output text as the reader saw it: a progress bar redrawn with ``\\r`` or
    backspaces keeps only its last drawing; colour codes removed."""
    lines = []
    for text in outputs:
        for line in _ANSI.sub("", text).split("\n"):
            line = _erase_backspaces(line.rstrip("\r").split("\r")[-1])
            if len(line) <= _MAX_LINE:
                lines.append(line)
    return lines


def _erase_backspaces(line: str) -> str:
    """What a terminal shows after Keras 2.2's ``\\b``-redrawn progress bar."""
    if "\b" not in line:
        return line
    shown: list[str] = []
    for char in line:
        if char == "\b":
            if shown:
                shown.pop()
        else:
            shown.append(char)
    return "".join(shown)


def _evaluates_test_data(source: str) -> bool:
    """The cell calls ``evaluate`` on something other than only training or validation data."""
    for call in _EVALUATE_CALL.finditer(source):
        argument = source[call.end(): call.end() + 200].split(")")[0].lower()
        if "test" in argument or not re.search(r"train|val", argument):
            return True
    return False


def _last_line_shows(pattern: re.Pattern[str], source: str) -> bool:
    """The cell's last code line is ``pattern`` with a test-accuracy name (and a loss name, for a pair)."""
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    match = pattern.match(lines[-1]) if lines else None
    if match is None or not _is_test_accuracy(scalar_key(match.group("name"))):
        return False
    return "loss" not in pattern.groupindex or "loss" in scalar_key(match.group("loss")).split("_")


def _is_test_accuracy(key: str) -> bool:
    """``test_accuracy``, ``test_set_acc``, ``eval_accuracy``: a test word, an accuracy word, no training word."""
    words = set(key.split("_"))
    return (bool(words & _TEST_WORDS) and any(word.startswith("acc") for word in words)
            and not words & _NOT_TEST_WORDS and "loss" not in words)


# ------------------------------------------------------------------ shapes


def _from_progress(cell: NotebookCell, line: str) -> list[ReportedFigure]:
    pairs = {m.group("name").lower(): m.group("number") for m in _PROGRESS_PAIR.finditer(line)}
    if any(name.startswith("val_") for name in pairs):
        return []   # a fit epoch with validation figures
    accuracy = next((text for name, text in pairs.items() if re.fullmatch(r"(?:\w+_)?acc(?:uracy)?", name)), None)
    if accuracy is None:
        return []
    return _figure(cell, "evaluate-progress", line, accuracy, loss=pairs.get("loss"))


def _from_printed(cell: NotebookCell, line: str) -> list[ReportedFigure]:
    found = []
    for match in _PRINTED_PAIR.finditer(line):
        words = set(scalar_key(match.group("label")).split("_"))
        if words & _TEST_WORDS and "loss" in words and any(w.startswith("acc") for w in words) \
                and not words & _NOT_TEST_WORDS:
            found.extend(_figure(cell, "printed", line, match.group("number"), loss=match.group("loss")))
    if found:
        return found
    for match in _PRINTED.finditer(line):
        if _is_test_accuracy(scalar_key(match.group("label"))):
            found.extend(_figure(cell, "printed", line, match.group("number"), percent=bool(match.group("percent"))))
    return found


def _from_evaluate_result(cell: NotebookCell, line: str) -> list[ReportedFigure]:
    """``[loss, accuracy]`` or ``{'loss': .., 'accuracy': ..}``, the value of an evaluate cell."""
    match = _RESULT_LIST.match(line)
    if match:
        return _figure(cell, "evaluate-result", line, match.group("number"), loss=match.group("loss"))
    pairs = {m.group("name").lower(): m.group("number") for m in _RESULT_DICT_PAIR.finditer(line)}
    accuracy = next((text for name, text in pairs.items() if re.fullmatch(r"(?:\w+_)?acc(?:uracy)?", name)
                     and not name.startswith("val_")), None)
    if accuracy is None:
        return []
    return _figure(cell, "evaluate-result", line, accuracy, loss=pairs.get("loss"))


def _from_bare_number(cell: NotebookCell, line: str) -> list[ReportedFigure]:
    match = _BARE_NUMBER.match(line)
    if not match:
        return []
    return _figure(cell, "printed", line, match.group("number"), percent=bool(match.group("percent")))


def _figure(cell: NotebookCell, kind: str, line: str, number: str, *, percent: bool = False,
            loss: str | None = None) -> list[ReportedFigure]:
    """The figure, or nothing when the number cannot be an accuracy.

    A percentage is written with ``%`` or, between 1 and 100, without it
    (``Test accuracy: 99.11``); either way it becomes a fraction with two more
    decimal places."""
    value = float(number)
    decimals = len(number.split(".")[1]) if "." in number and "e" not in number.lower() else None
    if "." not in number and "e" not in number.lower():
        decimals = 0
    if percent or 1.0 < value <= 100.0:
        value /= 100.0
        decimals = None if decimals is None else decimals + 2
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return []
    loss_value = float(loss) if loss is not None else None
    return [ReportedFigure(accuracy=value, cell=cell.index, execution_count=cell.execution_count, kind=kind,
                           text=line.strip(), decimals=decimals,
                           loss=loss_value if loss_value is not None and math.isfinite(loss_value) else None)]
