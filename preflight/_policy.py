"""Run the project's CrossGuard pack on a planned program, in process.

pulumi-policy's analyzer servicer is what the engine talks to over gRPC; here
it gets the same protobuf requests directly: `Analyze` once per resource with
its inputs, `AnalyzeStack` once with every resource and the graph.

Before it calls `Configure`, the CLI reconciles the pack's config: each
policy's schema defaults and level, then the pack's initial config, then the
`--policy-pack-config` file (`"all"` first, then per policy), then a
JSON-schema check of the result.
This module does the same, and is stricter in one way: a policy name or key
the pack does not know is an error naming the closest known one (the CLI
ignores it, so a typo there silently leaves a rule at its default).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import proto, rpc
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components.errors import RunaiHFError

from ._plan import PROVIDER_KEY, SECRET_TEXT
from ._runtime import Registration

__all__ = [
    "PACK_DIR",
    "PolicyConfigError",
    "Violation",
    "analyze",
    "configure",
    "load_pack",
    "load_pack_config",
    "make_analyzer",
    "reconcile",
    "run_policy_pack",
]

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"

_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "remediate",
    proto.DISABLED: "disabled",
}
_LEVELS = {name: level for level, name in _LEVEL_NAMES.items()}


class PolicyConfigError(RunaiHFError):
    """A policy pack config the CLI would reject, or with names it does not know."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid policy pack config:\n  " + "\n  ".join(problems))


@dataclasses.dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    message: str
    urn: str

    def as_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def load_pack(pack_dir: Path = PACK_DIR) -> tuple[str, str, list[Policy]]:
    """(name, version, policies) of the pack, imported the way the CLI runs it."""
    # The CLI runs the pack directory as a script with it on sys.path, and
    # the pack's modules import each other by top-level name.
    if str(pack_dir) not in sys.path:
        sys.path.insert(0, str(pack_dir))
    from guardrails import PACK_NAME, POLICIES

    manifest = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    name: str = PACK_NAME
    policies: list[Policy] = list(POLICIES)
    return name, str(manifest.get("version") or "0.0.1"), policies


def _analyzer_value(value: Any) -> Any:
    # The engine hands analyzers unknowns as this sentinel string; the policy
    # SDK turns it back into an "unknown during preview" error per access.
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if rpc.is_rpc_secret(value):
        return SECRET_TEXT
    if isinstance(value, dict):
        return {k: _analyzer_value(v) for k, v in value.items() if k != PROVIDER_KEY}
    if isinstance(value, list):
        return [_analyzer_value(item) for item in value]
    return value


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _analyzer_resource(registration: Registration) -> Any:
    properties = _struct(_analyzer_value(registration.outputs or registration.inputs))
    return proto.AnalyzerResource(
        type=registration.type,
        name=registration.name,
        urn=registration.urn,
        properties=properties,
        parent=registration.parent,
        dependencies=registration.dependencies,
        options=proto.AnalyzerResourceOptions(parent=registration.parent),
    )


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _as_settings(policy: str, value: Any, problems: list[str]) -> dict[str, Any]:
    # A policy's entry is a level ("mandatory") or an object with one.
    if isinstance(value, str):
        value = {"enforcementLevel": value}
    if not isinstance(value, dict):
        problems.append(f"{policy}: {value!r} is not a level or an object")
        return {}
    level = value.get("enforcementLevel")
    if level is not None and level not in _LEVELS:
        problems.append(
            f"{policy}: enforcementLevel {level!r} is not one of " + ", ".join(_LEVELS)
        )
        return {}
    return dict(value)


def _defaults(info: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for policy in info.policies:
        properties = json_format.MessageToDict(policy.configSchema.properties)
        schemas[policy.name] = {
            "type": "object",
            "properties": properties,
            "required": list(policy.configSchema.required),
        }
        merged[policy.name] = {
            "enforcementLevel": _LEVEL_NAMES[policy.enforcementLevel],
            **{
                k: spec["default"]
                for k, spec in properties.items()
                if "default" in spec
            },
        }
    return merged, schemas


def _apply(
    merged: dict[str, dict[str, Any]],
    pack_config: Mapping[str, Any],
    problems: list[str],
) -> None:
    overrides = dict(pack_config)
    everything = _as_settings("all", overrides.pop("all", {}), problems)
    if "enforcementLevel" in everything:
        for settings in merged.values():
            settings["enforcementLevel"] = everything["enforcementLevel"]
    for name, value in overrides.items():
        if name not in merged:
            problems.append(f"unknown policy {name!r}{_closest(name, list(merged))}")
            continue
        merged[name].update(_as_settings(name, value, problems))


def _validate(
    merged: dict[str, dict[str, Any]], schemas: dict[str, Any], problems: list[str]
) -> None:
    for name, settings in merged.items():
        schema = schemas[name]
        known = list(schema["properties"])
        for key in settings:
            if key != "enforcementLevel" and key not in known:
                problems.append(f"{name}: unknown key {key!r}{_closest(key, known)}")
        values = {k: v for k, v in settings.items() if k != "enforcementLevel"}
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for error in sorted(validator.iter_errors(values), key=str):
            where = ".".join(str(step) for step in error.absolute_path)
            problems.append(f"{name}: {where + ': ' if where else ''}{error.message}")


def _initial(info: Any) -> dict[str, dict[str, Any]]:
    # The pack's own initial config, read the way the CLI reads it: every
    # entry carries a level (a protobuf enum has no "unset").
    return {
        name: {
            "enforcementLevel": _LEVEL_NAMES[config.enforcementLevel],
            **json_format.MessageToDict(config.properties),
        }
        for name, config in info.initialConfig.items()
    }


def reconcile(
    analyzer: Any, pack_config: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every policy's level and config, as the CLI would send them."""
    info = analyzer.GetAnalyzerInfo(None, None)
    merged, schemas = _defaults(info)
    problems: list[str] = []
    _apply(merged, _initial(info), problems)
    _apply(merged, pack_config, problems)
    _validate(merged, schemas, problems)
    if problems:
        raise PolicyConfigError(problems)
    return merged


def _configure(analyzer: Any, merged: dict[str, dict[str, Any]]) -> None:
    request = proto.ConfigureAnalyzerRequest()
    for name, settings in merged.items():
        properties = dict(settings)
        config = proto.PolicyConfig(
            enforcementLevel=_LEVELS[properties.pop("enforcementLevel")]
        )
        config.properties.update(properties)
        request.policyConfig[name].CopyFrom(config)
    analyzer.Configure(request, None)


def configure(analyzer: Any, pack_config: Mapping[str, Any] | None = None) -> Any:
    """Configure an analyzer servicer the way the CLI does; returns it."""
    _configure(analyzer, reconcile(analyzer, pack_config or {}))
    return analyzer


def make_analyzer(pack_config: Mapping[str, Any] | None = None) -> Any:
    """The pack's analyzer servicer, configured the way the CLI configures it."""
    name, version, policies = load_pack()
    analyzer = _PolicyAnalyzerServicer(
        name, version, policies, EnforcementLevel.ADVISORY, None
    )
    return configure(analyzer, pack_config)


def _violations(response: Any, urn: str = "") -> list[Violation]:
    return [
        Violation(
            policy=d.policyName,
            enforcement=_LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            message=d.message,
            urn=d.urn or urn,
        )
        for d in response.diagnostics
    ]


def load_pack_config(pack_dir: Path, environment: str) -> dict[str, Any]:
    """`policies/config/<env>.json`, the file users pass as --policy-pack-config."""
    path = pack_dir / "config" / f"{environment}.json"
    if not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def analyze(analyzer: Any, registrations: list[Registration]) -> list[Violation]:
    """Every diagnostic: `Analyze` per custom resource, then `AnalyzeStack`."""
    resources = [_analyzer_resource(r) for r in registrations]
    violations: list[Violation] = []
    for resource in resources:
        if not resource.urn or resource.type.startswith("runai-hf:index:"):
            continue
        request = proto.AnalyzeRequest(
            type=resource.type,
            name=resource.name,
            urn=resource.urn,
            properties=resource.properties,
            options=resource.options,
        )
        violations += _violations(analyzer.Analyze(request, None), resource.urn)
    stack = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    return violations + _violations(stack)


def run_policy_pack(
    registrations: list[Registration],
    *,
    pack_config: dict[str, Any] | None = None,
) -> list[Violation]:
    """Every diagnostic the pack reports for this set of resources."""
    return analyze(make_analyzer(pack_config), registrations)
