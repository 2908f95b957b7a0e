"""Run the emulator in its own process as a context manager (tests, harness runs, benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evals.emulator.cli import PARENT_ENV, READY_PREFIX
from evals.emulator.options import EmulatorOptions
from evals.paths import REPO_ROOT

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class EmulatorStartError(RuntimeError):
    pass


def admin_headers(endpoints: Mapping[str, Any]) -> dict[str, str]:
    """The header the admin endpoint's /stats and /reset require (the token is in the endpoints file)."""
    token = endpoints.get("admin_token")
    return {"Authorization": f"Bearer {token}"} if token else {}


class EmulatorProcess:
    """`with EmulatorProcess(options) as emu: emu.endpoints[...]` starts and stops `python -m evals.emulator`.

    Readiness is the ready line on the child's stdout (no sleeps); the endpoints file is then read.
    """

    def __init__(self, options: EmulatorOptions | Mapping[str, Any] | None = None,
                 source_root: Path | None = None) -> None:
        """`source_root` runs the emulator from another checkout (benchmarks compare two versions)."""
        if options is None or isinstance(options, Mapping):
            options = EmulatorOptions.from_dict(options or {})
        self.options = options
        self.source_root = source_root or REPO_ROOT
        self._dir = tempfile.TemporaryDirectory(prefix="bedrock-emulator-proc-")
        self.endpoints_file = Path(options.endpoints_file or Path(self._dir.name) / "endpoints.json")
        self.proc: subprocess.Popen[str] | None = None
        self.endpoints: dict[str, Any] = {}
        self._output: list[str] = []
        self._stderr_path = Path(self._dir.name) / "stderr.log"

    def config(self) -> dict[str, Any]:
        """The YAML mapping handed to the child."""
        return self.options.to_dict()

    def start(self) -> EmulatorProcess:
        data = self.config()
        data["endpoints_file"] = str(self.endpoints_file)
        config = Path(self._dir.name) / "config.yaml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(data, fh)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.source_root), env.get("PYTHONPATH", "")) if p)
        stderr = open(self._stderr_path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the child
        # A terminal's Ctrl-C is the run's to handle (the run stops us with SIGTERM): the child gets its own session,
        # and SIGINT stays blocked across the fork, so one sent to the group before the child's setsid cannot kill
        # it the moment its handlers are reset for exec (it ignores SIGINT, so the blocked signal never matters).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "evals.emulator", "--config", str(config)],
                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=str(self.source_root),
                start_new_session=True,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        stderr.close()
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self._output.append(line.rstrip("\n"))
                if line.startswith(READY_PREFIX):
                    ready.set()
            ready.set()  # child exited

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or self.proc.poll() is not None or not self.endpoints_file.exists():
            err = self._stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            self.stop()
            raise EmulatorStartError(f"emulator did not start: {err.strip() or 'no output'}")
        self.endpoints = json.loads(self.endpoints_file.read_text(encoding="utf-8"))
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None
        self._dir.cleanup()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Convenience accessors
    def region(self, name: str) -> dict[str, str]:
        return self.endpoints["regions"][name]

    @property
    def credentials(self) -> dict[str, str]:
        return self.endpoints["credentials"]

    @property
    def ca_file(self) -> str:
        return self.endpoints["ca_file"]

    def _admin(self, method: str, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.endpoints["admin"] + path, method=method, data=b"" if method == "POST"
                                     else None, headers=admin_headers(self.endpoints))
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """Counters from the admin endpoint (requests, attempts histogram, throttles, faults, auth)."""
        return self._admin("GET", "/stats")

    def settings(self) -> dict[str, Any]:
        """The options the emulator runs with (credentials left out)."""
        return self._admin("GET", "/settings")

    def reset(self) -> None:
        """Zero counters and quota buckets."""
        self._admin("POST", "/reset")
