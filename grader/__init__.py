"""An autograder for deep-learning assignments (Keras models, rubric scoring, HTML reports)."""

__version__ = "0.1.0"
