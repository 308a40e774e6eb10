"""Run the project's CrossGuard pack on a planned program, in process.

pulumi-policy's analyzer servicer is what the engine talks to over gRPC; here
it gets the same protobuf requests directly: `Analyze` once per resource with
its inputs, `AnalyzeStack` once with every resource and the graph. The CLI
fills each policy's config from its schema defaults and the
`--policy-pack-config` file before it calls `Configure`; so does this module.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import proto, rpc
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from ._plan import PROVIDER_KEY, SECRET_TEXT
from ._runtime import Registration

__all__ = ["Violation", "run_policy_pack"]

_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "remediate",
    proto.DISABLED: "disabled",
}
_LEVELS = {name: level for level, name in _LEVEL_NAMES.items()}


@dataclasses.dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    message: str
    urn: str

    def as_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


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


def _configure(analyzer: Any, pack_config: dict[str, Any]) -> None:
    info = analyzer.GetAnalyzerInfo(None, None)
    merged: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema.properties)
        merged[policy.name] = {
            "enforcementLevel": _LEVEL_NAMES[policy.enforcementLevel],
            **{
                key: spec["default"]
                for key, spec in schema.items()
                if "default" in spec
            },
        }
    overrides = dict(pack_config)
    everything = overrides.pop("all", None)
    if everything is not None:
        level = (
            everything.get("enforcementLevel")
            if isinstance(everything, dict)
            else everything
        )
        for settings in merged.values():
            settings["enforcementLevel"] = level
    for name, value in overrides.items():
        update = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
        merged.setdefault(name, {}).update(update)

    request = proto.ConfigureAnalyzerRequest()
    for name, settings in merged.items():
        settings = dict(settings)
        config = proto.PolicyConfig(
            enforcementLevel=_LEVELS[settings.pop("enforcementLevel")]
        )
        config.properties.update(settings)
        request.policyConfig[name].CopyFrom(config)
    analyzer.Configure(request, None)


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


def run_policy_pack(
    registrations: list[Registration],
    *,
    pack_config: dict[str, Any] | None = None,
) -> list[Violation]:
    """Every diagnostic the pack reports for this set of resources."""
    from policies.guardrails import PACK_NAME, POLICIES

    analyzer: Any = _PolicyAnalyzerServicer(
        PACK_NAME, "0.1.0", POLICIES, EnforcementLevel.ADVISORY, None
    )
    _configure(analyzer, pack_config or {})

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
