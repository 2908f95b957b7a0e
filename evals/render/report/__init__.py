"""The statistical HTML report: `report.html`, `summary.json` and the records exports of one or more runs.

`render_run` reads run directories (never sends anything), computes every figure once, and writes all
outputs into a temporary directory first, moving them into place only when all of them were written:
a failure leaves the previous report (or nothing) behind, never half a report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from evals.errors import UserInputError
from evals.results.merge import check_mergeable
from evals.results.rundata import RunData
from evals.results.rundir import RUN_FILE
from evals.untrusted import for_terminal

from .export import FORMATS, pyarrow_missing, write_exports
from .formulas import METHODS, TIMING, statistics_doc
from .plots import all_plots
from .render import render_html
from .source import load, one_table
from .summary import build_summary
from .trend import history_trend
from .viewer import viewer_data

__all__ = ["FORMATS", "default_out_dir", "render_run"]

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


def default_out_dir(runs: Sequence[RunData]) -> Path:
    """One run: its own directory; the jobs of one sweep: the sweep folder. Several others:
    `merged-<n>runs-<hash of the run ids>` beside the first run.

    The hash is of the sorted run ids, so re-rendering the same set of runs replaces the same merged report.
    """
    if len(runs) == 1:
        return runs[0].path
    parent = runs[0].path.parent
    if (parent / "sweep.json").is_file() and {r.path for r in runs} == {
            p for p in parent.iterdir() if (p / RUN_FILE).is_file()}:
        return parent  # every job of one sweep: its report goes in the sweep folder
    digest = hashlib.sha256("\n".join(sorted(r.run_id for r in runs)).encode()).hexdigest()[:10]
    return runs[0].path.parent / f"merged-{len(runs)}runs-{digest}"


def _title(runs: Sequence[RunData]) -> str:
    if len(runs) == 1:
        return runs[0].run_id
    return f"{len(runs)} runs merged ({runs[0].run_id} … {runs[-1].run_id})"


def render_run(
    run_dirs: Sequence[Path], out_dir: Path | None = None, formats: Sequence[str] = FORMATS, allow_mixed: bool = False
) -> Path:
    """Render report.html, summary.json and records.<fmt> for the given run directories; returns report.html.

    Several run directories (e.g. the jobs of a multirun) are merged into one report; runs of different models,
    suites or targets only with `allow_mixed` (then with a warning on stderr). Raises `UserInputError` for a
    missing or invalid run directory before anything is written.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise UserInputError(f"format: unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UserInputError(f"{out_dir}: output path exists and is not a directory")
    runs, full = one_table(load(run_dirs))
    for warning in check_mergeable(runs, allow_mixed):
        print(f"warning: {for_terminal(warning)}", file=sys.stderr)
    target = Path(out_dir) if out_dir is not None else default_out_dir(runs)
    summary, extras = build_summary(runs, full)
    summary["trend"] = history_trend(runs, extras["measured"])
    viewer = viewer_data(runs, extras["measured"])
    plots = all_plots(runs, extras["cells_map"], summary, extras["measured"], full)
    export_note = pyarrow_missing() if formats else None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=target.parent))
    try:
        exports = {} if export_note or not formats else write_exports(
            [run.path for run in runs], staging, formats)
        html = render_html({
            "title": _title(runs),
            "s": summary,
            "h": summary["headline"],
            "plots": plots,
            "viewer": viewer,
            "viewer_json": json.dumps(viewer, ensure_ascii=False, allow_nan=False),
            "timing": TIMING,
            "methods": METHODS,
            "statistics_doc": statistics_doc(),
            "exports": {fmt: path.name for fmt, path in exports.items()},
            "export_note": export_note,
        })
        (staging / REPORT_FILE).write_text(html, encoding="utf-8")
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(staging.iterdir(), key=lambda p: p.name == REPORT_FILE):  # report.html moves last
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / REPORT_FILE
