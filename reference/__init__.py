"""The reference solutions of every rubric that has them (Keras 3 on TensorFlow).

``run`` trains them on the instructor's data folder and writes a complete
tree in the rubric's folder (results, notebooks, input images); ``baselines``
turns a full run into the rubric's baselines file; ``reference.pack`` zips a
folder the way students must; ``reference.verify`` runs, packs and grades
them in the sandbox. Part ids, folders, file names and data sets come from
the rubric; which function solves which part of which rubric is data, in
``reference/solutions.toml`` (read by ``reference.registry``).

Importing this package does not import TensorFlow; running a part does.
"""

from __future__ import annotations

from grader.rubric import DEFAULT_RUBRIC
from reference.registry import (DEFAULT_QUICK_EPOCHS, DEFAULT_QUICK_SAMPLES, ReferenceRunError, RubricSolutions,
                                Solution, rubrics_with_solutions, solutions_for)

SEED = 0
# A quick run's defaults (a rubric's [quick] table in solutions.toml overrides them).
QUICK_TRAIN_SAMPLES = DEFAULT_QUICK_SAMPLES
QUICK_EPOCHS = DEFAULT_QUICK_EPOCHS
# The default rubric's solutions, by part id (solutions_for(rubric_id) for any other).
SOLUTIONS: dict[str, Solution] = solutions_for(DEFAULT_RUBRIC).parts

# Below the constants: these modules read them.
from reference.runner import PartRun, RunRecord, load_run_record, run  # noqa: E402
from reference.baselines import baselines  # noqa: E402

__all__ = [
    "SEED", "QUICK_TRAIN_SAMPLES", "QUICK_EPOCHS", "Solution", "SOLUTIONS", "RubricSolutions", "solutions_for",
    "rubrics_with_solutions", "PartRun", "RunRecord", "ReferenceRunError", "load_run_record", "run", "baselines",
]
