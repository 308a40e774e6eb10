"""Quota rules: what a project's inference needs against its GPU quota.

Counted per project and node pool, in GPUs: replicas x devices x portion (a
GPU memory request counts as its share of the node pool's GPU memory, which
the config gives). Run:ai semantics these rules follow:

- non-preemptible work cannot borrow over-quota GPUs: at max replicas it must
  fit the project's deserved GPUs;
- nothing runs past the project's GPU limit, when one is set;
- a rolling update places the whole new revision before traffic moves and
  frees the old one only then, so the project needs room for both.

An inference counts on its first node pool; one that names none counts where
Run:ai puts it: the project's first default node pool, else its first quota.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from quantities import QUANTITY_PATTERN, fmt, number, quantity
from views import (
    InferenceView,
    ProjectView,
    Quota,
    finish,
    inference_view,
    placements,
    project_view,
    settings,
)

__all__ = [
    "QUOTA_POLICIES",
    "non_preemptible_within_deserved",
    "requests_within_limits",
    "rollout_headroom",
    "within_project_limit",
]

# GPU sums are of fractions such as 0.1; compare with room for float noise.
_EPSILON = 1e-9

_GPU_MEMORY_SCHEMA: dict[str, dict[str, Any]] = {
    "gpuMemoryPerNodePool": {
        "type": "object",
        "description": "GPU memory of one device per node pool (a quantity such "
        "as 80Gi), to count GPU memory requests as GPUs.",
        "additionalProperties": {"type": "string", "pattern": QUANTITY_PATTERN},
        "default": {},
    },
}


@dataclasses.dataclass(frozen=True)
class Demand:
    """One inference's GPUs on the project and node pool it runs in."""

    view: InferenceView
    project: ProjectView
    node_pool: str
    per_replica: float | None
    problem: str | None

    def term(self, replicas: int) -> str:
        return f"{self.view.name} {replicas} x {fmt(self.per_replica or 0)} GPU"

    def gpus(self, replicas: int) -> float:
        return replicas * (self.per_replica or 0.0)


def _memory_share(
    view: InferenceView, node_pool: str, memory_per_pool: Mapping[str, Any]
) -> tuple[float | None, str | None]:
    requested = quantity(view.gpu_memory)
    # The pack's setting wins; else the GPU memory the stack declared for
    # the inference's node pool (runai-hf:gpuMemoryPerNodePool).
    device = quantity(memory_per_pool.get(node_pool)) or quantity(
        view.gpu_memory_per_device
    )
    if requested is not None and device:
        return requested / device, None
    return None, (
        f"inference {view.name} requests {view.gpu_memory} of GPU memory on node "
        f"pool {node_pool}, which cannot be counted as GPUs: set "
        f'gpuMemoryPerNodePool."{node_pool}" (for example "80Gi") in this '
        "policy's config"
    )


def gpus_per_replica(
    view: InferenceView, node_pool: str, memory_per_pool: Mapping[str, Any]
) -> tuple[float | None, str | None]:
    """GPUs one replica takes, or None and why it cannot be counted."""
    kind = view.gpu_request_type
    if kind is None and view.gpu_portion is not None:
        kind = "portion"
    if kind is None and view.gpu_memory is not None:
        kind = "memory"
    # A fraction is always of one device, which the API may leave implicit.
    devices = view.gpu_devices if view.gpu_devices is not None else 1.0
    if kind == "portion":
        return devices * (view.gpu_portion or 0.0), None
    if kind == "memory":
        share, problem = _memory_share(view, node_pool, memory_per_pool)
        return (None, problem) if share is None else (devices * share, None)
    return view.gpu_devices or 0.0, None


_PLACEMENT_FIELDS = ("gpu", "replicas", "node_pools")
_QUOTA_FIELDS = ("quotas", "quota_nodePool", "quota_gpu")


def demands(
    args: StackValidationArgs,
    *,
    project_needs: Sequence[str] = (),
    preemption: bool = False,
    pending: list[str],
) -> list[Demand]:
    """Each inference whose project is in the stack, with the GPUs it takes.

    An inference or project with an unknown value it needs is left out and
    noted in `pending`: sums only grow, so what is reported stays true.
    """
    memory_per_pool = settings(args, _GPU_MEMORY_SCHEMA)["gpuMemoryPerNodePool"]
    found = []
    for placement in placements(args.resources):
        view, project = placement.inference, placement.project
        if project is None:
            continue
        missing = view.pending(*_PLACEMENT_FIELDS)
        missing += view.preemption_pending() if preemption else []
        missing += project.pending(*_QUOTA_FIELDS, *project_needs)
        if missing:
            pending += missing
            continue
        pool = view.node_pools[0] if view.node_pools else project.default_node_pool()
        per_replica, problem = gpus_per_replica(view, pool, memory_per_pool)
        found.append(Demand(view, project, pool, per_replica, problem))
    return found


def by_pool(
    found: Iterable[Demand],
) -> list[tuple[ProjectView, str, Quota | None, list[Demand]]]:
    """The demands grouped per project and node pool, with that pool's quota."""
    groups: dict[tuple[str, str], list[Demand]] = defaultdict(list)
    for demand in found:
        key = (demand.project.urn or demand.project.name, demand.node_pool)
        groups[key].append(demand)
    result = []
    for (_, pool), members in sorted(groups.items()):
        project = members[0].project
        if project.existing and not project.quotas:
            # A project the stack only references, with no quotas declared:
            # its numbers live in Run:ai, not here, so there is nothing to
            # weigh the demand against. Declaring its quotas enables the check.
            continue
        result.append((project, pool, project.quota(pool), members))
    return result


def _countable(members: Iterable[Demand], report: ReportViolation) -> list[Demand]:
    """The demands that take GPUs; one that cannot be counted is reported."""
    counted = []
    for demand in members:
        if demand.problem is not None:
            report(demand.problem, demand.view.urn or None)
        elif demand.per_replica:
            counted.append(demand)
    return counted


def _deserved(quota: Quota | None, pool: str) -> str:
    if quota is None:
        return f"0 (the project has no quota on node pool {pool})"
    return fmt(quota.gpu)


def _check_non_preemptible(args: StackValidationArgs, report: ReportViolation) -> None:
    pending: list[str] = []
    found = demands(args, preemption=True, pending=pending)
    for project, pool, quota, members in by_pool(found):
        guaranteed = [d for d in members if d.view.guaranteed_replicas > 0]
        counted = _countable(guaranteed, report)
        need = sum(d.gpus(d.view.guaranteed_replicas) for d in counted)
        deserved = quota.gpu if quota else 0.0
        if need <= deserved + _EPSILON:
            continue
        terms = ", ".join(d.term(d.view.guaranteed_replicas) for d in counted)
        report(
            f"project {project.name}, node pool {pool}: non-preemptible inference "
            f"({terms}) needs {fmt(need)} GPUs at max replicas but the deserved "
            f"quota is {_deserved(quota, pool)} ({fmt(need)} > {fmt(deserved)}); "
            f"raise the project's deserved GPUs on {pool} to at least {fmt(need)}, "
            "or lower max replicas, GPUs per replica or priority",
            project.urn or None,
        )
    finish(pending)


non_preemptible_within_deserved = StackValidationPolicy(
    name="non-preemptible-within-deserved-quota",
    description="Non-preemptible inference at max replicas fits the deserved GPUs.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Non-preemptible workloads (very-high and high priority) cannot use "
        "over-quota GPUs and stay Pending past the deserved quota: raise the "
        "project's `gpu` quota on the node pool, lower max replicas or GPUs, or "
        "use a preemptible priority."
    ),
    validate=_check_non_preemptible,
    config_schema=PolicyConfigSchema(properties=_GPU_MEMORY_SCHEMA),
)


def _check_limit(args: StackValidationArgs, report: ReportViolation) -> None:
    pending: list[str] = []
    found = demands(args, project_needs=("quota_gpuLimit",), pending=pending)
    for project, pool, quota, members in by_pool(found):
        if quota is None or quota.gpu_limit is None:
            continue
        counted = _countable(members, report)
        need = sum(d.gpus(d.view.replicas[1]) for d in counted)
        if need <= quota.gpu_limit + _EPSILON:
            continue
        terms = ", ".join(d.term(d.view.replicas[1]) for d in counted)
        report(
            f"project {project.name}, node pool {pool}: inference at max replicas "
            f"({terms}) needs {fmt(need)} GPUs but the project's GPU limit is "
            f"{fmt(quota.gpu_limit)} ({fmt(need)} > {fmt(quota.gpu_limit)}); raise "
            f"gpuLimit on {pool} to at least {fmt(need)}, or lower max replicas "
            "or GPUs per replica",
            project.urn or None,
        )
    finish(pending)


within_project_limit = StackValidationPolicy(
    name="inference-within-project-limit",
    description="All inference at max replicas fits the project's GPU limit.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Run:ai never schedules past a project's GPU limit, so replicas beyond it "
        "stay Pending: raise `gpuLimit` on the node pool or lower max replicas."
    ),
    validate=_check_limit,
    config_schema=PolicyConfigSchema(properties=_GPU_MEMORY_SCHEMA),
)

_HEADROOM_SCHEMA: dict[str, dict[str, Any]] = {
    **_GPU_MEMORY_SCHEMA,
    "newRevisionReplicas": {
        "type": "string",
        "enum": ["min", "max"],
        "description": "Replicas of the new revision a rollout must place before "
        "traffic moves: min (its min replicas, at least 1) or max.",
        "default": "min",
    },
}


def _new_revision(demand: Demand, mode: str) -> int:
    low, high = demand.view.replicas
    return high if mode == "max" else max(low, 1)


def _headroom_message(
    demand: Demand, *, replicas: int, running: float, terms: str, quota: Quota | None
) -> str:
    name, pool = demand.view.name, demand.node_pool
    extra = demand.gpus(replicas)
    total, deserved = running + extra, quota.gpu if quota else 0.0
    return (
        f"project {demand.project.name}, node pool {pool}: a rollout of inference "
        f"{name} places its new revision ({replicas} x "
        f"{fmt(demand.per_replica or 0)} GPU = {fmt(extra)} GPUs) before traffic "
        f"moves, on top of the {fmt(running)} GPUs the project runs at max "
        f"replicas ({terms}): it needs {fmt(total)} GPUs but the deserved quota is "
        f"{_deserved(quota, pool)} ({fmt(running)} + {fmt(extra)} = {fmt(total)} > "
        f"{fmt(deserved)}), so the update would stay pending and be rolled back; "
        f"raise the deserved GPUs on {pool} to at least {fmt(total)} (and gpuLimit "
        f"with it), or lower {name}'s min replicas or max replicas"
    )


def _check_headroom(args: StackValidationArgs, report: ReportViolation) -> None:
    pending: list[str] = []
    mode = str(settings(args, _HEADROOM_SCHEMA)["newRevisionReplicas"])
    for _, _, quota, members in by_pool(demands(args, pending=pending)):
        counted = _countable(members, report)
        running = sum(d.gpus(d.view.replicas[1]) for d in counted)
        terms = ", ".join(d.term(d.view.replicas[1]) for d in counted)
        deserved = quota.gpu if quota else 0.0

        for demand in counted:
            replicas = _new_revision(demand, mode)
            if running + demand.gpus(replicas) <= deserved + _EPSILON:
                continue
            message = _headroom_message(
                demand, replicas=replicas, running=running, terms=terms, quota=quota
            )
            report(message, demand.view.urn or None)
    finish(pending)


rollout_headroom = StackValidationPolicy(
    name="rollout-headroom-within-deserved-quota",
    description="A rolling update's new revision fits the deserved GPUs beside "
    "everything the project runs.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Run:ai starts the whole new revision of an updated inference before it "
        "moves traffic and frees the old one (progress deadline 10 min by "
        "default), so the project needs free deserved GPUs for it: raise the "
        "deserved quota (and the limit) or lower the inference's min replicas."
    ),
    validate=_check_headroom,
    config_schema=PolicyConfigSchema(properties=_HEADROOM_SCHEMA),
)

_LIMITS_SCHEMA: dict[str, dict[str, Any]] = {
    "requireLimits": {
        "type": "boolean",
        "description": "Also require a limit beside every inference request "
        "(GPU portion or memory, CPU cores, CPU memory).",
        "default": False,
    },
}

_Side = tuple[str, Any]

_RAISE_LIMIT = "raise the limit to at least the request or lower the request"


def _over_limit(
    where: str, request: _Side, limit: _Side, *, required: bool, fix: str
) -> str | None:
    (request_key, asked), (limit_key, capped) = request, limit
    if asked is None:
        return None
    if capped is None and required:
        return f"{where}: {request_key} {_show(asked)} has no {limit_key}; set one"
    low, high = quantity(asked), quantity(capped)
    if low is None or high is None or low <= high + _EPSILON:
        return None
    return f"{where}: {request_key} {_show(asked)} > {limit_key} {_show(capped)}; {fix}"


def _show(value: Any) -> str:
    amount = number(value)
    return str(value) if amount is None else fmt(amount)


def _fraction_problems(view: InferenceView) -> list[str]:
    where = f"inference {view.name}"
    fraction = view.gpu_request_type or view.gpu_portion or view.gpu_memory
    if view.gpu_devices is not None and view.gpu_devices > 1 and fraction:
        return [
            f"{where}: {fmt(view.gpu_devices)} GPU devices with a fractional GPU "
            "request; several devices take whole GPUs only: drop the portion or "
            "memory request, or ask for 1 device"
        ]
    portion = view.gpu_portion
    if portion is not None and not 0 < portion <= 1:
        return [
            f"{where}: gpuPortionRequest {fmt(portion)} is outside 0 < portion <= 1; "
            "use whole devices for a GPU or more"
        ]
    return []


def _inference_pairs(view: InferenceView) -> list[tuple[_Side, _Side]]:
    pairs = [
        (
            ("gpuMemoryRequest", view.gpu_memory),
            ("gpuMemoryLimit", view.gpu_memory_limit),
        ),
        (("cpuCoreRequest", view.cpu_cores), ("cpuCoreLimit", view.cpu_cores_limit)),
        (
            ("cpuMemoryRequest", view.cpu_memory),
            ("cpuMemoryLimit", view.cpu_memory_limit),
        ),
    ]
    portion = ("gpuPortionRequest", view.gpu_portion)
    return [(portion, ("gpuPortionLimit", view.gpu_portion_limit)), *pairs]


def _inference_problems(view: InferenceView, *, required: bool) -> list[str]:
    where = f"inference {view.name}"
    over = [
        _over_limit(where, request, limit, required=required, fix=_RAISE_LIMIT)
        for request, limit in _inference_pairs(view)
    ]
    return _fraction_problems(view) + [problem for problem in over if problem]


def _project_problems(project: ProjectView) -> list[str]:
    fix = "raise the limit to at least the deserved quota or lower the quota"
    problems = []
    for quota in project.quotas:
        where = f"project {project.name}, node pool {quota.node_pool}"
        for request, limit in (
            (("gpu (deserved)", quota.gpu), ("gpuLimit", quota.gpu_limit)),
            (("cpu", quota.cpu), ("cpuLimit", quota.cpu_limit)),
            (("memory", quota.memory), ("memoryLimit", quota.memory_limit)),
        ):
            problems.append(_over_limit(where, request, limit, required=False, fix=fix))
    return [problem for problem in problems if problem]


def _check_requests(args: ResourceValidationArgs, report: ReportViolation) -> None:
    required = bool(settings(args, _LIMITS_SCHEMA)["requireLimits"])
    inference = inference_view(args.resource_type, args.props, args.name, args.urn)
    project = project_view(args.resource_type, args.props, args.name, args.urn)
    if inference is not None:
        pending = inference.pending("gpu", "gpu_limit", "cpu", "memory")
        problems = _inference_problems(inference, required=required)
    elif project is not None:
        pending = project.pending("quotas", *_quota_fields())
        problems = _project_problems(project)
    else:
        return
    for problem in problems:
        report(problem, None)
    finish(pending)


def _quota_fields() -> list[str]:
    keys = ("nodePool", "gpu", "gpuLimit", "cpu", "cpuLimit", "memory", "memoryLimit")
    return [f"quota_{key}" for key in keys]


requests_within_limits = ResourceValidationPolicy(
    name="requests-within-limits",
    description="Requests stay within their limits; several GPUs are whole GPUs.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Run:ai rejects a request above its limit: keep each GPU portion or GPU "
        "memory, CPU and memory request at or below its limit, use fractions only "
        "with one GPU device, and keep a project's deserved quota at or below its "
        "limit."
    ),
    validate=_check_requests,
    config_schema=PolicyConfigSchema(properties=_LIMITS_SCHEMA),
)

QUOTA_POLICIES = [
    non_preemptible_within_deserved,
    within_project_limit,
    rollout_headroom,
    requests_within_limits,
]
