"""The one exception the readers raise.

``code`` is a stable kebab-case id (tests and the JSON output rely on it);
``message`` names the file and says how to fix it, in words a student can act
on. Callers turn a ReadError into a :class:`grader.records.Problem`.
"""

from __future__ import annotations

from grader.records import Problem, Severity


class ReadError(Exception):
    """A student file that could not be read as the data it should hold."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_problem(
        self,
        path: str | None = None,
        part: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        return Problem(code=self.code, message=self.message, severity=severity, path=path, part=part)

    def __repr__(self) -> str:
        return f"ReadError({self.code!r}, {self.message!r})"
