"""The end of a run: its final status and counts in run.json, the terminal summary, the history index and the
report. The final status is written before anything that may fail or be cut short by a Ctrl-C.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from evals.commands.interrupts import Interrupts
from evals.render.terminal import print_summary, send_lag_p99
from evals.results.outcome import Outcome, assess, final_status
from evals.results.reader import read_table
from evals.results.rundir import RunDirectory, utc_now
from evals.results.table import RecordTable
from evals.run.runner import Runner
from evals.storage import Ballast, RecordWriter, describe

# run.json status for each reason the runner stopped early (no reason: completed)
STATUS_BY_STOP_REASON = {"interrupted": "interrupted", "budget": "budget-stopped", "fatal": "failed",
                         "storage": "failed", "precision": "completed"}


@dataclass(frozen=True)
class Finish:
    """What the end of a run needs from its plan."""

    planned: int
    open_loop: bool  # any open-loop group: send lag is reported
    judge: dict[str, Any] | None  # the judge model's tally, when a suite scored with it


def finish_run(cfg: DictConfig, run_dir: RunDirectory, run_info: dict[str, Any], runner: Runner,
               writer: RecordWriter, interrupts: Interrupts, finish: Finish) -> tuple[str, Outcome]:
    """Final run.json (status, counts, flags), the terminal summary and the report."""
    table = read_table(run_dir.records_file, str(run_info.get("run_id") or run_dir.path.name))
    outcome = assess(table, cfg.run.max_error_rate)
    status = final_status(STATUS_BY_STOP_REASON.get(runner.tally.stop_reason or "", "completed"), outcome)
    if writer.failure is not None:
        status = "failed"
    lag_p99 = send_lag_p99(table) if finish.open_loop else None
    run_info.update({
        "status": status,
        "finished_at": utc_now(),
        "stop_detail": runner.budget.exhausted_reason if status == "budget-stopped"
        else writer.failure or runner.tally.stop_detail or (outcome.headline() or None),
        "counts": {"planned": finish.planned, "records": len(table),
                   "ok": int(table.ok.sum()),
                   "errors": int(table.label("status").eq("error").sum()),
                   "throttled": int((np.nan_to_num(table.num("throttles")) != 0).sum()),
                   "abandoned_in_flight": runner.tally.abandoned + writer.late,
                   "unrecorded_storage_failed": writer.unwritten},
        "quota_waits": runner.tally.quota_summary(),
        "budget": {"tokens_used": runner.budget.state.tokens_used,
                   "cost_usd": round(runner.budget.state.cost_used, 6)},
        "flags": {"send_lag_p99_ms": lag_p99,
                  "client_bound": bool(lag_p99 is not None and lag_p99 > cfg.run.client_bound_lag_ms)},
        "outcome": outcome.to_json(),
    })
    if finish.judge is not None:
        run_info["judge"] = finish.judge
    _publish(cfg, run_dir, run_info, table, interrupts)
    return status, outcome


def _publish(cfg: DictConfig, run_dir: RunDirectory, run_info: dict[str, Any], table: RecordTable,
             interrupts: Interrupts) -> None:
    """Write the final run.json, print the summary, index and render; failing storage is one line each."""
    Ballast(run_dir.path).release()  # the space held since the start: the final status always fits
    try:
        run_dir.write_run(run_info)
    except OSError as err:
        run_info["status"] = "failed"
        print(f"error: {run_dir.run_file}: cannot write the final status: {describe(err)}; the run resumes "
              "cleanly once the storage is writable", file=sys.stderr)
    print_summary(table, run_info)
    if run_info.get("counts", {}).get("unrecorded_storage_failed"):
        print(f"error: {run_info['stop_detail']}; sending stopped and "
              f"{run_info['counts']['unrecorded_storage_failed']} finished requests could not be recorded "
              "(a resume sends them again)", file=sys.stderr)
    # Imported before a Ctrl-C may interrupt: a KeyboardInterrupt that lands while these modules (matplotlib,
    # pyarrow, scipy) load, though caught below, left CPython resetting SIGINT and killing itself with it at exit
    # (a Ctrl-C storm then ended -2, not 130, about one run in ten).
    steps: list[Callable[[], object]] = []
    if cfg.run.history:  # before the report, so the report can show this run in its trend
        from evals.results.history import index_run

        steps.append(lambda: index_run(run_dir.path))
    if cfg.run.report:
        from evals.render.report import render_run

        steps.append(lambda: render_run([run_dir.path]))
    try:
        with interrupts.interruptible():  # the final status is written: a Ctrl-C may cut the rest short
            for step in steps:
                step()
    except (OSError, sqlite3.Error, KeyboardInterrupt) as err:
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
        print(f"warning: the report or history index was not written ({why}); "
              f"`bedrock-evals report {run_dir.path}` renders it later", file=sys.stderr)
        return  # cut short (perhaps mid-import): the headline is in the report once it is rendered
    if (run_info.get("outcome") or {}).get("verdict", "ok") == "ok":  # a failed run shows its FAILED line
        _print_headline(run_dir, table, bool(cfg.run.report))


def _print_headline(run_dir: RunDirectory, table: RecordTable, reported: bool) -> None:
    """The headline the report just computed (summary.json), or computed here when no report was written."""
    from evals.render.terminal import print_headline

    summary_file = run_dir.path / "summary.json"
    if reported and summary_file.is_file():
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        print_headline(summary.get("ranking") or [], summary.get("sweep"))
        return
    from evals.render.report.headline import ranking

    print_headline(ranking(table), None)
