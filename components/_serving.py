"""Turn an inference's settings into the Run:ai `InferenceSpecSpec`.

This is what the UI's Hugging Face form does on the client side: there is no
HF field in the API, so the server container (image, command, arguments, port,
health probe) is assembled here from the model id and the server type.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

import pulumi

from .config import InferenceConfig

__all__ = ["SERVERS", "ServerPreset", "build_spec", "chat_curl"]


@dataclasses.dataclass(frozen=True)
class ServerPreset:
    """How one inference server is started and probed."""

    image: str
    port: int
    command: str | None
    served_model_name: str | None
    health_path: str = "/health"

    def args(self, model: str) -> str:
        if self.command == "vllm serve":
            # The model is the positional argument; PORT is reserved by Knative,
            # so the port is passed explicitly.
            parts = [model, "--host", "0.0.0.0", "--port", str(self.port)]
            return shlex.join(parts)
        return shlex.join(["--model-id", model, "--port", str(self.port)])


SERVERS: dict[str, ServerPreset] = {
    "vllm": ServerPreset(
        image="vllm/vllm-openai:v0.10.2",
        port=8000,
        command="vllm serve",
        served_model_name=None,
    ),
    "tgi": ServerPreset(
        image="ghcr.io/huggingface/text-generation-inference:3.3.6",
        port=80,
        command=None,
        served_model_name="tgi",
    ),
}
"""Pinned server images: a tag, never `latest`, so a deploy is repeatable."""


def _env_from_secret(name: str, secret_name: pulumi.Input[str], key: str) -> Any:
    return {"name": name, "secret": {"name": secret_name, "key": key}}


def build_spec(
    inference: InferenceConfig,
    *,
    token_secret_name: pulumi.Input[str],
    token_key: str,
    claim_name: pulumi.Input[str],
    mount_path: str,
) -> dict[str, Any]:
    """The inference spec; Output leaves stay Outputs so a preview sees the rest."""
    server = SERVERS[inference.server]
    spec: dict[str, Any] = {
        "image": inference.image or server.image,
        "imagePullPolicy": inference.image_pull_policy,
        "args": server.args(inference.model),
        "environmentVariables": [
            {"name": "HF_HOME", "value": mount_path},
            _env_from_secret("HF_TOKEN", token_secret_name, token_key),
            _env_from_secret("HUGGING_FACE_HUB_TOKEN", token_secret_name, token_key),
        ],
        "compute": _compute(inference),
        "autoscaling": _autoscaling(inference),
        "servingPort": _serving_port(inference, server.port),
        "probes": {
            "readiness": {
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
                "handler": {
                    "httpGet": {"path": server.health_path, "port": server.port}
                },
            }
        },
        "storage": {
            "pvc": [
                {
                    "name": "model-store",
                    "claimName": claim_name,
                    "existingPvc": True,
                    "readOnly": False,
                    "path": mount_path,
                }
            ]
        },
        "priorityClass": inference.priority,
        "preemptibility": inference.effective_preemptibility,
    }
    if server.command:
        spec["command"] = server.command
    if inference.node_pools:
        spec["nodePools"] = list(inference.node_pools)
    if inference.initialization_timeout is not None:
        spec["servingConfiguration"] = {
            "initializationTimeoutSeconds": inference.initialization_timeout
        }
    return spec


def _compute(inference: InferenceConfig) -> dict[str, Any]:
    if inference.gpu.portion is not None:
        return {
            "gpuDevicesRequest": 1,
            "gpuRequestType": "portion",
            "gpuPortionRequest": inference.gpu.portion,
        }
    return {"gpuDevicesRequest": inference.gpu.devices}


def _autoscaling(inference: InferenceConfig) -> dict[str, Any]:
    scaling: dict[str, Any] = {
        "minReplicas": inference.replicas.min,
        "maxReplicas": inference.replicas.effective_max,
    }
    if inference.autoscaling is not None:
        scaling["metric"] = inference.autoscaling.metric
        scaling["metricThreshold"] = inference.autoscaling.threshold
    return scaling


def _serving_port(inference: InferenceConfig, port: int) -> dict[str, Any]:
    endpoint = inference.endpoint
    serving: dict[str, Any] = {
        "container": port,
        "protocol": "http",
        "authorizationType": endpoint.access,
    }
    if endpoint.users:
        serving["authorizedUsers"] = list(endpoint.users)
    if endpoint.groups:
        serving["authorizedGroups"] = list(endpoint.groups)
    return serving


def chat_curl(
    *, url: str, model: str, server: str, public: bool, control_plane_url: str
) -> str:
    """A ready-to-paste request to the OpenAI-compatible chat endpoint."""
    served = SERVERS[server].served_model_name or model
    payload = (
        '{"model": "' + served + '", "messages": [{"role": "user", '
        '"content": "Say hello in five words."}]}'
    )
    lines = [
        f"curl {url}/v1/chat/completions",
        '  -H "Content-Type: application/json"',
    ]
    if not public:
        lines.append('  -H "Authorization: Bearer $RUNAI_TOKEN"')
    lines.append(f"  -d '{payload}'")
    command = " \\\n".join(lines)
    if public:
        return command
    login = (
        "# the endpoint is not public: get a token as a user or application first\n"
        f"RUNAI_TOKEN=$(curl -s {control_plane_url}/api/v1/token "
        "-H 'Content-Type: application/json' "
        '-d \'{"grantType": "client_credentials", "clientID": "<app id>", '
        '"clientSecret": "<app secret>"}\' | python3 -c '
        "'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')\n"
    )
    return login + command
