"""Default limits, in one place. A rubric's [extraction] and [sandbox] tables
override any of them; the CLI overrides the sandbox timeout."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExtractionLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_total_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)   # 1 GiB uncompressed
    max_entry_bytes: int = Field(default=512 * 1024 * 1024, gt=0)    # one file
    max_entries: int = Field(default=5000, gt=0)
    max_ratio: float = Field(default=200.0, gt=1)                    # uncompressed / compressed
    # The ratio only counts past this many bytes: a collapsed model's
    # predictions file (identical rows) compresses over 200:1 and is no bomb.
    ratio_grace_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    max_depth: int = Field(default=20, gt=0)                         # path components
    max_archive_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)  # the zip itself


class SandboxLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: int = Field(default=900, gt=0)      # wall clock, whole submission
    memory_mb: int = Field(default=4096, gt=0)
    cpus: float = Field(default=1.0, gt=0)
    pids: int = Field(default=256, gt=0)
    tmpfs_mb: int = Field(default=256, gt=0)
    # /dev/shm, where multiprocessing makes its locks (Keras 2's data-worker pools
    # need them); Docker's own default size.
    shm_mb: int = Field(default=64, gt=0)
    output_max_mb: int = Field(default=512, gt=0)        # what the host reads back
    max_image_pixels: int = Field(default=50_000_000, gt=0)


class MetadataLimits(BaseModel):
    """The child process that reads a model's metadata (grader/readers/model_process.py).

    libhdf5 parses a student's bytes in C; a file that crashes it, loops in it
    or makes it allocate without end must cost that file, not the batch.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(default=30.0, gt=0)   # wall clock, one file
    cpu_seconds: int = Field(default=20, gt=0)           # CPU time, one file (RLIMIT_CPU)
    # Address space of the whole child (RLIMIT_AS). h5py, numpy and the readers
    # take about 190 MB of it; real model configs are under 1 MB.
    memory_mb: int = Field(default=1536, gt=0)
    start_seconds: float = Field(default=60.0, gt=0)     # imports, on a loaded machine
    max_reply_bytes: int = Field(default=32 * 1024 * 1024, gt=0)


# Plots and input images are opened on the host with this pixel cap
# (Pillow's decompression-bomb guard); 7848x5723 real plots fit under it.
MAX_IMAGE_PIXELS = 60_000_000


# What the host's readers take from one student file. Each reader also takes
# its cap as a keyword, so a caller can override it.
MIB = 1024 * 1024
MAX_PREDICTIONS_BYTES = 200 * MIB     # a predictions CSV / npy / txt
MAX_PREDICTION_ROWS = 200_000         # rows parsed from one predictions file (test sets have 10,000)
MAX_METRICS_BYTES = 20 * MIB          # a metrics text, JSON, log or pickle
MAX_IMAGENET_BYTES = 20 * MIB         # a 6.3 predictions listing
MAX_MODEL_CONFIG_BYTES = 64 * MIB     # config.json in a .keras zip, keras_metadata.pb
MAX_NOTEBOOK_BYTES = 100 * MIB        # an .ipynb (outputs included) or a script
MAX_NOTEBOOK_IMAGE_BYTES = 20 * MIB   # one decoded PNG/JPEG output of a notebook
MAX_NOTEBOOK_IMAGES = 200             # output images kept from one notebook
# Layers read from one model's config into its graph (architecture detectors);
# keras.applications networks have at most about 800.
MAX_CONFIG_LAYERS = 5000
