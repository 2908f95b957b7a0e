"""HTML rendering: one jinja2 Environment with autoescape on and StrictUndefined, and number formatting.

Autoescape is forced for every template, and no template uses `|safe`: every string that reaches the page,
trusted or not, is escaped. Plots arrive as data: URIs in `src` attributes (escaped too). The page's
Content-Security-Policy (in the template) forbids every load except data: images, and allows exactly one
script: the sample viewer's, included verbatim from templates/viewer.js and named by its SHA-256 hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def num(value: Any, digits: int = 1) -> str:
    """A number for a table cell; '—' for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f} %"


def pvalue(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def bounds(iv: Mapping[str, Any] | None, kind: str = "num", digits: int = 1) -> str:
    """'[low, high]' of an interval, or '' when it has none."""
    if not iv or iv.get("low") is None or iv.get("high") is None:
        return ""
    f = pct if kind == "pct" else num
    return f"[{f(iv['low'], digits)}, {f(iv['high'], digits)}]"


def usd(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    return f"${v:,.4f}" if v < 1 else f"${v:,.2f}"


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min" if s >= 3600 else f"{s / 60:.1f} min"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("evals.render.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, pct=pct, pvalue=pvalue, bounds=bounds, usd=usd, duration=duration)
    return env


SCRIPT_HASH_PLACEHOLDER = "'sha256-VIEWER-SCRIPT'"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def allow_inline_script(html: str) -> str:
    """Put the hash of the page's one inline script into its Content-Security-Policy.

    Untrusted text is escaped, so the only `<script>` on the page is the template's own; any other inline
    script would not match the hash and would not run.
    """
    scripts = _SCRIPT.findall(html)
    if len(scripts) != 1:
        raise RuntimeError(f"report template: expected one inline script, found {len(scripts)}")
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode("ascii")
    return html.replace(SCRIPT_HASH_PLACEHOLDER, f"'sha256-{digest}'", 1)


def render_html(context: Mapping[str, Any]) -> str:
    return allow_inline_script(environment().get_template("report.html.j2").render(**context))
