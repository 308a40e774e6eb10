"""Render an inference as a Knative Service bound to a Run:ai project.

Pure functions over plain values: the component resolves the Outputs (secret
names) first, so that the revision name can be a hash of the finished
template. Identical config gives byte-identical manifests (keys sorted, no
clock, no randomness), and any change inside the template gives a new
revision name, which Knative requires of a program that names revisions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Mapping
from typing import Any

from ._knative_rules import REVISION_HASH_LENGTH
from ._quantity import quantity_value
from ._serving import SERVERS, ServerPreset
from .config import InferenceConfig, KnativeCluster

__all__ = [
    "API_VERSION",
    "KIND",
    "SERVICE_TYPE",
    "KnativeInputs",
    "content_name",
    "render_service",
    "revision_name",
    "service_name",
    "service_url",
]

API_VERSION = "serving.knative.dev/v1"
KIND = "Service"
SERVICE_TYPE = f"kubernetes:{API_VERSION}:{KIND}"
SCHEDULER = "runai-scheduler"
AUTOSCALING = "autoscaling.knative.dev/"
_METRICS = {"concurrency": "concurrency", "throughput": "rps"}
_MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class KnativeInputs:
    """Plain names the template refers to, resolved from other resources."""

    namespace: str
    project: str
    cluster: KnativeCluster
    token_secret: str | None = None
    token_key: str = "HF_TOKEN"
    claim_name: str | None = None
    mount_path: str | None = None
    pull_secrets: tuple[str, ...] = ()
    credential_secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    stack_mark: str | None = None


def service_name(inference: InferenceConfig) -> str:
    """Pinned, never auto-suffixed: the URL and every revision name follow it."""
    return inference.runai_name or inference.name


def content_name(stem: str, *parts: str) -> str:
    """`<stem>-<hash of parts>`: new content, new object (and a new revision)."""
    digest = hashlib.sha256("\0".join((stem, *parts)).encode()).hexdigest()
    return f"{stem}-{digest[:10]}"


def revision_name(service: str, template: Mapping[str, Any]) -> str:
    """`<service>-<hash of the template without its name>`."""
    body = {key: value for key, value in template.items() if key != "metadata"}
    metadata = {k: v for k, v in template.get("metadata", {}).items() if k != "name"}
    text = json.dumps({**body, "metadata": metadata}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:REVISION_HASH_LENGTH]
    return f"{service}-{digest}"


def service_url(name: str, namespace: str, domain: str) -> str:
    """Knative's default domain template, {{.Name}}.{{.Namespace}}.{{.Domain}}."""
    return f"http://{name}.{namespace}.{domain}"


def render_service(inference: InferenceConfig, inputs: KnativeInputs) -> dict[str, Any]:
    """The whole `serving.knative.dev/v1` Service manifest."""
    name = service_name(inference)
    template = {
        "metadata": _template_metadata(inference, inputs),
        "spec": _revision_spec(inference, inputs),
    }
    template["metadata"] = {
        "name": revision_name(name, template),
        **template["metadata"],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _service_metadata(inference, inputs, name),
        "spec": {
            "template": template,
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


def _service_metadata(
    inference: InferenceConfig, inputs: KnativeInputs, name: str
) -> dict[str, Any]:
    # Autoscaling annotations are refused here by the webhook; they live on
    # the template. Only Pulumi's await settings and ownership go here.
    labels = {"runai/queue": inputs.project}
    if inference.endpoint.access != "public":
        labels["networking.knative.dev/visibility"] = "cluster-local"
    annotations = {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(inference.effective_rollout_timeout),
    }
    if inputs.stack_mark:
        annotations["pulumi.com/stack"] = inputs.stack_mark
    return {
        "name": name,
        "namespace": inputs.namespace,
        "labels": labels,
        "annotations": annotations,
    }


def _template_metadata(
    inference: InferenceConfig, inputs: KnativeInputs
) -> dict[str, Any]:
    labels = {
        **inference.labels,
        "runai/queue": inputs.project,
        # Run:ai's pod grouper reads the priority from this label before
        # spec.priorityClassName, which Knative gates and Run:ai leaves off.
        "priorityClassName": inference.priority,
        "kai.scheduler/preemptibility": inference.effective_preemptibility,
    }
    annotations = {
        **inference.annotations,
        **_autoscaling(inference),
        **_gpu_annotations(inference),
        "serving.knative.dev/progress-deadline": (
            f"{inference.effective_rollout_timeout}s"
        ),
    }
    return {"labels": labels, "annotations": annotations}


def _autoscaling(inference: InferenceConfig) -> dict[str, str]:
    low, high = inference.replicas.min, inference.replicas.effective_max
    values = {
        "min-scale": str(low),
        "max-scale": str(high),
        # 0 needs allow-zero-initial-scale; a new revision starts one replica.
        "initial-scale": str(max(low, 1)),
    }
    if inference.autoscaling is not None:
        values["metric"] = _METRICS[inference.autoscaling.metric]
        values["target"] = str(inference.autoscaling.threshold)
    if inference.scale_to_zero_after is not None:
        values["scale-to-zero-pod-retention-period"] = (
            f"{inference.scale_to_zero_after}s"
        )
    return {AUTOSCALING + key: value for key, value in values.items()}


def _gpu_annotations(inference: InferenceConfig) -> dict[str, str]:
    gpu = inference.gpu
    if gpu.fraction_kind == "portion":
        values = {"gpu-fraction": f"{gpu.portion:g}"}
        if gpu.portion_limit is not None:
            values["gpu-fraction-limit"] = f"{gpu.portion_limit:g}"
        return values
    if gpu.fraction_kind == "memory":
        # Run:ai's gpu-memory annotations count MiB.
        values = {"gpu-memory": _mib(str(gpu.memory))}
        if gpu.memory_limit is not None:
            values["gpu-memory-limit"] = _mib(gpu.memory_limit)
        return values
    return {}


def _mib(quantity: str) -> str:
    return str(int(quantity_value(quantity) // _MIB))


def _revision_spec(inference: InferenceConfig, inputs: KnativeInputs) -> dict[str, Any]:
    server = SERVERS[inference.server]
    spec: dict[str, Any] = {
        "schedulerName": SCHEDULER,
        "containers": [_container(inference, inputs, server)],
    }
    if inputs.cluster.flag_on("kubernetes.podspec-priorityclassname"):
        spec["priorityClassName"] = inference.priority
    if inference.request_timeout is not None:
        spec["timeoutSeconds"] = inference.request_timeout
    volumes = _volumes(inference, inputs, server)
    if volumes:
        spec["volumes"] = volumes
    if inputs.pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in inputs.pull_secrets]
    if inference.tolerations:
        spec["tolerations"] = _tolerations(inference)
    security = inference.security
    if security is not None and security.uid_gid_source == "custom":
        context: dict[str, Any] = {
            "runAsUser": security.uid,
            "runAsGroup": security.gid,
        }
        if security.supplemental_groups:
            context["supplementalGroups"] = list(security.supplemental_groups)
        spec["securityContext"] = context
    return spec


def _container(
    inference: InferenceConfig, inputs: KnativeInputs, server: ServerPreset
) -> dict[str, Any]:
    port = inference.endpoint.port or server.port
    container: dict[str, Any] = {
        "name": "server",
        "image": inference.image or server.image,
        "imagePullPolicy": inference.image_pull_policy,
        "args": shlex.split(inference.args or _server_args(inference, server, port)),
        "ports": [_port(inference, port)],
        "env": _environment(inference, inputs, server),
        "resources": _resources(inference),
    }
    command = inference.command or server.command
    if command:
        container["command"] = shlex.split(command)
    if inference.working_dir:
        container["workingDir"] = inference.working_dir
    if inference.endpoint.protocol == "http":
        container["readinessProbe"] = {
            # No port: Knative probes the serving port, the only one allowed.
            "httpGet": {"path": server.health_path},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        }
    mounts = _mounts(inference, inputs, server)
    if mounts:
        container["volumeMounts"] = mounts
    if inference.security and inference.security.capabilities:
        capabilities = {"add": list(inference.security.capabilities)}
        container["securityContext"] = {"capabilities": capabilities}
    return container


def _server_args(inference: InferenceConfig, server: ServerPreset, port: int) -> str:
    args = server.args(inference.model, port)
    devices = inference.gpu.devices
    if devices > 1:
        # vLLM uses one GPU unless told; TGI shards over all it sees, but
        # naming the count keeps both explicit about tensor parallelism.
        flag = (
            "--tensor-parallel-size"
            if server.command == "vllm serve"
            else "--num-shard"
        )
        args += f" {flag} {devices}"
    return args


def _port(inference: InferenceConfig, port: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"containerPort": port, "protocol": "TCP"}
    if inference.endpoint.protocol == "grpc":
        entry["name"] = "h2c"
    return entry


def _environment(
    inference: InferenceConfig, inputs: KnativeInputs, server: ServerPreset
) -> list[dict[str, Any]]:
    cache = inputs.mount_path or server.cache_path
    variables: list[dict[str, Any]] = [{"name": "HF_HOME", "value": cache}]
    if inputs.token_secret is not None:
        reference = {"name": inputs.token_secret, "key": inputs.token_key}
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            variables.append(
                {"name": name, "valueFrom": {"secretKeyRef": dict(reference)}}
            )
    for variable in inference.env:
        entry: dict[str, Any] = {"name": variable.name}
        if variable.value is not None:
            entry["value"] = variable.value
        elif variable.credential is not None:
            secret = {"name": inputs.credential_secrets[variable.credential]}
            entry["valueFrom"] = {"secretKeyRef": {**secret, "key": variable.key}}
        elif variable.secret is not None:
            entry["valueFrom"] = {"secretKeyRef": variable.secret.model_dump()}
        elif variable.config_map is not None:
            entry["valueFrom"] = {"configMapKeyRef": variable.config_map.model_dump()}
        variables = [v for v in variables if v["name"] != variable.name] + [entry]
    return variables


def _resources(inference: InferenceConfig) -> dict[str, Any]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    gpu = inference.gpu
    if gpu.fraction_kind is None and gpu.devices > 0:
        # A fraction is Run:ai's annotation alone: a GPU limit beside it would
        # ask the device plugin for a whole device as well.
        limits["nvidia.com/gpu"] = str(gpu.devices)
    for source, key in ((inference.cpu, "cpu"), (inference.memory, "memory")):
        if source is not None and source.request is not None:
            requests[key] = str(source.request)
        if source is not None and source.limit is not None:
            limits[key] = str(source.limit)
    for extra in inference.extended_resources:
        limits[extra.resource] = extra.quantity
    resources: dict[str, Any] = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    return resources


def _shared_memory(inference: InferenceConfig, server: ServerPreset) -> bool:
    shared = inference.large_shared_memory
    if shared is None:
        return server.large_shared_memory or inference.gpu.devices > 1
    return shared


def _volumes(
    inference: InferenceConfig, inputs: KnativeInputs, server: ServerPreset
) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = []
    if _shared_memory(inference, server):
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    if inputs.claim_name is not None:
        claim = {"claimName": inputs.claim_name, "readOnly": False}
        volumes.append({"name": "model-store", "persistentVolumeClaim": claim})
    return volumes


def _mounts(
    inference: InferenceConfig, inputs: KnativeInputs, server: ServerPreset
) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    if _shared_memory(inference, server):
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if inputs.claim_name is not None:
        path = inputs.mount_path or server.cache_path
        mounts.append({"name": "model-store", "mountPath": path})
    return mounts


def _tolerations(inference: InferenceConfig) -> list[dict[str, Any]]:
    tolerations = []
    for toleration in inference.tolerations:
        entry: dict[str, Any] = {"operator": toleration.operator}
        if toleration.effect != "Any":
            # Kubernetes spells "any effect" as an absent effect.
            entry["effect"] = toleration.effect
        if toleration.key is not None:
            entry["key"] = toleration.key
        if toleration.value is not None:
            entry["value"] = toleration.value
        if toleration.seconds is not None:
            entry["tolerationSeconds"] = toleration.seconds
        tolerations.append(entry)
    return tolerations
