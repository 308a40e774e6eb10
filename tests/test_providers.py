"""The dynamic providers over real HTTP against the emulator on loopback.

The emulator validates every request body against the official OpenAPI
document and answers 400 naming the field, so each call here that succeeds
also proves the provider sent what the API describes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.dynamic.config import Config

from components._client import ConnectionSettings, RunaiClient
from components._providers import (  # noqa: I001
    CredentialProvider,
    DataSourceProvider,
    InferenceProvider,
    ProjectProvider,
)
from components.errors import ApiError, ConflictError, WorkloadError

TOKEN = "hf_provider_test_token"


def configured(provider: ResourceProvider, connection: dict[str, str]) -> Any:
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    provider.poll_initial = 0.02  # type: ignore[attr-defined]
    return provider


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api(connection: dict[str, str]) -> RunaiClient:
    return RunaiClient(ConnectionSettings.resolve(connection))


@pytest.fixture
def project(connection: dict[str, str]) -> Iterator[dict[str, Any]]:
    provider = configured(ProjectProvider(), connection)
    inputs = provider.check(
        {},
        {
            "name": unique("team"),
            "clusterId": connection["runai:clusterId"],
            "quotas": [{"nodePool": "default", "gpu": 2.0}],
        },
    ).inputs
    created = provider.create(inputs)
    yield {"id": created.id, **created.outs}
    provider.delete(created.id, created.outs)


def inference_inputs(project: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {
        "image": "vllm/vllm-openai:v0.10.2",
        "args": "Qwen/Qwen2.5-0.5B-Instruct --port 8000",
        "compute": {
            "gpuDevicesRequest": 1.0,
            "gpuRequestType": "portion",
            "gpuPortionRequest": 0.5,
        },
        "servingPort": {
            "container": 8000.0,
            "protocol": "http",
            "authorizationType": "public",
        },
        "servingConfiguration": {"initializationTimeoutSeconds": 30.0},
        "priorityClass": "medium",
        "preemptibility": "preemptible",
    }
    return {
        "name": unique("chat"),
        "projectId": project["projectId"],
        "clusterId": project["clusterId"],
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "server": "vllm",
        "spec": {**base, **spec},
    }


def test_project_create_diff_update_delete(connection: dict[str, str]) -> None:
    provider = configured(ProjectProvider(), connection)
    inputs = provider.check(
        {},
        {
            "name": unique("team"),
            "clusterId": connection["runai:clusterId"],
            "quotas": [{"nodePool": "default", "gpu": 1.0}],
        },
    ).inputs

    created = provider.create(inputs)
    same = provider.diff(
        created.id,
        created.outs,
        {**inputs, "quotas": [{"nodePool": "default", "gpu": 1}]},
    )
    more = {**inputs, "quotas": [{"nodePool": "default", "gpu": 3.0}]}
    grown = provider.diff(created.id, created.outs, more)
    updated = provider.update(created.id, created.outs, more)
    read = provider.read(created.id, updated.outs)
    provider.delete(created.id, updated.outs)

    assert created.outs["namespace"] == f"runai-{inputs['name']}"
    assert not same.changes
    assert grown.changes and not grown.replaces
    assert read.inputs["quotas"] == [{"nodePool": "default", "gpu": 3}]
    assert provider.read(created.id, {}).id is None


def test_duplicate_project_name_is_a_conflict(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(ProjectProvider(), connection)

    with pytest.raises(ConflictError):
        provider.create({key: project[key] for key in ("name", "clusterId", "quotas")})


def test_unknown_node_pool_is_named(connection: dict[str, str]) -> None:
    provider = configured(ProjectProvider(), connection)
    inputs = {
        "name": unique("team"),
        "clusterId": connection["runai:clusterId"],
        "quotas": [{"nodePool": "h200", "gpu": 1}],
    }

    with pytest.raises(
        Exception,
        match="node pool 'h200' does not exist.*known node pools: a100, default",
    ):
        provider.create(inputs)


def test_credential_keeps_only_a_digest_of_the_token(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(CredentialProvider(), connection)
    inputs = provider.check(
        {},
        {
            "name": unique("hf-token"),
            "projectId": project["projectId"],
            "clusterId": project["clusterId"],
            "key": "HF_TOKEN",
            "value": TOKEN,
        },
    ).inputs

    created = provider.create(inputs)
    unchanged = provider.diff(created.id, created.outs, inputs)
    rotated = provider.diff(created.id, created.outs, {**inputs, "value": "hf_rotated"})
    with api(connection) as client:
        stored = client.get(f"/api/v1/asset/credentials/generic-secret/{created.id}")
    provider.delete(created.id, created.outs)

    assert created.outs["kubernetesSecretName"]
    assert TOKEN not in repr(created.outs) and TOKEN not in repr(stored)
    assert not unchanged.changes
    assert rotated.replaces == ["value"]


def test_check_rejects_bad_names_before_any_call(connection: dict[str, str]) -> None:
    provider = CredentialProvider()  # not configured: a call would fail loudly

    result = provider.check(
        {},
        {
            "name": "Bad_Name",
            "projectId": "1",
            "clusterId": "c",
            "key": "K",
            "value": "",
        },
    )

    reasons = {failure.property: failure.reason for failure in result.failures}
    assert "DNS-1123" in reasons["name"]
    assert "empty" in reasons["value"]


def test_pvc_data_source_reports_its_claim(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(DataSourceProvider(), connection)
    inputs = provider.check(
        {},
        {
            "name": unique("models"),
            "projectId": project["projectId"],
            "clusterId": project["clusterId"],
            "path": "/models",
            "existingPvc": False,
            "readOnly": False,
            "size": "20Gi",
        },
    ).inputs

    created = provider.create(inputs)
    moved = provider.diff(created.id, created.outs, {**inputs, "path": "/weights"})
    bigger = provider.diff(created.id, created.outs, {**inputs, "size": "40Gi"})
    provider.delete(created.id, created.outs)

    assert created.outs["claimName"]
    assert moved.changes and not moved.replaces
    assert bigger.replaces == ["size"]


def test_inference_runs_rolls_and_goes(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = provider.check({}, inference_inputs(project)).inputs

    created = provider.create(inputs)
    new_image = {
        **inputs,
        "spec": {**inputs["spec"], "image": "vllm/vllm-openai:v0.10.1"},
    }
    rolling = provider.diff(created.id, created.outs, new_image)
    new_port = {
        **inputs,
        "spec": {
            **inputs["spec"],
            "servingPort": {
                "container": 8080,
                "protocol": "http",
                "authorizationType": "public",
            },
        },
    }
    replacing = provider.diff(created.id, created.outs, new_port)
    updated = provider.update(created.id, created.outs, new_image)
    with api(connection) as client:
        served = client.get(f"/api/v1/workloads/inferences/{created.id}")
        revisions = client.get(f"/api/v1/workloads/inferences/{created.id}/revisions")
    provider.delete(created.id, updated.outs)

    assert created.outs["phase"] == "Running" and created.outs["url"].startswith(
        "https://"
    )
    assert not provider.diff(created.id, created.outs, inputs).changes
    assert rolling.changes and not rolling.replaces
    assert replacing.replaces == ["spec.servingPort"]
    assert served["spec"]["image"] == "vllm/vllm-openai:v0.10.1"
    assert len(revisions["revisions"]) == 1
    assert provider.read(created.id, {}).id is None


def test_inference_that_never_runs_is_removed(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = provider.check(
        {},
        inference_inputs(
            project,
            compute={"gpuDevicesRequest": 64},
            servingConfiguration={"initializationTimeoutSeconds": 1},
        ),
    ).inputs

    with pytest.raises(WorkloadError) as raised:
        provider.create(inputs)

    with api(connection) as client:
        left = client.get("/api/v1/workloads", filterBy=f"name=={inputs['name']}")
    assert raised.value.phase == "Pending"
    assert "Not enough resources" in raised.value.phase_message
    assert f"inference {inputs['name']}" in str(raised.value)
    assert left["workloads"] == []


def test_invalid_body_is_refused_naming_the_field(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = inference_inputs(project, imagePullPolicy="Sometimes")

    with pytest.raises(ApiError) as raised:
        provider.create(inputs)

    assert raised.value.status == 400
    assert "imagePullPolicy" in raised.value.api_message


def test_wrong_secret_is_refused_clearly(connection: dict[str, str]) -> None:
    settings = ConnectionSettings.resolve({**connection, "runai:clientSecret": "wrong"})

    with (
        RunaiClient(settings) as client,
        pytest.raises(Exception, match="refused client") as raised,
    ):
        client.get("/api/v1/clusters")

    assert "wrong" not in str(raised.value)


def test_unreachable_control_plane_is_reported() -> None:
    settings = ConnectionSettings("http://127.0.0.1:9", "ci", "s")

    with (
        RunaiClient(settings, attempts=2) as client,
        pytest.raises(Exception, match="did not answer"),
    ):
        client.get("/api/v1/clusters")


def test_server_errors_are_retried(connection: dict[str, str]) -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/v1/token":
            return httpx.Response(200, json={"accessToken": "t", "expiresIn": 3600})
        if len(calls) < 4:
            return httpx.Response(503, json={"code": 503, "message": "busy"})
        return httpx.Response(200, json=[])

    settings = ConnectionSettings("http://127.0.0.1:9", "flaky-client", "s")
    with RunaiClient(settings, transport=httpx.MockTransport(flaky)) as client:
        assert client.get("/api/v1/clusters") == []
    assert calls.count("/api/v1/clusters") == 3


def test_rolling_update_fields_are_the_official_update_schema() -> None:
    from components._providers import INFERENCE_UPDATABLE_SPEC_FIELDS
    from emulator._spec import schema_properties

    official = schema_properties("InferenceUpdateRequest", "spec")

    assert INFERENCE_UPDATABLE_SPEC_FIELDS == official
    assert len(official) == 19


def test_merge_patch_removes_what_the_new_spec_dropped() -> None:
    from components._providers import merge_patch

    old = {
        "compute": {
            "gpuDevicesRequest": 1,
            "gpuRequestType": "portion",
            "gpuPortionRequest": 0.5,
        },
        "nodePools": ["default"],
        "image": "a:1",
    }
    new = {"compute": {"gpuDevicesRequest": 1}, "image": "a:2"}

    assert merge_patch(old, new) == {
        "compute": {"gpuRequestType": None, "gpuPortionRequest": None},
        "image": "a:2",
        "nodePools": None,
    }
    assert merge_patch(new, new) == {}


def test_update_from_a_portion_to_whole_devices_leaves_no_portion(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = provider.check({}, inference_inputs(project)).inputs
    created = provider.create(inputs)
    whole = {**inputs, "spec": {**inputs["spec"], "compute": {"gpuDevicesRequest": 1}}}

    provider.update(created.id, created.outs, whole)
    with api(connection) as client:
        served = client.get(f"/api/v1/workloads/inferences/{created.id}")["spec"]
    provider.delete(created.id, created.outs)

    assert served["compute"] == {"gpuDevicesRequest": 1}


def test_failed_rollout_puts_the_old_spec_back(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = provider.check({}, inference_inputs(project)).inputs
    created = provider.create(inputs)
    spec = dict(inputs["spec"])
    spec.update(
        compute={"gpuDevicesRequest": 64},
        servingConfiguration={"initializationTimeoutSeconds": 1},
    )

    rollout = {"timeoutSeconds": 1}
    with pytest.raises(WorkloadError, match="did not take over"):
        provider.update(
            created.id, created.outs, {**inputs, "spec": spec, "rollout": rollout}
        )
    with api(connection) as client:
        served = client.get(f"/api/v1/workloads/inferences/{created.id}")["spec"]
    provider.delete(created.id, created.outs)

    assert served["compute"] == inputs["spec"]["compute"]
    assert served["servingConfiguration"] == inputs["spec"]["servingConfiguration"]


def test_second_update_after_a_failed_one_succeeds(
    project: dict[str, Any], connection: dict[str, str]
) -> None:
    provider = configured(InferenceProvider(), connection)
    inputs = provider.check({}, inference_inputs(project)).inputs
    created = provider.create(inputs)
    broken = {**inputs["spec"], "image": "vllm/vllm-openai:does-not-exist"}
    fixed = {**inputs["spec"], "image": "vllm/vllm-openai:v0.10.1"}

    with pytest.raises(WorkloadError) as raised:
        provider.update(created.id, created.outs, {**inputs, "spec": broken})
    updated = provider.update(created.id, created.outs, {**inputs, "spec": fixed})
    with api(connection) as client:
        path = f"/api/v1/workloads/inferences/{created.id}/revisions"
        live = client.get(path)["revisions"]
    provider.delete(created.id, updated.outs)

    assert "Failed to pull image" in raised.value.phase_message
    assert updated.outs["workloadId"] == created.id
    assert [r["phase"] for r in live] == ["Running"]
