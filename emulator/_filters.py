"""List queries: `filterBy`, `sortBy`, `sortOrder`, `offset` and `limit`.

Run:ai list endpoints take repeatable `filterBy=<field><op><value>` terms that
must all hold. The emulator supports every operator on the fields each endpoint
names; any other field is a 400 that lists the supported ones, so a client
learns at once that the emulator cannot answer that question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from starlette.datastructures import QueryParams

from ._errors import bad_request

__all__ = ["Fields", "select"]

T = TypeVar("T")
Fields = Mapping[str, Callable[[T], object]]

_TERM = re.compile(
    r"^(?P<field>[A-Za-z0-9]+)(?P<op>==|!=|<=|>=|=@|!@|=\^|=\$)(?P<value>.+)$"
)
_DEFAULT_LIMIT = 50


def select(items: Sequence[T], query: QueryParams, fields: Fields[T]) -> list[T]:
    """Apply the query's filters, sort and page to `items`."""
    chosen = list(items)
    for term in query.getlist("filterBy"):
        field, op, value = _parse(term, fields)
        chosen = [item for item in chosen if _holds(fields[field](item), op, value)]

    sort_by = query.get("sortBy")
    if sort_by is not None:
        if sort_by not in fields:
            raise bad_request(f"sortBy: {sort_by!r} is not supported; {_known(fields)}")
        descending = query.get("sortOrder", "asc") == "desc"
        chosen.sort(key=lambda item: _text(fields[sort_by](item)), reverse=descending)

    offset = _number(query, "offset", 0)
    limit = _number(query, "limit", _DEFAULT_LIMIT)
    return chosen[offset : offset + limit]


def _parse(term: str, fields: Fields[T]) -> tuple[str, str, str]:
    match = _TERM.match(term)
    if match is None:
        raise bad_request(
            f"filterBy: {term!r} is not '<field><operator><value>'; operators are"
            " ==, !=, <=, >=, =@, !@, =^ and =$ (for example 'name==llama')"
        )
    if match["field"] not in fields:
        raise bad_request(
            f"filterBy: field {match['field']!r} is not supported here; "
            + _known(fields)
        )
    return match["field"], match["op"], match["value"]


def _holds(actual: object, op: str, wanted: str) -> bool:
    text = _text(actual)
    tests: dict[str, Callable[[], bool]] = {
        "==": lambda: text == wanted,
        "!=": lambda: text != wanted,
        "=@": lambda: wanted in text,
        "!@": lambda: wanted not in text,
        "=^": lambda: text.startswith(wanted),
        "=$": lambda: text.endswith(wanted),
        "<=": lambda: _ordered(text, wanted),
        ">=": lambda: _ordered(wanted, text),
    }
    return tests[op]()


def _ordered(low: str, high: str) -> bool:
    try:
        return float(low) <= float(high)
    except ValueError:
        return low <= high


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _number(query: QueryParams, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise bad_request(f"{name}: {raw!r} is not a whole number >= 0")
    return int(raw)


def _known(fields: Fields[T]) -> str:
    return "supported fields: " + ", ".join(sorted(fields))
