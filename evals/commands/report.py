"""`bedrock-evals report RUN_DIR... [--out DIR] [--format csv,parquet]`: re-render from records, send nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from evals.errors import UserInputError
from evals.render.report import FORMATS, render_run


def _formats(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise UserInputError(f"--format: unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)} or none")
    return chosen


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bedrock-evals report",
        description="Re-render report.html, summary.json and records exports from run directories. Several run "
                    "directories (e.g. the jobs of a multirun) are merged into one report.",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="a run directory, or a directory holding run directories (e.g. a multirun's out_dir)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: the run directory; for several runs, "
                        "merged-<n>runs-<hash> beside the first one)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge runs of different models, suites or targets (refused without it)")
    p.add_argument("--format", default=",".join(FORMATS),
                   help="records exports, comma-separated: csv, parquet, or none (default: csv,parquet)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    report = render_run(args.run_dirs, args.out, _formats(args.format), allow_mixed=args.allow_mixed)
    print(report)
    return 0
