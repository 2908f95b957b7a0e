"""How far the regression gate can be trusted: its A/A false-failure rate and its power, on the emulator.

Each round runs four real `bedrock-evals run` jobs (interleaved, so slow drift of the machine hits every arm
alike) and gates three pairs with the default rules:

- A/A: baseline vs the same configuration with other seeds       -> share of FAILs (want <= 5 %)
- latency: baseline vs a candidate with `target.latency_scale` x 1.2  -> share caught (want >= 80 %)
- accuracy: baseline vs a candidate with oracle accuracy 10 points lower -> share caught (want >= 80 %)

By default every run uses fresh seeds (`run.seed`, hence the emulator's seed): latency jitter and the
oracle's wrong answers are independent between arms, the hardest case for the accuracy rule. With
`--answers fixed` the arms of one round share the emulator seed, so they give the same answers as a model at
temperature 0 would (paired McNemar exploits that), while `run.seed` still reorders the plan and so redraws
the latency jitter. `--runs-per-arm 3` gates three interleaved runs per arm at the run level.
Results and the commands are in docs/gate.md.

    .venv/bin/python bench/bench_gate.py --rounds 60 --items 600
    .venv/bin/python bench/bench_gate.py --rounds 60 --items 600 --answers fixed
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from evals.commands.gate import exit_code, load_rules, overall, run_gate
from evals.stats import Verdict, wilson_interval

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "bedrock-evals"


def base_overrides(items: int, latency_scale: float, accuracy: float, out: Path) -> list[str]:
    """One cell (us-east-1, Converse), a generated reasoning suite, realistic latency scaled down."""
    return [
        "suite=reasoning", f"suite.generator.n={items}", f"suite.sample_size={items}",
        "regions=[us-east-1]", "apis=[converse]",
        "target.engine=oracle", f"target.oracle_accuracy={accuracy}",
        "target.latency_profile=realistic", f"target.latency_scale={latency_scale}",
        "target.quota_scale=10", "transport.client_rate_limit=false", "load.concurrency=16",
        "run.report=false", "run.progress=false", f"run.out_dir={out}",
    ]


def run(overrides: list[str]) -> Path:
    """One real run through the CLI; the last line printed is the run directory."""
    proc = subprocess.run([str(CLI), "run", *overrides], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def gate(base: list[Path], cand: list[Path], rules_path: Path | None) -> tuple[int, list[str], list[str]]:
    """Exit code under the rules' own policy and the names of the failed and of the inconclusive rules."""
    rules = load_rules(rules_path)
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, checks, _, _ = run_gate([str(b) for b in base], [str(c) for c in cand], rules)
    failed = sorted({c.rule.name for c in checks if c.verdict is Verdict.FAIL})
    unsure = sorted({c.rule.name for c in checks if c.verdict is Verdict.INCONCLUSIVE})
    return exit_code(overall(checks), rules.inconclusive), failed, unsure


def rate(k: int, n: int) -> str:
    iv = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.1%} (95 % Wilson {iv.low:.1%}-{iv.high:.1%})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=50, help="baselines; each is gated against 3 candidates")
    p.add_argument("--items", type=int, default=600, help="suite items per run (one cell)")
    p.add_argument("--runs-per-arm", type=int, default=1,
                   help="runs per arm (interleaved); with 3 or more, latency is compared at the run level")
    p.add_argument("--answers", choices=("independent", "fixed"), default="independent",
                   help="independent: every run draws its own wrong answers (temperature > 0, the hardest case); "
                        "fixed: one emulator seed per round, so arms answer alike, as a model at temperature 0")
    p.add_argument("--latency-scale", type=float, default=0.1, help="emulator latency scale of the baseline")
    p.add_argument("--accuracy", type=float, default=0.8, help="oracle accuracy of the baseline")
    p.add_argument("--rules", type=Path, default=None, help="rules file (default conf/gate/default.yaml)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the run directories")
    args = p.parse_args()

    out = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    arms = {
        "aa": ("A/A (same configuration, other seeds)", {}),
        "latency": ("latency x 1.2", {"target.latency_scale": args.latency_scale * 1.2}),
        "accuracy": ("accuracy -10 points", {"target.oracle_accuracy": round(args.accuracy - 0.10, 4)}),
    }
    codes: dict[str, Counter[int]] = {k: Counter() for k in arms}
    failed_rules: dict[str, Counter[str]] = {k: Counter() for k in arms}
    unsure_rules: dict[str, Counter[str]] = {k: Counter() for k in arms}
    started = time.monotonic()
    try:
        per_arm = args.runs_per_arm
        for i in range(args.rounds):
            common = base_overrides(args.items, args.latency_scale, args.accuracy, out)
            if args.answers == "fixed":  # latency jitter still differs: run.seed reorders the plan
                common.append(f"target.seed={900_000 + i}")
            base: list[Path] = []
            cands: dict[str, list[Path]] = {key: [] for key in arms}
            for r in range(per_arm):  # interleaved: base, then each candidate, k times
                seed = 100 * (i * per_arm + r)
                base.append(run([*common, f"run.seed={seed}", f"run.name=base-{i}-{r}"]))
                for j, (key, (_, changes)) in enumerate(arms.items(), 1):
                    over = [*common, *(f"{name}={value}" for name, value in changes.items())]
                    cands[key].append(run([*over, f"run.seed={seed + j}", f"run.name={key}-{i}-{r}"]))
            for key in arms:
                code, failed, unsure = gate(base, cands[key], args.rules)
                codes[key][code] += 1
                failed_rules[key].update(failed)
                unsure_rules[key].update(unsure)
            done = i + 1
            print(f"round {done}/{args.rounds}: " + ", ".join(
                f"{k} fail {codes[k][1]}/{done}" for k in arms) + f" ({time.monotonic() - started:.0f} s)",
                file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)

    n = args.rounds
    elapsed = time.monotonic() - started
    print(f"bench_gate: {n} rounds, {args.runs_per_arm} run(s) per arm, {args.items} items per run, "
          f"one cell (us-east-1 / converse), {args.answers} answers, "
          f"oracle accuracy {args.accuracy}, latency scale {args.latency_scale}, rules "
          f"{args.rules or 'conf/gate/default.yaml'}; {elapsed:.0f} s")
    for key, (label, _) in arms.items():
        c = codes[key]
        print(f"  {label}: exit 1 (FAIL) {rate(c[1], n)}; exit 0 (PASS) {c[0]}/{n}; exit 3 (INCONCLUSIVE) {c[3]}/{n}")
        print(f"    failed rules: {dict(failed_rules[key]) or '-'}; "
              f"inconclusive rules: {dict(unsure_rules[key]) or '-'}")
    if args.json:
        args.json.write_text(json.dumps({
            "rounds": n, "runs_per_arm": args.runs_per_arm, "items": args.items, "answers": args.answers,
            "latency_scale": args.latency_scale, "accuracy": args.accuracy,
            "seconds": round(elapsed), "exit_codes": {k: dict(v) for k, v in codes.items()},
            "failed_rules": {k: dict(v) for k, v in failed_rules.items()},
            "inconclusive_rules": {k: dict(v) for k, v in unsure_rules.items()},
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
