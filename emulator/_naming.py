"""Kubernetes names: the checks Run:ai applies and the names it generates.

Projects become namespaces and inferences become Knative services, so their
names must be DNS-1123 labels; credentials and data sources get a generated
Kubernetes object name derived from the asset name.
"""

from __future__ import annotations

import re

from ._errors import bad_request

__all__ = ["check_dns_label", "derived_name", "is_dns_label"]

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_LABEL = 63


def is_dns_label(name: str) -> bool:
    """True for a DNS-1123 label: 1-63 of a-z, 0-9, '-'; alphanumeric at both ends."""
    return len(name) <= _MAX_LABEL and _LABEL.match(name) is not None


def check_dns_label(field: str, name: str, *, limit: int = _MAX_LABEL) -> None:
    """Raise 400 naming `field` unless `name` is a DNS-1123 label of at most `limit`."""
    if len(name) > limit or _LABEL.match(name) is None:
        raise bad_request(
            f"{field}: {name!r} is not a valid Kubernetes name; use at most {limit}"
            " lowercase letters, digits and '-', starting and ending with a letter"
            " or digit (for example 'llama-3-8b')"
        )


def derived_name(name: str, suffix: str) -> str:
    """A DNS-1123 label made from any asset name plus a short unique suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    base = base[: _MAX_LABEL - len(suffix) - 1].rstrip("-") or "asset"
    return f"{base}-{suffix}"
