"""Run directories: `run.json` written first, records appended and flushed as they land, resume after a crash.

A run directory is never overwritten. Each finished request is one JSON line, written whole and flushed, so
a SIGKILL loses at most the requests in flight; a torn last line (killed mid-write) is cut off on resume.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from evals import __version__
from evals.errors import UserInputError
from evals.paths import REPO_ROOT
from evals.redact import redact_argv, redact_text
from evals.results.schema import RECORD_SCHEMA_VERSION, REQUIRED_TEXT, RUN_SCHEMA_VERSION, RunFile, run_file_problem
from evals.storage import RecordWriter as RecordWriter  # re-exported: run directories are written with it

RUN_FILE = "run.json"
RECORDS_FILE = "records.jsonl"
LOCK_FILE = ".lock"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id(name: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "Z"
    label = "".join(c if c.isalnum() or c in "-_" else "-" for c in redact_text(name)) if name else ""
    return f"{stamp}-{label}" if label else stamp


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    if out.returncode != 0 or not sha:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5,
    ).stdout.strip()
    return f"{sha}-dirty" if dirty else sha


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance() -> dict[str, Any]:
    """Versions and host facts for run.json; nothing secret (no env, no credentials)."""
    return {
        "harness": __version__,
        "python": platform.python_version(),
        "boto3": _version("boto3"),
        "botocore": _version("botocore"),
        "hydra_core": _version("hydra-core"),
        "scipy": _version("scipy"),
        "git_sha": _git_sha(),
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "user": getpass.getuser(),
        },
        "argv": redact_argv(sys.argv[1:]),
    }


# numeric record fields: a number or null, never text (a reader would fail far from the bad line otherwise)
NUMBER_KEYS = ("latency_ms", "ttft_ms", "tpot_ms", "t_intended_ms", "t_sent_ms", "t_first_token_ms", "t_done_ms",
               "send_lag_ms", "last_attempt_ms", "server_latency_ms", "client_overhead_ms", "backoff_ms",
               "input_tokens", "output_tokens", "attempts", "throttles", "score", "cost_usd", "load_level")


def record_problem(record: Any) -> str | None:
    """Why a parsed line is not a record (one phrase naming the key), or None."""
    if not isinstance(record, dict):
        return f"not a record (a JSON object expected, got {type(record).__name__})"
    missing = [key for key in REQUIRED_TEXT if key not in record]
    if missing:
        return f"record lacks {', '.join(missing)}"
    version = record.get("schema")
    if isinstance(version, int) and version > RECORD_SCHEMA_VERSION:
        return (f"record schema version {version} is newer than this bedrock-evals reads ({RECORD_SCHEMA_VERSION});"
                " upgrade bedrock-evals")
    for key in REQUIRED_TEXT:
        if not isinstance(record[key], str):
            return f"{key} must be text, got {record[key]!r:.40}"
    if record["status"] not in ("ok", "error"):
        return f"status must be ok or error, got {record['status']!r:.40}"
    for key in NUMBER_KEYS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"{key} must be a number or null, got {value!r:.40}"
    return None


class RunDirectory:
    """Owns one run directory: its run.json and its append-only records file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def records_file(self) -> Path:
        return self.path / RECORDS_FILE

    @classmethod
    def create(cls, out_dir: Path, run_id: str) -> RunDirectory:
        path = out_dir / run_id
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            raise UserInputError(f"run.out_dir: {path} already exists; a run directory is never overwritten") from None
        except OSError as err:
            raise UserInputError(f"run.out_dir: cannot create {path}: {err.strerror or err}") from None
        return cls(path)

    def lock(self) -> None:
        """Hold an exclusive lock while this process runs, so two processes never append to one run."""
        fh = (self.path / LOCK_FILE).open("w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise UserInputError(f"{self.path}: in use by another bedrock-evals run") from None
        self._lock_fh = fh  # released when the process ends

    @classmethod
    def open_existing(cls, path: Path) -> RunDirectory:
        run_dir = cls(path)
        if not run_dir.run_file.is_file():
            raise UserInputError(f"{path}: not a run directory (no {RUN_FILE})")
        return run_dir

    def read_run(self) -> RunFile:
        try:
            data = json.loads(self.run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
            raise UserInputError(f"{self.run_file}: unreadable run file: {err}") from None
        if not isinstance(data, dict):
            raise UserInputError(f"{self.run_file}: not a run file (a JSON object expected, got {type(data).__name__})")
        version = data.get("schema", 1)
        if isinstance(version, int) and version > RUN_SCHEMA_VERSION:
            raise UserInputError(f"{self.run_file}: run file schema version {version} is newer than this "
                                 f"bedrock-evals reads ({RUN_SCHEMA_VERSION}); upgrade bedrock-evals")
        problem = run_file_problem(data)
        if problem:
            raise UserInputError(f"{self.run_file}: {problem}")
        return cast(RunFile, data)

    def write_run(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.run_file, data)

    def repair_torn_tail(self) -> int:
        """Cut a partial last line left by a kill mid-write; returns the bytes removed."""
        path = self.records_file
        if not path.exists():
            return 0
        size = path.stat().st_size
        if size == 0:
            return 0
        with path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return 0
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            return size - keep

    def iter_records(self) -> Iterator[dict[str, Any]]:
        path = self.records_file
        if not path.exists():
            return
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    break  # a torn tail is not a record
                yield self._parse(raw, lineno)

    def read_lines(self, lines: Sequence[int]) -> list[dict[str, Any]]:
        """The records at these 1-based lines, in the order asked (a page shows a few whole records of a run
        read as columns); lines are checked as `iter_records` checks them."""
        wanted = set(lines)
        found: dict[int, dict[str, Any]] = {}
        if wanted:
            last = max(wanted)
            with self.records_file.open("rb") as fh:
                for lineno, raw in enumerate(fh, 1):
                    if lineno in wanted:
                        found[lineno] = self._parse(raw, lineno)
                    if lineno >= last:
                        break
        return [found[n] for n in lines if n in found]

    def _parse(self, raw: bytes, lineno: int) -> dict[str, Any]:
        path = self.records_file
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise UserInputError(f"{path}:{lineno}: not UTF-8 text (not a records file?)") from None
        except json.JSONDecodeError as err:
            raise UserInputError(f"{path}:{lineno}: not a JSON record: {err}") from None
        problem = record_problem(record)
        if problem:
            raise UserInputError(f"{path}:{lineno}: {problem}")
        return record

    def finished_request_ids(self) -> set[str]:
        return {rec["request_id"] for rec in self.iter_records() if rec.get("status") in ("ok", "error")}
