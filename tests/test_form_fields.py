"""Every field of the Run:ai HF form reaches the API request, and the request
validates against the official OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from components._serving import SpecInputs, build_spec
from components.config import InferenceConfig
from emulator import validate_request

EVERYTHING: dict[str, Any] = {
    "name": "kitchen-sink",
    "model": "mistralai/Mistral-7B-Instruct-v0.3",
    "server": "tgi",
    "image": "registry.example.com/tgi:3.3.6",
    "imagePullPolicy": "Always",
    "imagePullSecrets": ["registry"],
    "endpoint": {
        "access": "authorizedGroups",
        "groups": ["ml-team"],
        "protocol": "http",
        "port": 8080,
    },
    "tools": [
        {"name": "grafana", "type": "externalUrl", "containerPort": 3000},
        {
            "name": "debug",
            "type": "nodePort",
            "containerPort": 5678,
            "nodePort": 30080,
            "access": "authorizedUsers",
            "users": ["ops@example.com"],
        },
    ],
    "command": "text-generation-launcher",
    "args": "--model-id mistralai/Mistral-7B-Instruct-v0.3 --port 8080",
    "env": [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "API_KEY", "credential": "api-key", "key": "API_KEY"},
        {"name": "DB_PASSWORD", "secret": {"name": "db", "key": "password"}},
        {"name": "SETTINGS", "configMap": {"name": "tgi-settings", "key": "json"}},
    ],
    "workingDir": "/workspace",
    "security": {
        "uidGidSource": "custom",
        "uid": 1000,
        "gid": 1000,
        "supplementalGroups": [2000, 3000],
        "capabilities": ["SYS_NICE"],
    },
    "gpu": {"devices": 1, "memory": "20Gi", "memoryLimit": "24Gi"},
    "cpu": {"request": "500m", "limit": 4},
    "memory": {"request": "16GB", "limit": "32GB"},
    "largeSharedMemory": True,
    "extendedResources": [{"resource": "rdma/hca", "quantity": "1"}],
    "replicas": {"min": 0, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 16},
    "scaleToZeroAfter": "15m",
    "nodePools": ["a100", "default"],
    "nodeType": "dgx",
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "spot", "value": "true", "effect": "NoExecute", "seconds": 60},
    ],
    "priority": "medium-high",
    "preemptibility": "preemptible",
    "initializationTimeout": "20m",
    "requestTimeout": "5m",
    "annotations": {"example.com/owner": "ml-team"},
    "labels": {"team": "ml"},
}

INPUTS = SpecInputs(
    token_secret="hf-token-secret",
    claim_name="models-claim",
    mount_path="/models",
    pull_secrets=["registry-secret"],
    credential_secrets={"api-key": "api-key-secret"},
    stack_mark="runai-hf/test",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    settings = InferenceConfig.model_validate(EVERYTHING)
    return build_spec(settings, INPUTS)


def test_request_validates_against_the_official_document(spec: dict[str, Any]) -> None:
    body = {
        "name": "kitchen-sink",
        "projectId": "1",
        "clusterId": "4ebb4567-6dc7-53ea-b9cd-401715881a88",
        "spec": spec,
    }

    validate_request("POST", "/api/v1/workloads/inferences", body)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("image", "registry.example.com/tgi:3.3.6"),
        ("imagePullPolicy", "Always"),
        ("imagePullSecrets", [{"name": "registry-secret"}]),
        ("servingPort.container", 8080),
        ("servingPort.protocol", "http"),
        ("servingPort.authorizationType", "authorizedGroups"),
        ("servingPort.authorizedGroups", ["ml-team"]),
        ("command", "text-generation-launcher"),
        ("args", "--model-id mistralai/Mistral-7B-Instruct-v0.3 --port 8080"),
        ("workingDir", "/workspace"),
        ("security.uidGidSource", "custom"),
        ("security.runAsUid", 1000),
        ("security.runAsGid", 1000),
        ("security.supplementalGroups", "2000,3000"),
        ("security.capabilities", ["SYS_NICE"]),
        ("compute.gpuDevicesRequest", 1),
        ("compute.gpuRequestType", "memory"),
        ("compute.gpuMemoryRequest", "20Gi"),
        ("compute.gpuMemoryLimit", "24Gi"),
        ("compute.cpuCoreRequest", 0.5),
        ("compute.cpuCoreLimit", 4.0),
        ("compute.cpuMemoryRequest", "16G"),
        ("compute.cpuMemoryLimit", "32G"),
        ("compute.largeShmRequest", True),
        ("compute.extendedResources", [{"resource": "rdma/hca", "quantity": "1"}]),
        ("autoscaling.minReplicas", 0),
        ("autoscaling.maxReplicas", 3),
        ("autoscaling.metric", "concurrency"),
        ("autoscaling.metricThreshold", 16),
        ("autoscaling.scaleToZeroRetentionSeconds", 900),
        ("nodePools", ["a100", "default"]),
        ("nodeType", "dgx"),
        ("priorityClass", "medium-high"),
        ("preemptibility", "preemptible"),
        ("servingConfiguration.initializationTimeoutSeconds", 1200),
        ("servingConfiguration.requestTimeoutSeconds", 300),
        ("labels", [{"name": "team", "value": "ml"}]),
        ("storage.pvc.0.claimName", "models-claim"),
        ("storage.pvc.0.path", "/models"),
    ],
)
def test_form_field_reaches_the_body(
    spec: dict[str, Any], path: str, expected: Any
) -> None:
    value: Any = spec
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else value[part]

    assert value == expected


def test_variables_keep_their_sources(spec: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in spec["environmentVariables"]}

    assert variables["HF_TOKEN"]["secret"] == {
        "name": "hf-token-secret",
        "key": "HF_TOKEN",
    }
    assert variables["HF_HOME"]["value"] == "/models"
    assert variables["LOG_LEVEL"]["value"] == "info"
    assert variables["API_KEY"]["secret"] == {
        "name": "api-key-secret",
        "key": "API_KEY",
    }
    assert variables["DB_PASSWORD"]["secret"] == {"name": "db", "key": "password"}
    assert variables["SETTINGS"]["configMap"] == {"name": "tgi-settings", "key": "json"}


def test_tools_become_ports_and_urls(spec: dict[str, Any]) -> None:
    assert spec["exposedUrls"] == [
        {
            "name": "grafana",
            "container": 3000,
            "authorizationType": "authenticatedUsers",
            "toolName": "grafana",
        }
    ]
    assert spec["ports"] == [
        {
            "name": "debug",
            "container": 5678,
            "serviceType": "NodePort",
            "toolName": "debug",
            "external": 30080,
        }
    ]


def test_tolerations_and_annotations(spec: dict[str, Any]) -> None:
    assert spec["tolerations"] == [
        {
            "name": "toleration-0",
            "operator": "Exists",
            "effect": "NoSchedule",
            "key": "nvidia.com/gpu",
        },
        {
            "name": "toleration-1",
            "operator": "Equal",
            "effect": "NoExecute",
            "key": "spot",
            "value": "true",
            "seconds": 60,
        },
    ]
    assert {"name": "pulumi.com/stack", "value": "runai-hf/test"} in spec["annotations"]
    assert {"name": "example.com/owner", "value": "ml-team"} in spec["annotations"]


def test_tgi_and_vllm_presets_for_the_same_model() -> None:
    vllm = build_spec(
        InferenceConfig(name="a", model="Qwen/Qwen2.5-0.5B-Instruct"), SpecInputs()
    )
    tgi = build_spec(
        InferenceConfig(name="b", model="Qwen/Qwen2.5-0.5B-Instruct", server="tgi"),
        SpecInputs(),
    )

    assert vllm["command"] == "vllm serve"
    assert vllm["args"] == "Qwen/Qwen2.5-0.5B-Instruct --host 0.0.0.0 --port 8000"
    assert vllm["servingPort"]["container"] == 8000
    assert "largeShmRequest" not in vllm["compute"]
    assert {"name": "HF_HOME", "value": "/root/.cache/huggingface"} in vllm[
        "environmentVariables"
    ]
    assert "command" not in tgi
    assert tgi["args"] == "--model-id Qwen/Qwen2.5-0.5B-Instruct --port 80"
    assert tgi["servingPort"]["container"] == 80
    assert tgi["compute"]["largeShmRequest"] is True
    assert {"name": "HF_HOME", "value": "/data"} in tgi["environmentVariables"]
    assert tgi["image"].startswith("ghcr.io/huggingface/text-generation-inference:")
