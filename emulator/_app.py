"""The Starlette application: routing, authentication, validation and logging.

Each endpoint of the resource modules becomes one route on the document's own
path template. Around every handler the app parses the JSON body, checks it
against the operation's request schema (400 naming the field on failure), and
runs the handler in one store transaction. Two middlewares wrap the whole app:
bearer-token authentication (everything but `POST /api/v1/token`) and a
one-line-per-request log that records method, path, status and duration but
never bodies, headers or query strings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _assets, _auth, _catalog, _inferences, _projects
from ._auth import token_problem
from ._errors import ApiError, bad_request
from ._http import Call, Endpoint
from ._spec import SpecViolation, path_template, validate_request
from ._state import DEFAULT_CLIENT_ID, Emulator

__all__ = ["ENDPOINTS", "build_app", "create_app"]

logger = logging.getLogger("emulator")

ENDPOINTS: list[Endpoint] = [
    *_auth.ENDPOINTS,
    *_catalog.ENDPOINTS,
    *_projects.ENDPOINTS,
    *_assets.ENDPOINTS,
    *_inferences.ENDPOINTS,
]
"""Every operation the emulator implements."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def create_app(
    db_path: str | Path,
    *,
    speed: float = 1.0,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str | None = None,
    cluster_id: str | None = None,
    token_ttl: int = 3600,
) -> Starlette:
    """An ASGI app serving the emulated API from a database file.

    The emulator state is `app.state.emulator`; its database closes when the
    app's lifespan ends (or call `app.state.emulator.close()` yourself when the
    app is driven without a lifespan, as with `httpx.ASGITransport`).
    """
    emulator = Emulator.open(
        db_path,
        speed=speed,
        client_id=client_id,
        client_secret=client_secret,
        cluster_id=cluster_id,
        token_ttl=token_ttl,
    )
    return build_app(emulator, close_on_shutdown=True)


def build_app(emulator: Emulator, *, close_on_shutdown: bool = False) -> Starlette:
    """An ASGI app serving an already opened emulator."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        yield
        if close_on_shutdown:
            emulator.close()

    app = Starlette(
        routes=[_route(emulator, endpoint) for endpoint in ENDPOINTS],
        middleware=[
            Middleware(_RequestLog),
            Middleware(_Authentication, emulator=emulator, public=_public(ENDPOINTS)),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def _route(emulator: Emulator, endpoint: Endpoint) -> Route:
    async def handle(request: Request) -> Response:
        body = await _json_body(request, endpoint)
        call = Call(
            emulator=emulator,
            params=request.path_params,
            query=request.query_params,
            body=body,
            now=emulator.clock.now(),
        )
        with emulator.store.transaction():
            reply = endpoint.operation(call)
        if reply.body is None:
            return Response(status_code=reply.status)
        return JSONResponse(reply.body, status_code=reply.status)

    return Route(endpoint.template, handle, methods=[endpoint.method])


async def _json_body(request: Request, endpoint: Endpoint) -> Any:
    raw = await request.body()
    if endpoint.method not in _BODY_METHODS:
        return None
    if not raw.strip():
        raise bad_request(
            f"{endpoint.method} {endpoint.template} needs a JSON body"
            " (Content-Type: application/json)"
        )
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    try:
        validate_request(endpoint.method, endpoint.template, body)
    except SpecViolation as violation:
        raise bad_request(str(violation)) from None
    return body


def _public(endpoints: Iterable[Endpoint]) -> frozenset[tuple[str, str]]:
    return frozenset((e.method, e.template) for e in endpoints if e.public)


class _Authentication:
    """Refuses with 401 any request without a valid bearer token."""

    def __init__(
        self, app: ASGIApp, *, emulator: Emulator, public: frozenset[tuple[str, str]]
    ) -> None:
        self.app = app
        self.emulator = emulator
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.public:
            await self.app(scope, receive, send)
            return
        problem = token_problem(
            Headers(scope=scope).get("authorization"),
            key=self.emulator.settings.signing_key,
            now=self.emulator.clock.now(),
        )
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"code": 401, "message": problem}, status_code=401)
        await response(scope, receive, send)


class _RequestLog:
    """Logs `METHOD /path status duration` once per request, at INFO."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        logged = False

        def log() -> None:
            nonlocal logged
            logged = True
            elapsed = (time.perf_counter() - started) * 1000
            # The path only: query strings can carry names and filters, and
            # headers carry tokens.
            logger.info(
                "%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed
            )

        async def send_and_log(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            # Logged before the last byte leaves, so the line exists by the
            # time the client has its answer.
            last = message["type"] == "http.response.body" and not message.get(
                "more_body", False
            )
            if last:
                log()
            await send(message)

        try:
            await self.app(scope, receive, send_and_log)
        finally:
            if not logged:
                log()


async def _api_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return JSONResponse(error.body(), status_code=error.status)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    label = f"{request.method} {request.url.path}"
    if error.status_code == 404:
        message = f"{label}: {_unknown_route(request.url.path)}"
    elif error.status_code == 405:
        message = f"{label}: the emulator does not implement this method on this path"
    else:
        message = f"{label}: {error.detail}"
    return JSONResponse(
        {"code": error.status_code, "message": message}, status_code=error.status_code
    )


def _unknown_route(path: str) -> str:
    try:
        template = path_template(path)
    except SpecViolation:
        return "no such path in the Run:ai API"
    return f"the Run:ai API has {template}, but the emulator does not implement it"


async def _unexpected_error(_request: Request, error: Exception) -> Response:
    logger.error("unexpected %s", type(error).__name__, exc_info=error)
    body = {"code": 500, "message": f"internal emulator error ({type(error).__name__})"}
    return JSONResponse(body, status_code=500)
