"""Readers: a student file in, a typed record out, or a ReadError that says why.

Readers parse files as data only. They never unpickle, never load a model,
never import or run student code, and cap how much of a file they read.
"""

from grader.readers.errors import ReadError
from grader.readers.imagenet import read_imagenet_predictions
from grader.readers.images import hash_distance, is_blank, perceptual_hash, read_image, thumbnail_png
from grader.readers.metrics import read_metrics
from grader.readers.models import layer_summary, read_model_meta
from grader.readers.notebook_outputs import ReportedFigure, reported_figures
from grader.readers.notebooks import NotebookCell, NotebookInfo, read_notebook, source_mentions
from grader.readers.predictions import read_predictions

__all__ = [
    "NotebookCell",
    "NotebookInfo",
    "ReadError",
    "ReportedFigure",
    "hash_distance",
    "is_blank",
    "layer_summary",
    "perceptual_hash",
    "read_image",
    "read_imagenet_predictions",
    "read_metrics",
    "read_model_meta",
    "read_notebook",
    "read_predictions",
    "reported_figures",
    "source_mentions",
    "thumbnail_png",
]
