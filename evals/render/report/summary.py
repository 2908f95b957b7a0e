"""Assemble everything a report shows from loaded runs: one dict, the single source for HTML and summary.json."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from evals import __version__
from evals.results.rundata import RunData, merged_table
from evals.results.table import RecordTable

from .cells import cell_figures, level_figures
from .comparisons import all_comparisons, configured_order
from .headline import ranking
from .provenance import headline, run_facts
from .samples import errors_by_code
from .sweep import sweep_curve
from .tables import LEVEL_FLOATS, LEVEL_LABELS, CellTables, narrow

SUMMARY_SCHEMA_VERSION = 2  # 2: comparisons name a fixed "reference" level (was "best")


def build_summary(runs: Sequence[RunData], full: RecordTable | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (summary, extras): summary is what summary.json holds; extras hands the measured records and
    the cell map (computed once) on to the plots and the sample viewer.
    """
    facts = [run_facts(run) for run in runs]
    # run by run, each tagged with its run id by the reader; `full`: every record of `runs` (`one_table`)
    measured = full.measured() if full is not None else merged_table(runs)
    cells = CellTables.of(measured)
    total = sum(len(run.table) for run in runs)
    n_ok = int(measured.ok.sum())
    sweep = sweep_curve(runs, narrow(measured, LEVEL_FLOATS, LEVEL_LABELS))
    replicates = sweep is None  # a sweep's runs ran different loads: not repeats of one another
    cell_rows = [cell_figures(key, table, replicates) for key, table in cells.items()]
    summary = {
        "schema": SUMMARY_SCHEMA_VERSION,
        "generated_by": f"bedrock-evals {__version__}",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "headline": headline(facts, [len(row["runs"]) if replicates else 1 for row in cell_rows]),
        "runs": facts,
        "totals": {
            "records": total,
            "measured": len(measured),
            "warmup": total - len(measured),
            "ok": n_ok,
            "errors": len(measured) - n_ok,
        },
        "cells": cell_rows,
        "load_levels": [row for key, table in cells.items() for row in level_figures(key, table)],
        "sweep": sweep,
        "ranking": ranking(measured, sweep["of"] if sweep else "level"),
        "comparisons": all_comparisons(cells, configured_order([run.info for run in runs])),
        "errors_by_code": errors_by_code(runs, measured),
    }
    extras = {"cells_map": cells, "measured": measured}
    return summary, extras
