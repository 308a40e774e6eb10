"""Reusable setups: environments and compute resources merged per inference."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_config import VALID

from components.config import StackConfig
from components.errors import ConfigError


def stack(**extra: Any) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values.update(extra)
    return values


def test_two_inferences_share_a_compute_resource_one_overrides_its_portion() -> None:
    values = stack(
        computeResources={"half-gpu": {"gpu": {"portion": 0.5}, "cpu": {"request": 2}}},
        environments={"vllm-pinned": {"image": "vllm/vllm-openai:v0.10.1"}},
    )
    values["inferences"] = [
        {"name": "a", "model": "a/b", "compute": "half-gpu"},
        {
            "name": "b",
            "model": "a/b",
            "compute": "half-gpu",
            "environment": "vllm-pinned",
            "gpu": {"portion": 0.25},
        },
    ]

    config = StackConfig.from_values(values)

    first, second = config.inferences
    assert (first.gpu.portion, second.gpu.portion) == (0.5, 0.25)
    assert first.cpu is not None and second.cpu is not None
    assert (first.cpu.request, second.cpu.request) == (2, 2)
    assert (first.image, second.image) == (None, "vllm/vllm-openai:v0.10.1")
    assert second.compute == "half-gpu" and second.environment == "vllm-pinned"


def test_unknown_preset_is_named_with_a_suggestion() -> None:
    values = stack(computeResources={"half-gpu": {"gpu": {"portion": 0.5}}})
    values["inferences"][0]["compute"] = "half-gpus"

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)

    assert raised.value.problems == [
        "runai-hf:inferences[0].compute: 'half-gpus' is not a compute resource of "
        "this stack; did you mean half-gpu?"
    ]


def test_a_preset_carries_only_its_own_kind_of_settings() -> None:
    values = stack(computeResources={"big": {"gpu": {"devices": 2}, "image": "x:1"}})

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)

    assert raised.value.problems[0].startswith(
        "runai-hf:computeResources.big.image: is not a setting a compute resource "
        "carries"
    )


def test_prod_shows_each_inferences_merged_compute(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from preflight.__main__ import main

    assert main(["--stack", "prod", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    computes = {
        r["name"]: r["inputs"]["spec"]["compute"]
        for r in document["resources"]
        if r["type"] == "pulumi-python:dynamic/runai:Inference"
    }
    assert computes["chat-mistral"]["gpuDevicesRequest"] == 1
    assert computes["chat-llama"] == {
        "gpuDevicesRequest": 1,
        "cpuCoreRequest": 4,
        "cpuCoreLimit": 8,
        "cpuMemoryRequest": "32G",
        "cpuMemoryLimit": "48G",
    }
