"""The AWS SDK for JavaScript v3 (default client: HTTP/2) against the emulator, SigV4 and bearer key.

A node script (tests/js/sdk-check.mjs) runs each check and prints its findings as JSON; the assertions are
here. The SDK is pinned in tests/js/package-lock.json and installed by tests/setup-js.sh (run by `make test`,
and by this module when the packages are missing).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import png_bytes

from evals.emulator import Emulator
from evals.emulator.faults import FaultInjector
from evals.emulator.options import FaultOptions

JS_DIR = Path(__file__).parent / "js"
SDK = JS_DIR / "node_modules" / "@aws-sdk" / "client-bedrock-runtime"
CHECKS = ["converse_text", "converse_image", "converse_stream", "invoke_stream", "invoke", "maverick_stream_refused"]

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: no JavaScript SDK test")


@pytest.fixture(scope="module")
def sdk() -> Path:
    if not SDK.exists():
        subprocess.run(["bash", str(JS_DIR.parent / "setup-js.sh")], check=True, timeout=600)
    assert SDK.exists(), "npm did not install @aws-sdk/client-bedrock-runtime (see tests/setup-js.sh)"
    return JS_DIR / "sdk-check.mjs"


def run_node(script: Path, emu: Emulator, tmp_path: Path, checks: list[str], auths: list[str]) -> list[dict]:
    region = emu.region("us-east-1")
    spec = {"region": "us-east-1", "http": region["http"], "https": region["https"], "credentials": emu.credentials,
            "png_b64": base64.b64encode(png_bytes(64, 48)).decode(), "checks": checks, "auths": auths}
    spec_file = tmp_path / "spec.json"
    fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(spec, fh)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["NODE_EXTRA_CA_CERTS"] = region["ca_file"]  # trust the emulator's CA, as a user would
    proc = subprocess.run(["node", str(script), str(spec_file)], cwd=JS_DIR, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["results"]


@pytest.fixture(scope="module")
def js_emulator() -> Iterator[Emulator]:
    with Emulator({"latency_profile": "zero", "seed": 11}) as emu:
        yield emu


def by_name(results: list[dict], auth: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results if r["auth"] == auth}


def test_js_sdk_over_http2_sigv4_and_bearer(sdk, js_emulator, tmp_path):
    js_emulator.reset()
    results = run_node(sdk, js_emulator, tmp_path, CHECKS, ["sigv4", "bearer"])
    for auth in ("sigv4", "bearer"):
        got = by_name(results, auth)
        assert [r["name"] for r in results if r["auth"] == auth] == CHECKS
        failed = {k: v.get("error") for k, v in got.items() if not v["ok"]}
        assert not failed, (auth, failed)
        text = got["converse_text"]
        assert text["status"] == 200 and text["outputTokens"] == 6 and text["text"]
        assert text["serviceTier"] == {"type": "default"} and text["performanceConfig"] == {"latency": "standard"}
        assert got["converse_image"]["inputTokens"] > 144  # at least one image tile was counted
        stream = got["converse_stream"]
        assert stream["events"] == ["messageStart", *["contentBlockDelta"] * 5, "contentBlockStop", "messageStop",
                                    "metadata"]
        assert stream["usage"]["outputTokens"] == 5
        inv = got["invoke_stream"]
        assert inv["chunks"] == inv["metrics"]["outputTokenCount"] and inv["serviceTier"] == "default"
        assert got["invoke"]["generation"] and got["invoke"]["performanceConfigLatency"] == "standard"
        refusal = got["maverick_stream_refused"]
        assert refusal["refused"] and refusal["typed"] and refusal["errorName"] == "ValidationException"
        assert refusal["status"] == 400
    stats = js_emulator.stats()
    assert stats["protocols"] == {"HTTP/2": 2 * len(CHECKS)}  # every call went over HTTP/2
    assert stats["auth"] == {"sigv4": len(CHECKS), "bearer": len(CHECKS)}


def _seed_throttling_first_only() -> int:
    """A seed whose fault draw throttles the first request and not the second."""
    for seed in range(1000):
        faults = FaultInjector(FaultOptions(throttle=0.5), seed)
        if faults.draw(1, False).error is not None and faults.draw(2, False).error is None:
            return seed
    raise AssertionError("no seed found")


def test_js_sdk_retries_a_throttle(sdk, tmp_path):
    """The SDK's standard retry policy retries the injected 429 ThrottlingException and succeeds."""
    options = {"latency_profile": "zero", "seed": _seed_throttling_first_only(), "faults": {"throttle": 0.5}}
    with Emulator(options) as emu:
        results = run_node(sdk, emu, tmp_path, ["throttled_then_retried"], ["sigv4"])
        stats = emu.stats()
    (result,) = results
    assert result["ok"], result
    assert result["attempts"] == 2 and result["outputTokens"] == 3
    assert stats["throttles"] == 1 and stats["attempts"] == {"1": 1, "2": 1}
    assert stats["protocols"] == {"HTTP/2": 2}
