"""The small contract between the app and the resource handlers.

A handler is a plain function from a `Call` (state, path parameters, query,
validated body, the time of the request) to a `Reply` (status and JSON body).
It runs inside one store transaction and raises `ApiError` to refuse, so the
resource modules contain only the rules of the API, no HTTP plumbing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import QueryParams

from ._errors import bad_request
from ._state import Emulator

__all__ = ["Call", "Endpoint", "Operation", "Reply"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One API request as a handler sees it."""

    emulator: Emulator
    params: Mapping[str, str]
    query: QueryParams
    body: Any
    now: float

    def flag(self, name: str) -> bool:
        """A boolean query parameter; absent means False."""
        raw = self.query.get(name)
        if raw is None or raw.lower() == "false":
            return False
        if raw.lower() == "true":
            return True
        raise bad_request(f"{name}: {raw!r} is not a boolean; use true or false")

    def integer(self, name: str) -> int | None:
        """An integer query parameter, or None when absent."""
        raw = self.query.get(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise bad_request(f"{name}: {raw!r} is not an integer") from None


@dataclasses.dataclass(frozen=True)
class Reply:
    """A status and a JSON body; a None body sends no content at all."""

    status: int
    body: Any = None


Operation = Callable[[Call], Reply]


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One operation: its method, the spec's path template and its handler.

    `public` operations need no token. Operations that are not `documented`
    (the emulator's own `/_emulator/...`) skip the OpenAPI body check.
    """

    method: str
    template: str
    operation: Operation
    public: bool = False
    documented: bool = True
