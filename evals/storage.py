"""Writing a run to storage that can fail (disk full, read-only): stop cleanly, never leave a torn file behind.

`RecordWriter` appends whole JSON lines with `os.write` on an O_APPEND descriptor. The first write that fails
(ENOSPC, EROFS, EIO) cuts the file back to its last whole line, marks the writer failed with one line saying why,
and refuses every later record, so the runner stops sending and the file stays a clean prefix that a resume
continues. `Ballast` holds a little space from the start of a run, given back at the end so the final run.json
can still be written when the disk has filled up meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

BALLAST_FILE = ".ballast"
BALLAST_BYTES = 256 * 1024


def describe(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


class RecordWriter:
    """Appends one JSON line per finished request, written through at once; safe to call from many threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._good = os.fstat(self._fd).st_size  # bytes known to end with a whole line
        self._lock = threading.Lock()
        self.count = 0
        self.late = 0  # records of requests still in flight when the run was closed (not written)
        self.failure: str | None = None  # why storage refused a record; once set, nothing more is written
        self.unwritten = 0  # records storage refused (their requests were sent; a resume sends them again)

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record; False when the writer is closed or storage failed (the request stays unrecorded)."""
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self.failure is not None:
                self.unwritten += 1
                return False
            if self._fd is None:
                self.late += 1
                return False
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as err:
                self._fail(err)
                self.unwritten += 1
                return False
            self._good += len(data)
            self.count += 1
            return True

    def _fail(self, err: OSError) -> None:
        """Cut a partly written line (freeing space never needs space) and refuse everything after."""
        self.failure = f"{self.path}: cannot write a record: {describe(err)}"
        if self._fd is not None:
            with contextlib.suppress(OSError):  # else a resume cuts the torn tail instead
                os.ftruncate(self._fd, self._good)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.close(fd)
                except OSError as err:  # a deferred write error (NFS, some FUSE): the records may be short
                    if self.failure is None:
                        self.failure = f"{self.path}: cannot close the records file: {describe(err)}"


class Ballast:
    """Space held in the run directory while the run writes, given back so the final status always fits."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / BALLAST_FILE

    def hold(self, size: int = BALLAST_BYTES) -> None:
        """Raises OSError when the directory cannot hold it: the run should not start on a full disk."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(bytes(size))  # real blocks, not a sparse file, so the space is truly held
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.close(fd)
            self.release()
            raise
        os.close(fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):  # read-only: nothing to give back, and nothing could be written anyway
            self.path.unlink(missing_ok=True)
