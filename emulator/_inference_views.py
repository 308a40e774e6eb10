"""The three ways the API shows an inference: `Inference1`, `Workload`, `Revision`.

`Inference1` is the submitted object (spec, desired and actual phase).
`WorkloadDetailed` is the operational view, the only one with `phaseMessage`,
`phaseReason` and the serving URL. `Revision` describes one rollout of a spec.
"""

from __future__ import annotations

from typing import Any

from ._clock import iso
from ._lifecycle import (
    DEFAULT_PRIORITY_CLASS,
    RevisionState,
    WorkloadState,
    gang_size,
    gpus_per_pod,
    is_non_preemptible,
    pod_count,
)
from ._records import Inference, Json
from ._state import TENANT_ID

__all__ = ["inference_view", "revision_view", "workload_view"]

_URL_DOMAIN = "inference.emulator.local"
_DEFAULT_CATEGORY = "Deploy"
_SHORT_REASONS = {
    "NonPreemptibleOverQuota": "Non-preemptible over quota",
    "OverLimit": "Over limit",
}


def inference_view(inference: Inference, state: WorkloadState) -> Json:
    """An `Inference1`."""
    deleting = inference.delete_requested_at is not None
    return {
        "name": inference.name,
        "requestedName": inference.requested_name,
        "workloadId": inference.id,
        "projectId": inference.project_id,
        "departmentId": inference.department_id,
        "clusterId": inference.cluster_id,
        "createdBy": inference.created_by,
        "createdAt": iso(inference.created_at),
        "deletedAt": _deleted_at(inference),
        "desiredPhase": "Deleted" if deleting else "Running",
        "actualPhase": state.phase,
        "spec": inference.spec,
    }


def workload_view(
    inference: Inference, state: WorkloadState, *, detailed: bool
) -> Json:
    """A `WorkloadDetailed` (or, without the scheduling details, a `Workload`)."""
    spec = inference.spec
    running = state.serving.revision if state.serving is not None else None
    shown = running or (state.newest.revision if state.newest else None)
    view: Json = {
        "id": inference.id,
        "name": inference.name,
        "type": "inference",
        "tenantId": TENANT_ID,
        "clusterId": inference.cluster_id,
        "projectId": inference.project_id,
        "projectName": inference.project_name,
        "departmentId": inference.department_id,
        "departmentName": inference.department_name,
        "namespace": inference.namespace,
        "submittedBy": inference.created_by,
        "source": "Control-plane",
        "category": spec.get("category") or _DEFAULT_CATEGORY,
        "priority": None,
        "priorityClassName": spec.get("priorityClass") or DEFAULT_PRIORITY_CLASS,
        "preemptible": not is_non_preemptible(spec),
        "createdAt": iso(inference.created_at),
        "updatedAt": iso(inference.updated_at),
        "deletedAt": _deleted_at(inference),
        "completedAt": None,
        "phase": state.phase,
        "phaseMessage": state.message,
        "phaseUpdatedAt": iso(state.since),
        "k8sPhase": state.phase,
        "k8sPhaseUpdatedAt": iso(state.since),
        "conditions": [_ready_condition(state.phase, state.message, state.since)],
        "runningPods": running.gang if running is not None else 0,
        "requestedPods": _requested_pods(spec),
        "workloadRequestedResources": _requested(spec, pods=gang_size(spec)),
        "podsRequestedResources": _requested(spec, pods=1),
        # Old and new revision both hold GPUs while an update starts up.
        "allocatedResources": {"gpu": state.allocated},
        "requestedNodePools": [shown.node_pool] if shown is not None else [],
        "currentNodePools": [running.node_pool] if running is not None else [],
        "images": [spec["image"]] if spec.get("image") else [],
        "environmentVariables": _literal_environment(spec),
        "childrenIds": [],
        "datasources": [],
        "environments": [],
        "urls": [_url(inference)] if running is not None else [],
        "actionsSupport": {"delete": True, "suspend": False},
    }
    view.update(_command(spec))
    # PhaseReason is an enum without null, so "no reason" is an absent field.
    if state.reason is not None:
        view["phaseReason"] = state.reason
    if detailed:
        view["pendingSchedulingMessages"] = _pending_messages(state)
    return view


def revision_view(inference: Inference, state: RevisionState) -> Json:
    """A `Revision`."""
    revision = state.revision
    running = state.phase == "Running"
    holding = state.holds_gpus
    view: Json = {
        "type": "runai-revision",
        "name": state.name,
        "id": revision.id,
        "workloadId": inference.id,
        "tenantId": TENANT_ID,
        "clusterId": inference.cluster_id,
        "projectId": inference.project_id,
        "departmentId": inference.department_id,
        "createdAt": iso(revision.created_at),
        "deletedAt": iso(state.ended_at) if state.ended_at is not None else None,
        "phase": state.phase,
        "phaseMessage": state.message,
        "phaseUpdatedAt": iso(state.since),
        "conditions": [_ready_condition(state.phase, state.message, state.since)],
        "requestedPods": _requested_pods(revision.spec),
        "revisionRequestedResources": _requested(revision.spec, pods=revision.gang),
        "podsRequestedResources": _requested(revision.spec, pods=1),
        "allocatedResources": {"gpu": revision.gpus if holding else 0.0},
        "requestedNodePools": [revision.node_pool],
        "currentNodePools": [revision.node_pool] if holding else [],
        "runningPods": revision.gang if running else 0,
        "images": [revision.spec["image"]] if revision.spec.get("image") else [],
        "environmentVariables": _literal_environment(revision.spec),
        "childrenIds": [],
    }
    view.update(_command(revision.spec))
    return view


def _url(inference: Inference) -> str:
    serving = inference.spec.get("servingPort") or {}
    if serving.get("clusterLocalAccessOnly"):
        return f"http://{inference.name}.{inference.namespace}.svc.cluster.local"
    return f"https://{inference.name}-{inference.project_name}.{_URL_DOMAIN}"


def _deleted_at(inference: Inference) -> str | None:
    if inference.delete_requested_at is None:
        return None
    return iso(inference.delete_requested_at)


def _requested_pods(spec: Json) -> Json:
    autoscaling = spec.get("autoscaling") or {}
    minimum = pod_count(spec)
    maximum = autoscaling.get("maxReplicas") or max(minimum, 1)
    return {"number": minimum, "min": minimum, "max": maximum}


def _requested(spec: Json, *, pods: int) -> Json:
    compute = spec.get("compute") or {}
    requested: Json = {"gpu": {"request": gpus_per_pod(spec) * pods}}
    if compute.get("gpuRequestType"):
        requested["gpuRequestType"] = compute["gpuRequestType"]
    if compute.get("cpuCoreRequest") is not None:
        requested["cpu"] = {
            "request": compute["cpuCoreRequest"] * pods,
            "limit": compute.get("cpuCoreLimit"),
        }
    if compute.get("cpuMemoryRequest"):
        requested["cpuMemory"] = {
            "request": compute["cpuMemoryRequest"],
            "limit": compute.get("cpuMemoryLimit"),
        }
    if compute.get("gpuMemoryRequest"):
        requested["gpuMemory"] = {
            "request": compute["gpuMemoryRequest"],
            "limit": compute.get("gpuMemoryLimit"),
        }
    return requested


def _literal_environment(spec: Json) -> dict[str, str]:
    # Only literal values are shown; values from secrets stay in the cluster.
    return {
        str(variable["name"]): str(variable["value"])
        for variable in spec.get("environmentVariables") or []
        if variable.get("name") and isinstance(variable.get("value"), str)
    }


def _command(spec: Json) -> Json:
    shown: dict[str, Any] = {}
    if isinstance(spec.get("command"), str):
        shown["command"] = spec["command"]
    if isinstance(spec.get("args"), str):
        shown["arguments"] = spec["args"]
    return shown


def _ready_condition(phase: str, message: str, since: float) -> Json:
    return {
        "type": "Ready",
        "status": "True" if phase == "Running" else "False",
        "reason": phase,
        "message": message,
        "lastTransitionTime": iso(since),
    }


def _pending_messages(state: WorkloadState) -> list[Json]:
    newest = state.newest
    if newest is None or newest.phase != "Pending" or newest.reason is None:
        return []
    return [
        {
            "nodePool": newest.revision.node_pool,
            "phaseReason": newest.reason,
            "reason": _SHORT_REASONS.get(newest.reason, newest.reason),
            "userMessage": newest.message,
        }
    ]
