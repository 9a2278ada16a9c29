"""Why a re-run cell failed, in the instructor's words.

Every failure gets a ``cause`` and a one-line ``explanation``:

- ``package-not-allowed``: ``import X`` failed and X's pip package is not in
  the rubric's ``[sandbox] packages``; the explanation names the package and
  how to allow it (the rubric key, then ``grade image build``);
- ``package-not-in-runtime``: the package is allowed but the runtime image (or
  host Python) was built before it was: rebuild it;
- ``runtime-lacks-api``: the code calls a Keras API the chosen runtime does
  not have (a Keras 2 call in the Keras 3 runtime, say): pin the runtime;
- ``data-missing``: Keras looked for a data set or weights file that is not in
  the instructor's data folder (the re-run never downloads);
- ``file-missing``: the code opened a file that is neither in the submission
  nor written by an earlier cell;
- ``earlier-failure``: a NameError for a name an earlier failed cell would
  have defined;
- ``student-code``: anything else: the student's own bug (``history.history['acc']``
  with ``metrics=['accuracy']``, which fails in every Keras since 2.3).

``package-not-in-runtime`` and ``runtime-lacks-api`` are the environment's
fault (``ENVIRONMENT_CAUSES``); a package the course does not allow is the
instructor's choice, the rest are the data's or the student's. The patterns are data (below), not branches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from grader.evaluate import runtimes

ENVIRONMENT_CAUSES = frozenset({"package-not-in-runtime", "runtime-lacks-api"})
NOT_IN_DATA = "is not in the instructor's data folder"       # the runner's words (nbrunner.NOT_IN_DATA)
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_NOT_DEFINED = re.compile(r"name '([^']+)' is not defined")

# (exception name, regular expression over the error's text, what it means):
# Keras APIs that one runtime has and the other lacks.
RUNTIME_API_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("ImportError", r"cannot import name '(?:ImageDataGenerator|np_utils|wrappers)'",
     "a Keras 2 import that Keras 3 removed"),
    ("AttributeError", r"has no attribute '(?:predict_classes|predict_proba|fit_generator|evaluate_generator|"
                       r"predict_generator)'", "a Keras 2 method that Keras 3 removed"),
    ("TypeError", r"unexpected keyword argument '(?:workers|use_multiprocessing|max_queue_size)'",
     "a Keras 2 argument of fit() that Keras 3 removed"),
    ("ValueError", r"Argument\(s\) not recognized: \{'(?:lr|decay)'", "an optimizer argument (lr=, decay=) "
                                                                      "that Keras 3 removed"),
    ("ModuleNotFoundError", r"No module named 'keras\.(?:layers\.(?:core|convolutional|pooling|normalization|"
                            r"recurrent|merge|embeddings)|utils\.np_utils|wrappers|engine)",
     "a Keras 2 module path that Keras 3 removed"),
)
# Students' own bugs worth a sentence of their own.
STUDENT_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("KeyError", r"^'(?:val_)?acc'$",
     "history.history has no 'acc': with metrics=['accuracy'], Keras since 2.3 records 'accuracy' "
     "(the student's code fails in any Keras since 2.3)"),
    ("KeyError", r"^'(?:val_)?accuracy'$",
     "history.history has no 'accuracy': with metrics=['acc'] Keras records 'acc' (the student's code)"),
)


def _module_of(evalue: str) -> str | None:
    match = _NO_MODULE.search(evalue)
    return match.group(1) if match else None


def explain(ename: str, evalue: str, *, allowed: Iterable[str], runtime: str, rubric_path: str = "",
            earlier_failures: Iterable[int] = ()) -> tuple[str, str]:
    """(cause, explanation) of one failed cell (see the module's docstring)."""
    allowed_keys = {runtimes.canonical(p) for p in allowed}
    for name, pattern, meaning in RUNTIME_API_ERRORS:
        if ename == name and re.search(pattern, evalue):
            if runtime == "keras2":
                return "runtime-lacks-api", (f"{meaning}, and Keras 2.15 (the keras2 runtime) no longer has it "
                                             "either: the code needs an older Keras than any runtime here")
            return "runtime-lacks-api", (f"{meaning}; the {runtime} runtime lacks it. If the evidence chose "
                                         "the wrong runtime, pin it: runtime = \"keras2\" in the rubric's "
                                         "[sandbox] table")
    module = _module_of(evalue) if ename in ("ModuleNotFoundError", "ImportError") else None
    if module is not None:
        package = runtimes.package_for_module(module)
        where = f" ({rubric_path})" if rubric_path else ""
        if runtimes.canonical(package) in allowed_keys:
            return "package-not-in-runtime", (
                f"{package} (import {module.split('.')[0]}) is allowed by the rubric but not installed in the "
                f"{runtime} runtime: rebuild it with `grade image build --runtime {runtime}`"
                + (" (and `python -m grader.evaluate.runtimes venv` for bwrap)" if runtime == "keras2" else ""))
        return "package-not-allowed", (
            f"{package} (import {module.split('.')[0]}) is not among the course's allowed packages. To allow it, "
            f"add \"{package}\" to packages in the rubric's [sandbox] table{where}, then run `grade image build` "
            "and `grade image build --runtime keras2`")
    if NOT_IN_DATA in evalue:
        said = re.sub(r"^\[Errno \d+\]\s*", "", evalue)
        said = re.sub(r":\s*'[^']*'\s*$", "", said)      # FileNotFoundError's ": 'the path'" tail
        return "data-missing", f"data not on these machines: {said}"
    if ename in ("FileNotFoundError", "IsADirectoryError", "NotADirectoryError") or \
            (ename == "OSError" and "No such file" in evalue):
        return "file-missing", f"a file the code opens is not in the submission or the data folder: {evalue[:300]}"
    name = _NOT_DEFINED.search(evalue) if ename == "NameError" else None
    earlier = sorted(earlier_failures)
    if name is not None and earlier:
        return "earlier-failure", (f"{name.group(1)} is not defined because an earlier cell failed "
                                   f"(cell {', '.join(map(str, earlier[:5]))})")
    for name, pattern, meaning in STUDENT_ERRORS:
        if ename == name and re.search(pattern, evalue.strip()):
            return "student-code", meaning
    return "student-code", f"the student's code raised {ename}: {evalue[:300]}"


def explain_all(failures, *, allowed: Iterable[str], runtime: str, rubric_path: str = "") -> None:
    """Fill ``cause`` and ``explanation`` of a source's failures, in cell order."""
    allowed = list(allowed)
    seen: list[int] = []
    for failure in failures:
        failure.cause, failure.explanation = explain(
            failure.ename, failure.evalue, allowed=allowed, runtime=runtime, rubric_path=rubric_path,
            earlier_failures=seen)
        seen.append(failure.cell)
