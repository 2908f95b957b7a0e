"""`bedrock-evals compare`: baseline vs candidate, cell by cell and metric by metric (compare.html + compare.json).

Arms are run directories (`compare BASE CAND`, `compare BASE... -- CAND...`) or two values of one cell
dimension inside the same runs (`compare RUN... --by region --base us-east-1 --cand us-west-2`), paired by
item when both arms ran the same prompts. Each metric shows both estimates, the ratio or difference with its
interval and the verdict of the shared engine (`evals.results.verdicts.judge`) against the rules file's margin:
the same verdict the report and the gate give on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.commands.args import SPLIT, protect_split, split_dirs
from evals.errors import UserInputError
from evals.render.compare_answers import side_by_side
from evals.results.arms import ANY, Arm, Matched, check_comparable, load_arm, match_runs, match_within, model_of
from evals.results.findings import counts, finding_json
from evals.results.metrics import METRICS, Metric
from evals.results.rules import load_rules, questions
from evals.results.verdicts import Decided, judge

SCHEMA_VERSION = 2  # 2: verdicts of the shared engine (margin decision, Holm per metric)


def _arm_json(arm: Arm) -> dict[str, Any]:
    return {"label": arm.label, "runs": [
        {"run_id": r.run_id, "path": str(r.path), "model": model_of(r), "status": r.info.get("status"),
         "emulated": r.is_emulated, "started_at": r.info.get("started_at")} for r in arm.runs]}


def build_json(base: Arm, cand: Arm, matched: Matched, decided: list[Decided], warnings: list[str],
               alpha: float, by: dict[str, str] | None) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for cell in matched.cells:
        metrics = [finding_json(d) for d in decided if d.cell == cell]
        cells.append({"cell": cell._asdict(), "label": cell.label(), "metrics": metrics})
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alpha": alpha,
        "confidence": 1 - alpha,
        "interval_confidence": 1 - 2 * alpha,  # shown intervals: the one-sided (1 - alpha) bounds the verdicts use
        "adjustment": "holm across the cells of each metric (one-sided: worse than the margin)",
        "by": by,
        "base": _arm_json(base),
        "cand": _arm_json(cand),
        "warnings": warnings,
        "summary": counts(decided),
        "cells": cells,
        "answers": side_by_side(matched.cells, [*base.runs, *cand.runs]),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "x"


def default_out(base: Arm, cand: Arm, by: dict[str, str] | None) -> Path:
    parent = Path(cand.paths[0]).resolve().parent
    if by:
        return parent / f"compare-{_slug(cand.run_ids[0])}-{_slug(by['base'])}-vs-{_slug(by['cand'])}"
    return parent / f"compare-{_slug(base.run_ids[0])}-vs-{_slug(cand.run_ids[0])}"


def _write_atomic(path: Path, text: str) -> None:
    """Text (HTML or already-serialised strict JSON) via a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_out(out: Path) -> None:
    """Fail before any work when the output directory cannot be one (a file is in the way)."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out}: output path exists and is not a directory")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bedrock-evals compare",
        description="Compare a baseline with a candidate: compare.html and compare.json.",
        epilog="Forms: compare BASE_DIR CAND_DIR | compare BASE_DIR... -- CAND_DIR... | "
               "compare RUN_DIR... --by region --base us-east-1 --cand us-west-2")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: beside the candidate run)")
    p.add_argument("--by", choices=("region", "api", "tier"), default=None,
                   help="compare two values of this dimension inside the same runs")
    p.add_argument("--base", default=None, help="with --by: the baseline value (e.g. us-east-1)")
    p.add_argument("--cand", default=None, help="with --by: the candidate value (e.g. us-west-2)")
    p.add_argument("--rules", type=Path, default=None,
                   help="rules file: each metric's margin and alpha (default conf/gate/default.yaml)")
    p.add_argument("--alpha", type=float, default=None, help="error level of every verdict (default: the rules')")
    p.add_argument("--metrics", default=None, help=f"comma-separated subset of: {', '.join(METRICS)}")
    return p


def _metrics(spec: str | None) -> list[Metric]:
    if spec is None:
        return list(METRICS.values())
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        if name not in METRICS:
            raise UserInputError(f"--metrics: unknown metric {name!r} (known: {', '.join(METRICS)})")
    return [METRICS[n] for n in names]


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_intermixed_args(protect_split(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    if args.alpha is not None and not 0 < args.alpha <= 0.5:
        raise UserInputError(f"--alpha: must be in (0, 0.5], got {args.alpha}")
    metrics = _metrics(args.metrics)
    if args.out is not None:
        _check_out(args.out)
    rules = load_rules(args.rules)
    specs = questions(rules, metrics)
    if args.alpha is not None:
        specs = [replace(spec, alpha=args.alpha) for spec in specs]
    alpha = args.alpha if args.alpha is not None else rules.alpha
    by: dict[str, str] | None = None
    if args.by is not None:
        if args.base is None or args.cand is None:
            raise UserInputError("--by: needs --base VALUE and --cand VALUE")
        runs = load_arm([d for d in args.dirs if d != SPLIT], "runs")
        matched = match_within(runs, args.by, args.base, args.cand)
        base = Arm(f"{args.by}={args.base}", runs.runs, runs.table)
        cand = Arm(f"{args.by}={args.cand}", runs.runs, runs.table)
        by = {"dimension": args.by, "base": args.base, "cand": args.cand}
        warnings = check_comparable(base, cand, matched, strict=False)
    else:
        if args.base is not None or args.cand is not None:
            raise UserInputError("--base/--cand: name values of --by; give directories as BASE... -- CAND...")
        base_dirs, cand_dirs = split_dirs(args.dirs)
        base, cand = load_arm(base_dirs, "baseline"), load_arm(cand_dirs, "candidate")
        matched = match_runs(base, cand)
        warnings = check_comparable(base, cand, matched, strict=False)
    decided, _ = judge(specs, matched.cells, min_runs=rules.min_runs, batches=rules.batches)
    data = build_json(base, cand, matched, decided, warnings, alpha, by)

    from evals.render.compare_html import render_html

    html = render_html(data)
    out = args.out or default_out(base, cand, by)
    _check_out(out)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / "compare.json", text)
        _write_atomic(out / "compare.html", html)
    except OSError as err:
        raise UserInputError(f"{out}: cannot write: {err.strerror or err}") from None
    tally = data["summary"]
    print(f"{tally['worse']} worse, {tally['better']} better, {tally['within the margin']} within the margin, "
          f"{tally['inconclusive']} inconclusive over {len(matched.cells)} cells "
          f"({'cells matched on the other dimensions, ' + ANY + ' = ' + by['dimension'] if by else 'runs'})")
    print(out)
    return 0
