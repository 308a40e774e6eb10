"""Fault injection for retry tests: `/_emulator/faults`, outside the Run:ai API.

`POST /_emulator/faults` with `{"method": "GET", "path":
"/api/v1/org-unit/projects", "status": 503, "count": 2, "retryAfter": 1}`
makes the next `count` requests that match answer `status` with an `Error`
body, and a `Retry-After` header when `retryAfter` is given, instead of being
carried out. `path` is a concrete path (`/api/v1/org-unit/projects/3`) or a
path template of the document (`/api/v1/org-unit/projects/{projectId}`). When
several faults match a request, the oldest answers it. `GET` lists the faults
left (with the count each has left), `DELETE` clears them all.

Faults live in memory only: a restart forgets them. They are checked after
authentication, so a request without a valid token is refused with 401 and
uses up no fault (except on `POST /api/v1/token`, which needs no token).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ._errors import bad_request
from ._http import Call, Endpoint, Reply
from ._records import Json
from ._spec import SpecViolation, load_document, operation_methods, path_template
from ._wire import json_response

__all__ = ["FAULTS_PATH", "Fault", "FaultBook", "FaultInjection", "endpoints"]

FAULTS_PATH = "/_emulator/faults"

_FIELDS = ("method", "path", "status", "count", "retryAfter", "message")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclasses.dataclass
class Fault:
    """One injected failure and how many more requests it will answer."""

    method: str
    path: str
    status: int
    count: int
    retry_after: int | None = None
    message: str | None = None
    used: int = 0

    @property
    def is_template(self) -> bool:
        """Whether `path` is a template such as `/api/v1/x/{id}`."""
        return "{" in self.path

    def view(self) -> Json:
        """The fault as `GET /_emulator/faults` lists it."""
        view: Json = {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "count": self.count - self.used,
        }
        if self.retry_after is not None:
            view["retryAfter"] = self.retry_after
        if self.message is not None:
            view["message"] = self.message
        return view


class FaultBook:
    """The pending faults of one running emulator; safe to use from any thread."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Queue a fault behind the ones already pending."""
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The oldest fault matching a request, counted as used, or None."""
        with self._lock:
            if not self._faults:
                return None
            template = _template_of(path)
            for fault in self._faults:
                if _matches(fault, method, path, template):
                    fault.used += 1
                    if fault.used >= fault.count:
                        self._faults.remove(fault)
                    return dataclasses.replace(fault)
        return None

    def pending(self) -> list[Fault]:
        """Copies of the faults still pending, oldest first."""
        with self._lock:
            return [dataclasses.replace(fault) for fault in self._faults]

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()


class FaultInjection:
    """Answers a request with its pending fault instead of passing it on."""

    def __init__(self, app: ASGIApp, *, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None
        if scope["type"] == "http":
            fault = self.book.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = {"code": fault.status, "message": _message(fault)}
        response = json_response(body, status=fault.status, headers=headers)
        await response(scope, receive, send)


def endpoints(book: FaultBook) -> list[Endpoint]:
    """`POST`, `GET` and `DELETE /_emulator/faults` for one fault book."""

    def create(call: Call) -> Reply:
        fault = _fault(call.body)
        book.add(fault)
        return Reply(201, fault.view())

    def list_faults(_call: Call) -> Reply:
        return Reply(200, {"faults": [fault.view() for fault in book.pending()]})

    def clear(_call: Call) -> Reply:
        book.clear()
        return Reply(204)

    return [
        Endpoint("POST", FAULTS_PATH, create, documented=False),
        Endpoint("GET", FAULTS_PATH, list_faults, documented=False),
        Endpoint("DELETE", FAULTS_PATH, clear, documented=False),
    ]


def _fault(body: Json) -> Fault:
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise bad_request(
            f"{unknown[0]}: not a fault field; a fault has "
            + ", ".join(_FIELDS)
            + " (method, path and status are required)"
        )
    method = _method(body.get("method"))
    path = _path(body.get("path"), method)
    status = _whole("status", body.get("status"), low=400, high=599, fix=_STATUS_FIX)
    count = _whole("count", body.get("count", 1), low=1, fix=_COUNT_FIX)
    retry_after = body.get("retryAfter")
    if retry_after is not None:
        retry_after = _whole("retryAfter", retry_after, low=0, fix=_RETRY_FIX)
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise bad_request(f"message: {message!r} is not a string; give the text")
    return Fault(method, path, status, count, retry_after, message)


_STATUS_FIX = "give an error status from 400 to 599, such as 503"
_COUNT_FIX = "give how many requests the fault answers, 1 or more (default 1)"
_RETRY_FIX = "give whole seconds for the Retry-After header, 0 or more"


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in _METHODS:
        raise bad_request(
            f"method: {value!r} is not an HTTP method of the API; use one of "
            + ", ".join(_METHODS)
        )
    return value.upper()


def _path(value: Any, method: str) -> str:
    if not isinstance(value, str) or not value.startswith("/api/"):
        raise bad_request(
            f"path: {value!r} is not a path of the Run:ai API; give one such as"
            " /api/v1/org-unit/projects or /api/v1/org-unit/projects/{projectId}"
        )
    if "?" in value:
        raise bad_request(
            f"path: {value!r} has a query string; faults match the path alone,"
            " so leave out everything from '?' on"
        )
    path = value.rstrip("/")
    if "{" in path:
        template = path if path in load_document()["paths"] else None
    else:
        template = _template_of(path)
    if template is None:
        raise bad_request(
            f"path: {value!r} is neither a path nor a path template of the Run:ai"
            " API document; check the spelling against the document"
        )
    allowed = operation_methods(template)
    if method not in allowed:
        raise bad_request(
            f"method: the Run:ai API has no {method} {template}, so no request"
            f" could meet this fault; that path takes {', '.join(allowed)}"
        )
    return path


def _whole(
    field: str, value: Any, *, low: int, high: int | None = None, fix: str
) -> int:
    # bool is an int in Python, but `true` is no count.
    fits = isinstance(value, int) and not isinstance(value, bool)
    if not fits or value < low or (high is not None and value > high):
        raise bad_request(f"{field}: {value!r} is not allowed; {fix}")
    result: int = value
    return result


def _matches(fault: Fault, method: str, path: str, template: str | None) -> bool:
    if fault.method != method.upper():
        return False
    if fault.is_template:
        return template == fault.path
    return fault.path == path.rstrip("/")


def _template_of(path: str) -> str | None:
    try:
        return path_template(path)
    except SpecViolation:
        return None


def _message(fault: Fault) -> str:
    if fault.message is not None:
        return fault.message
    return (
        f"injected fault {fault.used} of {fault.count} for {fault.method}"
        f" {fault.path} (POST {FAULTS_PATH}); the request was not carried out"
    )
