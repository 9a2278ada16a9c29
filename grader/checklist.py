"""The checklist `grade check` prints for a student."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from grader.pipeline import CheckReport
from grader.records import Role, Severity
from grader.rubric import Rubric

_MARK = {Severity.ERROR: "[red]✗ error  [/]", Severity.WARNING: "[yellow]! warning[/]", Severity.INFO: "[dim]· note   [/]"}


def print_checklist(report: CheckReport, rubric: Rubric, console: Console) -> None:
    who = report.intake.student.display if report.intake.student else "unknown"
    console.print(f"Checking [bold]{escape(report.source)}[/] (student: {escape(who)}) against {rubric.title}\n")
    if report.layout is not None:
        found = report.parts()
        for part in rubric.parts:
            console.print(f"[bold]{part.id}[/]  {escape(part.title)}")
            for role in part.expects:
                paths = found.get(part.id, {}).get(role, [])
                if paths:
                    shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
                    console.print(f"  [green]✓[/] {role:<12} {escape(shown)}")
                else:
                    console.print(f"  [red]✗[/] {role:<12} missing: expected at {escape(part.canonical_path(role))}")
            console.print()
        unassigned = [f.path for f in report.layout.files if f.part is None and f.role is not Role.OTHER]
        if unassigned:
            console.print(f"[yellow]Files the grader could not place in a part:[/] {escape(', '.join(unassigned[:10]))}"
                          + (" ..." if len(unassigned) > 10 else ""))
            example = next((p.canonical_path("model") for p in rubric.parts if "model" in p.expects), "")
            console.print(f"  Put the part in the file name or folder, e.g. {escape(example)}\n")
    problems = sorted(report.problems, key=lambda p: list(Severity).index(Severity(p.severity)))
    if problems:
        console.print("[bold]To fix[/]")
        for problem in problems:
            console.print(f"  {_MARK[Severity(problem.severity)]} {escape(problem.message)}")
        console.print()
    errors = sum(Severity(p.severity) is Severity.ERROR for p in report.problems)
    if report.ready:
        console.print("[bold green]Ready to submit.[/]")
    else:
        console.print(f"[bold red]Not ready:[/] {errors} problem(s) to fix before you submit.")
