"""Sweeps on Ray (`hydra/launcher=ray`) against a local two-CPU Ray that every test here joins via RAY_ADDRESS.

Ray starts once for the module (its start-up is the slow part); each sweep is the real CLI in a subprocess,
talking to an emulator the test starts, through boto3, as a user's sweep would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="ray is not installed (the `ray` extra)")
pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="hydra-ray-launcher is not installed (the `ray` extra)")

from evals.emulator import Emulator, EmulatorOptions
from evals.run.quota_share import BROKER_HEADROOM

# Ray's single-machine mode (everything on 127.0.0.1); no token on a cluster nothing else can reach (a driver
# joining a token-protected cluster needs the cluster's token, which a separate local process does not share)
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
RAY_HOST = """
import sys, ray
ctx = ray.init(num_cpus=2, include_dashboard=False)
print(ctx.address_info["gcs_address"], flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Ray (2 CPUs, loopback only) held by a child process for the module; closing its stdin ends it."""
    log = (tmp_path_factory.mktemp("ray") / "ray-host.log").open("w")
    host = subprocess.Popen([sys.executable, "-c", RAY_HOST], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log, text=True, env={**os.environ, **LOOPBACK})
    try:
        assert host.stdout is not None
        address = host.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), f"the Ray host process did not start Ray: {address!r}"
        yield address
    finally:
        assert host.stdin is not None
        host.stdin.close()
        try:
            host.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait()
        log.close()


def _sweep(address: str, cwd: Path, *overrides: str, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, **LOOPBACK, "RAY_ADDRESS": address}
    args = [sys.executable, "-m", "evals.cli", "run", "-m", "hydra/launcher=ray", "run.progress=false", *overrides]
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[Path, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return Path(out.strip().splitlines()[-1]), out


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_four_jobs_over_two_regions_and_two_apis_land_under_the_drivers_out_dir(
        ray_address: str, tmp_path: Path) -> None:
    with Emulator(EmulatorOptions.from_dict({"latency_profile": "zero"})) as emu:
        proc = _sweep(ray_address, tmp_path, "regions=[us-east-1],[us-west-2]", "apis=[converse],[invoke]",
                      "suite.sample_size=3", f"target.endpoints_file={emu.endpoints_file}", "run.out_dir=reports")
        sweep, out = _finish(proc)
    assert sweep.parent == tmp_path / "reports"  # relative to the driver's directory, not a Ray worker's
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 4
    cells = set()
    for job in jobs:
        info = json.loads((job / "run.json").read_text())
        records = _records(job)
        assert info["status"] == "completed" and len(records) == info["planned"] == 3
        assert (job / "report.html").is_file() and info["sweep"]["launcher"].endswith("RayLauncher")
        assert info["quota"]["mode"] == "ray" and info["quota"]["broker"]
        cells |= {(r["region"], r["api"]) for r in records}
    assert cells == {(r, a) for r in ("us-east-1", "us-west-2") for a in ("converse", "invoke")}
    assert "jobs: 4 done, 0 not done; records: 12 (0 errors)" in out
    # the merged report covers all four jobs and all four cells
    summary = json.loads((sweep / "summary.json").read_text())
    assert sorted(r["path"] for r in summary["runs"]) == [str(j) for j in jobs]
    assert {(c["key"]["region"], c["key"]["api"]) for c in summary["cells"]} == cells
    assert (sweep / "report.html").is_file()


def test_a_job_whose_process_is_killed_resumes_its_run_directory(ray_address: str, tmp_path: Path) -> None:
    slow = {"latency_profile": "fixed", "fixed_latency_ms": 50}
    with Emulator(EmulatorOptions.from_dict(slow)) as emu:
        proc = _sweep(ray_address, tmp_path, "apis=[converse],[invoke]", "regions=[us-east-1]",
                      "suite.sample_size=5", "run.repeats=12", "load.concurrency=1",
                      f"target.endpoints_file={emu.endpoints_file}", f"run.out_dir={tmp_path}")
        deadline = time.monotonic() + 120
        killed = None
        while killed is None:
            assert time.monotonic() < deadline and proc.poll() is None, "no job got going"
            for run_json in tmp_path.glob("*/*-j0-*/run.json"):
                info = json.loads(run_json.read_text())
                lines = (run_json.parent / "records.jsonl")
                if lines.exists() and lines.read_text().count("\n") >= 5:
                    killed = (run_json.parent, int(info["sweep"]["pid"]))
            time.sleep(0.02)
        os.kill(killed[1], signal.SIGKILL)  # the job's own process, mid-run
        _, out = _finish(proc)
    run_dir = killed[0]
    info = json.loads((run_dir / "run.json").read_text())
    records = _records(run_dir)
    assert info["status"] == "completed" and len(info["resumes"]) >= 1
    assert info["sweep"]["pid"] != killed[1]  # a new process picked the same run directory up
    assert len(records) == info["planned"] == 60
    assert len({r["request_id"] for r in records}) == 60  # nothing sent twice, nothing missing
    assert "resumed 1x" in out and "jobs: 2 done, 0 not done" in out


def test_the_shared_quota_keeps_the_sweep_under_a_quota_that_unshared_jobs_overrun(
        ray_address: str, tmp_path: Path) -> None:
    # requests/minute scaled to 24 per region; two jobs of 14 requests each on the same region and model
    with Emulator(EmulatorOptions.from_dict({"latency_profile": "zero", "quota_scale": 0.03})) as emu:
        common = ["apis=[converse],[invoke]", "regions=[us-east-1]", "suite.sample_size=2", "run.repeats=7",
                  "run.report=false", f"target.endpoints_file={emu.endpoints_file}"]
        shared, _ = _finish(_sweep(ray_address, tmp_path, *common, f"run.out_dir={tmp_path / 'shared'}"))
        shared_throttles = emu.stats()["throttles"]
        emu.reset()
        alone, _ = _finish(_sweep(ray_address, tmp_path, *common, "transport.quota_share=off",
                                  f"run.out_dir={tmp_path / 'alone'}"))
        alone_throttles = emu.stats()["throttles"]
    assert shared_throttles == 0 and alone_throttles > 0
    for sweep in (shared, alone):
        records = [r for job in sweep.iterdir() if job.is_dir() for r in _records(job)]
        assert len(records) == 28
    quotas = [json.loads(p.read_text())["quota"] for p in sorted(shared.glob("*/run.json"))]
    assert {q["limits"]["us-east-1"]["requests_per_minute"] for q in quotas} == {round(24 * BROKER_HEADROOM, 3)}
    assert len({q["keys"]["us-east-1"] for q in quotas}) == 1  # one budget for both jobs


def test_the_brokers_buckets_refill_per_minute_and_grant_oversized_requests_only_when_full() -> None:
    from evals.run.quota_broker import _Bucket

    bucket = _Bucket(24.0)  # 24 a minute: one every 2.5 s once the burst is spent
    assert bucket.shortfall_s(1) == 0
    bucket.level = 0.0
    assert bucket.shortfall_s(1) == pytest.approx(2.5)
    bucket.level = 12.0
    assert bucket.shortfall_s(100) == pytest.approx(30.0)  # more than the capacity: wait until full, no longer
