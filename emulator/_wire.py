"""What crosses the wire: reading request bodies and rendering JSON answers.

A request body is read up to `MAX_BODY_BYTES` (413 past it), must say it is
JSON (415 otherwise), and must parse into numbers a 64-bit float can hold
(JSON has no NaN or Infinity, and `1e400` overflows: 400 naming the field)
nested at most `MAX_DEPTH` levels, with no null list items (400: no Run:ai
list means anything by one). Answers are rendered with finite numbers only, so
no stored value can make an answer fail.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._errors import ApiError, bad_request
from ._spec import json_path

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "check_json_content_type",
    "json_response",
    "parse_json",
    "read_body",
]

logger = logging.getLogger("emulator")

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted: 1 MiB, far above any Run:ai request."""

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in a request body."""

_LIMIT = f"1 MiB ({MAX_BODY_BYTES} bytes)"


class _Unrepresentable:
    """A number the JSON parser met that no 64-bit float can hold."""

    def __init__(self, text: str) -> None:
        self.text = text


async def read_body(request: Request) -> bytes:
    """The whole request body, or 413 once it passes `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(int(declared))

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        # A chunked body declares no length: count it as it arrives.
        if size > MAX_BODY_BYTES:
            raise _too_large(None)
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_content_type(content_type: str | None, label: str) -> None:
    """415 unless a request that has a body says its body is JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return
    shown = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    raise ApiError(
        415,
        f"{label}: the body has {shown}, but the Run:ai API takes JSON bodies only;"
        " send the body as JSON with Content-Type: application/json",
    )


def parse_json(raw: bytes) -> Any:
    """Parse a request body, refusing unrepresentable numbers and deep nesting."""
    try:
        document = json.loads(
            raw,
            parse_constant=_Unrepresentable,
            parse_float=_float,
            parse_int=_int,
        )
    except RecursionError:
        raise _too_deep("(body)") from None
    except ValueError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from None
    _check_tree(document)
    return document


def json_response(
    body: Any, *, status: int, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer; a non-finite number in `body` is rendered as null."""
    try:
        text = _dumps(body)
    except ValueError:
        # Bodies hold finite numbers only, but arithmetic on huge ones can still
        # overflow (1e300 CPU cores times the pods), as can an older database.
        logger.warning("an answer held a non-finite number; it is sent as null")
        text = _dumps(_finite(body))
    return Response(
        text, status_code=status, headers=headers, media_type="application/json"
    )


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _float(text: str) -> float | _Unrepresentable:
    value = float(text)
    return value if math.isfinite(value) else _Unrepresentable(text)


def _int(text: str) -> int | _Unrepresentable:
    value = int(text)
    # Integers beyond the float range cannot be used as numbers either.
    return value if abs(value) <= sys.float_info.max else _Unrepresentable(text)


def _check_tree(document: Any) -> None:
    for value, parts, depth in _walk(document):
        if depth > MAX_DEPTH:
            raise _too_deep(json_path(parts))
        if value is None and parts and isinstance(parts[-1], int):
            raise bad_request(
                f"{json_path(parts)}: null is not allowed as a list item; leave"
                " the item out of the list"
            )
        if isinstance(value, _Unrepresentable):
            raise bad_request(
                f"{json_path(parts)}: {_shorten(value.text)} is not a finite"
                " number a 64-bit float can hold (JSON has no NaN or Infinity,"
                f" and magnitudes above {sys.float_info.max:.4g} overflow);"
                " send a finite number"
            )


def _walk(document: Any) -> Iterator[tuple[Any, list[str | int], int]]:
    # Iterative, in document order: a recursive walk could itself overflow.
    stack: list[tuple[Any, list[str | int], int]] = [(document, [], 0)]
    while stack:
        value, parts, depth = stack.pop()
        yield value, parts, depth
        if isinstance(value, dict):
            children = [(v, [*parts, k], depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, [*parts, i], depth + 1) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _too_large(size: int | None) -> ApiError:
    # What is left unread, uvicorn reads and drops after the answer, so the
    # client still gets the 413 and can reuse the connection.
    shown = "" if size is None else f"{size} bytes, "
    return ApiError(
        413,
        f"the request body is {shown}over the limit of {_LIMIT}; send a smaller"
        " body (Run:ai requests are a few KiB)",
    )


def _too_deep(where: str) -> ApiError:
    return bad_request(
        f"{where}: the request body nests objects and arrays deeper than the"
        f" limit of {MAX_DEPTH} levels; Run:ai bodies nest far less, so flatten it"
    )


def _shorten(text: str) -> str:
    return (
        text if len(text) <= 24 else f"{text[:12]}...{text[-6:]} ({len(text)} digits)"
    )
