"""Kubernetes quantities ("20Gi", "500m", "1.5") as numbers, to compare them."""

from __future__ import annotations

import re

__all__ = ["QUANTITY_PATTERN", "cpu_cores", "quantity_value"]

QUANTITY_PATTERN = re.compile(r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
"""The pattern the Run:ai API puts on every quantity field."""

_SUFFIXES = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
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
    # The UI writes memory in MB and GB; accept its spelling too.
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
}


def quantity_value(text: str) -> float:
    """The number a quantity stands for: `20Gi` -> 21474836480.0, `500m` -> 0.5."""
    match = re.fullmatch(
        r"([+]?[0-9.]+)(?:([eE][-+]?[0-9]+)|([a-zA-Z]*))", text.strip()
    )
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, exponent, suffix = match.groups()
    value = float(number)
    if exponent:
        return value * 10.0 ** int(exponent[1:])
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"{text!r} has an unknown unit {suffix!r}: use one of "
            "m, k, M, G, T, Ki, Mi, Gi, Ti"
        )
    return value * _SUFFIXES[suffix]


def cpu_cores(value: str | float | int) -> float:
    """CPU cores from a number of cores or a quantity such as `500m`."""
    if isinstance(value, int | float):
        return float(value)
    return quantity_value(value)
