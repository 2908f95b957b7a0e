"""Stop a run once every cell's accuracy is known precisely enough, with an anytime-valid interval.

Re-checking a fixed-n interval after every request until it looks narrow misses the truth about half the time;
a confidence sequence (evals.stats.empirical_bernstein_cs) stays valid however often it is looked at.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from evals.results.rundata import CellKey, cell_key
from evals.stats import empirical_bernstein_cs

CHECK_EVERY = 20  # records between checks: the sequence is valid at any n, so sparse checks only delay the stop
MIN_SCORED = 30  # per cell, so a lucky start never ends a run


class PrecisionStop:
    """Collects primary scores per cell; `observe` says when every cell's half-width is at most `half_width`."""

    def __init__(self, half_width: float, cells: Iterable[CellKey], confidence: float = 0.95) -> None:
        self.half_width = half_width
        self.confidence = confidence
        self.scores: dict[CellKey, list[float]] = defaultdict(list)
        self.cells = set(cells)
        self._seen = 0
        self._lock = threading.Lock()

    def widths(self) -> dict[CellKey, float]:
        """Current anytime-valid half-width per cell (inf before any score)."""
        out = {}
        for cell in self.cells:
            values = self.scores.get(cell, [])
            if not values:
                out[cell] = float("inf")
                continue
            cs = empirical_bernstein_cs(values, self.confidence)
            out[cell] = float(cs.high[-1] - cs.low[-1]) / 2
        return out

    def observe(self, record: Mapping[str, Any]) -> str | None:
        """Add one record; a reason string once every cell is precise enough, else None."""
        if record.get("warmup") or record.get("score") is None:
            return None
        with self._lock:
            self.scores[cell_key(dict(record))].append(float(record["score"]))
            self._seen += 1
            if self._seen % CHECK_EVERY:
                return None
            if any(len(self.scores.get(cell, ())) < MIN_SCORED for cell in self.cells):
                return None
            widths = self.widths()
        if max(widths.values()) <= self.half_width:
            return (f"every cell's score is known within ±{self.half_width:g} (anytime-valid "
                    f"{self.confidence:.0%} confidence sequence; widest ±{max(widths.values()):.3f})")
        return None
