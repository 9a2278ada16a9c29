"""Problem bookkeeping and the fix texts that intake's messages share."""

from __future__ import annotations

from collections import Counter

from grader.records import Problem, Severity

# After this many problems with one code, the rest are summed up in one line:
# a zip of 5,000 symlinks should give a readable report, not 5,000 lines.
MAX_PER_CODE = 20

EXPECTED_NAME = "{prefix}_LastnameFirstname.zip"


def rezip_hint(folder: str, zip_name: str) -> str:
    """How to make a good archive, on each system a student may use."""
    return (
        f"Re-create the zip from the {folder} folder: on Windows right-click the {folder} folder > "
        f"Send to > Compressed (zipped) folder; on macOS right-click it > Compress \"{folder}\"; "
        f"or run `zip -r {zip_name} {folder}`. Then upload {zip_name}."
    )


class ProblemLog:
    """Collects problems in order, capping how many of one code are kept."""

    def __init__(self) -> None:
        self._kept: list[Problem] = []
        self._counts: Counter[str] = Counter()

    def add(self, code: str, message: str, severity: Severity = Severity.ERROR, path: str | None = None) -> None:
        self._counts[code] += 1
        if self._counts[code] <= MAX_PER_CODE:
            self._kept.append(Problem(code=code, message=message, severity=severity, path=path))

    def extend(self, problems: list[Problem]) -> None:
        for problem in problems:
            self.add(problem.code, problem.message, Severity(problem.severity), problem.path)

    def count(self, code: str) -> int:
        return self._counts[code]

    def has_errors(self) -> bool:
        return any(Severity(p.severity) is Severity.ERROR for p in self._kept)

    def problems(self) -> list[Problem]:
        out = list(self._kept)
        for code, count in self._counts.items():
            if count > MAX_PER_CODE:
                first = next(p for p in self._kept if p.code == code)
                out.append(Problem(
                    code=code,
                    severity=first.severity,
                    message=f"... and {count - MAX_PER_CODE} more entries with the same problem ({code}).",
                ))
        return out
