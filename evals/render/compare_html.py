"""Render compare.json into one self-contained compare.html.

Jinja2 with autoescape and StrictUndefined: every label, run id, path and note (all of which can come from
records) is escaped; inline CSS only, and a Content-Security-Policy that forbids loading anything.
"""

from __future__ import annotations

import math
from typing import Any

import jinja2

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>bedrock-evals compare: {{ arm_names(base) }} vs {{ arm_names(cand) }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.4rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.note{color:#57606a;font-size:.85rem}
.worse{background:#ffebe9;font-weight:600}.better{background:#dafbe1;font-weight:600}
.too-few{color:#8c959f}.warn{background:#fff8c5;padding:.3rem .6rem;border-left:4px solid #d4a72c}
.emu{background:#ddf4ff;padding:.3rem .6rem;border-left:4px solid #54aeff}
table.answers{table-layout:fixed;width:100%}table.answers td{vertical-align:top;width:33%}
tr.differs td{background:#fff8f0}
.text{white-space:pre-wrap;word-break:break-word;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;
background:#f6f8fa;padding:.3rem .5rem;margin:.2rem 0;max-height:16rem;overflow:auto}
</style></head><body>
<h1>Comparison: {{ arm_names(base) }} (baseline) vs {{ arm_names(cand) }} (candidate)</h1>
{% if by %}<p>Two values of <b>{{ by.dimension }}</b> inside the same runs; cells are matched on the other
dimensions ({{ by.dimension }} shown as *), and paired by item where both arms ran the same prompts.</p>{% endif %}
<table><tr><th class="l">arm</th><th class="l">runs</th><th class="l">model</th><th class="l">status</th></tr>
{% for arm in (base, cand) %}{% for run in arm.runs %}
<tr><td class="l">{{ arm.label }}</td><td class="l">{{ run.run_id }}</td><td class="l">{{ run.model }}</td>
<td class="l">{{ run.status }}</td></tr>{% endfor %}{% endfor %}</table>
{% if emulated %}<p class="emu">Requests were served by the bedrock-evals emulator, not Amazon Bedrock:
latencies are simulated and answers are not a real model's.</p>{% endif %}
{% for w in warnings %}<p class="warn">warning: {{ w }}</p>{% endfor %}
<p>{{ summary['worse'] }} worse, {{ summary['better'] }} better, {{ summary['within the margin'] }} within the
margin, {{ summary['inconclusive'] }} inconclusive. Intervals are {{ pct(interval_confidence) }} two-sided:
their ends are the one-sided {{ pct(confidence) }} bounds the verdicts use. Each metric is
judged against its margin (the rules file): "worse" when the data show a change worse than the margin (p-values are
{{ adjustment }}, compared with {{ alpha }}), "within the margin" or "better" when the worse-side bound is inside
it, "inconclusive" otherwise. Ratios are candidate / baseline; differences are candidate - baseline.</p>
{% for cell in cells %}
<h2>{{ cell.label }}</h2>
<table><tr><th class="l">metric</th><th>baseline</th><th>candidate</th><th>change</th><th>interval</th>
<th>p (Holm)</th><th>margin</th><th>n</th><th class="l">verdict</th><th class="l">method</th></tr>
{% for m in cell.metrics %}
<tr class="{{ m.verdict_class }}"><td class="l">{{ m.label }}</td><td>{{ m.base_text }}</td><td>{{ m.cand_text }}</td>
<td>{{ m.change_text }}</td><td>{{ m.interval_text }}</td><td>{{ m.p_text }}</td><td>{{ m.mde_text }}</td>
<td>{{ m.n_base }} / {{ m.n_cand }} {{ m.unit_of_analysis }}</td><td class="l">{{ m.verdict }}</td>
<td class="l note">{{ m.method }}{% if m.note %}: {{ m.note }}{% endif %}
{% if m.extra_text %}<br>{{ m.extra_text }}{% endif %}</td>
</tr>{% endfor %}</table>
{% endfor %}
{% if answers.pairs %}
<h2 id="answers">Answers side by side</h2>
<p class="note">{{ answers.matched }} items ran in both arms (matched on cell, sample id and repeat);
{{ answers.differing }} differ in outcome (one failed, or the scores differ) and come first. {{ answers.pairs|length }}
shown (at most {{ answers.cap }}); texts over 2,000 characters are cut.</p>
<table class="answers"><tr><th class="l">item</th><th class="l">baseline</th><th class="l">candidate</th></tr>
{% for a in answers.pairs %}
<tr{% if a.differs %} class="differs"{% endif %}><td class="l"><b>{{ a.cell }}</b>
<br>sample {{ a.sample }}, repeat {{ a.repeat }}
{% if a.prompt is not none %}<div class="text">{{ a.prompt }}</div>{% endif %}
{% if a.expected is not none %}<div class="note">expected:</div><div class="text">{{ a.expected }}</div>{% endif %}</td>
{% for side in (a.base, a.cand) %}<td class="l"><span class="note">
{%- if side.status == "ok" %}score {{ side.score if side.score is not none else "—" }}
{%- else %}error {{ side.error_code }}{% endif %}
{%- if side.latency_ms is not none %}, {{ side.latency_ms|round|int }} ms{% endif %}</span>
<div class="text">{{ side.text if side.text is not none else "" }}</div></td>{% endfor %}</tr>
{% endfor %}</table>
{% endif %}
<p class="note">Generated {{ generated_at }} by bedrock-evals compare (schema {{ schema }}).</p>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def _num(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _value(m: dict[str, Any], v: float | None) -> str:
    if v is None:
        return "n/a"
    if m["scale"] == "difference":
        return f"{v * 100:.1f} %"
    if m["unit"] == "USD":
        return f"${v:.6f}"
    return f"{v:.1f} {m['unit']}".strip()


def _change(m: dict[str, Any], v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{(v - 1) * 100:+.1f} %" if m["scale"] == "ratio" else f"{v * 100:+.1f} pts"


def _decorate(m: dict[str, Any]) -> dict[str, Any]:
    extra_text = "; ".join(t for t in (m["reason"], f"uncertainty: {m['uncertainty']}", m["note"]) if t)
    margin = m["margin"]
    mde_text = (f"{margin * 100:g} %" if m["margin_kind"] == "relative" else
                f"{margin:g} {m['unit']}" if m["scale"] == "ratio" else f"{margin * 100:g} pts")
    p = m["p_adjusted"]
    return {
        **m,
        "verdict_class": {"worse": "worse", "better": "better", "inconclusive": "too-few"}.get(m["verdict"], ""),
        "base_text": _value(m, m["base"]),
        "cand_text": _value(m, m["cand"]),
        "change_text": _change(m, m["estimate"]),
        "interval_text": "n/a" if m["low"] is None or m["high"] is None else
        f"[{_change(m, m['low'])}, {_change(m, m['high'])}]",
        "p_text": "n/a" if p is None else (f"{p:.2g}" if p >= 1e-4 else "<1e-4"),
        "mde_text": mde_text,
        "extra_text": extra_text,
    }


def render_html(data: dict[str, Any]) -> str:
    """compare.json (as built by `evals.commands.compare.build_json`) to HTML."""
    cells = [{**c, "metrics": [_decorate(m) for m in c["metrics"]]} for c in data["cells"]]
    emulated = any(run["emulated"] for arm in (data["base"], data["cand"]) for run in arm["runs"])
    return _TEMPLATE.render(**{**data, "cells": cells}, emulated=emulated, pct=lambda c: f"{c * 100:g} %",
                            arm_names=_arm_names)


def _arm_names(arm: dict[str, Any]) -> str:
    """`region=us-east-1` for --by arms, else the run ids (first three)."""
    if arm["label"] not in ("baseline", "candidate"):
        return str(arm["label"])
    ids = [r["run_id"] for r in arm["runs"]]
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
