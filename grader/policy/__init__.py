"""Grading policies: one grade per student across attempts, due dates, late
penalties, extensions and overrides, all from the ``[policy]`` table of the
rubric or ``grade.toml`` and the instructor's policy files.

    config      the [policy] table (GradingPolicy); the rubric imports it
    students    which archives belong to one student
    lateness    submission times from the LMS and the late penalty
    extensions  the extensions/overrides file and the submission-times file
    apply       the policy applied to stored attempt records (ClassStanding)

Only ``config`` is imported eagerly: the rubric's schema needs it, and the
other modules import the score stage, which imports the rubric.
"""

from importlib import import_module

from grader.policy.config import GradingPolicy, PolicyError, merge_policy

_LAZY = {
    "AttemptOutcome": "apply", "ClassStanding": "apply", "StudentGrade": "apply", "apply_policy": "apply",
    "PolicyFile": "extensions", "SubmissionTimes": "extensions", "read_extensions": "extensions",
    "read_submission_times": "extensions",
}

__all__ = ["GradingPolicy", "PolicyError", "merge_policy", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"grader.policy.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'grader.policy' has no attribute {name!r}")
