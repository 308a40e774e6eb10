"""A small Run:ai control-plane client for the dynamic providers.

Providers build one inside every call from a `ConnectionSettings`; nothing here
is stored on a provider object, so the serialized provider holds no client and
no secret. Access tokens come from `POST /api/v1/token` (client credentials)
and are cached per (url, client id) until shortly before they expire, so a
`pulumi up` that touches ten resources asks for one token, not ten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ._values import normalize
from .errors import (
    ApiError,
    ConflictError,
    ControlPlaneUnreachable,
    NotFoundError,
)

__all__ = ["ConnectionSettings", "RunaiClient"]

logger = logging.getLogger("runai_hf")

_TOKEN_MARGIN_SECONDS = 60.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_ENV = {
    "url": "RUNAI_URL",
    "client_id": "RUNAI_CLIENT_ID",
    "secret": "RUNAI_CLIENT_SECRET",
}


@dataclasses.dataclass(frozen=True)
class ConnectionSettings:
    """Where the control plane is and how to authenticate; repr hides the secret."""

    url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)

    @classmethod
    def resolve(cls, config: Mapping[str, Any] | None = None) -> ConnectionSettings:
        """From `runai:` config keys, falling back to RUNAI_* environment variables."""
        config = config or {}
        url = config.get("runai:url") or os.environ.get(_ENV["url"])
        client_id = config.get("runai:clientId") or os.environ.get(_ENV["client_id"])
        secret = config.get("runai:clientSecret") or os.environ.get(_ENV["secret"])
        missing = [
            name
            for name, value in (
                ("runai:url (or RUNAI_URL)", url),
                ("runai:clientId (or RUNAI_CLIENT_ID)", client_id),
                ("runai:clientSecret (or RUNAI_CLIENT_SECRET)", secret),
            )
            if not value
        ]
        if missing:
            raise ControlPlaneUnreachable(
                "no Run:ai connection: set "
                + ", ".join(missing)
                + "; store the secret with `pulumi config set --secret "
                "runai:clientSecret <value>`"
            )
        return cls(str(url).rstrip("/"), str(client_id), str(secret))


_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _retryable(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    return isinstance(error, ApiError) and error.status in _RETRY_STATUSES


class RunaiClient:
    """Authenticated JSON requests against one control plane."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
    ) -> None:
        self._settings = settings
        self._http = httpx.Client(
            base_url=settings.url, transport=transport, timeout=timeout
        )
        self._attempts = attempts

    def __enter__(self) -> RunaiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request with retries on 429, 5xx and connection errors."""
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=_ServerPacedWait(ceiling=30.0),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(method, path, json=json, params=params)
        except httpx.TransportError as error:
            raise ControlPlaneUnreachable(
                f"Run:ai control plane at {self._settings.url} did not answer "
                f"{method} {path}: {type(error).__name__}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
    ) -> Any:
        # The engine hands providers every number as a float; the API wants
        # integers where its schema says integer.
        json = normalize(json) if json is not None else None
        response = self._http.request(
            method, path, json=json, params=params, headers=self._auth(refresh=False)
        )
        if response.status_code == 401:
            # One refresh: the cached token may have been revoked early.
            response = self._http.request(
                method, path, json=json, params=params, headers=self._auth(refresh=True)
            )
        logger.debug("%s %s -> %s", method, path, response.status_code)
        if response.status_code >= 400:
            raise _api_error(method, path, response)
        if not response.content:
            return None
        return response.json()

    def _auth(self, *, refresh: bool) -> dict[str, str]:
        secret = hashlib.sha256(self._settings.client_secret.encode()).hexdigest()
        key = (self._settings.url, self._settings.client_id, secret)
        with _tokens_lock:
            cached = _tokens.get(key)
            if refresh or cached is None or cached[1] <= time.monotonic():
                cached = self._new_token()
                _tokens[key] = cached
        return {"Authorization": f"Bearer {cached[0]}"}

    def _new_token(self) -> tuple[str, float]:
        body = {
            "grantType": "client_credentials",
            "clientID": self._settings.client_id,
            "clientSecret": self._settings.client_secret,
        }
        try:
            response = self._http.post("/api/v1/token", json=body)
        except httpx.TransportError as error:
            raise ControlPlaneUnreachable(
                f"Run:ai control plane at {self._settings.url} did not answer the "
                f"token request: {type(error).__name__}"
            ) from None
        if response.status_code != 200:
            raise ControlPlaneUnreachable(
                f"Run:ai refused client {self._settings.client_id!r} at "
                f"{self._settings.url} ({response.status_code}): check runai:clientId "
                "and runai:clientSecret"
            )
        payload = response.json()
        lifetime = float(payload.get("expiresIn") or 300)
        expires = time.monotonic() + max(lifetime - _TOKEN_MARGIN_SECONDS, lifetime / 2)
        return str(payload["accessToken"]), expires


def _api_error(method: str, path: str, response: httpx.Response) -> ApiError:
    message = _api_message(response)
    kind: type[ApiError] = ApiError
    if response.status_code == 404:
        kind = NotFoundError
    elif response.status_code == 409:
        kind = ConflictError
    return kind(
        method=method,
        path=path,
        status=response.status_code,
        message=message,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header; an HTTP date is read as 'soon'."""
    if header is None:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        return 1.0


class _ServerPacedWait:
    """Honour Retry-After when the server sends one, else back off with jitter."""

    def __init__(self, ceiling: float) -> None:
        self._ceiling = ceiling
        self._fallback = wait_exponential_jitter(multiplier=0.2, max=ceiling)

    def __call__(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, ApiError) and error.retry_after is not None:
            return min(error.retry_after, self._ceiling)
        return float(self._fallback(state))


def _api_message(response: httpx.Response) -> str:
    # Only the API's own `message` field is kept; raw bodies may echo input
    # (and so secrets), so anything else is cut to a short, safe summary.
    try:
        payload = response.json()
    except ValueError:
        return response.reason_phrase or "no message"
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return str(payload["message"])[:500]
    return response.reason_phrase or "no message"
