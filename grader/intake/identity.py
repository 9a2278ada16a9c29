"""Who an archive belongs to, read from its file name only.

Students are asked for ``<prefix>_LastnameFirstname.zip``. What arrives is
that name, its copies (``(1)``, ``-1``), lower-case or separated variants, and
the names learning-management systems wrap around it:

- Blackboard: ``<assignment>_<username>_attempt_<yyyy-mm-dd-hh-mm-ss>_<original>``
- Canvas:     ``<login>[_late]_<userid>_<submissionid>_<original>`` (the first field is
  the name Canvas wrote, often the student's name lower-cased; the user id is what
  Canvas's gradebook import matches on)
- Moodle:     ``<Full Name>_<id>_assignsubmission_file_<original>``

The wrapper gives a username (and attempt); the original name gives the last
and first name. CamelCase is split before its last capital (``DoeJane`` ->
Doe / Jane, ``García-LópezMaría`` -> García-López / María).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PureWindowsPath

from grader.records import Problem, Severity, Student

from grader.intake.problems import EXPECTED_NAME

_ARCHIVE_SUFFIX = re.compile(r"(\.(zip|rar|7z|tgz|tar|gz|bz2|xz))+$", re.IGNORECASE)
_COPY_MARKER = re.compile(r"(\s*\(\d+\)|-\d+|\s+-\s+Copy(\s*\(\d+\))?|\s+copy)$", re.IGNORECASE)
_BLACKBOARD = re.compile(r"^(?P<assignment>.+)_(?P<username>[^_]+)_attempt_(?P<attempt>\d{4}(?:-\d{2}){5})(?:_(?P<original>.*))?$")
_CANVAS = re.compile(r"^(?P<login>[^_\s]+?)(?P<late>_late)?_(?P<userid>\d+)_(?P<submission>\d+)_(?P<original>.+)$", re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<fullname>.+?)_(?P<id>\d+)_assignsubmission_file_(?P<original>.*)$")
_SEPARATORS = r"[\s_.\-]"
_NAME_TOKEN_SPLIT = re.compile(r"[\s_.]+")
_NOISE = re.compile(
    r"^(final|submission|submit|resubmit(ted)?|resubmission|updated?|revised|new|late|copy|v\d+|\d+)$",
    re.IGNORECASE,
)
_JOINERS = "-'’ "   # a capital after these continues a name part (Mary-Jane, O'Brien)


@dataclass
class _Wrapper:
    """What an LMS put around the student's own file name."""

    original: str
    username: str | None = None
    attempt: str | None = None
    lms: str | None = None
    late: bool = False
    lms_user_id: str | None = None


def identify_student(filename: str, archive_prefix: str) -> tuple[Student, list[Problem]]:
    """Read last name, first name and any LMS username from an archive's file name.

    Never raises: a name that does not fit gives what could be read plus an
    ``archive-name`` warning that names the file and the expected pattern.
    """
    source = PureWindowsPath(str(filename)).name  # accepts / and \\ in a path
    try:
        return _identify(source, archive_prefix)
    except Exception as exc:  # noqa: BLE001 - a file name must never stop a batch
        student = Student(last=None, first=None, source=source)
        return student, [_name_problem(source, archive_prefix, f"it could not be read ({exc})")]


def _identify(source: str, prefix: str) -> tuple[Student, list[Problem]]:
    stem = unicodedata.normalize("NFC", _ARCHIVE_SUFFIX.sub("", source)).strip()
    wrapper = _unwrap(stem)
    original = _strip_copy_markers(wrapper.original)
    name_part, prefix_issue = _strip_prefix(original, prefix)
    last, first, split_issue = _split_name(name_part, need_capitals=prefix_issue is not None)
    student = Student(last=last, first=first, username=wrapper.username, attempt=wrapper.attempt, source=source,
                      lms=wrapper.lms, late=wrapper.late, lms_user_id=wrapper.lms_user_id)
    issues = [issue for issue in (prefix_issue, split_issue) if issue]
    if not issues:
        return student, []
    return student, [_name_problem(source, prefix, "; ".join(issues))]


def _name_problem(source: str, prefix: str, issue: str) -> Problem:
    expected = EXPECTED_NAME.format(prefix=prefix)
    return Problem(
        code="archive-name",
        severity=Severity.WARNING,
        path=source,
        message=(
            f"The file name '{source}' does not follow the pattern {expected}: {issue}. "
            f"Name your zip like {prefix}_DoeJane.zip (last name, then first name) so it is "
            f"matched to you without guessing."
        ),
    )


def _unwrap(stem: str) -> _Wrapper:
    found = _BLACKBOARD.match(stem)
    if found:
        return _Wrapper(found["original"] or "", found["username"], found["attempt"], "blackboard")
    found = _MOODLE.match(stem)
    if found:
        return _Wrapper(found["original"], found["fullname"], lms="moodle")
    found = _CANVAS.match(stem)
    if found:
        return _Wrapper(found["original"], found["login"], lms="canvas", late=bool(found["late"]),
                        lms_user_id=found["userid"])
    return _Wrapper(stem)


def _strip_copy_markers(stem: str) -> str:
    while True:
        shorter = _COPY_MARKER.sub("", stem).strip()
        if shorter == stem or not shorter:
            return stem
        stem = shorter


def _prefix_pattern(prefix: str) -> str:
    """``assignment06`` -> ``assignment[\\s_.-]*0*6(?!\\d)``: case, separators and zero padding vary."""
    runs = re.findall(r"[^\W\d_]+|\d+", prefix)
    if not runs:
        return re.escape(prefix)
    pieces = [f"0*{int(run)}" if run.isdigit() else re.escape(run) for run in runs]
    return f"{_SEPARATORS}*".join(pieces) + r"(?!\d)"


def _strip_prefix(original: str, prefix: str) -> tuple[str, str | None]:
    """The name part of ``original`` and, when the prefix is missing or misplaced, why."""
    found = re.search(_prefix_pattern(prefix), original, re.IGNORECASE)
    if not found:
        return original.strip(" _.-"), f"it does not contain '{prefix}'"
    before = original[: found.start()].strip(" _.-")
    after = original[found.end() :].strip(" _.-")
    if not before:
        return after, None
    if re.search(r"[^\W\d_]", after):
        return after, f"it does not start with '{prefix}'"
    return before, f"the name comes before '{prefix}' instead of after it"


def _split_name(name_part: str, need_capitals: bool) -> tuple[str | None, str | None, str | None]:
    """(last, first, issue). Separators first (``Doe_Jane``), then CamelCase (``DoeJane``)."""
    tokens = [token for token in _NAME_TOKEN_SPLIT.split(name_part) if token]
    while len(tokens) > 1 and _NOISE.match(tokens[-1]):
        tokens.pop()
    tokens = [token for token in tokens if not token.isdigit()]
    if not tokens or _NOISE.match(tokens[0]) and len(tokens) == 1:
        return None, None, "it has no student name after the assignment name"
    if len(tokens) >= 2:
        return " ".join(tokens[:-1]), tokens[-1], None
    word = tokens[0]
    split = _camel_split(word)
    if split:
        return split[0], split[1], None
    if need_capitals:
        # Without the prefix a single word is as likely "homework" as a name.
        return None, None, f"'{word}' does not look like LastnameFirstname"
    return word, None, f"cannot tell the last name from the first name in '{word}' (use capitals: DoeJane)"


def _camel_split(word: str) -> tuple[str, str] | None:
    """Split before the last capital run: DoeJane, DOEJane, DoeJR, McDonaldRonald, O'BrienPat."""
    runs = [match.span() for match in re.finditer(r"[^\W\d_a-z]+", word) if match.group().isupper()]
    for start, end in reversed(runs):
        if end - start > 1 and end < len(word) and word[end].islower():
            at = end - 1          # DOEJane: the run's last capital starts the first name
        else:
            at = start
        if at == 0:
            return None
        if word[at - 1] in _JOINERS:
            continue              # Mary-Jane, O'Brien: keep looking further left
        last, first = word[:at].rstrip(_JOINERS), word[at:]
        if re.search(r"[^\W\d_]", last) and re.search(r"[^\W\d_]", first):
            return last, first
    return None
