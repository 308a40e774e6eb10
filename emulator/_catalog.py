"""Read-only parts of the control plane: the cluster, node pools, departments.

All three are seeded on first start. Their shapes follow `DisplayedCluster`,
`Nodepool` and `DepartmentForList`. A node pool's GPU capacity, which decides
whether inferences fit, is not a field of the API; departments show it as
their GPU quota per node pool instead.
"""

from __future__ import annotations

from collections.abc import Callable

from ._clock import iso
from ._filters import select
from ._http import Call, Endpoint, Reply
from ._records import Department, Json, NodePool
from ._state import CLUSTER_NAME, TENANT_ID, Emulator

__all__ = ["ENDPOINTS"]

_SYSTEM_USER = "system"


def list_clusters(call: Call) -> Reply:
    """`GET /api/v1/clusters`: the one emulated cluster."""
    return Reply(200, [cluster_view(call.emulator, call.now)])


def list_node_pools(call: Call) -> Reply:
    """`GET /api/v1/node-pools`."""
    fields: dict[str, Callable[[NodePool], object]] = {
        "name": lambda pool: pool.name,
        "clusterId": lambda _pool: call.emulator.settings.cluster_id,
        "phase": lambda _pool: "Ready",
        "createdAt": lambda pool: iso(pool.created_at),
    }
    pools = select(call.emulator.node_pools(), call.query, fields)
    return Reply(200, {"nodepools": [node_pool_view(call.emulator, p) for p in pools]})


def list_departments(call: Call) -> Reply:
    """`GET /api/v1/org-unit/departments`."""
    fields: dict[str, Callable[[Department], object]] = {
        "name": lambda department: department.name,
        "id": lambda department: department.id,
        "clusterId": lambda _department: call.emulator.settings.cluster_id,
    }
    departments = select(call.emulator.store.all(Department), call.query, fields)
    views = [department_view(call.emulator, d) for d in departments]
    return Reply(200, {"departments": views})


def cluster_view(emulator: Emulator, now: float) -> Json:
    """A `DisplayedCluster`."""
    seeded = float(emulator.store.setting("seeded_at") or now)
    return {
        "uuid": emulator.settings.cluster_id,
        "tenantId": TENANT_ID,
        "name": CLUSTER_NAME,
        "createdAt": iso(seeded),
        "updatedAt": iso(seeded),
        "lastLiveness": iso(now),
        "domain": None,
        "version": "2.24.0",
        "status": {"state": "Connected"},
    }


def node_pool_view(emulator: Emulator, pool: NodePool) -> Json:
    """A `Nodepool`."""
    return {
        "id": pool.id,
        "name": pool.name,
        "labelKey": "run.ai/node-pool",
        "labelValue": pool.name,
        "clusterId": emulator.settings.cluster_id,
        "clusterName": CLUSTER_NAME,
        "tenantId": TENANT_ID,
        "isDefault": pool.is_default,
        "phase": "Ready",
        "phaseMessage": "",
        "overProvisioningRatio": 1,
        "createdBy": _SYSTEM_USER,
        "createdAt": iso(pool.created_at),
        "updatedBy": _SYSTEM_USER,
        "updatedAt": iso(pool.created_at),
    }


def department_view(emulator: Emulator, department: Department) -> Json:
    """A `DepartmentForList`; its quota per node pool is the pool's capacity."""
    pools = emulator.node_pools()
    resources = [
        {
            "nodePool": {"id": pool.id, "name": pool.name},
            "gpu": {"deserved": pool.gpus, "limit": None, "overQuotaWeight": 1},
        }
        for pool in pools
    ]
    return {
        "id": department.id,
        "name": department.name,
        "clusterId": emulator.settings.cluster_id,
        "description": "Seeded by the emulator; the parent of new projects.",
        "createdAt": iso(department.created_at),
        "updatedAt": iso(department.created_at),
        "createdBy": _SYSTEM_USER,
        "updatedBy": _SYSTEM_USER,
        "resources": resources,
        "totalResources": {
            "gpuQuota": sum(pool.gpus for pool in pools),
            "cpuQuota": None,
            "memoryQuota": None,
        },
    }


ENDPOINTS = [
    Endpoint("GET", "/api/v1/clusters", list_clusters),
    Endpoint("GET", "/api/v1/node-pools", list_node_pools),
    Endpoint("GET", "/api/v1/org-unit/departments", list_departments),
]
