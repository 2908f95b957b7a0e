"""The emulator's listeners: one HTTPS and one HTTP listener per region plus a loopback admin listener.

Protocol handling lives in listener.py (accept, cap, protocol choice), http1.py (h11) and http2.py (h2); the
operations in operations.py and admin.py. This module wires them together and describes the endpoints.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from evals.emulator import operations
from evals.emulator.admin import dispatch_admin
from evals.emulator.app import App
from evals.emulator.listener import Acceptor, Site, listen, server_tls_context
from evals.emulator.options import EmulatorOptions
from evals.emulator.tls import TlsFiles, make_tls_files
from evals.errors import UserInputError


def check_host(host: str) -> None:
    """An address or a name without a port: the emulator picks a free port per listener."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if ":" in host or "/" in host or not host or host.strip() != host:
        raise UserInputError(f"host: {host!r} is not an address or host name (no port: the emulator picks its "
                             "ports and writes them to the endpoints file)")


class EmulatorServer:
    """All listeners of one emulator, served by one acceptor; `endpoints()` describes them."""

    def __init__(self, options: EmulatorOptions) -> None:
        """Raises UserInputError (one line) when the host cannot be listened on; nothing is left behind then."""
        self.options = options
        self.app = App.build(options)
        check_host(options.host)
        self.workdir = Path(tempfile.mkdtemp(prefix="bedrock-emulator-"))
        opened: list[socket.socket] = []

        def bound(host: str) -> socket.socket:
            opened.append(listen(host))
            return opened[-1]

        try:
            self.tls: TlsFiles = make_tls_files(self.workdir / "tls", options.host)
            ctx = server_tls_context(self.tls.server_context())
            runtime = functools.partial(operations.dispatch, self.app)
            self.sites: dict[str, dict[str, Site]] = {}
            for region in options.regions:
                self.sites[region] = {
                    "https": Site(bound(options.host), region, "https", runtime, ctx),
                    "http": Site(bound(options.host), region, "http", runtime, None),
                }
            self.admin = Site(bound("127.0.0.1"), "", "http", functools.partial(dispatch_admin, self.app), None)
        except OSError as err:  # the TLS key and every socket opened so far go with the failure
            for sock in opened:
                sock.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise UserInputError(f"host: cannot listen on {options.host!r}: {err.strerror or err}") from None
        everything = [self.admin, *(s for pair in self.sites.values() for s in pair.values())]
        self.acceptor = Acceptor(everything, options.limits)

    def _url(self, scheme: str, site: Site) -> str:
        host = self.options.host if self.options.host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        return f"{scheme}://{host}:{site.port}"

    def start(self) -> None:
        self.acceptor.start()

    def stop(self) -> None:
        self.acceptor.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def endpoints(self) -> dict[str, Any]:
        """The endpoints document (holds credentials and the admin token: write it 0600, never print it)."""
        o = self.options
        return {
            "regions": {
                region: {
                    "https": self._url("https", pair["https"]),
                    "http": self._url("http", pair["http"]),
                    "ca_file": str(self.tls.ca_file),
                }
                for region, pair in self.sites.items()
            },
            "ca_file": str(self.tls.ca_file),
            "credentials": {
                "access_key_id": self.app.secrets.access_key_id,
                "secret_access_key": self.app.secrets.secret_access_key,
                "api_key": self.app.secrets.api_key,
            },
            "pid": os.getpid(),
            "engine": o.engine,
            "latency_profile": o.latency_profile,
            "latency_scale": o.latency_scale,
            "seed": o.seed,
            "quota_scale": o.quota_scale,
            "admin": f"http://127.0.0.1:{self.admin.port}",
            "admin_token": self.app.admin_token,
        }

    def write_endpoints(self, path: Path) -> None:
        """Atomically write the endpoints file (tmp + os.replace, mode 0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.endpoints(), fh, indent=2)
        os.replace(tmp, path)
