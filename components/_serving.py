"""Turn an inference's settings into the Run:ai `InferenceSpecSpec`.

This is what the UI's Hugging Face form does on the client side: there is no
HF field in the API, so the server container (image, command, arguments, port,
cache path, shared memory, health probe) is assembled here from the model id
and the server type, and every other field of the form maps onto its API field.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from typing import Any

import pulumi

from .config import InferenceConfig, Tool

__all__ = ["SERVERS", "ServerPreset", "SpecInputs", "build_spec", "chat_curl"]


@dataclasses.dataclass(frozen=True)
class ServerPreset:
    """How one inference server is started, where it caches, how it is probed."""

    image: str
    port: int
    command: str | None
    cache_path: str
    served_model_name: str | None
    large_shared_memory: bool
    health_path: str = "/health"

    def args(self, model: str, port: int) -> str:
        if self.command == "vllm serve":
            # The model is the positional argument; PORT is reserved by Knative,
            # so the port is passed explicitly.
            return shlex.join([model, "--host", "0.0.0.0", "--port", str(port)])
        return shlex.join(["--model-id", model, "--port", str(port)])


SERVERS: dict[str, ServerPreset] = {
    "vllm": ServerPreset(
        image="vllm/vllm-openai:v0.10.2",
        port=8000,
        command="vllm serve",
        cache_path="/root/.cache/huggingface",
        served_model_name=None,
        large_shared_memory=False,
    ),
    "tgi": ServerPreset(
        image="ghcr.io/huggingface/text-generation-inference:3.3.6",
        port=80,
        command=None,
        cache_path="/data",
        served_model_name="tgi",
        large_shared_memory=True,
    ),
}
"""Pinned server images (a tag, never `latest`, so a deploy is repeatable).

vLLM needs a large /dev/shm only for tensor parallelism; TGI's docs ask for
one always (its shards talk through shared memory).
"""


@dataclasses.dataclass(frozen=True)
class SpecInputs:
    """What the spec takes from other resources: Kubernetes names, as Outputs."""

    token_secret: pulumi.Input[str] | None = None
    token_key: str = "HF_TOKEN"
    claim_name: pulumi.Input[str] | None = None
    mount_path: str | None = None
    pull_secrets: list[pulumi.Input[str]] = dataclasses.field(default_factory=list)
    credential_secrets: Mapping[str, pulumi.Input[str]] = dataclasses.field(
        default_factory=dict
    )
    stack_mark: str | None = None
    volumes: Mapping[str, list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    """Other data sources by `spec.storage` key (nfs, hostPath, ...)."""


def build_spec(inference: InferenceConfig, inputs: SpecInputs) -> dict[str, Any]:
    """The inference spec; Output leaves stay Outputs so a preview sees the rest."""
    server = SERVERS[inference.server]
    port = inference.endpoint.port or server.port
    spec: dict[str, Any] = {
        "image": inference.image or server.image,
        "imagePullPolicy": inference.image_pull_policy,
        "args": inference.args or server.args(inference.model, port),
        "environmentVariables": _environment(inference, inputs, server),
        "compute": _compute(inference, server),
        "autoscaling": _autoscaling(inference),
        "servingPort": _serving_port(inference, port),
        "probes": _probes(inference, server, port),
        "priorityClass": inference.priority,
        "preemptibility": inference.effective_preemptibility,
    }
    command = inference.command or server.command
    optional: dict[str, Any] = {
        "command": command,
        "workingDir": inference.working_dir,
        "nodePools": list(inference.node_pools) if inference.node_pools else None,
        "nodeType": inference.node_type,
        "servingConfiguration": _serving_configuration(inference),
        "storage": _storage(inputs),
        "imagePullSecrets": [{"name": name} for name in inputs.pull_secrets] or None,
        "security": _security(inference),
        "tolerations": _tolerations(inference),
        "ports": _node_ports(inference.tools) or None,
        "exposedUrls": _external_urls(inference.tools) or None,
        "labels": _pairs(inference.labels),
        "annotations": _pairs(_annotations(inference, inputs)),
    }
    spec.update({key: value for key, value in optional.items() if value is not None})
    return spec


def _environment(
    inference: InferenceConfig, inputs: SpecInputs, server: ServerPreset
) -> list[dict[str, Any]]:
    cache = inputs.mount_path or server.cache_path
    variables: list[dict[str, Any]] = [{"name": "HF_HOME", "value": cache}]
    if inputs.token_secret is not None:
        secret = {"name": inputs.token_secret, "key": inputs.token_key}
        variables.append({"name": "HF_TOKEN", "secret": secret})
        variables.append({"name": "HUGGING_FACE_HUB_TOKEN", "secret": dict(secret)})
    for variable in inference.env:
        entry: dict[str, Any] = {"name": variable.name}
        if variable.value is not None:
            entry["value"] = variable.value
        elif variable.credential is not None:
            name = inputs.credential_secrets[variable.credential]
            entry["secret"] = {"name": name, "key": variable.key}
        elif variable.secret is not None:
            entry["secret"] = variable.secret.model_dump()
        elif variable.config_map is not None:
            entry["configMap"] = variable.config_map.model_dump()
        variables = [v for v in variables if v["name"] != variable.name] + [entry]
    return variables


def _compute(inference: InferenceConfig, server: ServerPreset) -> dict[str, Any]:
    gpu = inference.gpu
    compute: dict[str, Any] = {"gpuDevicesRequest": gpu.devices}
    if gpu.fraction_kind == "portion":
        compute.update(gpuRequestType="portion", gpuPortionRequest=gpu.portion)
        if gpu.portion_limit is not None:
            compute["gpuPortionLimit"] = gpu.portion_limit
    elif gpu.fraction_kind == "memory":
        compute.update(gpuRequestType="memory", gpuMemoryRequest=gpu.memory)
        if gpu.memory_limit is not None:
            compute["gpuMemoryLimit"] = gpu.memory_limit
    if inference.cpu is not None:
        if inference.cpu.request is not None:
            compute["cpuCoreRequest"] = _cores(inference.cpu.request)
        if inference.cpu.limit is not None:
            compute["cpuCoreLimit"] = _cores(inference.cpu.limit)
    if inference.memory is not None:
        if inference.memory.request is not None:
            compute["cpuMemoryRequest"] = inference.memory.request
        if inference.memory.limit is not None:
            compute["cpuMemoryLimit"] = inference.memory.limit
    shared = inference.large_shared_memory
    if shared is None:
        shared = server.large_shared_memory or gpu.devices > 1
    if shared:
        compute["largeShmRequest"] = True
    if inference.extended_resources:
        compute["extendedResources"] = [
            {"resource": r.resource, "quantity": r.quantity}
            for r in inference.extended_resources
        ]
    return compute


def _cores(value: float | str) -> float:
    from ._quantity import cpu_cores

    return cpu_cores(value)


def _autoscaling(inference: InferenceConfig) -> dict[str, Any]:
    scaling: dict[str, Any] = {
        "minReplicas": inference.replicas.min,
        "maxReplicas": inference.replicas.effective_max,
    }
    if inference.autoscaling is not None:
        scaling["metric"] = inference.autoscaling.metric
        scaling["metricThreshold"] = inference.autoscaling.threshold
    if inference.scale_to_zero_after is not None:
        scaling["scaleToZeroRetentionSeconds"] = inference.scale_to_zero_after
    return scaling


def _serving_port(inference: InferenceConfig, port: int) -> dict[str, Any]:
    endpoint = inference.endpoint
    serving: dict[str, Any] = {
        "container": port,
        "protocol": endpoint.protocol,
        "authorizationType": endpoint.access,
    }
    if endpoint.users:
        serving["authorizedUsers"] = list(endpoint.users)
    if endpoint.groups:
        serving["authorizedGroups"] = list(endpoint.groups)
    return serving


def _probes(
    inference: InferenceConfig, server: ServerPreset, port: int
) -> dict[str, Any]:
    if inference.endpoint.protocol == "grpc":
        return {}
    http_get = {"path": server.health_path, "port": port, "scheme": "HTTP"}
    return {
        "readiness": {
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
            "handler": {"httpGet": http_get},
        }
    }


def _serving_configuration(inference: InferenceConfig) -> dict[str, Any] | None:
    configuration = {
        "initializationTimeoutSeconds": inference.initialization_timeout,
        "requestTimeoutSeconds": inference.request_timeout,
    }
    present = {key: value for key, value in configuration.items() if value is not None}
    return present or None


def _storage(inputs: SpecInputs) -> dict[str, Any] | None:
    storage: dict[str, Any] = {k: list(v) for k, v in inputs.volumes.items() if v}
    if inputs.claim_name is None:
        return storage or None
    volume = {
        "name": "model-store",
        "claimName": inputs.claim_name,
        "existingPvc": True,
        "readOnly": False,
        "path": inputs.mount_path,
    }
    return {"pvc": [volume], **storage}


def _security(inference: InferenceConfig) -> dict[str, Any] | None:
    security = inference.security
    if security is None:
        return None
    source = {"image": "fromTheImage", "idpToken": "fromIdpToken", "custom": "custom"}
    answer: dict[str, Any] = {"uidGidSource": source[security.uid_gid_source]}
    if security.uid is not None:
        answer["runAsUid"] = security.uid
    if security.gid is not None:
        answer["runAsGid"] = security.gid
    if security.supplemental_groups:
        answer["supplementalGroups"] = ",".join(map(str, security.supplemental_groups))
    if security.capabilities:
        answer["capabilities"] = list(security.capabilities)
    return answer


def _tolerations(inference: InferenceConfig) -> list[dict[str, Any]] | None:
    tolerations = []
    for index, toleration in enumerate(inference.tolerations):
        entry: dict[str, Any] = {
            "name": f"toleration-{index}",
            "operator": toleration.operator,
            "effect": toleration.effect,
        }
        for key in ("key", "value", "seconds"):
            if getattr(toleration, key) is not None:
                entry[key] = getattr(toleration, key)
        tolerations.append(entry)
    return tolerations or None


def _node_ports(tools: list[Tool]) -> list[dict[str, Any]]:
    ports = []
    for tool in tools:
        if tool.type != "nodePort":
            continue
        port: dict[str, Any] = {
            "name": tool.name,
            "container": tool.container_port,
            "serviceType": "NodePort",
            "toolName": tool.name,
        }
        if tool.node_port is not None:
            port["external"] = tool.node_port
        ports.append(port)
    return ports


def _external_urls(tools: list[Tool]) -> list[dict[str, Any]]:
    urls = []
    for tool in tools:
        if tool.type != "externalUrl":
            continue
        url: dict[str, Any] = {
            "name": tool.name,
            "container": tool.container_port,
            "authorizationType": tool.access,
            "toolName": tool.name,
        }
        if tool.url is not None:
            url["url"] = tool.url
        if tool.users:
            url["authorizedUsers"] = list(tool.users)
        if tool.groups:
            url["authorizedGroups"] = list(tool.groups)
        urls.append(url)
    return urls


def _annotations(inference: InferenceConfig, inputs: SpecInputs) -> dict[str, str]:
    annotations = dict(inference.annotations)
    if inputs.stack_mark:
        annotations.setdefault("pulumi.com/stack", inputs.stack_mark)
    return annotations


def _pairs(values: Mapping[str, str]) -> list[dict[str, str]] | None:
    return [{"name": k, "value": v} for k, v in sorted(values.items())] or None


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
