"""A real emulator run whose prompts carry HTML and script payloads, rendered and opened in headless chromium.

The echo engine sends each prompt back, so the payloads land in response_text, expected and sample ids. In the
browser: no script runs, no injected element exists, nothing but the file itself is requested, and the console
stays clean. Skipped only when chromium (or playwright) is missing outside CI; in CI it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
           "script, iframe, svg, object, embed, textarea"


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
    """A two-region, three-API echo run over the payload suite, rendered by the run command itself."""
    _browser_or_skip()
    tmp = tmp_path_factory.mktemp("browser")
    suite = tmp / "hostile.jsonl"
    with suite.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(PAYLOADS):
            expected = text if i % 2 else "<i id=injected-expected>x</i>"
            fh.write(json.dumps({"id": f"<b id=injected-id>{i}</b>", "prompt": text, "answer": expected}) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "evals.cli", "run", "target.engine=echo", "target.latency_profile=zero",
         "suite=jsonl", f"suite.path={suite}", "model=llama3-3-70b", "apis=[converse,converse_stream,invoke]",
         "regions=[us-east-1,us-west-2]", "run.repeats=2", f"run.out_dir={tmp / 'runs'}", "run.progress=false"],
        capture_output=True, text=True, timeout=180, cwd=Path(__file__).parent.parent,
    )
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    report = run_dir / "report.html"
    assert report.is_file()
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert any("<script>" in (r.get("response_text") or "") for r in records)  # the payload really came back
    return report


def test_report_runs_no_script_and_loads_nothing(hostile_report: Path) -> None:
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
                details.evaluate("d => d.open = true")  # show every sample, payloads included
            page.wait_for_load_state("load")
            title = page.title()
            pwned = page.evaluate("() => window.__pwned")
            injected = page.eval_on_selector_all(INJECTED, "els => els.map(e => e.outerHTML.slice(0, 80))")
            body = page.inner_text("body")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.src.slice(0, 25)])")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert title == f"bedrock-evals report: {hostile_report.parent.name}"
    assert pwned is None
    assert injected == []
    assert PAYLOADS[0] in body and "{{ 7*7 }}" in body  # shown as text, not run or evaluated
    assert "This run was served by the local emulator, not Amazon Bedrock." in body
    assert [u for u in requests if u != url and not u.startswith("data:")] == []
    assert console_errors == [] and page_errors == []
    assert images and all(w > 0 and src == "data:image/svg+xml;base64" for w, src in images)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
