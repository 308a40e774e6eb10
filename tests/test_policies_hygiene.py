"""Hygiene rules, through the real pack with each environment's config file."""

from __future__ import annotations

from typing import Any

import pytest
from test_policies_support import (
    body,
    check,
    credential,
    data_source,
    inference,
    of,
    policies,
    project,
    scaling,
    spec,
)

IMAGE = "image-tag-pinned"
SECRETS = "secrets-from-credentials"
ENDPOINT = "endpoint-not-public"
REGISTRY = "docker-hub-registry-url"
SCALING = "scale-to-zero-metric"
TIMEOUTS = "serving-timeouts-in-range"
STORE = "no-s3-model-store"


def run(env: str = "prod", config: dict[str, Any] | None = None, **changes: Any) -> Any:
    owner = project()
    return check([owner, inference("chat", spec(**changes), owner=owner)], env, config)


@pytest.mark.parametrize(("env", "level"), [("prod", "mandatory"), ("dev", "advisory")])
def test_latest_image_is_mandatory_in_prod_and_advisory_in_dev(
    env: str, level: str
) -> None:
    found = run(env, image="vllm/vllm-openai:latest")

    assert policies(found) == {(IMAGE, level)}
    assert body(found[0]) == (
        "inference chat: image vllm/vllm-openai:latest uses the tag latest, which "
        "moves between pulls; pin a version such as vllm/vllm-openai:<version> or "
        "a digest"
    )


@pytest.mark.parametrize(
    "image", ["vllm/vllm-openai", "registry.local:5000/vllm/vllm-openai"]
)
def test_an_image_without_a_tag_pulls_latest(image: str) -> None:
    found = run(image=image)

    assert policies(found) == {(IMAGE, "mandatory")}
    assert f"image {image} has no tag, so it pulls latest" in body(found[0])


@pytest.mark.parametrize(
    "image",
    [
        "vllm/vllm-openai:v0.10.2",
        "registry.local:5000/vllm/vllm-openai:v0.10.2",
        "vllm/vllm-openai@sha256:" + "a" * 64,
    ],
)
def test_a_pinned_image_passes(image: str) -> None:
    assert run(image=image) == []


def test_a_digest_can_be_required() -> None:
    digest = "vllm/vllm-openai:v0.10.2@sha256:" + "b" * 64
    config = {IMAGE: {"requireDigest": True}}

    found = run(config=config)

    assert "is not pinned by digest, which this environment requires" in body(found[0])
    assert run(config=config, image=digest) == []


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_literal_hf_token_is_mandatory_everywhere(env: str) -> None:
    variables = [{"name": "HF_TOKEN", "value": "hf_literal_marker"}]

    found = run(env, environmentVariables=variables)

    assert policies(found) == {(SECRETS, "mandatory")}
    assert "environment variable HF_TOKEN is set from a literal value" in body(found[0])
    assert "hf_literal_marker" not in found[0].message


@pytest.mark.parametrize(
    ("variable", "source"),
    [
        ({"name": "OPENAI_API_KEY", "value": "sk"}, "a literal value"),
        ({"name": "db_password", "value": "pw"}, "a literal value"),
        ({"name": "WANDB_TOKEN", "configMap": {"name": "c"}}, "a configMap"),
    ],
)
def test_secret_like_names_need_a_credential(variable: Any, source: str) -> None:
    found = run(environmentVariables=[variable])

    assert policies(found) == {(SECRETS, "mandatory")}
    assert f"{variable['name']} is set from {source}" in body(found[0])


def test_secrets_from_credentials_and_plain_settings_pass() -> None:
    variables = [
        {"name": "HF_HOME", "value": "/models"},
        {"name": "HF_TOKEN", "secret": {"name": "s", "key": "HF_TOKEN"}},
        {"name": "API_KEY", "userCredential": {"name": "mine", "key": "k"}},
        {"name": "CACHE_KEY_PREFIX", "value": "x"},
        {"name": "OLD_TOKEN", "value": "x", "exclude": True},
    ]
    config = {SECRETS: {"allowedLiteralNames": ["CACHE_KEY_PREFIX"]}}

    assert run(config=config, environmentVariables=variables) == []


def test_public_endpoint_is_refused_in_prod() -> None:
    port = {"container": 8000, "protocol": "http", "authorizationType": "public"}

    found = run(servingPort=port)

    assert policies(found) == {(ENDPOINT, "mandatory")}
    assert body(found[0]).startswith(
        "inference chat: endpoint access is public, which this environment does "
        "not allow"
    )


def test_endpoint_without_authorization_is_public_by_default() -> None:
    found = run(servingPort={"container": 8000})

    assert "endpoint access is public (Run:ai's default)" in body(found[0])


@pytest.mark.parametrize(
    ("env", "port", "expected"),
    [
        ("dev", {"authorizationType": "public"}, set()),
        ("staging", {"authorizationType": "public"}, {(ENDPOINT, "advisory")}),
        ("prod", {"clusterLocalAccessOnly": True}, set()),
        ("prod", {"authorizationType": "authorizedGroups"}, set()),
    ],
)
def test_endpoint_rule_per_environment(
    env: str, port: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert policies(run(env, servingPort={"container": 8000, **port})) == expected


def test_docker_hub_credential_with_docker_io_is_told_the_url() -> None:
    registry = credential(kind="docker-registry", url="docker.io", user="u")

    found = check([registry])

    assert [(v.policy, v.enforcement, v.urn) for v in found] == [
        (REGISTRY, "mandatory", registry.urn)
    ]
    assert body(found[0]) == (
        "credential registry: Docker Hub registry URL 'docker.io' makes image pulls "
        "of Knative inference fail with 401; set the credential's url to "
        "https://index.docker.io/v1/"
    )


@pytest.mark.parametrize(
    "props",
    [
        {"kind": "docker-registry", "url": "https://index.docker.io/v1/"},
        {"kind": "docker-registry", "url": "nvcr.io"},
        {"kind": "generic-secret"},
    ],
)
def test_other_registries_and_kinds_pass(props: dict[str, Any]) -> None:
    assert check([credential(**props)]) == []


def test_scale_to_zero_needs_throughput_or_concurrency() -> None:
    found = run(autoscaling=scaling(0, 2, metric="latency", metricThreshold=1))

    assert policies(found) == {(SCALING, "mandatory")}
    assert body(found[0]).startswith(
        "inference chat: min replicas 0 (scale to zero) with metric latency; Run:ai "
        "scales to zero only on throughput or concurrency"
    )


def test_scale_to_zero_retention_needs_min_replicas_zero() -> None:
    found = run(autoscaling=scaling(1, 2, scaleToZeroRetentionSeconds=300))

    assert "scaleToZeroRetentionSeconds 300 with min replicas 1" in body(found[0])


def test_scale_to_zero_on_concurrency_passes() -> None:
    owner = project()
    low = spec(
        priorityClass="low",
        preemptibility=None,
        autoscaling=scaling(0, 1, metric="concurrency", scaleToZeroRetentionSeconds=60),
    )

    assert of(check([owner, inference("chat", low, owner=owner)]), SCALING) == []


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        (
            {"initializationTimeoutSeconds": 7200},
            "initializationTimeoutSeconds 7200 s is outside 5 s to 3600 s",
        ),
        (
            {"initializationTimeoutSeconds": 4},
            "initializationTimeoutSeconds 4 s is outside 5 s to 3600 s",
        ),
        ({"requestTimeoutSeconds": 900}, "requestTimeoutSeconds 900 s is outside"),
    ],
)
def test_timeouts_outside_the_range_are_refused(
    serving: dict[str, Any], message: str
) -> None:
    found = run(servingConfiguration=serving)

    assert policies(found) == {(TIMEOUTS, "mandatory")}
    assert f"servingConfiguration.{message}" in body(found[0])


def test_the_initialization_maximum_is_a_setting() -> None:
    config = {TIMEOUTS: {"maxInitializationTimeoutSeconds": 7200}}
    serving = {"initializationTimeoutSeconds": 7200, "requestTimeoutSeconds": 600}

    assert run(config=config, servingConfiguration=serving) == []


def test_s3_model_store_is_refused() -> None:
    owner, store = project(), data_source("weights", kind="s3")
    chat = inference("chat", owner=owner, stores=(store,))

    found = check([owner, store, chat])

    assert [(v.policy, v.urn) for v in found] == [(STORE, chat.urn)]
    assert body(found[0]).startswith(
        "inference chat: model store weights is a data source of kind s3"
    )


def test_s3_storage_on_the_inference_is_refused() -> None:
    found = run(storage={"s3": [{"bucket": "weights", "path": "/models"}]})

    assert policies(found) == {(STORE, "mandatory")}
    assert "mounts s3 storage (spec.storage.s3)" in body(found[0])


def test_pvc_model_store_passes() -> None:
    owner, store = project(), data_source("weights")

    assert check([owner, store, inference("chat", owner=owner, stores=(store,))]) == []
