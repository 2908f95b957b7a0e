"""`bedrock-evals history`: list indexed runs, a metric's trend per cell, or index run directories."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.errors import UserInputError
from evals.results.history import DEFAULT_DB, HISTORY_METRICS, index_run, list_runs, trend
from evals.untrusted import for_terminal


def _clean(value: object) -> str:
    """Terminal-safe text: run ids and cell names come from files anyone could have written."""
    return for_terminal("-" if value is None else value)


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in ("accuracy", "error_rate", "throttle_rate"):
        return f"{value * 100:.1f} %"
    if metric == "cost_per_request":
        return f"${value:.6f}"
    return f"{value:.1f}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bedrock-evals history", description="Index of runs and metric trends.")
    p.add_argument("--db", type=Path, default=None,
                   help=f"index file (default: {DEFAULT_DB}; `index` writes beside each run directory)")
    sub = p.add_subparsers(dest="action")
    sub.add_parser("list", help="indexed runs, newest first")
    t = sub.add_parser("trend", help="a metric per run and cell, oldest first")
    t.add_argument("metric", choices=HISTORY_METRICS)
    t.add_argument("--cell", default=None, help="SUITE/REGION/API/TIER; '*' or an empty part matches any")
    t.add_argument("--last", type=int, default=None, help="only the newest N runs")
    i = sub.add_parser("index", help="add run directories to the index")
    i.add_argument("run_dirs", nargs="+", type=Path)
    return p


def _cell_filter(spec: str | None) -> dict[str, str | None]:
    keys = ("suite", "region", "api", "tier")
    if spec is None:
        return dict.fromkeys(keys)
    parts = spec.split("/")
    if len(parts) > 4:
        raise UserInputError(f"--cell: expected SUITE/REGION/API/TIER, got {spec!r}")
    parts += ["*"] * (4 - len(parts))
    return {k: (None if v in ("", "*") else v) for k, v in zip(keys, parts, strict=True)}


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    action = args.action or "list"
    if action == "index":
        for run_dir in args.run_dirs:
            db = index_run(run_dir, args.db)
            print(f"indexed {_clean(run_dir)} in {db}", file=sys.stderr)
        return 0
    if action == "trend":
        if args.last is not None and args.last < 1:
            raise UserInputError(f"--last: must be >= 1, got {args.last}")
        points = trend(args.metric, args.db, last=args.last, **_cell_filter(args.cell))
        _print_table(["started", "run", "cell", args.metric, "n"],
                     [[_clean(p.started_at), _clean(p.run_id), _clean(p.cell), _fmt(args.metric, p.value), str(p.n)]
                      for p in points])
        return 0
    runs = list_runs(args.db)
    _print_table(["started", "run", "status", "model", "target", "cells", "requests"],
                 [[_clean(r["started_at"]), _clean(r["run_id"]), _clean(r["status"]), _clean(r["model_id"]),
                   _clean(r["target"]), str(r["cells"]), str(r["requests"])] for r in runs])
    return 0
