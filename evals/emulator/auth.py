"""Request authentication: SigV4 (recomputed from the raw request with the configured secret) or a bearer API key.

The signature is recomputed with botocore's own SigV4 implementation (the reference signer), fed only with what
arrived on the wire: method, raw path, the headers the client says it signed, the body and its X-Amz-Date.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _fail("IncompleteSignatureException", MSG_BAD_SIGNATURE) from None
    if abs(dt.datetime.now(dt.UTC) - when) > MAX_SKEW or not amz_date.startswith(date):
        raise _fail("InvalidSignatureException", MSG_EXPIRED.format(date=amz_date))
    if "host" not in signed or any(h not in headers for h in signed):
        raise _fail("InvalidSignatureException", MSG_BAD_SIGNATURE)
    request = AWSRequest(
        method=method,
        url=f"{scheme}://{headers['host']}{raw_path}",
        headers={h: headers[h] for h in signed},
        data=body,
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(akid, secrets.secret_access_key), SERVICE, scope_region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _fail("InvalidSignatureException", MSG_BAD_SIGNATURE)
