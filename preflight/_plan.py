"""Turn a recorded program run into what people and machines read.

Secret values print as `[secret]`; values the engine learns only when it
creates a resource print as `(known after apply)`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from ._runtime import Registration

__all__ = [
    "UNKNOWN_TEXT",
    "display",
    "in_plan_order",
    "plan_rows",
    "render_table",
    "resource_json",
]

UNKNOWN_TEXT = "(known after apply)"
SECRET_TEXT = "[secret]"
PROVIDER_KEY = "__provider"


def display(value: Any) -> Any:
    """A JSON-ready copy with secrets masked and unknowns spelled out."""
    if rpc.is_rpc_secret(value):
        return SECRET_TEXT
    if isinstance(value, Unknown):
        return UNKNOWN_TEXT
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, dict):
        return {key: display(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [display(item) for item in value]
    return value


def resource_json(registration: Registration) -> dict[str, Any]:
    inputs = {
        key: display(value)
        for key, value in registration.inputs.items()
        if key != PROVIDER_KEY
    }
    return {
        "urn": registration.urn,
        "type": registration.type,
        "name": registration.name,
        "parent": registration.parent,
        "inputs": inputs,
    }


def _component_names(registrations: Iterable[Registration]) -> dict[str, str]:
    return {r.urn: r.name for r in registrations if not r.custom}


def _gpus(spec: dict[str, Any]) -> str:
    compute = spec.get("compute") or {}
    if not isinstance(compute, dict):
        return str(compute)  # from an existing compute resource, not read yet
    if compute.get("gpuRequestType") == "portion":
        return f"{compute.get('gpuPortionRequest')} of 1"
    if compute.get("gpuRequestType") == "memory":
        return f"{compute.get('gpuMemoryRequest')} memory"
    return str(compute.get("gpuDevicesRequest", 0))


def _replicas(spec: dict[str, Any]) -> str:
    scaling = spec.get("autoscaling") or {}
    low, high = scaling.get("minReplicas", 1), scaling.get("maxReplicas")
    metric = scaling.get("metric")
    text = str(low) if high in (None, low) else f"{low}-{high}"
    return f"{text} ({metric})" if metric else text


_TYPE_ORDER = (
    "Project",
    "Credential",
    "Secret",
    "DataSource",
    "PersistentVolumeClaim",
    "Inference",
    "Service",
)
KNATIVE_SERVICE_TYPE = "kubernetes:serving.knative.dev/v1:Service"


def in_plan_order(registrations: list[Registration]) -> list[Registration]:
    """Projects, credentials, data sources, inferences; by name within a type.

    Registration order depends on thread timing; a plan should not.
    """

    def rank(registration: Registration) -> tuple[int, int, str]:
        kind = registration.type.rsplit(":", 1)[-1].removeprefix("HF")
        order = _TYPE_ORDER.index(kind) if kind in _TYPE_ORDER else len(_TYPE_ORDER)
        return (int(registration.custom), order, registration.name)

    return sorted(registrations, key=rank)


def plan_rows(registrations: list[Registration]) -> list[dict[str, str]]:
    """One row per resource the engine would create, in plan order."""
    components = _component_names(registrations)
    rows = []
    for registration in in_plan_order(registrations):
        if not registration.custom:
            continue
        inputs = display(registration.inputs)
        spec = inputs.get("spec") or {}
        row = {
            "component": components.get(registration.parent, "-"),
            "type": registration.type.rsplit(":", 1)[-1],
            "name": registration.name,
            "model": inputs.get("model", "-"),
            "server": inputs.get("server", "-"),
            "gpus": "-",
            "replicas": "-",
            "priority": "-",
            "access": "-",
        }
        if registration.type == KNATIVE_SERVICE_TYPE:
            row.update(_knative_row(inputs))
        elif registration.type.startswith("kubernetes:"):
            pass
        elif spec and registration.type.endswith(":Inference"):
            row.update(
                gpus=_gpus(spec),
                replicas=_replicas(spec),
                priority=f"{spec.get('priorityClass')} ({spec.get('preemptibility')})",
                access=(spec.get("servingPort") or {}).get("authorizationType", "-"),
            )
        elif registration.inputs.get("existing") is True and "kind" in inputs:
            row["model"] = _reference(registration)
        elif "quotas" in inputs:
            row["gpus"] = ", ".join(
                f"{quota.get('gpu')} on {quota.get('nodePool')}"
                for quota in inputs["quotas"]
            )
        rows.append({key: str(value) for key, value in row.items()})
    return rows


def _reference(registration: Registration) -> str:
    """What an `existing: true` reference names, and whether it was read."""
    inputs = registration.inputs
    found = registration.id is not None
    state = "found in Run:ai" if found else "unresolved (--online reads it)"
    return f"existing {inputs['kind']} {inputs.get('name')!r}: {state}"


def _knative_row(manifest: dict[str, Any]) -> dict[str, str]:
    """The plan columns read off a Knative Service's revision template."""
    template = (manifest.get("spec") or {}).get("template") or {}
    metadata = template.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    labels = metadata.get("labels") or {}
    containers = (template.get("spec") or {}).get("containers") or [{}]
    limits = (containers[0].get("resources") or {}).get("limits") or {}
    scale = "autoscaling.knative.dev/"
    low = annotations.get(scale + "min-scale", "1")
    high = annotations.get(scale + "max-scale", low)
    replicas = low if high == low else f"{low}-{high}"
    if scale + "metric" in annotations:
        replicas += f" ({annotations[scale + 'metric']})"
    if "gpu-fraction" in annotations:
        gpus = f"{annotations['gpu-fraction']} of 1"
    elif "gpu-memory" in annotations:
        gpus = f"{annotations['gpu-memory']}Mi memory"
    else:
        gpus = str(limits.get("nvidia.com/gpu", 0))
    visibility = ((manifest.get("metadata") or {}).get("labels") or {}).get(
        "networking.knative.dev/visibility"
    )
    preemptibility = labels.get("kai.scheduler/preemptibility", "-")
    return {
        "model": _model_of(containers[0]),
        "gpus": gpus,
        "replicas": replicas,
        "priority": f"{labels.get('priorityClassName', '-')} ({preemptibility})",
        "access": "clusterLocal" if visibility == "cluster-local" else "public",
        "server": f"knative rev {metadata.get('name', '-')}",
    }


def _model_of(container: dict[str, Any]) -> str:
    args = [str(arg) for arg in container.get("args") or []]
    if "--model-id" in args[:-1]:
        return args[args.index("--model-id") + 1]
    return args[0] if args else "-"


_HEADINGS = {
    "component": "COMPONENT",
    "type": "TYPE",
    "name": "NAME",
    "model": "MODEL",
    "server": "SERVER",
    "gpus": "GPUS",
    "replicas": "REPLICAS",
    "priority": "PRIORITY",
    "access": "ENDPOINT ACCESS",
}


def render_table(rows: list[dict[str, str]]) -> str:
    widths = {
        key: max([len(heading)] + [len(row[key]) for row in rows])
        for key, heading in _HEADINGS.items()
    }
    lines = ["  ".join(h.ljust(widths[k]) for k, h in _HEADINGS.items()).rstrip()]
    for row in rows:
        lines.append("  ".join(row[k].ljust(widths[k]) for k in _HEADINGS).rstrip())
    return "\n".join(lines)
