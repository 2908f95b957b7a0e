"""Run history: an SQLite index of runs and their per-cell summaries, so trends need no re-reading of records.

`bedrock-evals history [--db FILE] list | trend METRIC [--cell S/R/A/T] [--last N] | index RUN_DIR...`

The run command calls `index_run(run_dir)` at the end of a run; the report may call `trend(metric, db=...)`
to draw its headline metrics over time. The index lives beside the runs (`<out_dir>/history.sqlite`, so
`reports/history.sqlite` by default); it is derived data and can be rebuilt with `history index`.
Summaries use the same metric definitions as compare and gate (`evals.results.metrics`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.errors import UserInputError
from evals.results.arms import model_of
from evals.results.metrics import METRICS, summarise, values_of
from evals.results.rundata import group_by_cell, load_run

DB_NAME = "history.sqlite"
DEFAULT_DB = Path("reports") / DB_NAME
HISTORY_METRICS = ("accuracy", "latency_p50", "latency_p90", "ttft_p50", "error_rate", "throttle_rate",
                   "tokens_per_s", "cost_per_request")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, path TEXT NOT NULL, started_at TEXT, finished_at TEXT, status TEXT,
  model_id TEXT, target TEXT, emulated INTEGER, git_sha TEXT, indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  suite TEXT NOT NULL, region TEXT NOT NULL, api TEXT NOT NULL, tier TEXT NOT NULL,
  n INTEGER NOT NULL, ok INTEGER NOT NULL, {", ".join(f"{m} REAL" for m in HISTORY_METRICS)},
  PRIMARY KEY (run_id, suite, region, api, tier)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
"""
def default_db(run_dir: Path) -> Path:
    """The index beside a run directory: `<out_dir>/history.sqlite`."""
    return Path(run_dir).resolve().parent / DB_NAME


@contextlib.contextmanager
def _connect(db: Path, create: bool) -> Iterator[sqlite3.Connection]:
    if not create and not db.is_file():
        raise UserInputError(f"{db}: no history index (build one with: bedrock-evals history index RUN_DIR...)")
    if create:
        db.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(db, timeout=30)  # multirun jobs may index at the same time
    except sqlite3.Error as err:
        raise UserInputError(f"{db}: cannot open history index: {err}") from None
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        if create:
            conn.executescript(SCHEMA)
        yield conn
        conn.commit()
    except sqlite3.DatabaseError as err:
        raise UserInputError(f"{db}: not a usable history index: {err}") from None
    finally:
        conn.close()


def _nan_to_none(v: float) -> float | None:
    return None if v != v else v  # NaN: no value (e.g. no scored requests)


def index_run(run_dir: Path, db: Path | None = None) -> Path:
    """Add (or refresh) one run and its per-cell summaries in the index; returns the index path."""
    run = load_run(run_dir)
    db = Path(db) if db is not None else default_db(run.path)
    info = run.info
    target: dict[str, Any] = info["target"] if isinstance(info.get("target"), dict) else {}
    provenance: dict[str, Any] = info["provenance"] if isinstance(info.get("provenance"), dict) else {}
    rows = []
    for cell, table in group_by_cell(run.table).items():
        values = [_nan_to_none(summarise(METRICS[m], values_of(METRICS[m], table))) for m in HISTORY_METRICS]
        rows.append((run.run_id, *cell, len(table), int(table.ok.sum()), *values))
    with _connect(db, create=True) as conn:
        conn.execute("DELETE FROM runs WHERE run_id = ?", (run.run_id,))
        conn.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.run_id, str(run.path.resolve()), info.get("started_at"), info.get("finished_at"), info.get("status"),
             model_of(run), target.get("kind"), int(run.is_emulated), provenance.get("git_sha"),
             datetime.now(UTC).isoformat(timespec="seconds")),
        )
        marks = ", ".join("?" * (7 + len(HISTORY_METRICS)))
        conn.executemany(f"INSERT INTO cells VALUES ({marks})", rows)
    return db


@dataclass(frozen=True)
class TrendPoint:
    """One run's value of a metric in one cell."""

    run_id: str
    started_at: str | None
    suite: str
    region: str
    api: str
    tier: str
    value: float | None
    n: int

    @property
    def cell(self) -> str:
        return f"{self.suite} / {self.region} / {self.api} / {self.tier}"


def trend(metric: str, db: Path | None = None, *, suite: str | None = None, region: str | None = None,
          api: str | None = None, tier: str | None = None, model_id: str | None = None,
          last: int | None = None) -> list[TrendPoint]:
    """A metric's value per run and cell, oldest first; filters narrow the cells (None: any).

    `metric` is one of HISTORY_METRICS; `last` keeps the newest N runs. Raises UserInputError when the
    index does not exist, so a caller that only wants a trend "when history exists" checks `db.is_file()`.
    """
    if metric not in HISTORY_METRICS:
        raise UserInputError(f"metric: must be one of {', '.join(HISTORY_METRICS)}, got {metric!r}")
    db = Path(db) if db is not None else DEFAULT_DB
    where: list[str] = []
    params: list[object] = []
    for column, value in (("c.suite", suite), ("c.region", region), ("c.api", api), ("c.tier", tier),
                          ("r.model_id", model_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    runs_clause = ""
    if last is not None:
        runs_clause = " AND r.run_id IN (SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?)"
    sql = (f"SELECT r.run_id, r.started_at, c.suite, c.region, c.api, c.tier, c.{metric}, c.n "
           f"FROM cells c JOIN runs r USING (run_id) WHERE {' AND '.join(where) or '1'}{runs_clause} "
           "ORDER BY r.started_at, r.run_id, c.suite, c.region, c.api, c.tier")
    if last is not None:
        params.append(last)
    with _connect(db, create=False) as conn:
        return [TrendPoint(*row) for row in conn.execute(sql, params)]


def list_runs(db: Path | None = None) -> list[dict[str, object]]:
    """Indexed runs, newest first, with their cell and request counts."""
    db = Path(db) if db is not None else DEFAULT_DB
    sql = ("SELECT r.run_id, r.started_at, r.status, r.model_id, r.target, COUNT(c.suite), COALESCE(SUM(c.n), 0) "
           "FROM runs r LEFT JOIN cells c USING (run_id) GROUP BY r.run_id ORDER BY r.started_at DESC, r.run_id DESC")
    keys = ("run_id", "started_at", "status", "model_id", "target", "cells", "requests")
    with _connect(db, create=False) as conn:
        return [dict(zip(keys, row, strict=True)) for row in conn.execute(sql)]
