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


def test_generated_reference_matches_the_model() -> None:
    from components._reference import DOC_PATH, render

    assert DOC_PATH.read_text() == render(), (
        "docs/configuration.md is out of date: run "
        "`.venv/bin/python -m components._reference --write`"
    )


def test_reference_describes_every_key() -> None:
    from components._reference import render

    rows = [line for line in render().splitlines() if line.startswith("| `")]

    assert len(rows) > 80
    assert all(not line.rstrip().endswith("|  |") for line in rows), [
        line for line in rows if line.rstrip().endswith("|  |")
    ]


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"gpu": {"portion": 0.5, "portionLimit": 0.25}}, "gpu", "limit 0.25 is below"),
        ({"gpu": {"memory": "8Gi", "memoryLimit": "4Gi"}}, "gpu", "GPU memory limit"),
        ({"gpu": {"portion": 0.5, "memory": "8Gi"}}, "gpu", "not both"),
        ({"gpu": {"devices": True}}, "gpu.devices", "yes/no value"),
        ({"cpu": {"request": 4, "limit": "2"}}, "cpu", "cpu limit 2 is below"),
        ({"cpu": {"request": "lots"}}, "cpu.request", "not a CPU amount"),
        ({"memory": {"request": "32GB", "limit": "16GB"}}, "memory", "memory limit"),
        ({"memory": {"request": "12 parsecs"}}, "memory.request", "MB or GB"),
        ({"requestTimeout": "11m"}, "requestTimeout", "outside 5 s to 600 s"),
        ({"requestTimeout": 4}, "requestTimeout", "outside 5 s to 600 s"),
        (
            {"replicas": {"min": 1, "max": 1}, "scaleToZeroAfter": "5m"},
            "",
            "scaleToZeroAfter needs replicas.min 0",
        ),
        (
            {
                "replicas": {"min": 0, "max": 2},
                "autoscaling": {"metric": "latency", "threshold": 100},
                "scaleToZeroAfter": "5m",
            },
            "",
            "throughput or concurrency",
        ),
        ({"scaleToZeroAfter": "2h"}, "scaleToZeroAfter", "outside 0 s to 3600 s"),
        (
            {
                "tools": [
                    {
                        "name": "t",
                        "type": "nodePort",
                        "containerPort": 80,
                        "nodePort": 80,
                    }
                ]
            },
            "tools[0].nodePort",
            "must be at least 30000",
        ),
        (
            {
                "tools": [
                    {"name": "t", "type": "nodePort", "containerPort": 80, "url": "x"}
                ]
            },
            "tools[0]",
            "url is for externalUrl",
        ),
        (
            {"env": [{"name": "A", "value": "1", "secret": {"name": "s", "key": "k"}}]},
            "env[0]",
            "2 value sources",
        ),
        (
            {"env": [{"name": "1BAD", "value": "x"}]},
            "env[0].name",
            "not an environment variable",
        ),
        (
            {"security": {"uidGidSource": "custom", "uid": 1}},
            "security",
            "needs uid and gid",
        ),
        ({"security": {"uid": 1}}, "security", "only with uidGidSource custom"),
        (
            {"security": {"capabilities": ["ALL"]}},
            "security.capabilities[0]",
            "'ALL' is not allowed",
        ),
        (
            {"tolerations": [{"operator": "Exists", "key": "k", "value": "v"}]},
            "tolerations[0]",
            "takes no value",
        ),
        (
            {"tolerations": [{"key": "k", "seconds": 5}]},
            "tolerations[0]",
            "seconds is for effect NoExecute",
        ),
        ({"labels": {"team": "ML team"}}, "labels", "not a label value"),
        (
            {"annotations": {"bad key!": "x"}},
            "annotations",
            "not a Kubernetes label or annotation key",
        ),
        (
            {"endpoint": {"access": "authorizedUsers"}},
            "endpoint",
            "needs at least one user",
        ),
        ({"endpoint": {"port": 70000}}, "endpoint.port", "must be at most 65535"),
        ({"image": "vllm/vllm-openai:v0.10.2\n"}, "image", "not an image reference"),
        ({"model": "Qwen/.."}, "model", "not a Hugging Face model id"),
        ({"nodePools": ["GPU_POOL"]}, "nodePools[0]", "DNS-1123"),
        ({"gpu": {"portion": float("nan")}}, "gpu.portion", "finite number"),
    ],
)
def test_inference_rules(change: dict[str, Any], key: str, fragment: str) -> None:
    values = copy.deepcopy(VALID)
    values["inferences"][0].update(change)
    where = "runai-hf:inferences[0]" + (f".{key}" if key else "")

    found = problems(values)

    assert any(line.startswith(where + ":") and fragment in line for line in found), (
        found
    )


@pytest.mark.parametrize(
    ("section", "change", "fragment"),
    [
        (
            "inferences",
            {"modelStore": "nope"},
            "inferences[0].modelStore: 'nope' is not a model store",
        ),
        (
            "inferences",
            {"hfToken": "nope"},
            "inferences[0].hfToken: 'nope' is not a huggingFace credential",
        ),
        (
            "inferences",
            {"imagePullSecrets": ["hf-token"]},
            "imagePullSecrets[0]: 'hf-token' is not a dockerRegistry credential",
        ),
        (
            "inferences",
            {"project": "team-b"},
            "inferences[0].project: 'team-b' is not a project of this stack",
        ),
        ("credentials", {"kind": "dockerRegistry"}, "needs url, user and passwordKey"),
        ("credentials", {"url": "docker.io"}, "url belong to kind dockerRegistry"),
        ("modelStores", {"existingPvc": True}, "existingPvc: true needs the claimName"),
    ],
)
def test_cross_references(section: str, change: dict[str, Any], fragment: str) -> None:
    values = copy.deepcopy(VALID)
    values[section][0].update(change)

    found = problems(values)

    assert any(fragment in line for line in found), found


def test_long_project_name_without_namespace_is_refused() -> None:
    values = copy.deepcopy(VALID)
    values["projects"][0]["name"] = "p" * 60

    found = problems(values)

    assert any("its namespace runai-<name> allows 57" in line for line in found)


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("docker.io", "https://index.docker.io/v1/"),
        ("https://docker.io/", "https://index.docker.io/v1/"),
        ("index.docker.io", "https://index.docker.io/v1/"),
        ("registry-1.docker.io/v2", "https://index.docker.io/v1/"),
        ("nvcr.io", "nvcr.io"),
        ("https://ghcr.io", "https://ghcr.io"),
    ],
)
def test_registry_url_normalisation(url: str, normalized: str) -> None:
    from components.config import normalize_registry_url

    assert normalize_registry_url(url) == normalized


def test_memory_without_a_unit_is_refused() -> None:
    values = copy.deepcopy(VALID)
    values["inferences"][0]["memory"] = {"request": "8"}

    found = problems(values)

    assert any("has no unit (it would mean 8 bytes)" in line for line in found)


def test_memory_limit_message_keeps_the_units_written() -> None:
    values = copy.deepcopy(VALID)
    values["inferences"][0]["memory"] = {"request": "16Gi", "limit": "8Gi"}

    found = problems(values)

    assert any("memory limit 8Gi is below its request 16Gi" in line for line in found)


def test_colliding_pinned_names_are_refused() -> None:
    values = copy.deepcopy(VALID)
    values["inferences"].append(
        {"name": "chat-b", "model": "Qwen/Qwen2.5-0.5B-Instruct", "runaiName": "same"}
    )
    values["inferences"][0]["runaiName"] = "same"

    found = problems(values)

    assert any(
        line.startswith("runai-hf:inferences[1].runaiName: 'same' is already pinned")
        for line in found
    )


def test_stack_mark_annotation_is_reserved() -> None:
    values = copy.deepcopy(VALID)
    values["inferences"][0]["annotations"] = {"pulumi.com/stack": "other"}

    found = problems(values)

    assert any("pulumi.com/stack is reserved" in line for line in found)


def test_unknown_top_level_keys_come_with_the_other_errors() -> None:
    from components.config import load_stack_config

    raw = {
        "runai-hf:environment": "dev",
        "runai-hf:projcts": "[]",
        "runai-hf:projects": '[{"name": "p", "quotas": [{"gpu": 1}]}]',
        "runai-hf:inferences": '[{"name": "c", "model": "a/b", "gpus": 1}]',
        "runai:url": "http://127.0.0.1:1",
        "runai:clientId": "c",
        "runai:clusterId": "4ebb4567-6dc7-53ea-b9cd-401715881a88",
    }

    with pytest.raises(ConfigError) as raised:
        load_stack_config(raw.get, present=raw)

    text = str(raised.value)
    assert "runai-hf:projcts: is not a key this program reads" in text
    assert "runai-hf:inferences[0].gpus: is not a known setting" in text
