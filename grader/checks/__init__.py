"""Checks registered by id; the rubric chooses and weights them.

Importing this package registers every built-in check.
"""

from grader.checks import comparison, files, imagenet, models, transfer  # noqa: F401  (registration)
from grader.checks.registry import (CHECKS, TRAINING_DEPENDENT, CheckContext, Recomputed, check, depends_on_training,
                                    run_check, unknown_checks)

from grader.rerun import check as _rerun_check  # noqa: E402,F401  (registers rerun_reproduces)

__all__ = ["CHECKS", "TRAINING_DEPENDENT", "CheckContext", "Recomputed", "check", "depends_on_training", "run_check",
           "unknown_checks"]
