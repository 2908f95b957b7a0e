"""User-facing error type: one line naming the file or key, exit code 2, nothing half-written."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad configuration, suite or run directory. The CLI prints `str(err)` on one line and exits 2."""

    exit_code = 2
