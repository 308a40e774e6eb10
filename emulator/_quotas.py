"""Quotas per node pool, shared by projects and departments.

Both org units take `resources`: one entry per node pool with a GPU quota
(`gpu`, in devices) and optional CPU (`cpu`, in millicores) and memory
(`memory`, with `units` Mib, MB or GB) quotas. Each quota is `deserved`, an
optional `limit` (-1 or null for none) and an `overQuotaWeight`. The emulator
checks them, stores them as given (with the node pool's name filled in), and
sums them into `totalResources`, which counts CPU in millicores and memory in
MB as the document says.
"""

from __future__ import annotations

from typing import Any

from ._errors import bad_request
from ._records import Json
from ._state import Emulator

__all__ = [
    "Usage",
    "default_node_pools",
    "node_pool_resources",
    "quota_status",
    "resources_view",
    "total_resources",
]

# How many MB one unit of `memory.units` is.
_MEMORY_MB = {"MB": 1.0, "Mib": 1.048576, "GB": 1000.0}
_USAGE_KEYS = ("allocated", "allocatedNonPreemptible", "requested")

Usage = dict[str, dict[str, float]]
"""GPUs per node pool name: `allocated`, `allocatedNonPreemptible`, `requested`."""


def node_pool_resources(emulator: Emulator, entries: list[Json]) -> list[Json]:
    """Check a request's `resources` and return them as stored."""
    pools = {pool.id: pool for pool in emulator.node_pools()}
    known = ", ".join(f"{pool.id!r} ({pool.name})" for pool in pools.values())
    resources: list[Json] = []
    for index, entry in enumerate(entries):
        field = f"resources[{index}]"
        reference = entry.get("nodePool") or {}
        pool = pools.get(reference.get("id", ""))
        if pool is None:
            raise bad_request(
                f"{field}.nodePool.id: {reference.get('id')!r} is not a node pool id;"
                f" known ids: {known} (GET /api/v1/node-pools)"
            )
        if reference.get("name") not in (None, pool.name):
            raise bad_request(
                f"{field}.nodePool.name: {reference['name']!r} does not match node"
                f" pool id {pool.id!r}, which is named {pool.name!r}"
            )
        if any(done["nodePool"]["id"] == pool.id for done in resources):
            raise bad_request(
                f"{field}.nodePool: node pool {pool.name!r} appears twice"
            )
        resources.append(_resource(field, entry, pool_id=pool.id, pool_name=pool.name))
    return resources


def default_node_pools(emulator: Emulator, names: list[str] | None) -> list[str] | None:
    """Check `defaultNodePools` (node pool names, in order of preference)."""
    for index, name in enumerate(names or []):
        emulator.node_pool_named(f"defaultNodePools[{index}]", name)
    return names


def resources_view(resources: list[Json]) -> list[Json]:
    """Stored `resources` as the `Resources` schema shows them."""
    # `gpu.deserved` may not be null; an older database can hold a NaN there,
    # which reads back as null and means the documented default, 0.
    return [
        {**entry, "gpu": {**entry["gpu"], "deserved": _number(entry["gpu"])}}
        for entry in resources
    ]


def total_resources(resources: list[Json]) -> Json:
    """`TotalResources`: the quotas summed over node pools (null when none set)."""
    cpu = [
        float(entry["cpu"]["deserved"])
        for entry in resources
        if (entry.get("cpu") or {}).get("deserved") is not None
    ]
    memory = [
        float(entry["memory"]["deserved"]) * _MEMORY_MB[entry["memory"]["units"]]
        for entry in resources
        if (entry.get("memory") or {}).get("deserved") is not None
    ]
    return {
        "gpuQuota": sum(_number(entry["gpu"]) for entry in resources),
        "cpuQuota": sum(cpu) if cpu else None,
        "memoryQuota": sum(memory) if memory else None,
    }


def quota_status(
    emulator: Emulator, pool_names: list[str], usage: Usage
) -> tuple[list[Json], Json]:
    """`nodePoolQuotaStatuses` and `quotaStatus` for an org unit's usage.

    The pools listed are `pool_names` followed by any other pool in use.
    Only GPUs are counted; CPU and memory read 0.
    """
    pools = {pool.name: pool for pool in emulator.node_pools()}
    names = [*pool_names, *(name for name in usage if name not in pool_names)]
    per_pool = [
        {"nodePoolName": name, "nodePoolId": pools[name].id, **_quota(usage.get(name))}
        for name in names
        if name in pools
    ]
    total = {
        key: sum(entry.get(key, 0.0) for entry in usage.values()) for key in _USAGE_KEYS
    }
    return per_pool, _quota(total)


def _quota(usage: dict[str, float] | None) -> Json:
    usage = usage or {}
    return {
        key: {"gpu": usage.get(key, 0.0), "cpu": 0.0, "memory": 0.0}
        for key in _USAGE_KEYS
    }


def _resource(field: str, entry: Json, *, pool_id: str, pool_name: str) -> Json:
    gpu = {"deserved": 0, **(entry.get("gpu") or {})}
    _check_quota(f"{field}.gpu", gpu)
    resource: Json = {"nodePool": {"id": pool_id, "name": pool_name}, "gpu": gpu}
    for key in ("cpu", "memory"):
        if entry.get(key) is not None:
            _check_quota(f"{field}.{key}", entry[key])
            resource[key] = entry[key]
    if entry.get("priority") is not None:
        resource["priority"] = entry["priority"]
    return resource


def _check_quota(field: str, quota: Json) -> None:
    deserved: Any = quota.get("deserved")
    limit: Any = quota.get("limit")
    if deserved is not None and deserved < 0:
        raise bad_request(
            f"{field}.deserved: {deserved} is below 0; a quota is 0 or more"
        )
    if deserved is not None and limit is not None and limit != -1 and limit < deserved:
        raise bad_request(
            f"{field}.limit: {limit} is below the deserved {deserved};"
            " use a limit >= deserved, -1 or null for no limit"
        )


def _number(gpu: Json) -> float:
    value = gpu.get("deserved")
    return 0.0 if value is None else float(value)
