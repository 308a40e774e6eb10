"""The emulator's other asset kinds: data sources beside PVC, lookups, passwords.

Driven over real HTTP on loopback against one emulator for the module; every
answer is checked against the OpenAPI document by the response hook.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_emulator import SPEED, Seen, _client, _login, _project, _secret

from emulator import EmulatorServer, serve_in_background, validate_response
from emulator._app import ASSET_KIND_ENDPOINTS

DATASOURCE = "/api/v1/asset/datasource"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    path = tmp_path_factory.mktemp("kinds") / "runai.db"
    with serve_in_background(path, speed=SPEED) as handle:
        yield handle


@pytest.fixture(scope="module")
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        _login(client, server)
        yield client


@pytest.fixture(scope="module")
def project_id(api: httpx.Client, server: EmulatorServer) -> str:
    return str(_project(api, server.cluster_id, name="kinds")["id"])


@pytest.fixture(scope="module")
def secret_id(api: httpx.Client, project_id: str) -> str:
    response = _secret(api, project_id, name="volume-secret")
    assert response.status_code == 202, response.text
    return str(response.json()["meta"]["id"])


def _meta(project_id: str, name: str) -> dict[str, Any]:
    return {"name": name, "scope": "project", "projectId": int(project_id)}


def _specs(secret_id: str) -> dict[str, dict[str, Any]]:
    """A valid creation spec per data-source kind."""
    return {
        "nfs": {"server": "nfs.local", "path": "/export", "mountPath": "/data"},
        "host-path": {"path": "/mnt/cache", "mountPath": "/cache"},
        "git": {
            "repository": "https://example.invalid/repo.git",
            "branch": "main",
            "path": "/code",
            "credentialId": secret_id,
        },
        "config-map": {"configMap": "settings", "mountPath": "/etc/app"},
        "secrets": {"credentialAssetId": secret_id, "mountPath": "/secrets"},
    }


# The spec change a PUT may make, or None for the kinds whose spec is fixed.
_SPEC_CHANGE: dict[str, dict[str, Any] | None] = {
    "nfs": {"mountPath": "/data2", "readOnly": False},
    "host-path": {"mountPath": "/cache2"},
    "git": {"branch": "dev"},
    "config-map": None,
    "secrets": None,
}


def _error(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert field in response.json()["message"], response.text


@pytest.mark.parametrize("kind", sorted(_SPEC_CHANGE))
def test_data_source_lifecycle(
    api: httpx.Client, project_id: str, secret_id: str, kind: str
) -> None:
    base = f"{DATASOURCE}/{kind}"
    spec = _specs(secret_id)[kind]
    name = f"ds-{kind}"
    created = api.post(base, json={"meta": _meta(project_id, name), "spec": spec})
    assert created.status_code == 202, created.text
    asset = created.json()
    asset_id = asset["meta"]["id"]
    assert asset["meta"]["projectId"] == int(project_id)
    assert {key: asset["spec"][key] for key in spec} == spec

    again = api.post(base, json={"meta": _meta(project_id, name), "spec": spec})
    _error(again, 409, "meta.name")

    listed = api.get(base, params={"name": name, "projectId": project_id})
    assert [e["meta"]["id"] for e in listed.json()["entries"]] == [asset_id]
    assert api.get(base, params={"name": "other"}).json()["entries"] == []
    got = api.get(f"{base}/{asset_id}", params={"statusInfo": "true"})
    assert got.status_code == 200 and got.json()["spec"] == asset["spec"]

    item = f"{base}/{asset_id}"
    meta = {"name": f"{name}-2", "description": "renamed"}
    change = _SPEC_CHANGE[kind]
    if change is None:
        # The update takes meta only: repeating the stored spec is fine,
        # changing any of it is refused, naming the field.
        updated = api.put(item, json={"meta": meta, "spec": spec})
        assert updated.status_code == 202, updated.text
        assert updated.json()["spec"] == asset["spec"]
        # The document lists spec as required even here.
        _error(api.put(item, json={"meta": meta}), 400, "spec")
        field = next(iter(spec))
        changed = {**spec, field: "other" if field != "mountPath" else "/other"}
        _error(
            api.put(item, json={"meta": meta, "spec": changed}), 400, f"spec.{field}"
        )
    else:
        updated = api.put(item, json={"meta": meta, "spec": {**spec, **change}})
        assert updated.status_code == 202, updated.text
        assert {k: updated.json()["spec"][k] for k in change} == change
        bogus = {**spec, "bogus": 1}
        _error(api.put(item, json={"meta": meta, "spec": bogus}), 400, "spec.bogus")
    assert updated.json()["meta"]["name"] == f"{name}-2"
    assert updated.json()["meta"]["description"] == "renamed"
    assert updated.json()["meta"]["updateCount"] == 1

    extra = {"meta": meta, "spec": spec, "clusterInfo": {}}
    _error(api.put(item, json=extra), 400, "clusterInfo")
    scoped = {"meta": {**meta, "scope": "tenant"}, "spec": spec}
    _error(api.put(item, json=scoped), 400, "meta.scope")

    assert api.delete(item).status_code == 202
    _error(api.get(item), 404, asset_id)


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        ("nfs", {"server": "nfs.local", "mountPath": "/d"}, "spec.path"),
        ("host-path", {"path": "/mnt"}, "spec.mountPath"),
        ("git", {"path": "/code"}, "spec.repository"),
        ("config-map", {"configMap": "Not_A_Label", "mountPath": "/e"}, "configMap"),
        ("secrets", {"mountPath": "/s"}, "spec.credentialAssetId"),
        ("nfs", {"server": "s", "path": "/p", "mountPath": "/m", "x": 1}, "spec.x"),
    ],
)
def test_data_source_creation_rules(
    api: httpx.Client, project_id: str, kind: str, spec: dict[str, Any], field: str
) -> None:
    body = {"meta": _meta(project_id, "refused"), "spec": spec}
    _error(api.post(f"{DATASOURCE}/{kind}", json=body), 400, field)


def test_credential_references_must_exist(
    api: httpx.Client, project_id: str, secret_id: str
) -> None:
    missing = str(uuid.uuid4())
    specs = _specs(secret_id)
    git = {**specs["git"], "credentialId": missing}
    body = {"meta": _meta(project_id, "git-x"), "spec": git}
    _error(api.post(f"{DATASOURCE}/git", json=body), 400, "spec.credentialId")
    secrets = {**specs["secrets"], "credentialAssetId": missing}
    body = {"meta": _meta(project_id, "secrets-x"), "spec": secrets}
    _error(api.post(f"{DATASOURCE}/secrets", json=body), 400, "credentialAssetId")

    created = api.post(
        f"{DATASOURCE}/git",
        json={"meta": _meta(project_id, "git-ok"), "spec": specs["git"]},
    )
    item = f"{DATASOURCE}/git/{created.json()['meta']['id']}"
    update = {"meta": {"name": "git-ok"}, "spec": git}
    _error(api.put(item, json=update), 400, "spec.credentialId")
    # The deprecated passwordAssetId must name a password credential.
    update = {"meta": {"name": "git-ok"}, "spec": {**git, "credentialId": None}}
    update["spec"]["passwordAssetId"] = secret_id
    _error(api.put(item, json=update), 400, "spec.passwordAssetId")
    assert api.delete(item).status_code == 202


def test_project_scope_needs_an_existing_project(
    api: httpx.Client, secret_id: str
) -> None:
    for kind, spec in _specs(secret_id).items():
        body = {"meta": _meta("9999", f"orphan-{kind}"), "spec": spec}
        _error(api.post(f"{DATASOURCE}/{kind}", json=body), 400, "meta.projectId")


def _lookup_bodies(project_id: str) -> dict[str, dict[str, Any]]:
    return {
        "environment": {
            "meta": _meta(project_id, "vllm"),
            "spec": {"image": "vllm/vllm-openai:v0.6.0", "args": "--port 8000"},
        },
        "compute": {
            "meta": {"name": "one-gpu", "scope": "tenant"},
            "spec": {"gpuDevicesRequest": 1, "cpuMemoryRequest": "16G"},
        },
    }


def _template_body(
    project_id: str, environment_id: str, compute_id: str, source_id: str
) -> dict[str, Any]:
    return {
        "meta": _meta(project_id, "serve"),
        "spec": {
            "assets": {
                "environment": environment_id,
                "compute": compute_id,
                "datasources": [{"id": source_id, "kind": "nfs"}],
            }
        },
    }


def _create_lookups(api: httpx.Client, project_id: str) -> dict[str, str]:
    ids = {}
    for kind, body in _lookup_bodies(project_id).items():
        created = api.post(f"/api/v1/asset/{kind}", json=body)
        assert created.status_code == 202, created.text
        assert created.json()["spec"] == body["spec"]
        ids[kind] = created.json()["meta"]["id"]
    nfs = {"server": "nfs.local", "path": "/export", "mountPath": "/data"}
    body = {"meta": _meta(project_id, "template-nfs"), "spec": nfs}
    ids["nfs"] = api.post(f"{DATASOURCE}/nfs", json=body).json()["meta"]["id"]
    body = _template_body(project_id, ids["environment"], ids["compute"], ids["nfs"])
    created = api.post("/api/v1/asset/workload-template", json=body)
    assert created.status_code == 202, created.text
    ids["workload-template"] = created.json()["meta"]["id"]
    return ids


def test_lookup_assets_are_found_by_name(api: httpx.Client, project_id: str) -> None:
    ids = _create_lookups(api, project_id)
    names = {"environment": "vllm", "compute": "one-gpu", "workload-template": "serve"}
    for kind, name in names.items():
        base = f"/api/v1/asset/{kind}"
        listed = api.get(base, params={"name": name}).json()["entries"]
        assert [entry["meta"]["id"] for entry in listed] == [ids[kind]]
        assert api.get(base, params={"name": "absent"}).json()["entries"] == []
        got = api.get(f"{base}/{ids[kind]}")
        assert got.status_code == 200 and got.json()["meta"]["name"] == name
        assert got.json()["meta"]["kind"] == kind
    in_project = api.get("/api/v1/asset/compute", params={"projectId": project_id})
    assert [e["meta"]["id"] for e in in_project.json()["entries"]] == [ids["compute"]]

    template = api.get(f"/api/v1/asset/workload-template/{ids['workload-template']}")
    assert template.json()["spec"]["assets"] == {
        "environment": {"id": ids["environment"], "name": "vllm"},
        "compute": {"id": ids["compute"], "name": "one-gpu"},
        "datasources": [{"id": ids["nfs"], "name": "template-nfs", "kind": "nfs"}],
    }
    put = api.put(f"/api/v1/asset/workload-template/{ids['workload-template']}")
    assert put.status_code == 405, put.text
    edited = api.put(
        f"/api/v1/asset/environment/{ids['environment']}",
        json={"meta": {"name": "vllm"}, "spec": {"image": "vllm/vllm-openai:v0.11.0"}},
    )
    assert edited.status_code == 202, edited.text
    validate_response("PUT", "/api/v1/asset/environment/{AssetId}", 202, edited.json())
    assert edited.json()["spec"]["image"] == "vllm/vllm-openai:v0.11.0"
    for kind in ("workload-template", "environment", "compute"):
        item = f"/api/v1/asset/{kind}/{ids[kind]}"
        assert api.delete(item).status_code == 202
        _error(api.get(item), 404, ids[kind])
    api.delete(f"{DATASOURCE}/nfs/{ids['nfs']}")


def test_template_assets_must_exist(api: httpx.Client, project_id: str) -> None:
    missing = str(uuid.uuid4())
    body = _template_body(project_id, missing, missing, missing)
    created = api.post("/api/v1/asset/workload-template", json=body)
    _error(created, 400, "spec.assets.environment")


PASSWORD_BASE = "/api/v1/asset/credentials/password"
GIT_PASSWORD = "gitTestPassword-0123456789"


def _password(api: httpx.Client, project_id: str, name: str) -> httpx.Response:
    body = {
        "meta": _meta(project_id, name),
        "spec": {"user": "robot", "password": GIT_PASSWORD},
    }
    return api.post(PASSWORD_BASE, json=body)


def test_password_credential_never_shows_or_keeps_the_password(
    api: httpx.Client, server: EmulatorServer, project_id: str
) -> None:
    created = _password(api, project_id, "git-login")
    assert created.status_code == 202, created.text
    asset_id = created.json()["meta"]["id"]
    item = f"{PASSWORD_BASE}/{asset_id}"
    assert created.json()["meta"]["kind"] == "password"
    answers = [
        created,
        api.get(PASSWORD_BASE, params={"name": "git-login"}),
        api.get(item, params={"statusInfo": "true", "usageInfo": "true"}),
    ]
    listed = answers[1].json()["entries"]
    assert [entry["meta"]["id"] for entry in listed] == [asset_id]
    for answer in answers:
        assert GIT_PASSWORD not in answer.text
    spec = answers[2].json()["spec"]
    assert spec["user"] == "robot" and "password" not in spec
    assert isinstance(spec["keyId"], int)
    files = server.db_path.parent.glob("*")
    database = b"".join(path.read_bytes() for path in files)
    assert GIT_PASSWORD.encode() not in database
    assert hashlib.sha256(GIT_PASSWORD.encode()).hexdigest().encode() in database

    # A git data source may use it; only description changes on PUT.
    git = {"repository": "https://example.invalid/r.git", "path": "/c"}
    body = {
        "meta": _meta(project_id, "git-pw"),
        "spec": {**git, "credentialId": asset_id},
    }
    source = api.post(f"{DATASOURCE}/git", json=body)
    assert source.status_code == 202, source.text
    api.delete(f"{DATASOURCE}/git/{source.json()['meta']['id']}")
    updated = api.put(item, json={"meta": {"description": "for git"}})
    assert updated.status_code == 202, updated.text
    assert updated.json()["meta"]["description"] == "for git"
    refused = api.put(item, json={"meta": {"description": "x"}, "spec": {}})
    _error(refused, 400, "spec")

    missing = api.post(
        PASSWORD_BASE,
        json={"meta": _meta(project_id, "no-pw"), "spec": {"user": "robot"}},
    )
    _error(missing, 400, "spec.password")
    assert api.delete(item).status_code == 202
    _error(api.get(item), 404, asset_id)


def test_every_asset_kind_route_is_served_per_the_spec(
    server: EmulatorServer, project_id: str, secret_id: str
) -> None:
    seen: Seen = set()
    with _client(server, seen) as api:
        _login(api, server)
        for kind, spec in _specs(secret_id).items():
            base = f"{DATASOURCE}/{kind}"
            body = {"meta": _meta(project_id, f"cover-{kind}"), "spec": spec}
            item = f"{base}/{api.post(base, json=body).json()['meta']['id']}"
            api.get(base, params={"statusInfo": "true", "usageInfo": "true"})
            api.get(item, params={"statusInfo": "true", "usageInfo": "true"})
            api.put(item, json={"meta": {"name": f"cover-{kind}"}, "spec": spec})
            api.delete(item)
        password_id = _password(api, project_id, "cover").json()["meta"]["id"]
        item = f"{PASSWORD_BASE}/{password_id}"
        api.get(PASSWORD_BASE)
        api.get(item)
        api.put(item, json={"meta": {"description": "covered"}})
        api.delete(item)
        ids = _create_lookups(api, project_id)
        for kind in ("workload-template", "environment", "compute"):
            base = f"/api/v1/asset/{kind}"
            api.get(base)
            api.get(f"{base}/{ids[kind]}")
            if kind != "workload-template":
                edit = {"meta": {"name": f"edited-{kind}"}, "spec": {}}
                api.put(f"{base}/{ids[kind]}", json=edit)
            api.delete(f"{base}/{ids[kind]}")
        api.delete(f"{DATASOURCE}/nfs/{ids['nfs']}")
    implemented = {(e.method, e.template) for e in ASSET_KIND_ENDPOINTS}
    assert implemented <= seen, implemented - seen
