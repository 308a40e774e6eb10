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


NFS = {"kind": "nfs", "server": "nfs.internal", "path": "/export"}


def with_sets(**sets: Any) -> dict[str, Any]:
    values = stack(
        dataSourceSets=sets,
        dataSources=[
            {"name": "corpus", "mountPath": "/corpus", **NFS},
            {"name": "prompts", "mountPath": "/prompts", **NFS},
            {"name": "extra", "mountPath": "/extra", **NFS},
        ],
    )
    values["modelStores"] = [
        {"name": "models", "size": "20Gi"},
        {"name": "big-models", "size": "200Gi", "mountPath": "/big"},
    ]
    return values


def test_a_data_source_set_gives_its_store_and_sources_then_the_inferences() -> None:
    values = with_sets(
        shared={"modelStore": "big-models", "dataSources": ["corpus", "prompts"]}
    )
    values["inferences"] = [
        {"name": "a", "model": "a/b", "dataSourceSet": "shared"},
        {
            "name": "b",
            "model": "a/b",
            "dataSourceSet": "shared",
            "modelStore": "models",
            "dataSources": ["extra", "corpus"],
        },
    ]

    config = StackConfig.from_values(values)

    first, second = config.inferences
    assert (first.model_store, first.data_sources) == (
        "big-models",
        ["corpus", "prompts"],
    )
    assert (second.model_store, second.data_sources) == (
        "models",
        ["corpus", "prompts", "extra"],
    )
    assert first.data_source_set == "shared"


def test_unknown_data_source_set_is_named_with_a_suggestion() -> None:
    values = with_sets(shared={"dataSources": ["corpus"]})
    values["inferences"].append(
        {"name": "b", "model": "a/b", "dataSourceSet": "shraed"}
    )

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)

    assert raised.value.problems == [
        "runai-hf:inferences[1].dataSourceSet: 'shraed' is not a data source set "
        "of this stack; did you mean shared?"
    ]


def test_a_set_is_checked_for_its_keys_and_the_names_it_lists() -> None:
    values = with_sets(
        shared={
            "modelStore": "modls",
            "dataSources": ["corpus", "corpse-x", "nothing-like-it"],
            "dataSource": ["prompts"],
        }
    )

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)

    assert raised.value.problems == [
        "runai-hf:dataSourceSets.shared.dataSource: is not a setting a data source "
        "set carries; did you mean dataSources?",
        "runai-hf:dataSourceSets.shared.modelStore: 'modls' is not a model store of "
        "this stack; did you mean models?",
        "runai-hf:dataSourceSets.shared.dataSources[1]: 'corpse-x' is not a data "
        "source of this stack; did you mean corpus?",
        "runai-hf:dataSourceSets.shared.dataSources[2]: 'nothing-like-it' is not a "
        "data source of this stack; runai-hf:dataSources has corpus, extra, prompts",
    ]


def test_a_stack_without_sets_says_where_to_define_one() -> None:
    values = stack()
    values["inferences"][0]["dataSourceSet"] = "shared"

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)

    assert raised.value.problems == [
        "runai-hf:inferences[0].dataSourceSet: 'shared' is not a data source set "
        "of this stack; define it under runai-hf:dataSourceSets"
    ]


def test_preflight_json_shows_the_inference_with_its_sets_mounts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import preflight.__main__ as preflight_main
    from conftest import PROJECT_DIR
    from preflight._stackfile import StackFile, load_stack_file

    local = load_stack_file(PROJECT_DIR, "local")
    config = dict(local.config)
    config["runai-hf:dataSources"] = json.dumps(
        [{"name": "corpus", "mountPath": "/corpus", **NFS}]
    )
    config["runai-hf:dataSourceSets"] = json.dumps(
        {"shared": {"modelStore": "model-store", "dataSources": ["corpus"]}}
    )
    inferences = json.loads(config["runai-hf:inferences"])
    inferences[0]["dataSourceSet"] = "shared"
    config["runai-hf:inferences"] = json.dumps(inferences)
    with_set = StackFile(
        local.project, local.stack, local.path, config, local.secret_keys
    )
    monkeypatch.setattr(preflight_main, "load_stack_file", lambda *_: with_set)

    assert preflight_main.main(["--stack", "local", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    (inference,) = [
        r["inputs"]["spec"]
        for r in document["resources"]
        if r["type"] == "pulumi-python:dynamic/runai:Inference"
    ]
    assert [m["mountPath"] for m in inference["storage"]["nfs"]] == ["/corpus"]
    assert inference["storage"]["pvc"][0]["path"] == "/models"
