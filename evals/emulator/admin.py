"""The admin endpoint (loopback only): counters, settings, reset and health, behind a token from the endpoints file.

`/stats`, `/settings` and `/reset` need `Authorization: Bearer <admin_token>`; `/health` answers anyone (readiness
probes). `/settings` is what a run against an emulator started elsewhere records as its target (never credentials).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from evals.emulator.app import App
from evals.emulator.exchange import Request, Responder

TOKEN_HEADER = "authorization"


def _send(out: Responder, status: int, payload: Any) -> None:
    out.send(status, [("Content-Type", "application/json")], json.dumps(payload).encode())


def authorized(app: App, req: Request) -> bool:
    given = req.headers.get(TOKEN_HEADER, "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), app.admin_token.encode())


def dispatch_admin(app: App, req: Request, out: Responder) -> None:
    """Route one admin request."""
    path = req.path.split("?", 1)[0]
    if path == "/health" and req.method == "GET":
        _send(out, 200, {"ok": True})
        return
    if path not in ("/stats", "/reset", "/settings"):
        _send(out, 404, {"message": "not found"})
        return
    if not authorized(app, req):
        _send(out, 401, {"message": "admin token missing or wrong (see admin_token in the endpoints file)"})
        return
    if path == "/stats" and req.method == "GET":
        _send(out, 200, app.stats.snapshot())
    elif path == "/settings" and req.method == "GET":
        _send(out, 200, settings(app))
    elif path == "/reset" and req.method == "POST":
        app.reset()
        _send(out, 200, {"ok": True})
    else:
        _send(out, 405, {"message": f"{req.method} not allowed on {path}"})


def settings(app: App) -> dict[str, Any]:
    """The options this emulator serves with, as a run records them: no credentials, no file paths."""
    data = app.options.to_dict()
    for private in ("credentials", "endpoints_file", "card_dir", "cards"):
        data.pop(private, None)
    data["cards"] = sorted(app.cards)
    return data
