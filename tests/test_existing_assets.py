"""Assets another team owns: referenced by name, resolved online, never changed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._client import ConnectionSettings, RunaiClient
from conftest import PROJECT_DIR
from preflight.__main__ import main


@pytest.fixture
def online_stack(
    connection: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """The local stack aimed at the test emulator, under a throwaway name."""
    name = "scratch-online"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.local.yaml", path)
    document = yaml.safe_load(path.read_text())
    document["config"]["runai:url"] = connection["runai:url"]
    document["config"]["runai:clusterId"] = connection["runai:clusterId"]
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    yield name, path
    path.unlink(missing_ok=True)


def reference(path: Path, credential: dict[str, Any]) -> None:
    document = yaml.safe_load(path.read_text())
    document["config"]["runai-hf:credentials"] = [credential]
    path.write_text(yaml.safe_dump(document))


def test_missing_credential_is_named_online(
    capsys: pytest.CaptureFixture[str], online_stack: tuple[str, Path]
) -> None:
    name, path = online_stack
    reference(path, {"name": "missing-hf-token", "existing": True})

    status = main(["--stack", name, "--online"])

    err = capsys.readouterr().err
    assert status == 1
    assert "credential 'missing-hf-token' (generic-secret) does not exist" in err
    assert "searched /api/v1/asset/credentials/generic-secret by name" in err


def test_existing_credential_is_resolved_online_and_only_read(
    capsys: pytest.CaptureFixture[str],
    online_stack: tuple[str, Path],
    connection: dict[str, str],
) -> None:
    name, path = online_stack
    with RunaiClient(ConnectionSettings.resolve(connection)) as client:
        project = client.post(
            "/api/v1/org-unit/projects",
            {
                "name": "owner-team",
                "clusterId": connection["runai:clusterId"],
                "resources": [
                    {
                        "nodePool": {"id": _pool(client), "name": "default"},
                        "gpu": {"deserved": 0},
                    }
                ],
            },
        )
        asset = client.post(
            "/api/v1/asset/credentials/generic-secret",
            {
                # Shared tenant-wide: a project-scoped one serves its own
                # project only, and the stack's project is another.
                "meta": {
                    "name": "shared-hf-token",
                    "scope": "tenant",
                },
                "spec": {"keyValuePairs": [{"key": "HF_TOKEN", "value": "hf_theirs"}]},
            },
        )
    reference(path, {"name": "shared-hf-token", "existing": True})

    offline = main(["--stack", name, "--json"])
    unresolved = json.loads(capsys.readouterr().out)
    online = main(["--stack", name, "--json", "--online"])
    resolved = json.loads(capsys.readouterr().out)
    with RunaiClient(ConnectionSettings.resolve(connection)) as client:
        still = client.get(
            f"/api/v1/asset/credentials/generic-secret/{asset['meta']['id']}"
        )
        client.delete(f"/api/v1/org-unit/projects/{project['id']}")
        client.delete(f"/api/v1/asset/credentials/generic-secret/{asset['meta']['id']}")

    def token_secret(document: dict[str, Any]) -> Any:
        inference = [
            r
            for r in document["resources"]
            if r["type"] == "pulumi-python:dynamic/runai:Inference"
        ][0]
        variables = inference["inputs"]["spec"]["environmentVariables"]
        return [v for v in variables if v["name"] == "HF_TOKEN"][0]["secret"]["name"]

    assert offline == 0 and online == 0
    assert token_secret(unresolved) == "(known after apply)"
    assert token_secret(resolved) == still["clusterInfo"]["resources"][0]["name"]
    assert still["meta"]["name"] == "shared-hf-token"


def _pool(client: RunaiClient) -> str:
    pools = client.get("/api/v1/node-pools")["nodepools"]
    return str([p for p in pools if p["name"] == "default"][0]["id"])
