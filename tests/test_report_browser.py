"""A real four-region emulator run whose prompts carry HTML and script payloads, opened in headless chromium.

The echo engine sends each prompt back, so the payloads land in response_text, expected and sample ids; injected
faults make some requests fail. In the browser: the only script that runs is the sample viewer's (allowed by its
hash), no injected element exists while the viewer is filtered every way, nothing but the file itself is
requested, the console stays clean and no table is clipped at 1,400 px. Skipped only when chromium (or
playwright) is missing outside CI; in CI it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
PAYLOADS = [
    "<script>document.title='pwned';window.__pwned=1</script>",
    "<img src=x onerror=\"document.title='pwned';window.__pwned=2\">",
    "</textarea></pre><svg onload=\"window.__pwned=3\"><b id=injected>bold</b>",
    "\"><iframe src=\"javascript:window.__pwned=4\" id=injected-frame></iframe>",
    "{{ 7*7 }} {% if true %}jinja{% endif %}",
    "<a href=\"javascript:window.__pwned=5\" id=injected-link>x</a><style>body{display:none}</style>",
    "<img src=\"http://127.0.0.1:9/beacon.png\" id=injected-remote>",
]
INJECTED = "#injected, #injected-frame, #injected-link, #injected-id, #injected-expected, #injected-remote, " \
           "script:not(:only-of-type), iframe, svg, object, embed, textarea"
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2"]


def _browser_or_skip() -> None:
    missing = []
    if not (shutil.which("chromium") or Path(CHROMIUM).exists()):
        missing.append(f"chromium ({CHROMIUM}; run tests/setup-browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: this test must run)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A four-region echo run over the payload suite with some failed requests, rendered by the run command."""
    _browser_or_skip()
    tmp = tmp_path_factory.mktemp("browser")
    suite = tmp / "hostile.jsonl"
    with suite.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(PAYLOADS):
            expected = text if i % 2 else "<i id=injected-expected>x</i>"
            fh.write(json.dumps({"id": f"<b id=injected-id>{i}</b>", "prompt": text, "answer": expected}) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "evals.cli", "run", "target.engine=echo", "target.latency_scale=0.5",
         "target.faults.internal_error=0.1", "transport.max_attempts=1", "suite=jsonl", f"suite.path={suite}",
         "apis=[converse]", f"regions=[{','.join(REGIONS)}]", "run.repeats=6", "load.concurrency=8",
         f"run.out_dir={tmp / 'runs'}", "run.progress=false"],
        capture_output=True, text=True, timeout=180, cwd=Path(__file__).parent.parent,
    )
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    report = run_dir / "report.html"
    assert report.is_file()
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert any("<script>" in (r.get("response_text") or "") for r in records)  # the payload really came back
    return report


def _inert(page: Any) -> list[str]:
    """Injected elements, or a payload that ran; [] when every payload on screen stayed text."""
    found = page.eval_on_selector_all(INJECTED, "els => els.map(e => e.outerHTML.slice(0, 80))")
    if page.evaluate("() => window.__pwned") is not None or page.title().endswith("pwned"):
        found.append("a payload ran")
    return found


def _filter(page: Any, **choices: str) -> list[str]:
    """Set the viewer's filters; returns the kinds of the items shown."""
    for sel in ("vf-cell", "vf-kind", "vf-code"):
        page.select_option(f"#{sel}", choices.get(sel, ""))
    page.fill("#vf-text", choices.get("vf-text", ""))
    return page.eval_on_selector_all("#vf-list .item", "els => els.map(e => e.dataset.kind)")


def test_report_runs_only_the_viewer_script_and_loads_nothing(hostile_report: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = hostile_report.resolve().as_uri()
    requests: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.on("request", lambda req: requests.append(req.url))
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            page.goto(url, wait_until="load")
            for details in page.query_selector_all("details"):
                details.evaluate("d => d.open = true")
            title = page.title()
            tops = page.evaluate("() => ['#headline', '#provenance'].map("
                                 "s => document.querySelector(s).getBoundingClientRect().top)")
            headline = page.inner_text("#headline")
            clipped = page.eval_on_selector_all(".scroll", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
                                                           ".map(e => e.innerText.slice(0, 60))")
            shown_all = _filter(page)
            injected_all = _inert(page)
            body = page.inner_text("body")
            failed = _filter(page, **{"vf-kind": "failed"})
            injected_failed = _inert(page)
            codes = page.eval_on_selector_all("#vf-code option", "els => els.map(e => e.value).filter(v => v)")
            by_code = _filter(page, **{"vf-code": codes[0]}) if codes else []
            cells = page.eval_on_selector_all("#vf-cell option", "els => els.map(e => e.value).filter(v => v)")
            _filter(page, **{"vf-cell": cells[-1]})
            one_cell = page.eval_on_selector_all("#vf-list .item > span.tag:first-child",
                                                 "els => els.map(e => e.textContent)")
            searched = {}
            for payload in PAYLOADS:
                searched[payload] = len(_filter(page, **{"vf-text": payload[:30]}))
                injected_failed += _inert(page)
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.src.slice(0, 25)])")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert title == f"bedrock-evals report: {hostile_report.parent.name}"
    summary = json.loads((hostile_report.parent / "summary.json").read_text())
    p50 = {c["key"]["region"]: c["latency_ms"]["p50"]["estimate"] for c in summary["cells"]}
    fastest = min(p50, key=p50.__getitem__)
    assert tops[0] < tops[1]  # the answer comes before the provenance
    assert "Which region?" in headline and f"p50 latency: {fastest} fastest (" in headline
    assert all(region in headline for region in REGIONS)
    assert injected_all == [] and injected_failed == []
    assert PAYLOADS[0] in body and "{{ 7*7 }}" in body  # shown as text, not run or evaluated
    assert "This run was served by the local emulator, not Amazon Bedrock." in body
    assert clipped == []  # no table scrolls sideways at 1,400 px
    assert shown_all and failed and set(failed) == {"failed"}  # the viewer filters to errors
    assert codes and by_code and set(by_code) == {"failed"}
    assert len(cells) == len(REGIONS) and one_cell and set(one_cell) == {cells[-1]}
    assert all(n > 0 for n in searched.values()), searched  # every payload is findable as text
    assert [u for u in requests if u != url and not u.startswith("data:")] == []
    assert console_errors == [] and page_errors == []
    assert images and all(w > 0 and src == "data:image/svg+xml;base64" for w, src in images)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
