"""Read-only parts of the control plane: the cluster and its node pools.

Both are seeded on first start. Their shapes follow `DisplayedCluster` and
`Nodepool`. A node pool's GPU capacity, which decides whether inferences fit,
is not a field of the API; the seeded department shows it as its GPU quota per
node pool instead (see `_departments`).
"""

from __future__ import annotations

from collections.abc import Callable

from ._clock import iso
from ._filters import select
from ._http import Call, Endpoint, Reply
from ._records import Json, NodePool
from ._state import CLUSTER_NAME, TENANT_ID, Emulator

__all__ = ["ENDPOINTS", "SYSTEM_USER"]

SYSTEM_USER = "system"
"""`createdBy` of what the emulator seeds."""


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
        "createdBy": SYSTEM_USER,
        "createdAt": iso(pool.created_at),
        "updatedBy": SYSTEM_USER,
        "updatedAt": iso(pool.created_at),
    }


ENDPOINTS = [
    Endpoint("GET", "/api/v1/clusters", list_clusters),
    Endpoint("GET", "/api/v1/node-pools", list_node_pools),
]
