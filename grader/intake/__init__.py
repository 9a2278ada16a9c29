"""Intake: a student's archive (or folder) -> regular files in a work folder.

Safety model. Every submission is hostile until proven otherwise, so intake
never lets an archive decide where bytes go or how many:

- Names. Each entry name is decoded (UTF-8, else the likelier of cp437 and
  cp1252), split on ``/`` and ``\\``, and refused when absolute (``/x``,
  ``C:\\x``) or climbing out with ``..``; every component is then made valid
  on Windows, macOS and Linux. Files are created only below the per-submission
  work folder, checked again against its real path before writing.
- Types. Only regular files and folders are created. Symlink entries, devices,
  fifos and sockets are skipped with a problem; a folder source is copied
  without following links. The sandbox later mounts the work folder
  read-only, so it only ever sees these copies.
- Amounts. The limits in ``rubric.extraction`` (grader/limits.py) are applied
  to bytes actually produced while streaming, never to sizes an archive
  claims: archive size, entry count (read from the end record before the
  central directory is parsed), bytes per entry and in total, compression
  ratio per entry and overall, path depth. One level of a lone nested zip is
  opened and counts toward the same totals; other nested archives are left
  closed. Data is decompressed in bounded chunks, so memory stays small.
- Integrity. CRC, sizes and overlapping entries are checked; a bad entry is
  dropped with a problem and the others are kept. Encrypted entries are
  skipped. Each file is written to a temporary name and renamed into place
  only once fully read and checked.
- Never raising. Bad input becomes a Problem with a stable kebab-case code and
  a message that names the file or entry and says how to fix it;
  ``Intake.usable`` is False when nothing could be extracted.
"""

from grader.intake.identity import identify_student
from grader.intake.junk import is_junk
from grader.intake.layout import choose_root
from grader.intake.submission import open_submission, work_dir_name

__all__ = ["choose_root", "identify_student", "is_junk", "open_submission", "work_dir_name"]
