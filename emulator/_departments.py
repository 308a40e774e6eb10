"""Departments: `/api/v1/org-unit/departments`, the parents of projects.

One department, `default`, is seeded; its GPU quota per node pool is the pool's
whole capacity, so it never limits anything. `POST` makes more (201, with a
UUID id, since the document types a project's `parent.id` as a UUID), so
tests can place projects under a department of their own. Names are unique per
cluster and must be DNS labels. Department quotas are shown, not enforced
(project GPU quotas are, see `_placement`). The document's
`avgGpu*` metric filters are not emulated.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ._clock import iso
from ._errors import bad_request, conflict, not_found
from ._filters import select
from ._http import Call, Endpoint, Reply
from ._naming import check_dns_label
from ._placement import usage_by_project
from ._quotas import (
    Usage,
    default_node_pools,
    node_pool_resources,
    quota_status,
    resources_view,
    total_resources,
)
from ._records import Department, Json, Project
from ._state import Emulator

__all__ = ["ENDPOINTS"]

_BASE = "/api/v1/org-unit/departments"
_ITEM = _BASE + "/{departmentId}"
_VERBOSITY = ("meta", "brief", "verbose")
_SEEDED_DESCRIPTION = (
    "Seeded by the emulator; the parent of projects created without parentId."
)


def create_department(call: Call) -> Reply:
    """`POST`: 201 with the new `Department`."""
    emulator, body = call.emulator, call.body
    emulator.check_cluster("clusterId", body["clusterId"])
    name = body["name"]
    check_dns_label("name", name)
    _check_unique(emulator, name)

    department = Department(
        id=str(uuid.uuid4()),
        name=name,
        created_at=call.now,
        description=body.get("description") or "",
        resources=node_pool_resources(emulator, body["resources"]),
        scheduling_rules=body.get("schedulingRules"),
        default_node_pools=default_node_pools(emulator, body.get("defaultNodePools")),
        node_types=body.get("nodeTypes"),
        updated_at=call.now,
        created_by=emulator.settings.client_id,
    )
    emulator.store.save(department)
    return Reply(201, department_view(emulator, department, now=call.now, status=True))


def list_departments(call: Call) -> Reply:
    """`GET`: `{departments: [...]}`; `verbosity=verbose` adds `status`."""
    emulator, now = call.emulator, call.now
    verbose = _verbosity(call) == "verbose"
    fields: dict[str, Callable[[Department], object]] = {
        "name": lambda d: d.name,
        "id": lambda d: d.id,
        "clusterId": lambda _d: emulator.settings.cluster_id,
        "totalGpuQuota": lambda d: total_resources(_resources(emulator, d))["gpuQuota"],
        "gpuAllocated": lambda d: _allocated(_usage(emulator, d, now)),
        "createdAt": lambda d: iso(d.created_at),
    }
    chosen = select(emulator.store.all(Department), call.query, fields)
    views = [department_view(emulator, d, now=now, status=verbose) for d in chosen]
    return Reply(200, {"departments": views})


def get_department(call: Call) -> Reply:
    """`GET /{departmentId}`: the `Department`, with its quota status."""
    department = call.emulator.department(call.params["departmentId"])
    if department is None:
        raise not_found("department", call.params["departmentId"])
    view = department_view(call.emulator, department, now=call.now, status=True)
    return Reply(200, view)


def department_view(
    emulator: Emulator, department: Department, *, now: float, status: bool
) -> Json:
    """A `Department` (or, without `status`, a `DepartmentForList`)."""
    resources = _resources(emulator, department)
    seeded = department.resources is None
    updated_at = department.updated_at or department.created_at
    view: Json = {
        "id": department.id,
        "name": department.name,
        "clusterId": emulator.settings.cluster_id,
        "description": _SEEDED_DESCRIPTION if seeded else department.description,
        "createdAt": iso(department.created_at),
        "updatedAt": iso(updated_at),
        "createdBy": department.created_by,
        "updatedBy": department.created_by,
        "resources": resources_view(resources),
        "totalResources": total_resources(resources),
        "defaultNodePools": department.default_node_pools,
    }
    # Both schemas are `$ref`s whose `nullable` the document puts beside the
    # reference, where OpenAPI 3.0 ignores it: leave them out rather than null.
    if department.scheduling_rules is not None:
        view["schedulingRules"] = department.scheduling_rules
    if department.node_types is not None:
        view["nodeTypes"] = department.node_types
    if status:
        view["status"] = _status(emulator, department, resources, now=now)
    return view


def _resources(emulator: Emulator, department: Department) -> list[Json]:
    if department.resources is not None:
        return department.resources
    return [
        {
            "nodePool": {"id": pool.id, "name": pool.name},
            "gpu": {"deserved": pool.gpus, "limit": None, "overQuotaWeight": 1},
        }
        for pool in emulator.node_pools()
    ]


def _status(
    emulator: Emulator, department: Department, resources: list[Json], *, now: float
) -> Json:
    names = [entry["nodePool"]["name"] for entry in resources]
    per_pool, total = quota_status(emulator, names, _usage(emulator, department, now))
    return {"nodePoolQuotaStatuses": per_pool, "quotaStatus": total}


def _usage(emulator: Emulator, department: Department, now: float) -> Usage:
    summed: Usage = {}
    by_project = usage_by_project(emulator, now)
    for project in emulator.store.all(Project):
        if project.parent_id != department.id:
            continue
        for pool, usage in by_project.get(project.id, {}).items():
            into = summed.setdefault(pool, {})
            for key, value in usage.items():
                into[key] = into.get(key, 0.0) + value
    return summed


def _allocated(usage: Usage) -> float:
    return sum(pool.get("allocated", 0.0) for pool in usage.values())


def _verbosity(call: Call) -> str:
    verbosity = call.query.get("verbosity", "brief")
    if verbosity not in _VERBOSITY:
        raise bad_request(
            f"verbosity: {verbosity!r} is not one of {', '.join(_VERBOSITY)};"
            " use verbose to include each department's quota status"
        )
    return verbosity


def _check_unique(emulator: Emulator, name: str) -> None:
    for other in emulator.store.all(Department):
        if other.name == name:
            raise conflict(
                f"name: a department named {name!r} already exists in this cluster"
                f" (id {other.id}); choose another name or use that department"
            )


ENDPOINTS = [
    Endpoint("POST", _BASE, create_department),
    Endpoint("GET", _BASE, list_departments),
    Endpoint("GET", _ITEM, get_department),
]
