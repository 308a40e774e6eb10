"""Departments and project quotas in the emulator, over HTTP on loopback.

One emulator serves the whole module (names differ per test); every response
is checked against the OpenAPI document by the hook of `test_emulator`.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from test_emulator import _project, logged_in_api, module_server

from emulator import DEFAULT_DEPARTMENT_ID, EmulatorServer

DEPARTMENTS = "/api/v1/org-unit/departments"
PROJECTS = "/api/v1/org-unit/projects"


server = module_server("org-units")


api = logged_in_api()


def _department(
    api: httpx.Client, server: EmulatorServer, name: str, **fields: Any
) -> httpx.Response:
    body = {"name": name, "clusterId": server.cluster_id, "resources": [], **fields}
    return api.post(DEPARTMENTS, json=body)


def test_departments_parent_projects_and_are_found_by_name(
    api: httpx.Client, server: EmulatorServer
) -> None:
    resources = [
        {
            "nodePool": {"id": "1"},
            "gpu": {"deserved": 4},
            "cpu": {"deserved": 8000},
            "memory": {"deserved": 32, "units": "GB"},
        }
    ]
    created = _department(api, server, "research", resources=resources)
    department_id = created.json()["id"]
    project = api.post(
        PROJECTS,
        json={
            "name": "vision",
            "clusterId": server.cluster_id,
            "parentId": department_id,
            "resources": [{"nodePool": {"id": "1"}, "gpu": {"deserved": 1}}],
        },
    ).json()
    found = api.get(DEPARTMENTS, params={"filterBy": "name==research"}).json()
    fetched = api.get(f"{DEPARTMENTS}/{department_id}").json()
    verbose = api.get(DEPARTMENTS, params={"verbosity": "verbose"}).json()
    children = api.get(PROJECTS, params={"filterBy": f"parentId=={department_id}"})

    assert created.status_code == 201 and uuid.UUID(department_id)
    assert created.json()["totalResources"] == {
        "gpuQuota": 4,
        "cpuQuota": 8000,
        "memoryQuota": 32000,
    }
    assert created.json()["resources"][0]["nodePool"]["name"] == "default"
    assert [d["id"] for d in found["departments"]] == [department_id]
    assert fetched["name"] == "research" and "quotaStatus" in fetched["status"]
    assert all("status" in d for d in verbose["departments"])
    assert project["parentId"] == department_id
    assert project["parent"] == {"id": department_id, "name": "research"}
    assert [p["name"] for p in children.json()["projects"]] == ["vision"]


def test_the_seeded_department_is_the_default_parent(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project = _project(api, server.cluster_id, name="orphan")
    seeded = api.get(f"{DEPARTMENTS}/{DEFAULT_DEPARTMENT_ID}").json()

    assert project["parent"] == {"id": DEFAULT_DEPARTMENT_ID, "name": "default"}
    assert seeded["totalResources"]["gpuQuota"] == 24
    assert [r["nodePool"]["name"] for r in seeded["resources"]] == ["default", "a100"]


def test_department_rules_name_the_field(
    api: httpx.Client, server: EmulatorServer
) -> None:
    _department(api, server, "finance")

    duplicate = _department(api, server, "finance")
    bad_name = _department(api, server, "Finance_Team")
    other_cluster = api.post(
        DEPARTMENTS,
        json={"name": "ops", "clusterId": str(uuid.uuid4()), "resources": []},
    )
    unknown = api.get(f"{DEPARTMENTS}/{uuid.uuid4()}")
    metric = api.get(DEPARTMENTS, params={"filterBy": "avgGpuAllocation24h>=1"})
    verbosity = api.get(DEPARTMENTS, params={"verbosity": "loud"})
    parentless = api.post(
        PROJECTS,
        json={
            "name": "lost",
            "clusterId": server.cluster_id,
            "parentId": "no-such-department",
            "resources": [],
        },
    )

    assert duplicate.status_code == 409 and "finance" in duplicate.json()["message"]
    assert bad_name.status_code == 400
    assert bad_name.json()["message"].startswith("name: 'Finance_Team'")
    assert other_cluster.status_code == 400
    assert other_cluster.json()["message"].startswith("clusterId:")
    assert unknown.status_code == 404
    assert metric.status_code == 400 and "totalGpuQuota" in metric.json()["message"]
    assert verbosity.status_code == 400
    assert verbosity.json()["message"].startswith("verbosity: 'loud'")
    assert parentless.status_code == 400
    assert parentless.json()["message"].startswith("parentId: there is no department")


def test_project_cpu_and_memory_quotas_are_kept_and_totalled(
    api: httpx.Client, server: EmulatorServer
) -> None:
    resources = [
        {
            "nodePool": {"id": "1"},
            "gpu": {"deserved": 2},
            "cpu": {"deserved": 4000, "limit": 8000, "overQuotaWeight": 2},
            "memory": {"deserved": 16, "limit": 32, "units": "GB"},
        },
        {
            "nodePool": {"id": "2"},
            "gpu": {"deserved": 1},
            "memory": {"deserved": 1024, "units": "Mib"},
        },
    ]
    created = api.post(
        PROJECTS,
        json={"name": "quotas", "clusterId": server.cluster_id, "resources": resources},
    )
    url = f"{PROJECTS}/{created.json()['id']}"
    resized = api.put(
        url,
        json={
            "resources": [
                {
                    "nodePool": {"id": "1"},
                    "gpu": {"deserved": 2},
                    "cpu": {"deserved": 500},
                    "memory": {"deserved": 2000, "units": "MB"},
                }
            ]
        },
    )
    fetched = api.get(url).json()
    low_limit = api.put(
        url,
        json={
            "resources": [
                {
                    "nodePool": {"id": "1"},
                    "gpu": {"deserved": 1},
                    "cpu": {"deserved": 2000, "limit": 1000},
                }
            ]
        },
    )
    unitless = api.put(
        url,
        json={
            "resources": [
                {
                    "nodePool": {"id": "1"},
                    "gpu": {"deserved": 1},
                    "memory": {"deserved": 1},
                }
            ]
        },
    )

    assert created.status_code == 201
    shown = created.json()["resources"]
    assert shown[0]["cpu"] == {"deserved": 4000, "limit": 8000, "overQuotaWeight": 2}
    assert shown[0]["memory"] == {"deserved": 16, "limit": 32, "units": "GB"}
    assert shown[1]["memory"] == {"deserved": 1024, "units": "Mib"}
    total = created.json()["totalResources"]
    assert total["gpuQuota"] == 3 and total["cpuQuota"] == 4000
    assert total["memoryQuota"] == pytest.approx(16000 + 1024 * 1.048576)
    assert resized.status_code == 200
    assert fetched["totalResources"] == {
        "gpuQuota": 2,
        "cpuQuota": 500,
        "memoryQuota": 2000,
    }
    assert fetched["resources"][0]["cpu"] == {"deserved": 500}
    assert low_limit.status_code == 400
    assert low_limit.json()["message"] == (
        "resources[0].cpu.limit: 1000 is below the deserved 2000;"
        " use a limit >= deserved, -1 or null for no limit"
    )
    assert unitless.status_code == 400
    assert unitless.json()["message"].startswith("resources[0].memory.units:")
