"""The Run:ai control-plane emulator, driven over real HTTP on loopback.

Every response any test receives is checked against the OpenAPI document by
an httpx response hook, so each behaviour test is also a shape test.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLUSTER_ID,
    DEFAULT_DEPARTMENT_ID,
    EmulatorServer,
    create_app,
    path_template,
    serve_in_background,
    validate_response,
)
from emulator._app import ENDPOINTS
from emulator._auth import issue_token, token_problem

SPEED = 100.0
HF_TOKEN = "hf_emulatorTestValue0123456789"
REGISTRY_PASSWORD = "registryTestPassword-9876543210"
REPO = Path(__file__).resolve().parents[1]

Seen = set[tuple[str, str]]


def _spec_hook(seen: Seen) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        response.read()
        # The emulator's own control paths are not part of the Run:ai API.
        if response.request.url.path.startswith("/_emulator/"):
            return
        template = path_template(response.request.url.path)
        body = response.json() if response.content else None
        validate_response(response.request.method, template, response.status_code, body)
        seen.add((response.request.method, template))

    return check


def module_server(label: str) -> Any:
    """A module-scoped `server` fixture: one emulator on its own database."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
        database: Path = tmp_path_factory.mktemp(label) / "runai.db"
        with serve_in_background(database, speed=SPEED) as handle:
            yield handle

    return server


def logged_in_api() -> Any:
    """An `api` fixture: a spec-checking client holding a fresh token."""

    @pytest.fixture
    def api(server: EmulatorServer) -> Iterator[httpx.Client]:
        with _client(server) as client:
            _login(client, server)
            yield client

    return api


def _client(server: EmulatorServer, seen: Seen | None = None) -> httpx.Client:
    hook = _spec_hook(set() if seen is None else seen)
    return httpx.Client(
        base_url=server.base_url, timeout=5.0, event_hooks={"response": [hook]}
    )


def _login(client: httpx.Client, server: EmulatorServer) -> str:
    response = client.post(
        "/api/v1/token",
        json={
            "grantType": "client_credentials",
            "clientID": server.client_id,
            "clientSecret": server.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["accessToken"]
    client.headers["Authorization"] = f"Bearer {token}"
    return token


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with serve_in_background(tmp_path / "runai.db", speed=SPEED) as handle:
        yield handle


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        _login(client, server)
        yield client


def _wait_until(
    fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 3.0
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.005)


def _project(
    api: httpx.Client, cluster_id: str, name: str = "team-a", gpus: float = 4
) -> dict[str, Any]:
    body = {
        "name": name,
        "clusterId": cluster_id,
        "resources": [
            {"nodePool": {"id": "1", "name": "default"}, "gpu": {"deserved": gpus}}
        ],
    }
    response = api.post("/api/v1/org-unit/projects", json=body)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def _secret(
    api: httpx.Client, project_id: str, name: str = "hf-token"
) -> httpx.Response:
    body = {
        "meta": {"name": name, "scope": "project", "projectId": int(project_id)},
        "spec": {"keyValuePairs": [{"key": "HF_TOKEN", "value": HF_TOKEN}]},
    }
    return api.post("/api/v1/asset/credentials/generic-secret", json=body)


def _registry(api: httpx.Client, project_id: str, name: str = "ghcr") -> httpx.Response:
    body = {
        "meta": {"name": name, "scope": "project", "projectId": int(project_id)},
        "spec": {"user": "robot", "password": REGISTRY_PASSWORD, "url": "ghcr.io"},
    }
    return api.post("/api/v1/asset/credentials/docker-registry", json=body)


def _pvc(api: httpx.Client, project_id: str, **spec: Any) -> httpx.Response:
    body = {
        "meta": {
            "name": "model-store",
            "scope": "project",
            "projectId": int(project_id),
        },
        "spec": {"path": "/models", "claimInfo": {"size": "100Gi"}, **spec},
    }
    return api.post("/api/v1/asset/datasource/pvc", json=body)


def _inference(
    api: httpx.Client,
    server: EmulatorServer,
    project_id: str,
    *,
    name: str = "llama",
    gpus: int = 1,
    **spec: Any,
) -> httpx.Response:
    body = {
        "name": name,
        "projectId": project_id,
        "clusterId": server.cluster_id,
        "spec": {
            "image": "vllm/vllm-openai:v0.6.4",
            "compute": {"gpuDevicesRequest": gpus},
            "servingPort": {"container": 8000, "protocol": "http"},
            **spec,
        },
    }
    return api.post("/api/v1/workloads/inferences", json=body)


def _workload(api: httpx.Client, workload_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/workloads/{workload_id}")
    assert response.status_code == 200, response.text
    workload: dict[str, Any] = response.json()
    return workload


def _running(api: httpx.Client, workload_id: str) -> dict[str, Any]:
    workload: dict[str, Any] = _wait_until(
        lambda: _workload(api, workload_id), lambda w: w["phase"] == "Running"
    )
    assert workload["phase"] == "Running", workload
    return workload


def _revisions(api: httpx.Client, workload_id: str, deleted: bool = False) -> list[Any]:
    response = api.get(
        f"/api/v1/workloads/inferences/{workload_id}/revisions",
        params={"deleted": str(deleted).lower()},
    )
    assert response.status_code == 200, response.text
    revisions: list[Any] = response.json()["revisions"]
    return revisions


def test_token_grants_access_and_its_absence_is_401(server: EmulatorServer) -> None:
    with _client(server) as client:
        missing = client.get("/api/v1/org-unit/projects")
        forged = client.get(
            "/api/v1/org-unit/projects", headers={"Authorization": "Bearer a.b.c"}
        )
        wrong = client.post(
            "/api/v1/token",
            json={
                "grantType": "client_credentials",
                "clientID": server.client_id,
                "clientSecret": "not-the-secret",
            },
        )
        token = _login(client, server)
        allowed = client.get("/api/v1/org-unit/projects")

    assert missing.status_code == 401 and "Authorization" in missing.json()["message"]
    assert forged.status_code == 401 and forged.json()["code"] == 401
    assert wrong.status_code == 401 and "not-the-secret" not in wrong.text
    assert token.count(".") == 2
    assert allowed.status_code == 200 and allowed.json() == {"projects": []}


def test_token_accepts_the_client_id_spelling(server: EmulatorServer) -> None:
    with _client(server) as client:
        response = client.post(
            "/api/v1/token",
            json={
                "grantType": "client_credentials",
                "clientId": server.client_id,
                "clientSecret": server.client_secret,
            },
        )

    assert response.status_code == 200
    assert response.json()["expiresIn"] == 3600


def test_expired_or_tampered_tokens_are_refused() -> None:
    key = b"k" * 32
    token = issue_token(key=key, subject="emulator-admin", ttl=60, now=1000.0)

    assert token_problem(f"Bearer {token}", key=key, now=1030.0) is None
    assert "expired" in str(token_problem(f"Bearer {token}", key=key, now=1061.0))
    assert "not valid" in str(token_problem(f"Bearer {token}x", key=key, now=1030.0))
    assert "Bearer" in str(token_problem(token, key=key, now=1030.0))


def test_catalog_shows_the_seeded_cluster_pools_and_department(
    api: httpx.Client, server: EmulatorServer
) -> None:
    clusters = api.get("/api/v1/clusters").json()
    a100 = api.get(
        "/api/v1/node-pools",
        params=[
            ("filterBy", f"clusterId=={server.cluster_id}"),
            ("filterBy", "name==a100"),
        ],
    ).json()["nodepools"]
    departments = api.get("/api/v1/org-unit/departments").json()["departments"]
    unsupported = api.get("/api/v1/node-pools", params={"filterBy": "colour==red"})

    assert [c["uuid"] for c in clusters] == [DEFAULT_CLUSTER_ID] == [server.cluster_id]
    assert [pool["name"] for pool in a100] == ["a100"]
    assert [d["name"] for d in departments] == ["default"]
    assert unsupported.status_code == 400
    assert "colour" in unsupported.json()["message"]
    assert server.client_id == DEFAULT_CLIENT_ID


def test_project_lifecycle(api: httpx.Client, server: EmulatorServer) -> None:
    created = _project(api, server.cluster_id)
    project_id = created["id"]
    ready = _wait_until(
        lambda: api.get(f"/api/v1/org-unit/projects/{project_id}").json(),
        lambda p: p["status"]["phase"] == "Ready",
    )
    found = api.get(
        "/api/v1/org-unit/projects",
        params=[
            ("filterBy", "name==team-a"),
            ("filterBy", f"clusterId=={server.cluster_id}"),
        ],
    ).json()["projects"]
    updated = api.put(
        f"/api/v1/org-unit/projects/{project_id}",
        json={
            "description": "LLM serving",
            "resources": [
                {"nodePool": {"id": "2"}, "gpu": {"deserved": 8, "limit": 16}}
            ],
        },
    )
    deleted = api.delete(f"/api/v1/org-unit/projects/{project_id}")
    after = api.get(f"/api/v1/org-unit/projects/{project_id}")

    assert created["id"] == "1" and created["parentId"] == DEFAULT_DEPARTMENT_ID
    assert created["parent"] == {"id": DEFAULT_DEPARTMENT_ID, "name": "default"}
    assert ready["status"]["namespace"] == "runai-team-a"
    assert [p["id"] for p in found] == [project_id]
    assert updated.status_code == 200
    assert updated.json()["description"] == "LLM serving"
    assert updated.json()["resources"][0]["nodePool"] == {"id": "2", "name": "a100"}
    assert updated.json()["totalResources"]["gpuQuota"] == 8
    assert deleted.status_code == 202
    assert after.status_code == 404 and after.json()["code"] == 404


def test_project_rules_name_the_field(
    api: httpx.Client, server: EmulatorServer
) -> None:
    _project(api, server.cluster_id)
    url = "/api/v1/org-unit/projects"
    resources = [{"nodePool": {"id": "1"}, "gpu": {"deserved": 1}}]

    duplicate = api.post(
        url,
        json={"name": "team-a", "clusterId": server.cluster_id, "resources": resources},
    )
    bad_pool = api.post(
        url,
        json={
            "name": "team-b",
            "clusterId": server.cluster_id,
            "resources": [{"nodePool": {"id": "99"}, "gpu": {"deserved": 1}}],
        },
    )
    bad_name = api.post(
        url,
        json={"name": "Team_B", "clusterId": server.cluster_id, "resources": resources},
    )
    no_resources = api.post(
        url, json={"name": "team-c", "clusterId": server.cluster_id}
    )

    assert duplicate.status_code == 409
    assert bad_pool.status_code == 400
    assert bad_pool.json()["message"].startswith("resources[0].nodePool.id: '99'")
    assert bad_name.status_code == 400 and bad_name.json()["message"].startswith(
        "name:"
    )
    assert no_resources.status_code == 400
    assert no_resources.json()["message"] == "resources: is required but missing"


def test_credential_lifecycle_never_shows_the_value(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    created = _secret(api, project_id)
    asset_id = created.json()["meta"]["id"]
    url = f"/api/v1/asset/credentials/generic-secret/{asset_id}"
    synced = _wait_until(
        lambda: api.get(url, params={"statusInfo": "true"}).json(),
        lambda a: a["status"]["status"] == "No issues found",
    )
    listed = api.get(
        "/api/v1/asset/credentials/generic-secret",
        params={"name": "hf-token", "projectId": project_id},
    ).json()["entries"]
    described = api.put(url, json={"meta": {"description": "Hugging Face token"}})
    respec = api.put(
        url, json={"spec": {"keyValuePairs": [{"key": "X", "value": "y"}]}}
    )
    duplicate = _secret(api, project_id)
    deleted = api.delete(url)
    after = api.get(url)

    assert created.status_code == 202
    assert created.json()["status"]["status"] == "Creating"
    assert created.json()["spec"]["keyValuePairs"] == [{"key": "HF_TOKEN"}]
    kubernetes_name = synced["clusterInfo"]["resources"][0]["name"]
    assert kubernetes_name.startswith("hf-token-") and len(kubernetes_name) <= 63
    assert [entry["meta"]["id"] for entry in listed] == [asset_id]
    assert described.status_code == 202
    assert described.json()["meta"]["description"] == "Hugging Face token"
    assert described.json()["meta"]["updateCount"] == 1
    assert respec.status_code == 400 and respec.json()["message"].startswith("spec:")
    assert duplicate.status_code == 409
    assert deleted.status_code == 204 and after.status_code == 404
    for response in (created, described, duplicate):
        assert HF_TOKEN not in response.text
    assert HF_TOKEN not in str(synced) + str(listed)
    database = b"".join(path.read_bytes() for path in server.db_path.parent.glob("*"))
    assert HF_TOKEN.encode() not in database


def test_credential_scope_rules(api: httpx.Client, server: EmulatorServer) -> None:
    url = "/api/v1/asset/credentials/generic-secret"
    spec = {"keyValuePairs": [{"key": "HF_TOKEN", "value": HF_TOKEN}]}

    no_project = api.post(
        url, json={"meta": {"name": "a", "scope": "project"}, "spec": spec}
    )
    unknown = api.post(
        url,
        json={"meta": {"name": "a", "scope": "project", "projectId": 42}, "spec": spec},
    )
    typed = api.post(
        url,
        json={
            "meta": {"name": "a", "scope": "tenant"},
            "spec": {"keyValuePairs": [{"key": "HF_TOKEN", "value": 12345678}]},
        },
    )

    assert no_project.status_code == 400
    assert no_project.json()["message"].startswith("meta.projectId: required")
    assert unknown.status_code == 400 and "42" in unknown.json()["message"]
    assert typed.status_code == 400
    assert typed.json()["message"].startswith("spec.keyValuePairs[0].value:")
    assert "12345678" not in typed.text


def test_docker_registry_credential_keeps_no_password(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    created = _registry(api, project_id)
    asset_id = created.json()["meta"]["id"]
    url = f"/api/v1/asset/credentials/docker-registry/{asset_id}"
    workload_id = _inference(
        api, server, project_id, imagePullSecrets=[{"name": _kubernetes_name(created)}]
    ).json()["workloadId"]
    used = api.get(url, params={"usageInfo": "true", "statusInfo": "true"}).json()
    listed = api.get(
        "/api/v1/asset/credentials/docker-registry",
        params={"name": "ghcr", "projectId": project_id},
    ).json()["entries"]
    existing = api.post(
        "/api/v1/asset/credentials/docker-registry",
        json={
            "meta": {"name": "pull", "scope": "tenant"},
            "spec": {"existingSecretName": "regcred"},
        },
    )
    half = api.post(
        "/api/v1/asset/credentials/docker-registry",
        json={
            "meta": {"name": "half", "scope": "tenant"},
            "spec": {"user": "robot", "url": "ghcr.io"},
        },
    )
    described = api.put(url, json={"meta": {"description": "GitHub registry"}})
    renamed = api.put(url, json={"meta": {"name": "other"}})
    database = b"".join(path.read_bytes() for path in server.db_path.parent.glob("*"))
    deleted = api.delete(url)
    after = api.get(url)

    assert created.status_code == 202
    spec = created.json()["spec"]
    assert spec["user"] == "robot" and spec["url"] == "ghcr.io"
    assert "password" not in spec and isinstance(spec["keyId"], int)
    assert created.json()["meta"]["kind"] == "dockerRegistry"
    assert _kubernetes_name(created).startswith("ghcr-")
    assert used["usedBy"]["inferences"][0]["id"] == workload_id
    assert [entry["meta"]["id"] for entry in listed] == [asset_id]
    assert _kubernetes_name(existing) == "regcred"
    assert half.status_code == 400
    assert half.json()["message"].startswith("spec.password: required")
    assert described.json()["meta"]["description"] == "GitHub registry"
    assert renamed.status_code == 400
    assert renamed.json()["message"].startswith("meta.name: cannot change")
    assert deleted.status_code == 202 and after.status_code == 404
    for response in (created, existing, described):
        assert REGISTRY_PASSWORD not in response.text
    assert REGISTRY_PASSWORD not in str(used) + str(listed)
    assert REGISTRY_PASSWORD.encode() not in database
    digest = hashlib.sha256(REGISTRY_PASSWORD.encode()).hexdigest()
    assert digest.encode() in database


def _kubernetes_name(response: httpx.Response) -> str:
    name: str = response.json()["clusterInfo"]["resources"][0]["name"]
    return name


def test_pvc_data_source_lifecycle(api: httpx.Client, server: EmulatorServer) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    generated = _pvc(api, project_id)
    asset_id = generated.json()["meta"]["id"]
    url = f"/api/v1/asset/datasource/pvc/{asset_id}"
    named = api.post(
        "/api/v1/asset/datasource/pvc",
        json={
            "meta": {
                "name": "shared",
                "scope": "project",
                "projectId": int(project_id),
            },
            "spec": {
                "path": "/data",
                "existingPvc": True,
                "claimName": "shared-models",
            },
        },
    )
    sizeless = _pvc(api, project_id, claimInfo=None)
    renamed = api.put(
        url, json={"meta": {"name": "model-cache"}, "spec": {"path": "/cache"}}
    )
    reclaimed = api.put(
        url, json={"meta": {"name": "model-cache"}, "spec": {"claimName": "other"}}
    )
    deleted = api.delete(url)
    after = api.get(url)

    assert generated.status_code == 202
    assert generated.json()["clusterInfo"]["resources"][0]["name"].startswith(
        "model-store-"
    )
    assert named.json()["clusterInfo"]["resources"][0]["name"] == "shared-models"
    assert sizeless.status_code == 400
    assert sizeless.json()["message"].startswith("spec.claimInfo.size: required")
    assert renamed.status_code == 202
    assert renamed.json()["meta"]["name"] == "model-cache"
    assert renamed.json()["spec"]["path"] == "/cache"
    assert reclaimed.status_code == 400
    assert reclaimed.json()["message"].startswith("spec.claimName:")
    assert deleted.status_code == 202 and after.status_code == 404


def test_inference_runs_and_gets_a_url(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    created = _inference(api, server, project_id)
    workload_id = created.json()["workloadId"]
    workload = _running(api, workload_id)
    inference = api.get(f"/api/v1/workloads/inferences/{workload_id}").json()
    listed = api.get(
        "/api/v1/workloads",
        params=[("filterBy", "name==llama"), ("filterBy", f"projectId=={project_id}")],
    ).json()["workloads"]
    project = api.get(f"/api/v1/org-unit/projects/{project_id}").json()

    assert created.status_code == 202
    assert created.json()["actualPhase"] == "Creating"
    assert workload["urls"] == ["https://llama-team-a.inference.emulator.local"]
    assert workload["namespace"] == "runai-team-a"
    assert workload["projectName"] == "team-a"
    assert inference["actualPhase"] == "Running"
    assert [w["id"] for w in listed] == [workload_id]
    assert [r["phase"] for r in _revisions(api, workload_id)] == ["Running"]
    assert project["status"]["quotaStatus"]["allocated"]["gpu"] == 1


def test_inference_requests_are_checked(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    _inference(api, server, project_id)

    negative = _inference(
        api, server, project_id, name="frac", compute={"gpuPortionRequest": -0.5}
    )
    duplicate = _inference(api, server, project_id)
    unknown = _inference(api, server, "77", name="other")
    pool = _inference(api, server, project_id, name="pool", nodePools=["h100"])

    assert negative.status_code == 400
    assert negative.json() == {
        "code": 400,
        "message": "spec.compute.gpuPortionRequest: -0.5 is less than the minimum of 0",
    }
    assert duplicate.status_code == 409 and "llama" in duplicate.json()["message"]
    assert unknown.status_code == 400
    assert unknown.json()["message"].startswith("projectId:")
    assert pool.status_code == 400
    assert pool.json()["message"].startswith("spec.nodePools[0]:")


def test_inference_over_capacity_stays_pending(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    # Preemptible work may go over the project's 4 deserved GPUs, but not over
    # the 8 GPUs of the node pool.
    first = _inference(
        api, server, project_id, name="first", gpus=6, preemptibility="preemptible"
    )
    second = _inference(
        api, server, project_id, name="second", gpus=4, preemptibility="preemptible"
    )
    third = _inference(
        api,
        server,
        project_id,
        name="third",
        gpus=17,
        nodePools=["a100"],
        preemptibility="non-preemptible",
    )
    _running(api, first.json()["workloadId"])
    time.sleep(5 / SPEED)
    pending = _workload(api, second.json()["workloadId"])
    revision = _revisions(api, second.json()["workloadId"])[0]
    refused = _workload(api, third.json()["workloadId"])

    assert pending["phase"] == "Pending" and pending["phaseReason"] == "OverLimit"
    assert pending["phaseMessage"] == (
        "Not enough resources in the requested nodepool: revision second-00001"
        " needs 4 GPUs on node pool 'default' (1 pod x 4 GPUs, placed together);"
        " the pool has 2 of its 8 GPUs free. Request fewer GPUs or replicas, wait"
        " for GPUs to be freed, or choose another node pool"
    )
    assert pending["urls"] == []
    assert pending["pendingSchedulingMessages"][0]["reason"] == "Over limit"
    assert revision["phase"] == "Pending"
    assert revision["phaseMessage"] == pending["phaseMessage"]
    assert refused["phaseReason"] == "NonPreemptibleOverQuota"
    assert "0 GPUs free there for non-preemptible work" in refused["phaseMessage"]


def test_patch_rolls_out_a_new_revision(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id)["id"]
    workload_id = _inference(api, server, project_id).json()["workloadId"]
    _running(api, workload_id)
    url = f"/api/v1/workloads/inferences/{workload_id}"

    patched = api.patch(url, json={"spec": {"image": "vllm/vllm-openai:v0.7.3"}})
    during = _workload(api, workload_id)
    both = _revisions(api, workload_id)
    rolled = _wait_until(
        lambda: _revisions(api, workload_id),
        lambda revisions: (
            [r["phase"] for r in revisions] == ["Running"]
            and revisions[0]["name"] == "llama-00002"
        ),
    )
    old = _revisions(api, workload_id, deleted=True)
    fixed = api.patch(url, json={"spec": {"storage": {"pvc": []}}})

    assert patched.status_code == 202
    assert patched.json()["spec"]["image"] == "vllm/vllm-openai:v0.7.3"
    assert patched.json()["spec"]["servingPort"]["container"] == 8000
    assert during["phase"] == "Running" and during["urls"]
    assert "Rolling update" in during["phaseMessage"]
    assert [r["name"] for r in both] == ["llama-00001", "llama-00002"]
    assert rolled[0]["images"] == ["vllm/vllm-openai:v0.7.3"]
    assert [r["name"] for r in old] == ["llama-00001"] and old[0]["deletedAt"]
    assert fixed.status_code == 400
    assert fixed.json()["message"].startswith("spec.storage: set at creation only")


def test_deleted_inference_is_deleting_then_gone(tmp_path: Path) -> None:
    # A slower clock keeps the short Deleting phase observable.
    with serve_in_background(tmp_path / "slow.db", speed=5) as server:
        with _client(server) as api:
            _login(api, server)
            project_id = _project(api, server.cluster_id)["id"]
            workload_id = _inference(api, server, project_id).json()["workloadId"]
            url = f"/api/v1/workloads/inferences/{workload_id}"

            deleted = api.delete(url)
            deleting = api.get(url).json()
            gone = _wait_until(lambda: api.get(url), lambda r: r.status_code == 404)
            again = api.delete(url)
            workload = api.get(f"/api/v1/workloads/{workload_id}")

    assert deleted.status_code == 202
    assert deleting["actualPhase"] == "Deleting"
    assert deleting["desiredPhase"] == "Deleted"
    assert gone.status_code == 404
    assert again.status_code == 404 and workload.status_code == 404


def test_state_survives_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "runai.db"
    with serve_in_background(database, speed=SPEED) as first:
        with _client(first) as api:
            token = _login(api, first)
            project_id = _project(api, first.cluster_id)["id"]
            secret_id = _secret(api, project_id).json()["meta"]["id"]
            pvc_id = _pvc(api, project_id).json()["meta"]["id"]
            workload_id = _inference(api, first, project_id).json()["workloadId"]
            _running(api, workload_id)
        secret = first.client_secret

    with serve_in_background(database, speed=SPEED) as second:
        with _client(second) as api:
            api.headers["Authorization"] = f"Bearer {token}"
            project = api.get(f"/api/v1/org-unit/projects/{project_id}")
            credential = api.get(
                f"/api/v1/asset/credentials/generic-secret/{secret_id}"
            )
            pvc = api.get(f"/api/v1/asset/datasource/pvc/{pvc_id}")
            workload = api.get(f"/api/v1/workloads/{workload_id}")
            another = _project(api, second.cluster_id, name="team-b")

    assert second.client_secret == secret
    assert project.status_code == 200 and project.json()["name"] == "team-a"
    assert credential.json()["meta"]["name"] == "hf-token"
    assert pvc.json()["meta"]["name"] == "model-store"
    assert workload.json()["phase"] == "Running"
    assert another["id"] == "2"


def test_every_route_is_served_and_answers_per_the_spec(
    server: EmulatorServer,
) -> None:
    seen: Seen = set()
    with _client(server, seen) as api:
        api.get("/api/v1/clusters")
        _login(api, server)
        api.get("/api/v1/clusters")
        api.get("/api/v1/node-pools")
        api.get("/api/v1/org-unit/departments")
        department = api.post(
            "/api/v1/org-unit/departments",
            json={"name": "research", "clusterId": server.cluster_id, "resources": []},
        ).json()
        api.get(f"/api/v1/org-unit/departments/{department['id']}")
        project_id = _project(api, server.cluster_id)["id"]
        api.get("/api/v1/org-unit/projects")
        api.get(f"/api/v1/org-unit/projects/{project_id}")
        api.put(
            f"/api/v1/org-unit/projects/{project_id}",
            json={"resources": [{"nodePool": {"id": "1"}, "gpu": {"deserved": 2}}]},
        )
        for base, create in (
            ("/api/v1/asset/credentials/generic-secret", _secret),
            ("/api/v1/asset/credentials/docker-registry", _registry),
            ("/api/v1/asset/datasource/pvc", _pvc),
        ):
            asset = create(api, project_id).json()
            item = f"{base}/{asset['meta']['id']}"
            api.get(base, params={"statusInfo": "true", "usageInfo": "true"})
            api.get(item, params={"statusInfo": "true", "usageInfo": "true"})
            update = {"meta": {"name": asset["meta"]["name"], "description": "x"}}
            if "pvc" in base:
                update["spec"] = {"path": "/models"}
            api.put(item, json=update)
            api.delete(item)
            api.get(item)
        workload_id = _inference(api, server, project_id).json()["workloadId"]
        item = f"/api/v1/workloads/inferences/{workload_id}"
        api.get(item)
        api.get(f"/api/v1/workloads/{workload_id}")
        api.get("/api/v1/workloads")
        revision_id = _revisions(api, workload_id)[0]["id"]
        api.get(f"/api/v1/workloads/inferences/revisions/{revision_id}")
        api.patch(item, json={"spec": {"args": "--max-model-len 4096"}})
        api.delete(item)
        api.delete(f"/api/v1/org-unit/projects/{project_id}")

    implemented = {(endpoint.method, endpoint.template) for endpoint in ENDPOINTS}
    assert implemented <= seen, implemented - seen


def test_request_log_is_one_line_without_query_or_token(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="emulator")
    api.get("/api/v1/org-unit/projects", params={"filterBy": "name==private-name"})

    lines = [r.getMessage() for r in caplog.records if r.name == "emulator"]
    token = api.headers["Authorization"].split()[1]
    assert len(lines) == 1
    assert lines[0].startswith("GET /api/v1/org-unit/projects 200 ")
    assert "private-name" not in lines[0] and token not in lines[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _LineReader:
    """Reads a pipe in a thread, so a silent process cannot hang the test."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def take(self, count: int, timeout: float) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while len(lines) < count:
            try:
                wait = max(0.0, deadline - time.monotonic())
                lines.append(self._lines.get(timeout=wait))
            except queue.Empty:
                break
        return lines

    def join(self) -> None:
        self._thread.join(timeout=10.0)


def test_cli_prints_its_coordinates_and_requires_a_token(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        key: value for key, value in os.environ.items() if key != "RUNAI_CLIENT_SECRET"
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "cli.db"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    reader = _LineReader(process.stdout)
    try:
        lines = reader.take(4, timeout=10.0)
        url = lines[0].rsplit(" ", 1)[-1]
        response = httpx.get(f"{url}/api/v1/clusters", timeout=5.0)
    finally:
        process.terminate()
        process.wait(timeout=10.0)
        reader.join()
        process.stdout.close()

    assert lines[0] == f"emulator: listening on http://127.0.0.1:{port}"
    assert lines[1] == f"emulator: cluster id {DEFAULT_CLUSTER_ID}"
    assert lines[2] == f"emulator: client id {DEFAULT_CLIENT_ID}"
    assert lines[3].startswith("emulator: client secret ")
    assert len(lines[3].removeprefix("emulator: client secret ")) >= 16
    assert response.status_code == 401
    assert response.json()["code"] == 401


def test_create_app_serves_in_process(tmp_path: Path) -> None:
    app = create_app(tmp_path / "asgi.db", speed=SPEED, client_secret="in-process")

    async def exercise() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as api:
            token = await api.post(
                "/api/v1/token",
                json={
                    "grantType": "client_credentials",
                    "clientID": DEFAULT_CLIENT_ID,
                    "clientSecret": "in-process",
                },
            )
            headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
            clusters = await api.get("/api/v1/clusters", headers=headers)
        return token.status_code, clusters.status_code

    try:
        assert asyncio.run(exercise()) == (200, 200)
    finally:
        app.state.emulator.close()
