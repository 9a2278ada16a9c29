"""Which archives belong to one student.

The key is the LMS username where the archive name carries one (Blackboard's
user id, Canvas's login), else the parsed "last first" name, case-folded; an
archive whose name gives neither is its own student. The policy's
``aliases`` map one key onto another (``"doe jane" = "jdoe"`` puts a plainly
named ``assignment06_DoeJane.zip`` with the Blackboard attempts of jdoe).
"""

from __future__ import annotations

from dataclasses import replace

from grader.policy.config import fold
from grader.records import Student
from grader.score.records import SubmissionGrade


def own_key(student: Student, archive: str) -> str:
    """The key an archive's name gives, before aliases."""
    if student.username and student.username.strip():
        return fold(student.username)
    if student.last or student.first:
        return fold(f"{student.last or ''} {student.first or ''}")
    return "archive:" + fold(archive)


def student_key(student: Student, archive: str, aliases: dict[str, str]) -> str:
    return resolve_alias(own_key(student, archive), aliases)


def resolve_alias(key: str, aliases: dict[str, str]) -> str:
    """The key a (folded) key is grouped under: its alias's target, followed to the end."""
    seen = {key}
    while key in aliases:                 # an alias may point at another alias
        key = aliases[key]
        if key in seen:
            break
        seen.add(key)
    return key


def group_by_student(grades: list[SubmissionGrade], aliases: dict[str, str]) -> dict[str, list[SubmissionGrade]]:
    """Archives grouped by student key, in first-seen order."""
    groups: dict[str, list[SubmissionGrade]] = {}
    for grade in grades:
        groups.setdefault(student_key(grade.student, grade.archive, aliases), []).append(grade)
    return groups


def merged_student(chosen: Student, attempts: list[Student]) -> Student:
    """The chosen attempt's student, with a username and name from any other
    attempt when its own name lacks them (the LMS rows need the username)."""
    username = chosen.username or next((s.username for s in attempts if s.username), None)
    named = chosen if (chosen.last or chosen.first) else next((s for s in attempts if s.last or s.first), chosen)
    return replace(chosen, username=username, last=named.last, first=named.first)
