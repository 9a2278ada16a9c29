"""Size caps for what the readers take from a student file.

They belong with the other defaults in :mod:`grader.limits`; they live here
until that module grows a readers section, and each reader takes its cap as a
keyword so a caller can override it.
"""

from __future__ import annotations

MIB = 1024 * 1024

MAX_PREDICTIONS_BYTES = 200 * MIB     # a predictions CSV / npy / txt
MAX_PREDICTION_ROWS = 200_000         # rows parsed from one predictions file (test sets have 10,000)
MAX_METRICS_BYTES = 20 * MIB          # a metrics text, JSON, log or pickle
MAX_IMAGENET_BYTES = 20 * MIB         # a 6.3 predictions listing
MAX_MODEL_CONFIG_BYTES = 64 * MIB     # config.json in a .keras zip, keras_metadata.pb
MAX_NOTEBOOK_BYTES = 100 * MIB        # an .ipynb (outputs included) or a script
MAX_NOTEBOOK_IMAGE_BYTES = 20 * MIB   # one decoded PNG/JPEG output of a notebook
MAX_NOTEBOOK_IMAGES = 200             # output images kept from one notebook
