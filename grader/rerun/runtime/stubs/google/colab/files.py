"""google.colab.files, re-run outside Colab: nobody is there to pick a file."""


def upload():
    raise RuntimeError("google.colab.files.upload() needs a person at a browser; the re-run cannot upload "
                       "(the submission's own files are in the working folder)")


def download(filename):
    print(f"[grader re-run] files.download({filename!r}) did nothing: this is not Colab.")
