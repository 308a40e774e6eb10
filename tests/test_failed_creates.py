"""A create that fails after its POST leaves nothing behind in Run:ai.

The engine records no resource for a failed create, so whatever the POST made
would be orphaned: a workload holding GPUs, or a credential holding a secret.
The emulator's fault injection makes the wait after the POST fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from test_providers_breadth import api, configured, project_inputs

from components._client import RunaiClient
from components._providers import (
    CredentialProvider,
    InferenceProvider,
    ProjectProvider,
)
from components._providers._base import RunaiProvider

SECRET = "hf_failed_create_marker"


@pytest.fixture(autouse=True)
def quick_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunaiProvider, "poll_initial", 0.02)


@pytest.fixture
def project(connection: dict[str, str]) -> Iterator[Any]:
    provider = configured(ProjectProvider(), connection)
    made = provider.create(project_inputs(connection))
    yield made
    provider.delete(made.id, made.outs)


@pytest.fixture
def client(connection: dict[str, str]) -> Iterator[RunaiClient]:
    with api(connection) as opened:
        yield opened
        opened.delete("/_emulator/faults")


def fail_reads(client: RunaiClient, path: str) -> None:
    """Every read of `path` answers 500 (more than the client's retries)."""
    fault = {"method": "GET", "path": path, "status": 500, "count": 50}
    client.post("/_emulator/faults", fault)


def test_a_credential_whose_sync_wait_fails_is_deleted_again(
    connection: dict[str, str], project: Any, client: RunaiClient
) -> None:
    provider = configured(CredentialProvider(), connection)
    inputs = provider.check(
        {},
        {
            "logicalName": "hf-token",
            "projectId": project.outs["projectId"],
            "clusterId": connection["runai:clusterId"],
            "key": "HF_TOKEN",
            "value": SECRET,
        },
    ).inputs
    fail_reads(client, "/api/v1/asset/credentials/generic-secret/{AssetId}")

    with pytest.raises(Exception, match="answered 500"):
        provider.create(inputs)
    client.delete("/_emulator/faults")
    left = client.get(
        "/api/v1/asset/credentials/generic-secret",
        scope="project",
        projectId=project.outs["projectId"],
    )["entries"]

    assert [e["meta"]["name"] for e in left] == []


def test_an_inference_whose_wait_fails_is_deleted_again(
    connection: dict[str, str], project: Any, client: RunaiClient
) -> None:
    provider = configured(InferenceProvider(), connection)
    name = f"orphan-{uuid.uuid4().hex[:6]}"
    inputs = provider.check(
        {},
        {
            "logicalName": name,
            "name": name,
            "projectId": project.outs["projectId"],
            "clusterId": connection["runai:clusterId"],
            "spec": {
                "image": "vllm/vllm-openai:v0.10.2",
                "compute": {
                    "gpuDevicesRequest": 1,
                    "gpuPortionRequest": 0.5,
                    "gpuRequestType": "portion",
                },
                "priorityClass": "medium",
                "preemptibility": "preemptible",
            },
        },
    ).inputs
    fail_reads(client, "/api/v1/workloads/{workloadId}")

    with pytest.raises(Exception, match="answered 500"):
        provider.create(inputs)
    client.delete("/_emulator/faults")
    left = client.get(
        "/api/v1/workloads", filterBy=f"projectId=={project.outs['projectId']}"
    )["workloads"]

    assert [w["name"] for w in left] == []
