"""Request authentication: SigV4 (recomputed from the raw request with the configured secret) or a bearer API key.

The SigV4 check is written out here (hashlib/hmac, signing keys cached per day and region) rather than calling
botocore's signer, which costs ~3x more per request; the tests check it against botocore-signed traffic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from evals.emulator.wire import BedrockError

SERVICE = "bedrock"
MAX_SKEW = dt.timedelta(minutes=15)

MSG_MISSING = "Missing Authentication Token"
MSG_BAD_TOKEN = "The security token included in the request is invalid."
MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
MSG_REGION = "Credential should be scoped to a valid region."
MSG_SERVICE = "Credential should be scoped to correct service: 'bedrock'."
MSG_EXPIRED = "Signature expired: {date} is now earlier or later than the allowed 15 minute window."
MSG_API_KEY = "Authentication failed: Please make sure your API Key is valid."
MSG_BEARER_HTTP = "Bearer token authentication requires HTTPS."
MSG_UNSIGNED_HTTP = "UNSIGNED-PAYLOAD is only accepted over HTTPS; sign the payload's SHA-256."
UNSIGNED = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Secrets:
    access_key_id: str
    secret_access_key: str
    api_key: str


def _fail(code: str, message: str, key: str = "message") -> BedrockError:
    return BedrockError(code, message, message_key=key, kind="auth")


def authenticate(method: str, raw_path: str, headers: dict[str, str], body: bytes, *, scheme: str,
                 region: str, secrets: Secrets) -> str:
    """Return "sigv4" or "bearer" when the request is authentic; raise the 403 Bedrock answers otherwise.

    `headers` keys are lower-case.
    """
    value = headers.get("authorization", "")
    if value.startswith("Bearer "):
        if scheme != "https":
            raise _fail("AccessDeniedException", MSG_BEARER_HTTP)
        if not hmac.compare_digest(value[7:].strip().encode(), secrets.api_key.encode()):
            raise _fail("AccessDeniedException", MSG_API_KEY, key="Message")
        return "bearer"
    if value.startswith("AWS4-HMAC-SHA256 "):
        _verify_sigv4(method, raw_path, headers, body, value, scheme=scheme, region=region, secrets=secrets)
        return "sigv4"
    raise _fail("MissingAuthenticationTokenException", MSG_MISSING)


def _verify_sigv4(method: str, raw_path: str, headers: dict[str, str], body: bytes, value: str, *,
                  scheme: str, region: str, secrets: Secrets) -> None:
    fields: dict[str, str] = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    try:
        akid, date, scope_region, service, terminal = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
    except (KeyError, ValueError):
        raise _fail("IncompleteSignatureException", MSG_BAD_SIGNATURE) from None
    if not hmac.compare_digest(akid.encode(), secrets.access_key_id.encode()):
        raise _fail("UnrecognizedClientException", MSG_BAD_TOKEN)
    if scope_region != region:
        raise _fail("InvalidSignatureException", MSG_REGION)
    if service != SERVICE or terminal != "aws4_request":
        raise _fail("InvalidSignatureException", MSG_SERVICE)
    amz_date = headers.get("x-amz-date", "")
    try:
        if len(amz_date) != 16 or amz_date[8] != "T" or amz_date[15] != "Z":
            raise ValueError(amz_date)
        d, t = amz_date[:8], amz_date[9:15]
        when = dt.datetime(int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=dt.UTC)
    except ValueError:
        raise _fail("IncompleteSignatureException", MSG_BAD_SIGNATURE) from None
    if abs(dt.datetime.now(dt.UTC) - when) > MAX_SKEW or not amz_date.startswith(date):
        raise _fail("InvalidSignatureException", MSG_EXPIRED.format(date=amz_date))
    # HTTP/2 clients sign `:authority` where HTTP/1.1 clients sign `host`; one of them must be signed.
    if not ("host" in signed or ":authority" in signed) or any(h not in headers for h in signed):
        raise _fail("InvalidSignatureException", MSG_BAD_SIGNATURE)
    if scheme != "https" and headers.get("x-amz-content-sha256") == UNSIGNED:
        raise _fail("InvalidSignatureException", MSG_UNSIGNED_HTTP)
    expected = signature(method, raw_path, headers, signed, body, amz_date, scope_region, secrets.secret_access_key)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _fail("InvalidSignatureException", MSG_BAD_SIGNATURE)


_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9/_.~%-]*")


def _canonical_uri(path: str) -> str:
    """URI-encode the (already encoded) path once more, as non-S3 SigV4 does; fast path for the usual one."""
    if _UNRESERVED_PATH.fullmatch(path):
        return path.replace("%", "%25")
    return quote(path, safe="/~")


@lru_cache(maxsize=64)
def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(method: str, raw_path: str, headers: dict[str, str], signed: list[str], body: bytes,
              amz_date: str, region: str, secret: str) -> str:
    """SigV4 signature of a request as it arrived (non-S3 rules: the path is URI-encoded once more)."""
    payload_hash = headers.get("x-amz-content-sha256") if "x-amz-content-sha256" in signed else None
    if payload_hash is None or payload_hash != UNSIGNED:
        payload_hash = hashlib.sha256(body).hexdigest()
    path, _, query = raw_path.partition("?")
    canonical_query = "&".join(sorted(query.split("&"))) if query else ""
    canonical = "\n".join([
        method,
        _canonical_uri(path),
        canonical_query,
        "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed),
        ";".join(signed),
        payload_hash,
    ])
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(_signing_key(secret, amz_date[:8], region), to_sign.encode(), hashlib.sha256).hexdigest()
