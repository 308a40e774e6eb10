"""Reusable setups: named environments, compute resources and data source
sets, merged per inference.

A stack defines `environments` (how the server runs), `computeResources`
(what each replica gets) and `dataSourceSets` (a model store and data sources
to mount) once; an inference names one of each and overrides single fields.
The merge happens on the raw stack values, before validation, so the merged
inference is validated, deployed and shown as one.

An environment or compute resource may instead reference an asset that exists
in Run:ai (`existing: true`, with `runaiName` and `scope`): nothing is merged
offline then; the program looks the asset up when it runs and copies from it
what the inference leaves unset (see `components/_existing.py`).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from ._config_errors import closest

__all__ = [
    "COMPUTE_FIELDS",
    "DATA_SOURCE_SET_FIELDS",
    "ENVIRONMENT_FIELDS",
    "REFERENCE_FIELDS",
    "SourceOrigins",
    "expand_presets",
    "expand_with_origins",
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
DATA_SOURCE_SET_FIELDS = ("modelStore", "dataSources")

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


SourceOrigins = dict[int, list[str]]
"""Per inference index (those with a data source set only): for each entry of
its merged `dataSources`, the config key path where it was listed, in the set
(`runai-hf:dataSourceSets.<set>.dataSources[i]`) or in the inference."""


def expand_presets(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stack values with each inference merged over the presets it names."""
    expanded, problems, _ = expand_with_origins(values)
    return expanded, problems


def expand_with_origins(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str], SourceOrigins]:
    """`expand_presets`, and where each merged data source was listed.

    After the merge an inference's `dataSources` no longer says which entries
    came from its set, nor at which position its own were written; problems
    found later (a mount clash) need that to name the key path to edit.
    """
    problems: list[str] = []
    origins: SourceOrigins = {}
    presets = {
        reference: _presets(values, section, what, fields, problems)
        for reference, (section, what, fields) in _KINDS.items()
    }
    sets = _data_source_sets(values, problems)
    raw_sets = values.get("dataSourceSets")
    defined = sorted(map(str, raw_sets)) if isinstance(raw_sets, dict) else []
    inferences = values.get("inferences")
    if not isinstance(inferences, list):
        return dict(values), problems, origins
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
        inference = merged(base, inference)
        expanded.append(_with_set(inference, index, sets, defined, problems, origins))
    return {**values, "inferences": expanded}, problems, origins


def _with_set(
    inference: dict[str, Any],
    index: int,
    sets: dict[str, dict[str, Any]],
    defined: list[str],
    problems: list[str],
    origins: SourceOrigins,
) -> dict[str, Any]:
    """The inference with its data source set's model store and data sources.

    Its own `modelStore` wins; its own `dataSources` follow the set's, and
    one the set lists already is not added again, so a set can be extended
    but not shortened. A name the inference itself lists twice stays twice,
    so that it is reported. `defined`: every set the stack defines, valid or
    not; `sets`: the valid ones.
    """
    name = inference.get("dataSourceSet")
    if name is None:
        return inference
    if isinstance(name, str) and name in defined and name not in sets:
        return inference  # the set's own problems are reported already
    if not isinstance(name, str) or name not in sets:
        hint = _suggest(str(name), defined, "dataSourceSets")
        problems.append(
            f"runai-hf:inferences[{index}].dataSourceSet: {name!r} is not a data "
            f"source set of this stack{hint}"
        )
        return inference
    chosen = sets[name]
    result = dict(inference)
    if "modelStore" not in result and chosen.get("modelStore") is not None:
        result["modelStore"] = chosen["modelStore"]
    own = result.get("dataSources", [])
    if isinstance(own, list):
        # Validation reports a malformed own list as written; it is not merged.
        listed = list(chosen["dataSources"])
        paths = [
            f"runai-hf:dataSourceSets.{name}.dataSources[{position}]"
            for position in range(len(listed))
        ]
        for position, source in enumerate(own):
            if source not in chosen["dataSources"]:
                listed.append(source)
                paths.append(f"runai-hf:inferences[{index}].dataSources[{position}]")
        result["dataSources"] = listed
        origins[index] = paths
    return result


def _data_source_sets(
    values: Mapping[str, Any], problems: list[str]
) -> dict[str, dict[str, Any]]:
    """The valid data source sets; each problem goes to `problems`."""
    found = _presets(
        values,
        "dataSourceSets",
        "a data source set",
        DATA_SOURCE_SET_FIELDS,
        problems,
        may_reference=False,
    )
    stores = _names_of(values.get("modelStores"))
    sources = _names_of(values.get("dataSources"))
    valid = {}
    for name, settings in found.items():
        where = f"runai-hf:dataSourceSets.{name}"
        store = settings.get("modelStore")
        listed = settings.get("dataSources", [])
        before = len(problems)
        if store is not None and store not in stores:
            problems.append(
                f"{where}.modelStore: {store!r} is not a model store of this stack"
                f"{_suggest(str(store), stores, 'modelStores')}"
            )
        if not isinstance(listed, list):
            problems.append(
                f"{where}.dataSources: {listed!r} is not a list; write the data "
                "source names as a list, such as [corpus]"
            )
            listed = []
        for position, source in enumerate(listed):
            if source in listed[:position]:
                problems.append(
                    f"{where}.dataSources[{position}]: {source!r} is listed twice "
                    f"(also at dataSources[{listed.index(source)}]); list each data "
                    "source once"
                )
            elif source not in sources:
                problems.append(
                    f"{where}.dataSources[{position}]: {source!r} is not a data "
                    "source of this stack"
                    f"{_suggest(str(source), sources, 'dataSources')}"
                )
        if len(problems) == before:
            valid[name] = {"modelStore": store, "dataSources": list(listed)}
    return valid


def _names_of(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    return sorted(
        str(item["name"]) for item in items if isinstance(item, dict) and "name" in item
    )


def _suggest(word: str, known: list[str], section: str) -> str:
    """`; did you mean X?` for a near miss, else what there is to choose from."""
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if match:
        return f"; did you mean {match[0]}?"
    if known:
        return f"; runai-hf:{section} has {', '.join(known)}"
    return f"; define it under runai-hf:{section}"


def _presets(
    values: Mapping[str, Any],
    section: str,
    what: str,
    fields: tuple[str, ...],
    problems: list[str],
    *,
    may_reference: bool = True,
) -> dict[str, dict[str, Any]]:
    """The section's presets by name; `may_reference`: whether one may be
    `{existing: true, runaiName, scope}`, an asset looked up in Run:ai."""
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
        if "existing" in settings and may_reference:
            _check_reference(where, what, settings, problems)
            found[str(name)] = {}  # resolved in Run:ai when the program runs
            continue
        known = [*fields, *REFERENCE_FIELDS] if may_reference else list(fields)
        for key in settings:
            if key not in fields and key in REFERENCE_FIELDS and not may_reference:
                problems.append(_no_reference(where, key, what, fields))
            elif key not in fields:
                problems.append(
                    f"{where}.{key}: is not a setting {what} carries"
                    f"{closest(key, known)}"
                )
        found[str(name)] = {k: v for k, v in settings.items() if k in fields}
    return found


def _no_reference(where: str, key: str, what: str, fields: tuple[str, ...]) -> str:
    # Only environments and compute resources are copied from Run:ai assets;
    # without this, `existing: true` on a set was taken and did nothing.
    return (
        f"{where}.{key}: {what} cannot reference an existing Run:ai asset "
        "(existing, runaiName and scope are for environments and "
        f"computeResources); it carries only {' and '.join(fields)}. To mount a "
        "data source that exists in Run:ai, declare it under runai-hf:dataSources "
        "with existing: true and list it in this set's dataSources"
    )


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
