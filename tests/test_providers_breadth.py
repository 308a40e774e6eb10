"""Departments, existing projects, registry logins and retries, over real HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.dynamic.config import Config

from components._client import ConnectionSettings, RunaiClient
from components._providers import CredentialProvider, ProjectProvider
from components.errors import RunaiHFError


def configured(provider: ResourceProvider, connection: dict[str, str]) -> Any:
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    provider.poll_initial = 0.02  # type: ignore[attr-defined]
    return provider


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api(connection: dict[str, str]) -> RunaiClient:
    return RunaiClient(ConnectionSettings.resolve(connection))


def project_inputs(connection: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("team"),
        "clusterId": connection["runai:clusterId"],
        "quotas": [{"nodePool": "default", "gpu": 1, "cpu": "2", "memory": "8GB"}],
        **extra,
    }


def test_parent_department_is_looked_up_by_name(connection: dict[str, str]) -> None:
    department = unique("dept")
    with api(connection) as client:
        created = client.post(
            "/api/v1/org-unit/departments",
            {
                "name": department,
                "clusterId": connection["runai:clusterId"],
                "resources": [],
            },
        )
    provider = configured(ProjectProvider(), connection)

    project = provider.create(project_inputs(connection, department=department))
    with api(connection) as client:
        stored = client.get(f"/api/v1/org-unit/projects/{project.id}")
    provider.delete(project.id, project.outs)

    assert stored["parentId"] == str(created["id"])
    cpu = stored["resources"][0]["cpu"]
    memory = stored["resources"][0]["memory"]
    assert cpu["deserved"] == 2000 and memory == {
        **memory,
        "deserved": 8000,
        "units": "MB",
    }


def test_unknown_department_is_named(connection: dict[str, str]) -> None:
    provider = configured(ProjectProvider(), connection)

    with pytest.raises(RunaiHFError, match="department 'nope' does not exist"):
        provider.create(project_inputs(connection, department="nope"))


def test_existing_project_is_read_and_never_deleted(connection: dict[str, str]) -> None:
    owner = configured(ProjectProvider(), connection)
    made = owner.create(project_inputs(connection))
    provider = configured(ProjectProvider(), connection)
    inputs = {
        "name": made.outs["name"],
        "clusterId": connection["runai:clusterId"],
        "existing": True,
        "quotas": [],
    }

    found = provider.create(provider.check({}, inputs).inputs)
    no_update = provider.diff(found.id, found.outs, {**inputs, "description": "x"})
    provider.delete(found.id, found.outs)
    with api(connection) as client:
        still = client.get(f"/api/v1/org-unit/projects/{made.id}")
    owner.delete(made.id, made.outs)

    assert found.id == made.id
    assert found.outs["quotas"][0]["gpu"] == 1
    assert not no_update.changes
    assert still["name"] == made.outs["name"]


def test_missing_existing_project_is_reported(connection: dict[str, str]) -> None:
    provider = configured(ProjectProvider(), connection)
    inputs = {
        "name": "not-there",
        "clusterId": connection["runai:clusterId"],
        "existing": True,
    }

    with pytest.raises(RunaiHFError, match="no such project in cluster"):
        provider.create(inputs)


def test_registry_login_is_created_without_keeping_the_password(
    connection: dict[str, str],
) -> None:
    projects = configured(ProjectProvider(), connection)
    project = projects.create(project_inputs(connection))
    provider = configured(CredentialProvider(), connection)
    inputs = provider.check(
        {},
        {
            "name": unique("registry"),
            "kind": "docker-registry",
            "projectId": project.outs["projectId"],
            "clusterId": connection["runai:clusterId"],
            "url": "https://index.docker.io/v1/",
            "user": "deploy",
            "value": "registry-password-marker",
        },
    ).inputs

    created = provider.create(inputs)
    with api(connection) as client:
        stored = client.get(f"/api/v1/asset/credentials/docker-registry/{created.id}")
    other_user = provider.diff(created.id, created.outs, {**inputs, "user": "other"})
    provider.delete(created.id, created.outs)
    projects.delete(project.id, project.outs)

    assert created.outs["kubernetesSecretName"]
    assert stored["spec"]["url"] == "https://index.docker.io/v1/"
    assert "registry-password-marker" not in repr(stored) + repr(created.outs)
    assert other_user.replaces == ["user"]


def test_retries_honour_retry_after(connection: dict[str, str]) -> None:
    fault = {
        "method": "GET",
        "path": "/api/v1/clusters",
        "status": 503,
        "count": 2,
        "retryAfter": 1,
    }
    with api(connection) as client:
        client.post("/_emulator/faults", fault)
        started = time.monotonic()
        clusters = client.get("/api/v1/clusters")
        waited = time.monotonic() - started
        left = client.get("/_emulator/faults")

    assert clusters and waited >= 2.0
    assert all(f.get("count", 0) == 0 for f in _faults(left))


def test_retries_give_up_after_a_bound(connection: dict[str, str]) -> None:
    fault = {"method": "GET", "path": "/api/v1/clusters", "status": 500, "count": 10}
    with api(connection) as client:
        client.post("/_emulator/faults", fault)
        try:
            with pytest.raises(Exception, match="answered 500"):
                client.get("/api/v1/clusters")
        finally:
            client.delete("/_emulator/faults")


def _faults(listing: Any) -> list[dict[str, Any]]:
    if isinstance(listing, dict):
        return list(listing.get("faults") or [])
    return list(listing or [])


def test_a_401_refreshes_the_token_once(connection: dict[str, str]) -> None:
    fault = {"method": "GET", "path": "/api/v1/clusters", "status": 401, "count": 1}
    with api(connection) as client:
        client.get("/api/v1/clusters")
        client.post("/_emulator/faults", fault)

        clusters = client.get("/api/v1/clusters")

    assert clusters


def test_created_objects_carry_the_stack_mark(connection: dict[str, str]) -> None:
    from components.project import marked

    provider = configured(ProjectProvider(), connection)
    made = provider.create(project_inputs(connection, description=marked("Team A")))
    with api(connection) as client:
        stored = client.get(f"/api/v1/org-unit/projects/{made.id}")
    provider.delete(made.id, made.outs)

    assert stored["description"].startswith("Team A (managed by Pulumi stack ")


def test_read_keeps_the_stacks_spelling_and_shows_real_drift(
    connection: dict[str, str],
) -> None:
    provider = configured(ProjectProvider(), connection)
    inputs = provider.check({}, project_inputs(connection)).inputs
    made = provider.create(inputs)

    same = provider.read(made.id, made.outs)
    with api(connection) as client:
        stored = client.get(f"/api/v1/org-unit/projects/{made.id}")
        resources = stored["resources"]
        resources[0]["cpu"]["deserved"] = 3000
        client.put(
            f"/api/v1/org-unit/projects/{made.id}",
            {"resources": resources, "description": stored.get("description") or "x"},
        )
    drifted = provider.read(made.id, made.outs)
    provider.delete(made.id, made.outs)

    assert not provider.diff(made.id, made.outs, same.inputs).changes
    assert drifted.inputs["quotas"][0]["cpu"] == "3000m"
    assert provider.diff(made.id, made.outs, drifted.inputs).changes
