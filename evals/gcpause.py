"""Keep Python's garbage collector out of measured latencies, and report what it still paused.

A full collection stops every thread of a process while it walks the heap. With a run's start-up objects in the
heap (suites, Hydra, boto3's service models), one pass can take tens of milliseconds, and every request in
flight absorbs it as latency (seen as a single +70 ms p99 at 640 requests/s). Freezing the start-up objects
(`gc.freeze`) leaves collections only the objects created since, which the run mostly drops at once.
"""

from __future__ import annotations

import gc
import time
from typing import Any


def freeze_startup_objects() -> None:
    """Collect once, then move every surviving object out of the collector's reach (emulator, workers, runs)."""
    gc.collect()
    gc.freeze()


class GcPauses:
    """`with GcPauses() as pauses:` freezes start-up objects, then counts and times every collection inside."""

    def __init__(self) -> None:
        self.collections = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self._started: float | None = None

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self._started = None
            self.collections += 1
            self.total_s += pause
            self.max_s = max(self.max_s, pause)

    def __enter__(self) -> GcPauses:
        freeze_startup_objects()
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        gc.unfreeze()

    def summary(self) -> dict[str, float | int]:
        return {"collections": self.collections, "total_pause_ms": round(self.total_s * 1000, 3),
                "max_pause_ms": round(self.max_s * 1000, 3)}
