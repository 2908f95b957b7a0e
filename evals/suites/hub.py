"""Loading from the Hugging Face Hub without surprises: a local path that is missing is said to be missing, and
an unreachable Hub is noticed in seconds (one probe) instead of after minutes of retry lines on stderr.

When the Hub cannot be reached the load runs in the libraries' offline mode, so a dataset already in the local
cache still loads; otherwise it fails at once with one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
_LIBRARY_LOGGERS = ("huggingface_hub", "datasets", "fsspec")


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id (`NAME` or `ORG/NAME`)."""
    p = Path(path)
    return path.startswith((".", "/", "~")) or path.count("/") > 1 or bool(p.suffix) or p.exists()


def hub_unreachable() -> str | None:
    """Why the Hub's host cannot be reached (DNS, connect), or None when a TCP connection opens."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "huggingface.co", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as err:
        return f"{host}: {err.strerror or err}"


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Retry and progress chatter from the hub libraries stays off stderr; errors still raise."""
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """The libraries' offline mode for one load (their flags are read at import, so set on the modules too)."""
    import datasets.config
    import huggingface_hub.constants

    saved = (os.environ.get("HF_HUB_OFFLINE"), datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    os.environ["HF_HUB_OFFLINE"] = "1"
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved[1], saved[2]
