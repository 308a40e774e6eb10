"""The pack's priority, quota and hygiene rules on Knative Services."""

from __future__ import annotations

from typing import Any

from test_policies_support import _registration, body, check, of, project

from components._knative import SERVICE_TYPE, KnativeInputs, render_service
from components.config import InferenceConfig, KnativeCluster
from preflight._runtime import Registration

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def knative(name: str, owner: Registration, **settings: Any) -> Registration:
    defaults: dict[str, Any] = {
        "priority": "high",
        "endpoint": {"access": "clusterLocal"},
        "initializationTimeout": "30m",
    }
    inference = InferenceConfig.model_validate(
        {"name": name, "model": MODEL, **defaults, **settings}
    )
    inputs = KnativeInputs(
        namespace=f"runai-{owner.name}",
        project=owner.name,
        cluster=KnativeCluster(),
        token_secret="hf-token-0123456789",
    )
    manifest = render_service(inference, inputs)
    return _registration(SERVICE_TYPE, name, manifest, [owner.urn])


def team(gpu: float) -> Registration:
    return project("team", [{"nodePool": "a100", "gpu": gpu}])


def names(found: list[Any]) -> list[str]:
    return sorted({v.policy for v in found})


def test_a_clean_knative_service_breaks_no_rule() -> None:
    owner = team(4)

    found = check([owner, knative("chat", owner)])

    assert [v for v in found if v.enforcement == "mandatory"] == []


def test_priority_rule_reads_the_template_label() -> None:
    owner = team(4)

    found = of(
        check([owner, knative("chat", owner, priority="very-high")], "dev"),
        "inference-priority-allowed",
    )

    assert len(found) == 1
    assert "inference chat" in body(found[0]) and "very-high" in body(found[0])


def test_quota_counts_knative_replicas_and_fractions() -> None:
    owner = team(4)
    resources = [
        owner,
        knative("a", owner, replicas={"min": 3}),
        knative("b", owner, replicas={"min": 3}),
        knative("c", owner, replicas={"min": 2}, gpu={"portion": 0.5}),
    ]

    found = of(check(resources), "non-preemptible-within-deserved-quota")

    assert len(found) == 1
    assert "(a 3 x 1 GPU, b 3 x 1 GPU, c 2 x 0.5 GPU) needs 7 GPUs" in body(found[0])


def test_literal_token_and_public_endpoint_are_hygiene_violations() -> None:
    owner = team(4)
    service = knative(
        "chat",
        owner,
        endpoint={"access": "public"},
        env=[{"name": "API_TOKEN", "value": "not-shown"}],
    )

    found = check([owner, service], "prod")

    assert {"secrets-from-credentials", "endpoint-not-public"} <= set(names(found))
    assert "not-shown" not in " ".join(v.message for v in found)


def test_cluster_local_is_not_a_public_endpoint() -> None:
    owner = team(4)

    found = of(check([owner, knative("chat", owner)], "prod"), "endpoint-not-public")

    assert found == []


def test_unpinned_image_is_flagged() -> None:
    owner = team(4)

    found = of(
        check([owner, knative("chat", owner, image="vllm/vllm-openai:latest")]),
        "image-tag-pinned",
    )

    assert len(found) == 1
