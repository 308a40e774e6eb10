"""Value helpers shared by the client and the providers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["normalize"]


def normalize(value: Any) -> Any:
    """Integral floats back to ints, recursively: the engine sends 2 as 2.0."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, Mapping):
        return {key: normalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    return value
