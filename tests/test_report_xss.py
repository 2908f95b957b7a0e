"""Untrusted text (model output, error messages, ids, suite names) must reach the report as text, never markup."""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from report_helpers import record, write_run

from evals.render.report import render_run

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "</textarea><svg onload=alert(3)>",
    "\"><iframe src=javascript:alert(4)>",
    "{{ 7*7 }}",
    "{% raw %}x{% endraw %}",
    "</pre></div><a href=\"javascript:alert(5)\">x</a>",
    "]]><!-- --><script>alert(6)</script>",
)
SUITE = "<script>alert('suite')</script>"
REGION = "us-east-1<img src=x onerror=alert(7)>"
VIEWER_JS = Path(__file__).parent.parent / "evals" / "render" / "report" / "templates" / "viewer.js"


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _hostile_run(tmp_path: Path) -> Path:
    recs = []
    for i, text in enumerate(PAYLOADS):
        recs.append(record(request_id=f"ok{i}", index=i, sample_id=text, suite=SUITE, region=REGION,
                           response_text=text, expected=text, score=0.0, latency_ms=100.0 + i,
                           t_sent_ms=i * 10.0, t_done_ms=i * 10.0 + 100.0 + i, api="converse_stream",
                           ttft_ms=20.0, input_tokens=5 + i))
        recs.append(record(request_id=f"err{i}", index=100 + i, sample_id=text, suite=SUITE, region=REGION,
                           status="error", error_code=text, error_class="fatal", error_message=text,
                           latency_ms=50.0, t_sent_ms=i * 10.0, t_done_ms=i * 10.0 + 50.0))
    return write_run(tmp_path, "run-xss", recs, suites=[{"name": SUITE, "version": PAYLOADS[1], "source": PAYLOADS[0],
                                                         "samples": 8}],
                     target={"kind": "local", "emulator": True, "engine": PAYLOADS[2], "latency_profile": "zero",
                             "note": PAYLOADS[0]},
                     cells={"apis": ["converse_stream"], "regions": [REGION], "tiers": ["default"]})


def test_untrusted_text_is_escaped_in_html(tmp_path: Path) -> None:
    html = render_run([_hostile_run(tmp_path)]).read_text()
    for text in (*PAYLOADS, SUITE, REGION):
        if "<" in text:
            assert text not in html, text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "{{ 7*7 }}" in html  # data is never evaluated as a template
    parser = TagCollector()
    parser.feed(html)
    names = [tag for tag, _ in parser.tags]
    assert names.count("script") == 1  # the viewer's own, and nothing else
    assert not set(names) & {"iframe", "svg", "object", "embed", "textarea", "base", "form", "link"}
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower(), (tag, name, value)
            if tag == "img" and name == "src":
                assert (value or "").startswith("data:image/svg+xml;base64,")
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert script.strip() == VIEWER_JS.read_text().strip()  # the template's file, verbatim
    data = re.search(r'<div id="viewer-data" hidden>(.*?)</div>', html, re.DOTALL)
    assert data is not None and "<" not in data.group(1)  # the embedded items are escaped text
    items = json.loads(htmllib.unescape(data.group(1)))["items"]
    assert {it["response"] for it in items if it["kind"] == "wrong"} == set(PAYLOADS)  # whole, unaltered


def test_csp_forbids_remote_loads_and_allows_only_the_viewer_script(tmp_path: Path) -> None:
    html = render_run([_hostile_run(tmp_path)]).read_text()
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta is not None
    policy = meta.group(1)
    assert "default-src 'none'" in policy and "img-src data:" in policy
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == f"'sha256-{digest}'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy.count("script-src") == 1
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_plot_svgs_keep_untrusted_labels_as_text(tmp_path: Path) -> None:
    html = render_run([_hostile_run(tmp_path)]).read_text()
    uris = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) >= 3
    texts: list[str] = []
    for uri in uris:
        svg = base64.b64decode(uri).decode("utf-8")
        root = ET.fromstring(svg)  # well-formed XML: nothing broke out of a text node or comment
        for el in root.iter():
            assert el.tag.rsplit("}", 1)[-1] not in ("script", "foreignObject", "iframe"), el.tag
            for name in el.attrib:
                assert not name.lower().startswith("on"), name
            texts.append("".join(el.itertext()))
    joined = "\n".join(texts)
    assert SUITE in joined or REGION in joined  # the labels are there, as text
