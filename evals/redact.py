"""Redaction of anything that looks like a credential before it is stored or printed (argv, config, error lines).

Credentials never belong in config (the schema has no key for them), but a user can still type one on the
command line; run.json, the report, summary.json and the history index must not keep it. Two signals: a key whose
name says secret (`..._secret_access_key`, `password`, `api_key`, `session_token`), and a value shaped like an AWS
access key id or a Bedrock API key whatever its key.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
_SECRET_KEY = re.compile(r"(secret|passw|api_?key|access_?key|credential|private_?key|bearer|(^|[._-])token$|"
                         r"session_?token|auth_?token)", re.IGNORECASE)
# AWS access key ids (AKIA/ASIA/...), Bedrock API keys (ABSK...), and long base64 runs next to "secret"-ish text
_SECRET_VALUE = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[A-Z0-9]{16}\b|\bABSK[A-Za-z0-9+/=_-]{16,}")


def secret_key(name: str) -> bool:
    return bool(_SECRET_KEY.search(name))


def redact_text(text: str) -> str:
    """A line of text with credential-shaped values replaced (`key=value` pairs with a secret key included)."""
    text = _SECRET_VALUE.sub(REDACTED, text)
    return re.sub(r"([\w.+-]+)=(\S+)", lambda m: f"{m.group(1)}={REDACTED}" if secret_key(m.group(1).lstrip("+"))
                  else m.group(0), text)


def redact_argv(argv: list[str]) -> list[str]:
    return [redact_text(arg) for arg in argv]


def redact_config(node: Any, key: str = "") -> Any:
    """A copy of a plain config (dicts, lists, scalars) with secret-named keys and secret-shaped values hidden."""
    if isinstance(node, dict):
        return {k: (REDACTED if secret_key(str(k)) and v not in (None, "") else redact_config(v, str(k)))
                for k, v in node.items()}
    if isinstance(node, list):
        return [redact_config(v, key) for v in node]
    if isinstance(node, str):
        return _SECRET_VALUE.sub(REDACTED, node)
    return node
