"""Inference workloads: `/api/v1/workloads/inferences` and `/api/v1/workloads`.

POST makes the workload and its first revision; PATCH merges the update into
the stored spec as a JSON merge patch (RFC 7386) and, unless nothing changed,
starts a new revision (a rolling update); DELETE marks the workload
`Deleting`, after which it disappears. A new revision is placed on GPUs as
soon as it fits its project's quota and its node pool (`_placement`) and then
moves through its phases on the clock (`_lifecycle`). On top of the OpenAPI
schema, the semantic rules that the official client's models document are
enforced here, so a request the real control plane would refuse is refused
with the field named.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

from ._clock import iso
from ._errors import bad_request, conflict, not_found
from ._filters import select
from ._http import Call, Endpoint, Reply
from ._inference_views import inference_view, revision_view, workload_view
from ._lifecycle import (
    RevisionState,
    WorkloadState,
    gang_size,
    gpus_per_pod,
    node_pool_name,
    revision_states,
    revisions_by_workload,
    workload_state,
)
from ._naming import check_dns_label
from ._placement import place_pending
from ._records import Department, Inference, Json, Project, Revision
from ._spec import schema_properties
from ._state import Emulator
from ._templates import with_template

__all__ = ["ENDPOINTS", "UPDATABLE_SPEC_FIELDS", "merge_patch"]

_BASE = "/api/v1/workloads/inferences"
_ITEM = _BASE + "/{workloadId}"

UPDATABLE_SPEC_FIELDS = schema_properties("InferenceUpdateRequest", "spec")
"""The `InferenceUpdateSpecSpec` fields: all a PATCH may change."""

_UPDATE_FIELDS = schema_properties("InferenceUpdateRequest")
_CREATION_FIELDS = schema_properties("InferenceCreationRequest")

_VALUE_SOURCES = ("value", "secret", "configMap", "podFieldRef", "userCredential")
_SHOWN = 60


def create_inference(call: Call) -> Reply:
    """`POST`: 202 with the new `Inference1`."""
    emulator, body = call.emulator, call.body
    emulator.check_cluster("clusterId", body["clusterId"])
    project = emulator.project_for("projectId", body["projectId"])
    name = _workload_name(body)
    _check_unique(emulator, project, name=name, now=call.now)
    spec: Json = body.get("spec") or {}
    if body.get("templateId"):
        spec = with_template(emulator, str(body["templateId"]), spec, project)
    _check_spec(emulator, spec)

    department = emulator.store.get(Department, project.parent_id)
    inference = Inference(
        id=str(uuid.uuid4()),
        name=name,
        requested_name=body["name"],
        project_id=project.id,
        project_name=project.name,
        namespace=project.namespace,
        department_id=project.parent_id,
        department_name=department.name if department is not None else "",
        cluster_id=project.cluster_id,
        spec=spec,
        created_at=call.now,
        updated_at=call.now,
        created_by=emulator.settings.client_id,
    )
    emulator.store.save(inference)
    _start_revision(emulator, inference, project=project, now=call.now)
    return Reply(202, inference_view(inference, _state(emulator, inference, call.now)))


def get_inference(call: Call) -> Reply:
    """`GET /{workloadId}`: the `Inference1` with `actualPhase`."""
    inference, state = _live(call)
    return Reply(200, inference_view(inference, state))


def update_inference(call: Call) -> Reply:
    """`PATCH /{workloadId}`: merge the update and roll out a new revision."""
    emulator = call.emulator
    inference, state = _live(call)
    if state.phase == "Deleting":
        raise bad_request(f"workloadId: workload {inference.id} is being deleted")
    _check_update_body(call.body)
    update = call.body.get("spec") or {}
    _check_updatable(update)
    merged = merge_patch(inference.spec, update)
    project = emulator.project_for("projectId", inference.project_id)
    _check_spec(emulator, merged)
    if merged == inference.spec:
        return Reply(202, inference_view(inference, state))

    inference.spec = merged
    inference.updated_at = call.now
    emulator.store.save(inference)
    _drop_unfinished(emulator, inference, call.now)
    _start_revision(emulator, inference, project=project, now=call.now)
    return Reply(202, inference_view(inference, _state(emulator, inference, call.now)))


def delete_inference(call: Call) -> Reply:
    """`DELETE /{workloadId}`: 202; `Deleting` for a moment, then 404."""
    inference, _state_now = _live(call)
    if inference.delete_requested_at is None:
        inference.delete_requested_at = call.now
        call.emulator.store.save(inference)
    return Reply(202, {"code": 202, "message": "The workload is being deleted"})


def list_revisions(call: Call) -> Reply:
    """`GET /{workloadId}/revisions`: live ones, or with `deleted=true` old ones."""
    inference, _state_now = _live(call)
    deleted = call.flag("deleted")
    states = _revision_states(call.emulator, inference, call.now)
    chosen = [state for state in states if state.live != deleted]
    return Reply(200, {"revisions": [revision_view(inference, s) for s in chosen]})


def get_revision(call: Call) -> Reply:
    """`GET /revisions/{revisionId}`."""
    emulator = call.emulator
    revision = emulator.store.get(Revision, call.params["revisionId"])
    inference = None
    if revision is not None:
        inference = emulator.store.get(Inference, revision.workload_id)
    if (
        revision is None
        or inference is None
        or _state(emulator, inference, call.now).gone
    ):
        raise not_found("revision", call.params["revisionId"])
    states = _revision_states(emulator, inference, call.now)
    state = next(s for s in states if s.revision.id == revision.id)
    return Reply(200, revision_view(inference, state))


def get_workload(call: Call) -> Reply:
    """`GET /api/v1/workloads/{workloadId}`: the operational view with URLs."""
    inference, state = _live(call)
    return Reply(200, workload_view(inference, state, detailed=True))


def list_workloads(call: Call) -> Reply:
    """`GET /api/v1/workloads`: `{workloads: [...]}`, filtered by `filterBy`."""
    emulator = call.emulator
    if call.flag("deleted"):
        return Reply(200, {"workloads": []})
    current = []
    for inference in emulator.store.all(Inference):
        state = _state(emulator, inference, call.now)
        if not state.gone:
            current.append((inference, state))
    chosen = select(current, call.query, _WORKLOAD_FIELDS)
    views = [workload_view(i, s, detailed=False) for i, s in chosen]
    return Reply(200, {"workloads": views})


_WORKLOAD_FIELDS: dict[str, Callable[[tuple[Inference, WorkloadState]], object]] = {
    "name": lambda item: item[0].name,
    "type": lambda _item: "inference",
    "clusterId": lambda item: item[0].cluster_id,
    "projectId": lambda item: item[0].project_id,
    "projectName": lambda item: item[0].project_name,
    "departmentId": lambda item: item[0].department_id,
    "departmentName": lambda item: item[0].department_name,
    "phase": lambda item: item[1].phase,
    "createdAt": lambda item: iso(item[0].created_at),
    "submittedBy": lambda item: item[0].created_by,
}


def _live(call: Call) -> tuple[Inference, WorkloadState]:
    workload_id = call.params["workloadId"]
    inference = call.emulator.store.get(Inference, workload_id)
    if inference is None:
        raise not_found("workload", workload_id)
    state = _state(call.emulator, inference, call.now)
    if state.gone:
        raise not_found("workload", workload_id)
    return inference, state


def _revision_states(
    emulator: Emulator, inference: Inference, now: float
) -> list[RevisionState]:
    revisions = revisions_by_workload(emulator).get(inference.id, [])
    return revision_states(inference, revisions, clock=emulator.clock, now=now)


def _state(emulator: Emulator, inference: Inference, now: float) -> WorkloadState:
    states = _revision_states(emulator, inference, now)
    return workload_state(inference, states, clock=emulator.clock, now=now)


def _workload_name(body: Json) -> str:
    name = str(body["name"])
    if body.get("useGivenNameAsPrefix"):
        check_dns_label("name", name, limit=57)
        return f"{name}-{secrets.token_hex(3)[:5]}"
    check_dns_label("name", name)
    return name


def _check_unique(
    emulator: Emulator, project: Project, *, name: str, now: float
) -> None:
    for other in emulator.store.all(Inference):
        if other.project_id != project.id or other.name != name:
            continue
        if not _state(emulator, other, now).gone:
            raise conflict(
                f"name: an inference named {name!r} already exists in project"
                f" {project.name!r} (workload {other.id}); names are unique per"
                " project: choose another name or delete that workload first"
            )


def _start_revision(
    emulator: Emulator, inference: Inference, *, project: Project, now: float
) -> Revision:
    existing = revisions_by_workload(emulator).get(inference.id, [])
    revision = Revision(
        id=str(uuid.uuid4()),
        workload_id=inference.id,
        number=len(existing) + 1,
        spec=inference.spec,
        node_pool=node_pool_name(inference.spec, project),
        pods=gang_size(inference.spec),
        gpus_per_pod=gpus_per_pod(inference.spec),
        admitted=False,
        reason=None,
        created_at=now,
    )
    emulator.store.save(revision)
    # Placed now if it fits, so the answer already shows Creating or Pending.
    place_pending(emulator, now)
    return revision


def _drop_unfinished(emulator: Emulator, inference: Inference, now: float) -> None:
    # Only the last of several quick updates takes effect: a revision that
    # has not reached Running yet (Pending, starting or failed) is dropped
    # when a newer one is submitted, and the GPUs it held are free again.
    for state in _revision_states(emulator, inference, now):
        if state.live and state.phase != "Running":
            state.revision.dropped_at = now
            emulator.store.save(state.revision)


def merge_patch(target: Json, patch: Json) -> Json:
    """`target` with a JSON merge patch (RFC 7386) applied; neither is changed.

    A key whose patch value is null is removed; an object merges into the
    object it meets (recursively, so nested nulls remove nested keys) and
    replaces anything else; every other value, lists included, replaces.
    """
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = merge_patch(
                current if isinstance(current, dict) else {}, value
            )
        else:
            merged[key] = value
    return merged


def _check_update_body(body: Json) -> None:
    # The document allows only `spec` here, but does not forbid other keys, so
    # without this check a renaming PATCH would be silently ignored.
    for key in sorted(set(body) - _UPDATE_FIELDS):
        if key in _CREATION_FIELDS:
            raise bad_request(
                f"{key}: set at creation only, a PATCH cannot change it (got"
                f" {_shown(body[key])}); replace the workload instead. A PATCH"
                ' body is {"spec": {...}} with the fields to change'
            )
        raise bad_request(
            f"{key}: not a field of a PATCH body (got {_shown(body[key])}); send"
            ' {"spec": {...}} with the fields to change'
        )


def _check_updatable(update: Json) -> None:
    fixed = sorted(set(update) - UPDATABLE_SPEC_FIELDS)
    if fixed:
        raise bad_request(
            f"spec.{fixed[0]}: set at creation only, a PATCH cannot change it (got"
            f" {_shown(update[fixed[0]])}); replace the workload instead. A PATCH"
            " may change: " + ", ".join(sorted(UPDATABLE_SPEC_FIELDS))
        )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _check_spec(emulator: Emulator, spec: Json) -> None:
    if not spec.get("image"):
        raise bad_request(
            "spec.image: required; name the serving image, for example"
            " 'vllm/vllm-openai:v0.6.4'"
        )
    for index, pool in enumerate(spec.get("nodePools") or []):
        emulator.node_pool_named(f"spec.nodePools[{index}]", pool)
    _check_compute(spec.get("compute") or {})
    _check_autoscaling(spec.get("autoscaling") or {})
    for index, variable in enumerate(spec.get("environmentVariables") or []):
        _check_variable(f"spec.environmentVariables[{index}]", variable)


def _check_compute(compute: Json) -> None:
    field = "spec.compute"
    devices = compute.get("gpuDevicesRequest")
    portion = compute.get("gpuPortionRequest")
    memory = compute.get("gpuMemoryRequest")
    kind = compute.get("gpuRequestType")
    if portion is not None and portion > 1:
        raise bad_request(
            f"{field}.gpuPortionRequest: {portion} is above 1; a portion is a"
            " fraction of one GPU (use gpuDevicesRequest for whole GPUs)"
        )
    if devices is not None and devices > 1 and (portion is not None or memory):
        raise bad_request(
            f"{field}.gpuDevicesRequest: {devices} devices cannot be combined with"
            " gpuPortionRequest or gpuMemoryRequest; fractions need one device"
        )
    if kind == "portion" and portion is None:
        raise bad_request(
            f"{field}.gpuPortionRequest: required when gpuRequestType is 'portion'"
        )
    if kind == "memory" and not memory:
        raise bad_request(
            f"{field}.gpuMemoryRequest: required when gpuRequestType is 'memory'"
        )
    limit = compute.get("gpuPortionLimit")
    if limit is not None and portion is not None and limit < portion:
        raise bad_request(
            f"{field}.gpuPortionLimit: {limit} is below gpuPortionRequest {portion}"
        )


def _check_autoscaling(autoscaling: Json) -> None:
    field = "spec.autoscaling"
    minimum: Any = autoscaling.get("minReplicas")
    maximum: Any = autoscaling.get("maxReplicas")
    if minimum is not None and maximum is not None and maximum < minimum:
        raise bad_request(
            f"{field}.maxReplicas: {maximum} is below minReplicas {minimum}"
        )
    scales = minimum is not None and maximum is not None and minimum < maximum
    # Scaling between 0 and 1 follows traffic and needs no metric.
    if scales and (minimum, maximum) != (0, 1) and not autoscaling.get("metric"):
        raise bad_request(
            f"{field}.metric: required when minReplicas < maxReplicas; use"
            " throughput, concurrency or latency"
        )
    if autoscaling.get("metric") and autoscaling.get("metricThreshold") is None:
        raise bad_request(f"{field}.metricThreshold: required when metric is set")
    if autoscaling.get("scaleToZeroRetentionSeconds") and minimum != 0:
        raise bad_request(
            f"{field}.scaleToZeroRetentionSeconds: only valid when minReplicas is 0"
        )


def _check_variable(field: str, variable: Json) -> None:
    if not variable.get("name"):
        raise bad_request(f"{field}.name: required")
    if variable.get("exclude"):
        return
    sources = [key for key in _VALUE_SOURCES if variable.get(key) is not None]
    if len(sources) != 1:
        raise bad_request(
            f"{field}: {variable['name']!r} needs exactly one of "
            + ", ".join(_VALUE_SOURCES)
            + (f"; it has {', '.join(sources)}" if sources else "; it has none")
        )


ENDPOINTS = [
    Endpoint("POST", _BASE, create_inference),
    Endpoint("GET", _ITEM, get_inference),
    Endpoint("PATCH", _ITEM, update_inference),
    Endpoint("DELETE", _ITEM, delete_inference),
    Endpoint("GET", _ITEM + "/revisions", list_revisions),
    Endpoint("GET", _BASE + "/revisions/{revisionId}", get_revision),
    Endpoint("GET", "/api/v1/workloads", list_workloads),
    Endpoint("GET", "/api/v1/workloads/{workloadId}", get_workload),
]
