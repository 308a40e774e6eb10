"""Numbers as the Run:ai API writes them: plain numbers and Kubernetes quantities.

The engine hands policies every number as a float (2.0 for 2), and the API
writes memory as quantity strings ("20Gi", "500M") but CPU as plain numbers;
the rules compare either kind through `quantity`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["QUANTITY_PATTERN", "fmt", "number", "quantity"]

# The pattern the Run:ai OpenAPI document gives for quantity strings.
QUANTITY_PATTERN = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

_SCALE = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_SHAPE = re.compile(r"^\+?(?P<digits>[0-9]+\.?[0-9]*|\.[0-9]+)(?P<suffix>.*)$")
_EXPONENT = re.compile(r"^[eE][-+]?[0-9]+$")


def number(value: Any) -> float | None:
    """A JSON number as a float; anything else (booleans included) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def quantity(value: Any) -> float | None:
    """A plain number or a Kubernetes quantity string in base units, else None."""
    plain = number(value)
    if plain is not None:
        return plain
    if not isinstance(value, str):
        return None
    match = _SHAPE.match(value.strip())
    if match is None:
        return None
    digits, suffix = float(match["digits"]), match["suffix"]
    if _EXPONENT.match(suffix):
        return digits * 10.0 ** int(suffix[1:])
    scale = _SCALE.get(suffix)
    return None if scale is None else digits * scale


def fmt(value: float) -> str:
    """A number for a message: 6 not 6.0, 1.5 as is, no float noise."""
    return f"{round(value, 6):g}"
