"""Checks registered by id; the rubric chooses and weights them.

Importing this package registers every built-in check.
"""

from grader.checks import files, imagenet, models  # noqa: F401  (registration)
from grader.checks.registry import CHECKS, CheckContext, Recomputed, check, run_check, unknown_checks

__all__ = ["CHECKS", "CheckContext", "Recomputed", "check", "run_check", "unknown_checks"]
