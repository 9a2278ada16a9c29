"""A stand-in for Google Colab's ``google.colab`` (the grader's re-run is not on
Colab). It does nothing and says so; paths under /content/drive/... that name
the assignment folder were rewritten to the submission's working copy before
the run, so ``os.chdir('/content/drive/My Drive/assignment06')`` works."""

GRADER_STUB = True
