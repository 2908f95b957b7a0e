"""Views of the measured records for the report's sections: cells taken on demand (a taken table copies a column
on first use), columns narrowed before tables are concatenated, so a million-record report holds one copy of
its records and small slices at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from evals.results.rundata import CellKey
from evals.results.table import CELL_FIELDS, RecordTable

# what a sweep level's row reads (latency, TTFT, throughput over the steady windows): the levels of runs that
# each ran one load are concatenated
LEVEL_FLOATS = ("latency_ms", "ttft_ms", "t_sent_ms", "t_done_ms", "output_tokens", "session", "throttles",
                "load_level")
LEVEL_LABELS = ("status", "run_id", *CELL_FIELDS)


def narrow(table: RecordTable, floats: Sequence[str], labels: Sequence[str]) -> RecordTable:
    """The same rows with only these columns (no copy): a later `concat` copies only them."""
    return RecordTable({k: table.floats[k] for k in floats}, {k: table.labels[k] for k in labels},
                       table.warmup, table.line)


class CellTables(Mapping[CellKey, RecordTable]):
    """Measured records by cell (suite, region, api, tier), in key order, as `group_by_cell` gives them, but
    each cell's records taken from the table when asked for (one cell's copy at a time, not a second copy of
    every record)."""

    def __init__(self, table: RecordTable, rows: Mapping[CellKey, np.ndarray]) -> None:
        self.table, self.rows = table, rows

    @classmethod
    def of(cls, measured: RecordTable) -> CellTables:
        return cls(measured, {CellKey(*map(str, key)): rows for key, rows in measured.groups(CELL_FIELDS)})

    def __getitem__(self, key: CellKey) -> RecordTable:
        return self.table.take(self.rows[key])

    def __iter__(self) -> Iterator[CellKey]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
