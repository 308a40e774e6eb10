"""The guardrails: CrossGuard policies for Run:ai inference stacks.

Importable without starting anything: `policies/__main__.py` wraps these in a
PolicyPack (whose constructor serves gRPC and never returns), and the offline
preflight and the tests load this module directly.

CrossGuard sees child resources, not component inputs, so each rule reads the
Run:ai dynamic resources through a small view (`InferenceView`) that another
resource type can feed as well.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

__all__ = ["PACK_NAME", "POLICIES"]

PACK_NAME = "runai-hf-guardrails"

INFERENCE_TYPE = "pulumi-python:dynamic/runai:Inference"
PROJECT_TYPE = "pulumi-python:dynamic/runai:Project"
NON_PREEMPTIBLE_CLASSES = frozenset({"high", "very-high"})
TOKEN_VARIABLES = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})


@dataclasses.dataclass(frozen=True)
class InferenceView:
    """What the rules need to know of one inference, whatever its resource type."""

    name: str
    priority: str
    preemptible: bool
    gpus_per_replica: float
    max_replicas: int
    node_pool: str | None
    environment: list[Mapping[str, Any]]


def inference_view(
    resource_type: str, props: Mapping[str, Any], name: str
) -> InferenceView | None:
    if resource_type != INFERENCE_TYPE:
        return None
    spec = props.get("spec") or {}
    priority = str(spec.get("priorityClass") or "very-high")
    preemptibility = spec.get("preemptibility")
    if preemptibility is None:
        preemptible = priority not in NON_PREEMPTIBLE_CLASSES
    else:
        preemptible = preemptibility == "preemptible"
    compute = spec.get("compute") or {}
    devices = float(compute.get("gpuDevicesRequest") or 0)
    if compute.get("gpuRequestType") == "portion":
        devices *= float(compute.get("gpuPortionRequest") or 0)
    scaling = spec.get("autoscaling") or {}
    low = int(scaling.get("minReplicas") or 1)
    high = int(scaling.get("maxReplicas") or max(low, 1))
    pools = spec.get("nodePools") or []
    return InferenceView(
        name=name,
        priority=priority,
        preemptible=preemptible,
        gpus_per_replica=devices,
        max_replicas=high,
        node_pool=str(pools[0]) if pools else None,
        environment=list(spec.get("environmentVariables") or []),
    )


def _token_from_credential(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    view = inference_view(args.resource_type, args.props, args.name)
    if view is None:
        return
    for variable in view.environment:
        name = str(variable.get("name") or "")
        if name in TOKEN_VARIABLES and "value" in variable:
            report(
                f"inference {view.name}: {name} is a literal value; reference the "
                "credential's Kubernetes secret (secret: {name, key}) instead",
                None,
            )


hf_token_from_credential = ResourceValidationPolicy(
    name="hf-token-from-credential",
    description="The HF token comes from a credential, never from a literal.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Make a Credential for the token; set HF_TOKEN from its secret.",
    validate=_token_from_credential,
)


def _priority_matches_class(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    view = inference_view(args.resource_type, args.props, args.name)
    if view is None:
        return
    expected_preemptible = view.priority not in NON_PREEMPTIBLE_CLASSES
    if view.preemptible != expected_preemptible:
        wanted = "preemptible" if expected_preemptible else "non-preemptible"
        actual = "preemptible" if view.preemptible else "non-preemptible"
        report(
            f"inference {view.name}: priority {view.priority} runs {wanted} in "
            f"Run:ai, but preemptibility is {actual}; make them agree",
            None,
        )


priority_matches_class = ResourceValidationPolicy(
    name="priority-matches-preemptibility",
    description="Priority and preemptibility agree with Run:ai's priority classes.",
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation_steps="very-high and high are non-preemptible; the rest preemptible.",
    validate=_priority_matches_class,
)


def _project_quotas(project: PolicyResource) -> dict[str, float]:
    quotas = project.props.get("quotas") or []
    return {
        str(q.get("nodePool") or "default"): float(q.get("gpu") or 0) for q in quotas
    }


def _owning_project(resource: PolicyResource) -> PolicyResource | None:
    for dependency in resource.dependencies:
        if dependency.resource_type == PROJECT_TYPE:
            return dependency
    return None


def _non_preemptible_fits(args: StackValidationArgs, report: ReportViolation) -> None:
    demand: dict[tuple[str, str], float] = defaultdict(float)
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    projects: dict[str, PolicyResource] = {}
    for resource in _inferences(args.resources):
        view = inference_view(resource.resource_type, resource.props, resource.name)
        project = _owning_project(resource)
        if view is None or project is None or view.preemptible:
            continue
        quotas = _project_quotas(project)
        pool = view.node_pool or next(iter(quotas), "default")
        key = (project.urn, pool)
        demand[key] += view.gpus_per_replica * view.max_replicas
        members[key].append(view.name)
        projects[project.urn] = project
    for (urn, pool), gpus in sorted(demand.items()):
        project = projects[urn]
        deserved = _project_quotas(project).get(pool, 0.0)
        if gpus > deserved:
            report(
                f"project {project.name}, node pool {pool}: non-preemptible inference "
                f"({', '.join(members[(urn, pool)])}) needs {gpus:g} GPUs at max "
                f"replicas but the deserved quota is {deserved:g}; raise the quota "
                "or lower max replicas, GPUs or priority",
                urn,
            )


def _inferences(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == INFERENCE_TYPE]


non_preemptible_fits_quota = StackValidationPolicy(
    name="non-preemptible-within-deserved-quota",
    description="Non-preemptible inference at max replicas fits the deserved GPUs.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Non-preemptible workloads cannot use over-quota GPUs: "
    "raise the project's deserved quota, or use a preemptible priority.",
    validate=_non_preemptible_fits,
    config_schema=PolicyConfigSchema(properties={}),
)

POLICIES = [
    hf_token_from_credential,
    priority_matches_class,
    non_preemptible_fits_quota,
]
