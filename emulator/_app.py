"""The Starlette application: routing, authentication, validation and logging.

Each endpoint of the resource modules becomes one route on the document's own
path template. Around every handler the app reads the body (`_wire`: 413 past
1 MiB, 415 unless JSON, 400 for numbers JSON cannot carry or deep nesting),
checks it against the operation's request schema (400 naming the field), and
runs the handler in one store transaction, after placing the `Pending`
revisions that fit by now (`_placement`). Three middlewares wrap the whole
app, outermost first: a one-line-per-request log that records method, path,
status and duration but never bodies, headers or query strings; bearer-token
authentication (everything but `/api/v1/token`); and the injected faults of
`/_emulator/faults`. A known path asked with a method it lacks answers 405
naming the methods it takes.
"""

from __future__ import annotations

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
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    _assets,
    _auth,
    _catalog,
    _datasources,
    _departments,
    _faults,
    _inferences,
    _lookups,
    _projects,
)
from ._auth import token_problem
from ._clock import PROGRESS_DEADLINE_SECONDS
from ._errors import ApiError, bad_request
from ._http import Call, Endpoint
from ._placement import place_pending
from ._spec import SpecViolation, operation_methods, path_template, validate_request
from ._state import DEFAULT_CLIENT_ID, Emulator
from ._wire import check_json_content_type, json_response, parse_json, read_body

__all__ = ["ASSET_KIND_ENDPOINTS", "ENDPOINTS", "build_app", "create_app"]

logger = logging.getLogger("emulator")

ENDPOINTS: list[Endpoint] = [
    *_auth.ENDPOINTS,
    *_catalog.ENDPOINTS,
    *_departments.ENDPOINTS,
    *_projects.ENDPOINTS,
    *_assets.ENDPOINTS,
    *_inferences.ENDPOINTS,
]
"""The operations of the Run:ai API that `tests/test_emulator.py` covers."""

ASSET_KIND_ENDPOINTS: list[Endpoint] = [
    *_assets.PASSWORD_ENDPOINTS,
    *_datasources.ENDPOINTS,
    *_lookups.ENDPOINTS,
]
"""The other asset kinds, covered by `tests/test_emulator_assets_kinds.py`.

The emulator implements `ENDPOINTS` and these; each list's test exercises
every operation in it and checks the answers against the document.
"""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def create_app(
    db_path: str | Path,
    *,
    speed: float = 1.0,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str | None = None,
    cluster_id: str | None = None,
    token_ttl: int = 3600,
    progress_deadline: float = PROGRESS_DEADLINE_SECONDS,
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
        progress_deadline=progress_deadline,
    )
    return build_app(emulator, close_on_shutdown=True)


def build_app(emulator: Emulator, *, close_on_shutdown: bool = False) -> Starlette:
    """An ASGI app serving an already opened emulator."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        yield
        if close_on_shutdown:
            emulator.close()

    faults = _faults.FaultBook()
    endpoints = [*ENDPOINTS, *ASSET_KIND_ENDPOINTS, *_faults.endpoints(faults)]
    app = Starlette(
        routes=[_route(emulator, endpoint) for endpoint in endpoints],
        middleware=[
            Middleware(_RequestLog),
            Middleware(_Authentication, emulator=emulator, public=_public(endpoints)),
            Middleware(_faults.FaultInjection, book=faults),
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
        try:
            with emulator.store.transaction():
                # Nothing schedules in the background: each request first
                # gives GPUs to the Pending revisions that fit by now.
                place_pending(emulator, call.now)
                reply = endpoint.operation(call)
        except ApiError:
            raise
        except Exception as error:
            # Answered here: past this point Starlette would re-raise it after
            # answering, and uvicorn would drop the connection.
            return _internal_error(error)
        if reply.body is None:
            return Response(status_code=reply.status)
        return json_response(reply.body, status=reply.status)

    return Route(endpoint.template, handle, methods=[endpoint.method])


async def _json_body(request: Request, endpoint: Endpoint) -> Any:
    # Read even when unused, so an oversized body is refused the same way.
    raw = await read_body(request)
    if endpoint.method not in _BODY_METHODS:
        return None
    label = f"{endpoint.method} {endpoint.template}"
    if not raw.strip():
        raise bad_request(f"{label} needs a JSON body (Content-Type: application/json)")
    check_json_content_type(request.headers.get("content-type"), label)
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise bad_request(
            f"{label}: the request body must be a JSON object, not"
            f" {_JSON_TYPES.get(type(body), 'a value')}; send {{...}}"
        )
    if not endpoint.documented:
        return body
    try:
        validate_request(endpoint.method, endpoint.template, body)
    except SpecViolation as violation:
        raise bad_request(str(violation)) from None
    return body


def _public(endpoints: Iterable[Endpoint]) -> frozenset[str]:
    # Paths, not operations: any method on them passes, so that a wrong one
    # gets its 405 rather than a 401 (public paths have no parameters).
    return frozenset(e.template for e in endpoints if e.public)


class _Authentication:
    """Refuses with 401 any request without a valid bearer token."""

    def __init__(
        self, app: ASGIApp, *, emulator: Emulator, public: frozenset[str]
    ) -> None:
        self.app = app
        self.emulator = emulator
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") in self.public:
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
        response = json_response({"code": 401, "message": problem}, status=401)
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
    return json_response(error.body(), status=error.status)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    label = f"{request.method} {request.url.path}"
    headers: dict[str, str] = {}
    if error.status_code == 404:
        message = f"{label}: {_unknown_route(request.url.path)}"
    elif error.status_code == 405:
        allowed = _allowed_methods(request.app.router.routes, request.scope)
        headers["Allow"] = ", ".join(allowed)
        message = f"{label}: {_wrong_method(request, allowed)}"
    else:
        message = f"{label}: {error.detail}"
    body = {"code": error.status_code, "message": message}
    return json_response(body, status=error.status_code, headers=headers)


def _unknown_route(path: str) -> str:
    try:
        template = path_template(path)
    except SpecViolation:
        return "no such path in the Run:ai API"
    return f"the Run:ai API has {template}, but the emulator does not implement it"


def _allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    methods: set[str] = set()
    for route in routes:
        match, _child = route.matches(scope)
        if match != Match.NONE and isinstance(route, Route):
            methods |= route.methods or set()
    # Starlette answers HEAD wherever GET is served; the API never mentions it.
    return sorted(methods - {"HEAD"})


def _wrong_method(request: Request, allowed: list[str]) -> str:
    message = (
        f"method {request.method} is not allowed on this path; it takes"
        f" {', '.join(allowed)}"
    )
    try:
        documented = operation_methods(path_template(request.url.path))
    except SpecViolation:
        return message
    missing = [method for method in documented if method not in allowed]
    if request.method in missing:
        return (
            f"{message}. The Run:ai API also has {request.method} here, but the"
            " emulator does not implement it"
        )
    return message


async def _unexpected_error(_request: Request, error: Exception) -> Response:
    return _internal_error(error)


def _internal_error(error: Exception) -> Response:
    logger.error("unexpected %s", type(error).__name__, exc_info=error)
    message = (
        f"internal emulator error ({type(error).__name__}); this is a bug in the"
        " emulator, and its log has the details"
    )
    return json_response({"code": 500, "message": message}, status=500)
