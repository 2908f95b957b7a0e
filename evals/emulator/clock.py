"""Waiting to an absolute deadline with sub-millisecond precision, and the HTTP `Date` value."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

# A sleeping thread wakes 0.1-0.3 ms late on an idle (virtual) CPU; the last stretch before a deadline is
# spent yielding instead, by at most a few threads at once so a busy emulator does not burn its cores.
SPIN_S = 0.0005
MAX_SPINNERS = 2
_spinners = threading.BoundedSemaphore(MAX_SPINNERS)


def sleep_until(deadline: float) -> None:
    """Wait to an absolute perf_counter deadline (no drift across many small waits)."""
    while (left := deadline - time.perf_counter()) > SPIN_S:
        time.sleep(left - SPIN_S)
    if left <= 0:
        return
    if not _spinners.acquire(blocking=False):
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(left)
        return
    try:
        while time.perf_counter() < deadline:
            time.sleep(0)  # releases the interpreter lock: other answers still go out
    finally:
        _spinners.release()


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """RFC 9110 IMF-fixdate of now, formatted once per second (SDKs correct their clock skew with it)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
