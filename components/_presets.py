"""Reusable setups: named environments and compute resources, merged per inference.

A stack defines `environments` (how the server runs) and `computeResources`
(what each replica gets) once; an inference names one of each and overrides
single fields. The merge happens on the raw stack values, before validation,
so the merged inference is validated, deployed and shown as one.

A preset may instead reference an asset that exists in Run:ai (`existing:
true`, with `runaiName` and `scope`): nothing is merged offline then; the
program looks the asset up when it runs and copies from it what the inference
leaves unset (see `components/_existing.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._config_errors import closest

__all__ = [
    "COMPUTE_FIELDS",
    "ENVIRONMENT_FIELDS",
    "REFERENCE_FIELDS",
    "expand_presets",
    "is_reference",
]

ENVIRONMENT_FIELDS = (
    "server",
    "image",
    "imagePullPolicy",
    "imagePullSecrets",
    "command",
    "args",
    "env",
    "workingDir",
    "security",
    "endpoint",
    "tools",
)
COMPUTE_FIELDS = ("gpu", "cpu", "memory", "largeSharedMemory", "extendedResources")
REFERENCE_FIELDS = ("existing", "runaiName", "scope")
"""What a preset that references an existing Run:ai asset may say."""

_SCOPES = ("project", "department", "cluster", "tenant")

_KINDS = {
    "environment": ("environments", "an environment", ENVIRONMENT_FIELDS),
    "compute": ("computeResources", "a compute resource", COMPUTE_FIELDS),
}


def merged(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        result = dict(base)
        for key, value in override.items():
            result[key] = merged(base.get(key), value) if key in base else value
        return result
    return copy.deepcopy(override)


def expand_presets(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stack values with each inference merged over the presets it names."""
    problems: list[str] = []
    presets = {
        reference: _presets(values, section, what, fields, problems)
        for reference, (section, what, fields) in _KINDS.items()
    }
    inferences = values.get("inferences")
    if not isinstance(inferences, list):
        return dict(values), problems
    expanded = []
    for index, inference in enumerate(inferences):
        if not isinstance(inference, dict):
            expanded.append(inference)
            continue
        base: dict[str, Any] = {}
        for reference, (section, what, _) in _KINDS.items():
            name = inference.get(reference)
            if name is None:
                continue
            known = presets[reference]
            if not isinstance(name, str) or name not in known:
                hint = (
                    closest(str(name), sorted(known))
                    if known
                    else (f"; define it under runai-hf:{section}")
                )
                problems.append(
                    f"runai-hf:inferences[{index}].{reference}: {name!r} is not "
                    f"{what} of this stack{hint}"
                )
                continue
            base = merged(base, known[name])
        expanded.append(merged(base, inference))
    return {**values, "inferences": expanded}, problems


def _presets(
    values: Mapping[str, Any],
    section: str,
    what: str,
    fields: tuple[str, ...],
    problems: list[str],
) -> dict[str, dict[str, Any]]:
    raw = values.get(section) or {}
    if not isinstance(raw, dict):
        problems.append(
            f"runai-hf:{section}: is not a mapping; write name: {{settings}} pairs"
        )
        return {}
    found: dict[str, dict[str, Any]] = {}
    for name, settings in raw.items():
        where = f"runai-hf:{section}.{name}"
        if not isinstance(settings, dict):
            problems.append(f"{where}: is not a mapping of settings")
            continue
        if "existing" in settings:
            _check_reference(where, what, settings, problems)
            found[str(name)] = {}  # resolved in Run:ai when the program runs
            continue
        for key in settings:
            if key not in fields:
                problems.append(
                    f"{where}.{key}: is not a setting {what} carries"
                    f"{closest(key, [*fields, *REFERENCE_FIELDS])}"
                )
        found[str(name)] = {k: v for k, v in settings.items() if k in fields}
    return found


def is_reference(settings: object) -> bool:
    """Whether a preset references an existing Run:ai asset."""
    return isinstance(settings, Mapping) and settings.get("existing") is True


def _check_reference(
    where: str, what: str, settings: Mapping[str, Any], problems: list[str]
) -> None:
    if settings["existing"] is not True:
        problems.append(
            f"{where}.existing: {settings['existing']!r} is not allowed; write "
            f"true to reference {what} that exists in Run:ai, or drop the key"
        )
    defined = [key for key in settings if key not in REFERENCE_FIELDS]
    if defined:
        problems.append(
            f"{where}: {what} that exists in Run:ai is looked up, not defined "
            f"here: drop {', '.join(defined)} (override them per inference)"
        )
    name = settings.get("runaiName")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}.runaiName: {name!r} is not an asset name")
    scope = settings.get("scope")
    if scope is not None and scope not in _SCOPES:
        problems.append(
            f"{where}.scope: {scope!r} is not a scope; use one of "
            f"{', '.join(_SCOPES)} (or leave it out: nearest to the project)"
        )
