"""What runs inside the sandbox for ``grade rerun``: ``nbrunner.py`` is copied
into each job folder as ``runner.py``. It is standalone (no grader imports);
this file only makes the folder a package so it is installed with the grader."""
