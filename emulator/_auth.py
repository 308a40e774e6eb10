"""Access tokens: HS256 JWTs signed with a key kept in the database.

A token carries its own expiry (`exp`) like the real control plane's, so a
client that decodes it, as runapy does, finds a lifetime that matches
`expiresIn`. The signing key is generated on first start and stored, which is
why a token issued before a restart stays valid afterwards until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from ._errors import ApiError, bad_request
from ._http import Call, Endpoint, Reply

__all__ = ["ENDPOINTS", "issue_token", "token_problem"]

_HEADER = {"alg": "HS256", "typ": "JWT"}
_ISSUER = "runai-emulator"


def issue_token(*, key: bytes, subject: str, ttl: int, now: float) -> str:
    """A signed token for `subject` that expires `ttl` seconds after `now`."""
    claims = {
        "iss": _ISSUER,
        "sub": subject,
        "iat": int(now),
        "exp": int(now) + ttl,
        "jti": secrets.token_hex(8),
    }
    signing_input = f"{_encode(_HEADER)}.{_encode(claims)}"
    return f"{signing_input}.{_sign(key, signing_input)}"


def token_problem(authorization: str | None, *, key: bytes, now: float) -> str | None:
    """Why an `Authorization` header is not accepted, or None when it is."""
    if not authorization:
        return (
            "missing Authorization header; send 'Authorization: Bearer <token>'"
            " with a token from POST /api/v1/token"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "the Authorization header must be 'Bearer <token>'"

    claims = _verified_claims(token.strip(), key)
    if claims is None:
        return "the access token is not valid; get a new one from POST /api/v1/token"
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return "the access token has expired; get a new one from POST /api/v1/token"
    return None


def _verified_claims(token: str, key: bytes) -> dict[str, Any] | None:
    parts = token.split(".")
    if not token.isascii() or len(parts) != 3:
        return None
    signing_input = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(key, signing_input), parts[2]):
        return None
    try:
        claims = json.loads(_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _sign(key: bytes, signing_input: str) -> str:
    digest = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _encode(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _credential(body: dict[str, Any], *names: str) -> str | None:
    # Run:ai's Go server matches JSON keys case-insensitively, so `clientId`
    # works as well as the documented `clientID`.
    lowered = {key.lower(): value for key, value in body.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, str):
            return value
    return None


def create_token(call: Call) -> Reply:
    """`POST /api/v1/token` with the client-credentials grant."""
    body = call.body if isinstance(call.body, dict) else {}
    grant = body.get("grantType")
    if grant not in _GRANTS:
        raise bad_request(
            f"grantType: {grant!r} is not supported by the emulator; use"
            " 'client_credentials' with clientID and clientSecret"
        )

    settings = call.emulator.settings
    client_id = _credential(body, *_GRANTS[grant][0])
    client_secret = _credential(body, *_GRANTS[grant][1])
    if client_id is None or client_secret is None:
        raise bad_request(
            f"grantType {grant} needs {_GRANTS[grant][0][0]} and"
            f" {_GRANTS[grant][1][0]} (strings)"
        )
    id_ok = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    secret_ok = hmac.compare_digest(
        client_secret.encode(), settings.client_secret.encode()
    )
    if not (id_ok and secret_ok):
        raise ApiError(401, "unknown client id or wrong client secret")

    token = issue_token(
        key=settings.signing_key,
        subject=client_id,
        ttl=settings.token_ttl,
        now=call.now,
    )
    return Reply(200, {"accessToken": token, "expiresIn": settings.token_ttl})


# runapy itself still sends the deprecated app_token grant with appID/appSecret.
_GRANTS = {
    "client_credentials": (("clientID",), ("clientSecret",)),
    "app_token": (("appID", "AppId"), ("appSecret", "AppSecret")),
}

ENDPOINTS = [Endpoint("POST", "/api/v1/token", create_token, public=True)]
