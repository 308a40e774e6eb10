"""Knative delivery: the rendered Service, its schema, revision names, refusals."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components._knative import (
    KnativeInputs,
    render_service,
    revision_name,
    service_name,
)
from components.config import InferenceConfig, KnativeCluster, StackConfig
from components.errors import ConfigError
from conftest import PROJECT_DIR

SCHEMA_COPY = (
    PROJECT_DIR / "components/schemas/knative-serving-300-resources-service.yaml"
)
SHARED_SCHEMA = Path("/work/shared/specs/knative-serving-300-resources-service.yaml")
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

STACK: dict[str, Any] = {
    "environment": "dev",
    "delivery": "knative",
    "connection": {
        "url": "http://127.0.0.1:8787",
        "clientId": "ci",
        "clusterId": "7c9e2a4e-1111-4b7c-9a0e-000000000000",
    },
    "projects": [{"name": "team-a", "quotas": [{"nodePool": "default", "gpu": 2}]}],
    "credentials": [{"name": "hf-token"}],
    "modelStores": [{"name": "models", "size": "20Gi"}],
    "inferences": [{"name": "chat", "model": MODEL}],
}


@functools.cache
def service_schema() -> dict[str, Any]:
    crd = yaml.safe_load(SCHEMA_COPY.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def render(cluster: KnativeCluster | None = None, **settings: Any) -> dict[str, Any]:
    inference = InferenceConfig.model_validate(
        {"name": "chat", "model": MODEL, **settings}
    )
    inputs = KnativeInputs(
        namespace="runai-team-a",
        project="team-a",
        cluster=cluster or KnativeCluster(),
        token_secret="hf-token-0123456789",
        claim_name="models",
        mount_path="/models",
    )
    manifest = render_service(inference, inputs)
    jsonschema.validate(manifest, service_schema())
    return manifest


def template(manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = manifest["spec"]["template"]
    return result


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = template(manifest)["spec"]["containers"][0]
    return result


def annotations(manifest: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = template(manifest)["metadata"]["annotations"]
    return result


def stack_problems(**changes: Any) -> list[str]:
    values = copy.deepcopy(STACK)
    values["inferences"][0].update(changes.pop("inference", {}))
    values.update(changes)
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


def test_vendored_crd_equals_the_shared_one() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip("the shared specs are not on this machine")
    assert SCHEMA_COPY.read_bytes() == SHARED_SCHEMA.read_bytes()


def test_the_schema_catches_a_malformed_service() -> None:
    manifest = render()
    container(manifest)["ports"][0]["containerPort"] = "eight thousand"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, service_schema())


def test_vllm_on_one_gpu_bound_to_the_project_and_scheduler() -> None:
    manifest = render()
    server = container(manifest)
    spec = template(manifest)["spec"]
    labels = template(manifest)["metadata"]["labels"]

    assert manifest["metadata"]["namespace"] == "runai-team-a"
    assert labels["runai/queue"] == "team-a"
    assert labels["priorityClassName"] == "very-high"
    assert spec["schedulerName"] == "runai-scheduler"
    assert "priorityClassName" not in spec  # gated, and off unless declared on
    assert server["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert server["command"] == ["vllm", "serve"]
    assert (
        server["args"][:1] == [MODEL] and "--tensor-parallel-size" not in server["args"]
    )
    assert server["ports"] == [{"containerPort": 8000, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/health"}
    assert {"name": "model-store", "mountPath": "/models"} in server["volumeMounts"]
    token = next(v for v in server["env"] if v["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": "hf-token-0123456789",
        "key": "HF_TOKEN",
    }
    assert manifest["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert (
        manifest["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    )


def test_tgi_gets_its_port_cache_and_shared_memory() -> None:
    server = container(render(server="tgi"))

    assert server["ports"][0]["containerPort"] == 80
    assert "command" not in server
    assert server["args"][:2] == ["--model-id", MODEL]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in server["volumeMounts"]


def test_fractional_gpu_is_an_annotation_not_a_limit() -> None:
    manifest = render(gpu={"portion": 0.5})
    by_memory = render(gpu={"memory": "20Gi"})

    assert annotations(manifest)["gpu-fraction"] == "0.5"
    assert "nvidia.com/gpu" not in container(manifest)["resources"].get("limits", {})
    assert annotations(by_memory)["gpu-memory"] == "20480"


def test_tensor_parallel_two_on_two_gpus() -> None:
    manifest = render(gpu={"devices": 2})
    server = container(manifest)

    assert server["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert server["args"][-2:] == ["--tensor-parallel-size", "2"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in template(manifest)[
        "spec"
    ]["volumes"]


def test_scale_to_zero_and_timeouts_on_the_template_only() -> None:
    manifest = render(
        replicas={"min": 0, "max": 2},
        autoscaling={"metric": "throughput", "threshold": 8},
        scaleToZeroAfter="10m",
        requestTimeout="2m",
        rolloutTimeout="30m",
    )
    scaling = annotations(manifest)

    assert scaling["autoscaling.knative.dev/min-scale"] == "0"
    assert scaling["autoscaling.knative.dev/max-scale"] == "2"
    assert scaling["autoscaling.knative.dev/initial-scale"] == "1"
    assert scaling["autoscaling.knative.dev/metric"] == "rps"
    assert scaling["autoscaling.knative.dev/target"] == "8"
    assert scaling["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] == (
        "600s"
    )
    assert scaling["serving.knative.dev/progress-deadline"] == "1800s"
    assert template(manifest)["spec"]["timeoutSeconds"] == 120
    assert manifest["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "1800"
    outside = manifest["metadata"]["annotations"]
    assert not [key for key in outside if key.startswith("autoscaling.knative.dev/")]


def test_cluster_local_unless_public() -> None:
    local = render(endpoint={"access": "clusterLocal"})
    public = render()

    assert local["metadata"]["labels"]["networking.knative.dev/visibility"] == (
        "cluster-local"
    )
    assert "networking.knative.dev/visibility" not in public["metadata"]["labels"]


def test_identical_config_renders_byte_identical_manifests() -> None:
    first = yaml.safe_dump(render(gpu={"portion": 0.5}), sort_keys=True)
    second = yaml.safe_dump(render(gpu={"portion": 0.5}), sort_keys=True)

    assert first == second


def test_changing_only_the_image_changes_only_the_template() -> None:
    old = render()
    new = render(image="vllm/vllm-openai:v0.11.0")
    old_name = template(old)["metadata"]["name"]
    new_name = template(new)["metadata"]["name"]

    assert old_name != new_name
    assert old_name.startswith("chat-") and new_name.startswith("chat-")
    assert {k: v for k, v in old["spec"].items() if k != "template"} == {
        k: v for k, v in new["spec"].items() if k != "template"
    }
    assert old["metadata"] == new["metadata"]


def test_revision_name_hashes_the_template_but_not_its_own_name() -> None:
    body = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}
    named = {
        "metadata": {"name": "x-1", "labels": {"a": "b"}},
        "spec": {"containers": []},
    }

    assert revision_name("x", body) == revision_name("x", named)
    assert len(revision_name("x" * 43, body) + "-deployment") == 63


def test_priority_class_field_when_the_cluster_allows_it() -> None:
    cluster = KnativeCluster(
        features={"kubernetes.podspec-priorityclassname": "enabled"}
    )

    assert template(render(cluster))["spec"]["priorityClassName"] == "very-high"


def test_pinned_name_is_the_service_name() -> None:
    inference = InferenceConfig(name="chat", model=MODEL, runai_name="chat-llm")

    assert service_name(inference) == "chat-llm"


def test_a_valid_knative_stack_passes() -> None:
    config = StackConfig.from_values(STACK)

    assert config.delivery_of(config.inferences[0]) == "knative"
    assert config.namespace_of("team-a") == "runai-team-a"


def test_refused_when_its_feature_flag_is_off() -> None:
    found = stack_problems(
        knative={"features": {"kubernetes.podspec-persistent-volume-write": "disabled"}}
    )

    assert found == [
        "runai-hf:inferences[0].modelStore: the model store PVC (models) mounted "
        "writable needs the Knative feature flag "
        "kubernetes.podspec-persistent-volume-write, which runai-hf:knative.features "
        "says is off: enable it in the config-features ConfigMap (knative-serving "
        "namespace) and set runai-hf:knative.features."
        "kubernetes.podspec-persistent-volume-write: enabled"
    ]


def test_tolerations_refused_without_their_flag() -> None:
    found = stack_problems(
        knative={"features": {"kubernetes.podspec-tolerations": "disabled"}},
        inference={"tolerations": [{"key": "gpu", "value": "a100"}]},
    )

    assert len(found) == 1 and "kubernetes.podspec-tolerations" in found[0]
    assert found[0].startswith("runai-hf:inferences[0].tolerations:")


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (
            {"endpoint": {"access": "authenticatedUsers"}},
            "endpoint.access",
            "needs Run:ai's own serving layer",
        ),
        ({"endpoint": {"port": 8012}}, "endpoint.port", "reserved by Knative"),
        ({"name": "a" * 44}, "name", "at most 43"),
        ({"name": "9chat"}, "name", "must start with a letter"),
        (
            {
                "autoscaling": {"metric": "latency", "threshold": 5},
                "replicas": {"max": 2},
            },
            "autoscaling.metric",
            "use concurrency or throughput",
        ),
        ({"env": [{"name": "PORT", "value": "1"}]}, "env[0].name", "set by Knative"),
        ({"nodePools": ["a100"]}, "nodePools", "not supported with delivery knative"),
    ],
)
def test_what_knative_delivery_cannot_carry(
    change: dict[str, Any], where: str, says: str
) -> None:
    found = stack_problems(inference=change)

    assert len(found) == 1, found
    assert found[0].startswith(f"runai-hf:inferences[0].{where}:")
    assert says in found[0]


def test_request_timeout_within_the_cluster_maximum() -> None:
    found = stack_problems(
        knative={"maxRevisionTimeoutSeconds": 300}, inference={"requestTimeout": "6m"}
    )

    assert found == [
        "runai-hf:inferences[0].requestTimeout: 360 s is above the cluster's "
        "max-revision-timeout-seconds (300): lower it, or raise config-defaults and "
        "runai-hf:knative.maxRevisionTimeoutSeconds together"
    ]


def test_cluster_local_is_refused_on_the_runai_api() -> None:
    found = stack_problems(
        delivery="runaiApi", inference={"endpoint": {"access": "clusterLocal"}}
    )

    assert len(found) == 1
    assert found[0].startswith("runai-hf:inferences[0].endpoint.access:")
