"""Projects: `/api/v1/org-unit/projects`.

A project is a namespace with GPU quotas per node pool. Ids are numeric strings
because assets refer to projects by integer (`meta.projectId`). Names are
unique per cluster and must be DNS labels, since the namespace defaults to
`runai-<name>`. A new project is `Creating` for a moment and then `Ready`. Its
GPU quotas are enforced when inferences are placed (`_placement`), and its
quota status counts the GPUs its inferences request and hold, per node pool.
Its parent is the department `parentId` names, else the seeded department
`default`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._clock import PROJECT_CREATING_SECONDS, iso
from ._errors import bad_request, conflict
from ._filters import select
from ._http import Call, Endpoint, Reply
from ._naming import check_dns_label
from ._placement import project_usage
from ._quotas import (
    default_node_pools,
    node_pool_resources,
    quota_status,
    resources_view,
    total_resources,
)
from ._records import Asset, Inference, Json, Project
from ._state import Emulator

__all__ = ["ENDPOINTS", "project_phase"]

_BASE = "/api/v1/org-unit/projects"
_ITEM = _BASE + "/{projectId}"


def create_project(call: Call) -> Reply:
    """`POST`: a new project, answered with 201 and the project."""
    body, emulator = call.body, call.emulator
    emulator.check_cluster("clusterId", body["clusterId"])
    name = body["name"]
    requested = body.get("requestedNamespace")
    # Without a requested namespace the name must leave room for `runai-`.
    check_dns_label("name", name, limit=63 if requested else 57)
    namespace = requested or f"runai-{name}"
    check_dns_label("requestedNamespace", namespace)
    _check_unique(emulator, name=name, namespace=namespace)

    project = Project(
        id=str(emulator.store.next_id("project")),
        name=name,
        cluster_id=body["clusterId"],
        parent_id=_parent(emulator, body.get("parentId")),
        namespace=namespace,
        requested_namespace=requested,
        description=body.get("description") or "",
        resources=node_pool_resources(emulator, body["resources"]),
        scheduling_rules=body.get("schedulingRules"),
        default_node_pools=default_node_pools(emulator, body.get("defaultNodePools")),
        node_types=body.get("nodeTypes"),
        enforce_runai_scheduler=_enforce(body),
        created_at=call.now,
        updated_at=call.now,
        created_by=emulator.settings.client_id,
    )
    emulator.store.save(project)
    return Reply(201, project_view(emulator, project, call.now))


def list_projects(call: Call) -> Reply:
    """`GET`: `{projects: [...]}`, filtered by `filterBy` and `search`."""
    emulator = call.emulator
    fields: dict[str, Callable[[Project], object]] = {
        "name": lambda p: p.name,
        "clusterId": lambda p: p.cluster_id,
        "departmentId": lambda p: p.parent_id,
        "parentId": lambda p: p.parent_id,
        "parentName": lambda p: _department_name(emulator, p.parent_id),
        "phase": lambda p: project_phase(emulator, p, call.now),
        "createdAt": lambda p: iso(p.created_at),
    }
    projects = emulator.store.all(Project)
    search = call.query.get("search")
    if search:
        projects = [project for project in projects if search in project.name]
    chosen = select(projects, call.query, fields)
    return Reply(
        200, {"projects": [project_view(emulator, p, call.now) for p in chosen]}
    )


def get_project(call: Call) -> Reply:
    """`GET /{projectId}`."""
    project = call.emulator.project(call.params["projectId"])
    return Reply(200, project_view(call.emulator, project, call.now))


def update_project(call: Call) -> Reply:
    """`PUT /{projectId}`: replaces every updatable field; absent ones reset."""
    emulator, body = call.emulator, call.body
    project = emulator.project(call.params["projectId"])
    project.description = body.get("description") or ""
    project.resources = node_pool_resources(emulator, body["resources"])
    project.scheduling_rules = body.get("schedulingRules")
    project.default_node_pools = default_node_pools(
        emulator, body.get("defaultNodePools")
    )
    project.node_types = body.get("nodeTypes")
    project.enforce_runai_scheduler = _enforce(body)
    project.updated_at = call.now
    emulator.store.save(project)
    return Reply(200, project_view(emulator, project, call.now))


def delete_project(call: Call) -> Reply:
    """`DELETE /{projectId}`: 202; its workloads and project assets go with it."""
    emulator = call.emulator
    project = emulator.project(call.params["projectId"])
    for inference in emulator.store.all(Inference):
        if inference.project_id == project.id and inference.delete_requested_at is None:
            inference.delete_requested_at = call.now
            emulator.store.save(inference)
    for asset in emulator.store.all(Asset):
        if asset.meta.get("projectId") == int(project.id):
            emulator.store.remove(Asset, asset.id)
    emulator.store.remove(Project, project.id)
    return Reply(202)


def project_phase(emulator: Emulator, project: Project, now: float) -> str:
    """`Creating` just after creation, `Ready` afterwards."""
    ready_at = emulator.clock.after(project.created_at, PROJECT_CREATING_SECONDS)
    return "Ready" if now >= ready_at else "Creating"


def project_view(emulator: Emulator, project: Project, now: float) -> Json:
    """A `Project`."""
    view: Json = {
        "id": project.id,
        "name": project.name,
        "clusterId": project.cluster_id,
        "parentId": project.parent_id,
        "requestedNamespace": project.requested_namespace,
        "description": project.description,
        "enforceRunaiScheduler": project.enforce_runai_scheduler,
        "schedulingRules": project.scheduling_rules,
        "defaultNodePools": project.default_node_pools,
        "resources": resources_view(project.resources),
        "totalResources": total_resources(project.resources),
        "effective": _effective(project),
        "status": _status(emulator, project, now),
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
        "createdBy": project.created_by,
        "updatedBy": project.created_by,
    }
    if project.node_types is not None:
        view["nodeTypes"] = project.node_types
    department = emulator.department(project.parent_id)
    if department is not None:
        view["parent"] = {"id": department.id, "name": department.name}
    return view


def _status(emulator: Emulator, project: Project, now: float) -> Json:
    phase = project_phase(emulator, project, now)
    names = [entry["nodePool"]["name"] for entry in project.resources]
    per_pool, total = quota_status(
        emulator, names, project_usage(emulator, project, now)
    )
    return {
        "namespace": project.namespace if phase == "Ready" else None,
        "phase": phase,
        "phaseMessage": None,
        "lastUpdatedTime": iso(project.updated_at),
        "nodePoolQuotaStatuses": per_pool,
        "quotaStatus": total,
    }


def _effective(project: Project) -> Json:
    effective: Json = {
        "schedulingRules": project.scheduling_rules,
        "defaultNodePools": project.default_node_pools,
    }
    if project.node_types is not None:
        effective["nodeTypes"] = project.node_types
    return effective


def _parent(emulator: Emulator, parent_id: str | None) -> str:
    if parent_id is None:
        return emulator.default_department_id()
    if emulator.department(parent_id) is None:
        raise bad_request(
            f"parentId: there is no department with id {parent_id!r};"
            " GET /api/v1/org-unit/departments lists them"
        )
    return parent_id


def _department_name(emulator: Emulator, department_id: str) -> str:
    department = emulator.department(department_id)
    return department.name if department is not None else ""


def _enforce(body: Json) -> bool:
    value: Any = body.get("enforceRunaiScheduler")
    return True if value is None else bool(value)


def _check_unique(emulator: Emulator, *, name: str, namespace: str) -> None:
    for other in emulator.store.all(Project):
        if other.name == name:
            raise conflict(
                f"name: a project named {name!r} already exists in this cluster"
                f" (id {other.id}); choose another name or use that project"
            )
        if other.namespace == namespace:
            raise conflict(
                f"requestedNamespace: namespace {namespace!r} already belongs to"
                f" project {other.name!r} (id {other.id})"
            )


ENDPOINTS = [
    Endpoint("POST", _BASE, create_project),
    Endpoint("GET", _BASE, list_projects),
    Endpoint("GET", _ITEM, get_project),
    Endpoint("PUT", _ITEM, update_project),
    Endpoint("DELETE", _ITEM, delete_project),
]
