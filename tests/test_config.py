"""The typed stack configuration: defaults and the errors users see."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import StackConfig, parse_duration
from components.errors import ConfigError

VALID: dict[str, Any] = {
    "environment": "dev",
    "connection": {
        "url": "http://127.0.0.1:8787",
        "clientId": "ci",
        "clusterId": "7c9e2a4e-1111-4b7c-9a0e-000000000000",
    },
    "projects": [{"name": "team-a", "quotas": [{"nodePool": "default", "gpu": 2}]}],
    "credentials": [{"name": "hf-token"}],
    "modelStores": [{"name": "models", "size": "20Gi"}],
    "inferences": [{"name": "chat", "model": "Qwen/Qwen2.5-0.5B-Instruct"}],
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    target: Any = values
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value
    return values


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


def test_defaults_follow_the_runai_form() -> None:
    inference = StackConfig.from_values(VALID).inferences[0]

    assert inference.endpoint.protocol == "http"
    assert inference.priority == "very-high"
    assert inference.effective_preemptibility == "non-preemptible"
    assert inference.replicas.min == 1 and inference.replicas.effective_max == 1
    assert inference.endpoint.access == "public"
    assert inference.server == "vllm"
    assert inference.image_pull_policy == "IfNotPresent"
    assert inference.gpu.devices == 1


def test_lower_priority_defaults_to_preemptible() -> None:
    values = with_change("inferences.0.priority", "medium")

    inference = StackConfig.from_values(values).inferences[0]

    assert inference.effective_preemptibility == "preemptible"


@pytest.mark.parametrize(
    ("path", "value", "key", "fragment"),
    [
        (
            "inferences.0.initializationTimeout",
            "2h",
            "runai-hf:inferences[0].initializationTimeout",
            "7200 s is outside 5 s to 3600 s",
        ),
        (
            "inferences.0.initializationTimeout",
            3,
            "runai-hf:inferences[0].initializationTimeout",
            "3 s is outside 5 s",
        ),
        (
            "inferences.0.gpu",
            {"portion": 1.5},
            "runai-hf:inferences[0].gpu.portion",
            "1.5",
        ),
        (
            "inferences.0.gpu",
            {"devices": 2, "portion": 0.5},
            "runai-hf:inferences[0].gpu",
            "fractions apply to one device",
        ),
        (
            "inferences.0.replicas",
            {"min": 3, "max": 2},
            "runai-hf:inferences[0].replicas",
            "max 2 is below min 3",
        ),
        (
            "inferences.0.replicas",
            {"min": 2, "max": 4},
            "runai-hf:inferences[0]",
            "need autoscaling",
        ),
        ("inferences.0.model", "not a model!", "runai-hf:inferences[0].model", "Hub"),
        ("inferences.0.name", "Chat_LLM", "runai-hf:inferences[0].name", "DNS-1123"),
        (
            "inferences.0.priority",
            "urgent",
            "runai-hf:inferences[0].priority",
            "urgent",
        ),
        ("inferences.0.gpus", 1, "runai-hf:inferences[0].gpus", "not a known setting"),
        (
            "projects.0.quotas",
            [{"nodePool": "default", "gpu": 4, "gpuLimit": 2}],
            "runai-hf:projects[0].quotas[0]",
            "below the deserved gpu 4",
        ),
        (
            "modelStores.0.size",
            "lots",
            "runai-hf:modelStores[0].size",
            "Kubernetes quantity",
        ),
        ("connection.url", "runai.local", "runai:url", "not an http(s) URL"),
        ("connection.clusterId", "cluster-1", "runai:clusterId", "not a cluster UUID"),
    ],
)
def test_bad_input_names_key_value_and_rule(
    path: str, value: Any, key: str, fragment: str
) -> None:
    found = problems(with_change(path, value))

    assert any(line.startswith(key + ":") and fragment in line for line in found), found


def test_every_problem_is_reported_at_once() -> None:
    values = with_change("inferences.0.priority", "urgent")
    values["projects"][0]["name"] = "Team A"

    found = problems(values)

    assert len(found) == 2


def test_per_stack_maximum_raises_the_timeout_limit() -> None:
    values = with_change("inferences.0.initializationTimeout", "2h")
    values["maxInitializationTimeoutSeconds"] = 43200

    inference = StackConfig.from_values(values).inferences[0]

    assert inference.initialization_timeout == 7200


@pytest.mark.parametrize(
    ("text", "seconds"), [(300, 300), ("90s", 90), ("10m", 600), ("1h30m", 5400)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_unknown_key_suggests_the_closest_known_one() -> None:
    values = with_change("inferences.0.initialisationTimeout", "10m")

    found = problems(values)

    assert found == [
        "runai-hf:inferences[0].initialisationTimeout: is not a known setting; "
        "did you mean initializationTimeout?"
    ]


def test_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    found = problems(with_change("projects.0.team", "a"))

    assert found[0].endswith(
        "known settings here: defaultNodePools, department, description, existing, "
        "name, quotas, requestedNamespace"
    )
