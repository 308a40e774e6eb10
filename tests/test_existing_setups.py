"""Environments, compute resources, data sources and templates that exist in Run:ai.

A stack references them by name; the program reads them (never writes) and
copies what the inference needs inline. These tests run the whole program
through the engine simulation against an emulator of their own, so the
tenant-wide assets they make are seen by no other test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_engine import inferences_with, local_stack

from components._client import ConnectionSettings, RunaiClient
from components._existing import (
    compute_from_asset,
    environment_from_asset,
    storage_from_asset,
    storage_with_template,
    variables_from_asset,
)
from components._providers._base import RunaiProvider
from components.config import InferenceConfig, StackConfig
from components.errors import ConfigError
from conftest import PROJECT_DIR
from emulator import serve_in_background
from preflight.__main__ import main
from preflight._stackfile import StackFile
from preflight.engine import EngineError, SimulatedEngine

ENV_IMAGE = "registry.example.com/team/vllm:0.10.1-patched"
PRESETS = {
    "environments": {"shared": {"existing": True, "runaiName": "team-vllm"}},
    "computeResources": {"small": {"existing": True, "runaiName": "team-small"}},
}


@pytest.fixture(scope="module")
def own_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    database = tmp_path_factory.mktemp("existing") / "runai.db"
    with serve_in_background(database, speed=200.0) as handle:
        yield handle


@pytest.fixture
def connection(own_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for variable in ("RUNAI_URL", "RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(RunaiProvider, "poll_initial", 0.02)
    return {
        "runai:url": own_emulator.base_url,
        "runai:clientId": own_emulator.client_id,
        "runai:clientSecret": own_emulator.client_secret,
        "runai:clusterId": own_emulator.cluster_id,
    }


@pytest.fixture
def client(connection: dict[str, str]) -> Iterator[RunaiClient]:
    with RunaiClient(ConnectionSettings.resolve(connection)) as api:
        yield api


@pytest.fixture
def team_assets(client: RunaiClient) -> Iterator[dict[str, str]]:
    """What another team made, tenant-wide: an environment, a compute resource,
    an NFS data source and a workload template over the first two."""
    tenant = {"scope": "tenant"}
    team_key = client.post(
        "/api/v1/asset/credentials/generic-secret",
        {
            "meta": {"name": "team-key", **tenant},
            "spec": {"keyValuePairs": [{"key": "api-key", "value": "not-a-real-one"}]},
        },
    )
    environment = client.post(
        "/api/v1/asset/environment",
        {
            "meta": {"name": "team-vllm", **tenant},
            "spec": {
                "image": ENV_IMAGE,
                "imagePullPolicy": "Always",
                "args": "--max-model-len 4096",
                "environmentVariables": [
                    {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"},
                    {
                        "name": "TEAM_KEY",
                        "credential": {
                            "assetId": team_key["meta"]["id"],
                            "key": "api-key",
                        },
                    },
                ],
            },
        },
    )
    compute = client.post(
        "/api/v1/asset/compute",
        {
            "meta": {"name": "team-small", **tenant},
            "spec": {
                "gpuDevicesRequest": 1,
                "gpuRequestType": "portion",
                "gpuPortionRequest": 0.25,
                "cpuCoreRequest": 2,
                "cpuMemoryRequest": "8G",
            },
        },
    )
    nfs = client.post(
        "/api/v1/asset/datasource/nfs",
        {
            "meta": {"name": "team-datasets", **tenant},
            "spec": {
                "server": "nfs.team.internal",
                "path": "/export/datasets",
                "mountPath": "/datasets",
                "readOnly": True,
            },
        },
    )
    weights = client.post(
        "/api/v1/asset/datasource/pvc",
        {
            "meta": {"name": "team-weights", **tenant},
            "spec": {
                "path": "/weights",
                "existingPvc": False,
                "claimInfo": {"size": "100Gi"},
            },
        },
    )
    ids = {
        "environment": environment["meta"]["id"],
        "compute": compute["meta"]["id"],
        "nfs": nfs["meta"]["id"],
        "pvc": weights["meta"]["id"],
        "pvc-claim": weights["clusterInfo"]["resources"][0]["name"],
        "team-key": team_key["meta"]["id"],
        "team-key-secret": team_key["clusterInfo"]["resources"][0]["name"],
    }
    template = client.post(
        "/api/v1/asset/workload-template",
        {
            "meta": {"name": "team-serving", **tenant},
            "spec": {
                "assets": {
                    "environment": ids["environment"],
                    "compute": ids["compute"],
                    "datasources": [{"id": ids["nfs"], "kind": "nfs"}],
                },
                "specificEnv": {
                    "environmentVariables": [{"name": "TEMPLATE_VAR", "value": "t"}]
                },
            },
        },
    )
    ids["template"] = template["meta"]["id"]
    yield ids
    client.delete(f"/api/v1/asset/workload-template/{ids['template']}")
    for kind, path in (
        ("environment", "environment"),
        ("compute", "compute"),
        ("nfs", "datasource/nfs"),
        ("pvc", "datasource/pvc"),
    ):
        client.delete(f"/api/v1/asset/{path}/{ids[kind]}")
    client.delete(f"/api/v1/asset/credentials/generic-secret/{ids['team-key']}")


def stack_with(connection: dict[str, str], project: str, **values: Any) -> StackFile:
    quotas = [{"nodePool": "default", "gpu": 1}]
    return local_stack(
        connection, projects=[{"name": project, "quotas": quotas}], **values
    )


def engine(stack_file: StackFile, state: Path) -> SimulatedEngine:
    return SimulatedEngine(
        program_dir=PROJECT_DIR,
        stack_file=stack_file,
        state_path=state,
        report=lambda _line: None,
    )


def served_spec(client: RunaiClient, summary: Any) -> dict[str, Any]:
    workload_id = summary.exports["inferences"]["chat-qwen"]["workloadId"]
    spec: dict[str, Any] = client.get(f"/api/v1/workloads/inferences/{workload_id}")[
        "spec"
    ]
    return spec


def test_existing_environment_compute_and_data_source_are_copied_in(
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    tmp_path: Path,
) -> None:
    stack = stack_with(
        connection,
        "existing-a",
        **PRESETS,
        modelStores=[
            {"name": "weights", "existing": True, "runaiName": "team-weights"}
        ],
        dataSources=[
            {
                "name": "datasets",
                "kind": "nfs",
                "existing": True,
                "runaiName": "team-datasets",
            }
        ],
        inferences=inferences_with(
            {"environment": "shared", "compute": "small", "dataSources": ["datasets"]}
        ),
    )
    state = tmp_path / "state.json"

    first = engine(stack, state).up()
    spec = served_spec(client, first)
    again = engine(stack, state).up()

    assert spec["image"] == ENV_IMAGE and spec["imagePullPolicy"] == "Always"
    assert spec["args"].startswith("Qwen/Qwen2.5-0.5B-Instruct --host 0.0.0.0")
    assert spec["args"].endswith("--max-model-len 4096")
    names = [variable["name"] for variable in spec["environmentVariables"]]
    assert names[0] == "VLLM_LOGGING_LEVEL" and "HF_TOKEN" in names
    # The environment's credential-backed variable reads that credential's
    # Kubernetes secret, which is what an inference takes.
    team_key = next(v for v in spec["environmentVariables"] if v["name"] == "TEAM_KEY")
    assert team_key["secret"] == {
        "name": team_assets["team-key-secret"],
        "key": "api-key",
    }
    # The stack's gpu portion (0.5) overrides the asset's 0.25; CPU and memory
    # come from the asset.
    assert spec["compute"]["gpuPortionRequest"] == 0.5
    assert spec["compute"]["cpuCoreRequest"] == 2
    assert spec["compute"]["cpuMemoryRequest"] == "8G"
    assert spec["storage"]["nfs"] == [
        {
            "name": "datasets",
            "server": "nfs.team.internal",
            "path": "/export/datasets",
            "mountPath": "/datasets",
            "readOnly": True,
        }
    ]
    assert spec["storage"]["pvc"] == [
        {
            "name": "model-store",
            "claimName": team_assets["pvc-claim"],
            "existingPvc": True,
            "readOnly": False,
            "path": "/models",
        }
    ]
    assert not again.changed

    gone = engine(stack, state).destroy()
    for path in ("datasource/pvc", "datasource/nfs"):
        kind = path.rsplit("/", 1)[-1]
        found = client.get(f"/api/v1/asset/{path}/{team_assets[kind]}")
        assert found["meta"]["id"] == team_assets[kind]
    assert gone.deleted


def test_an_edit_in_run_ai_reaches_the_inference_and_destroy_leaves_assets(
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    tmp_path: Path,
) -> None:
    stack = stack_with(
        connection,
        "existing-b",
        **PRESETS,
        inferences=inferences_with({"environment": "shared", "compute": "small"}),
    )
    state = tmp_path / "state.json"
    first = engine(stack, state).up()
    workload_id = first.exports["inferences"]["chat-qwen"]["workloadId"]

    edited = {
        "meta": {"name": "team-vllm"},
        "spec": {"image": f"{ENV_IMAGE}-2", "args": "--max-model-len 8192"},
    }
    client.put(f"/api/v1/asset/environment/{team_assets['environment']}", edited)
    second = engine(stack, state).up()
    spec = served_spec(client, second)
    gone = engine(stack, state).destroy()

    assert second.exports["inferences"]["chat-qwen"]["workloadId"] == workload_id
    assert any("Inference chat-qwen" in line for line in second.updated)
    assert spec["image"] == f"{ENV_IMAGE}-2"
    assert spec["args"].endswith("--max-model-len 8192")
    assert gone.deleted
    for kind in ("environment", "compute"):
        asset = client.get(f"/api/v1/asset/{kind}/{team_assets[kind]}")
        assert asset["meta"]["id"] == team_assets[kind]


def test_a_missing_environment_fails_naming_what_was_searched(
    connection: dict[str, str], tmp_path: Path
) -> None:
    stack = stack_with(
        connection,
        "existing-c",
        environments={"shared": {"existing": True, "runaiName": "nobody-made-this"}},
        inferences=inferences_with({"environment": "shared"}),
    )

    with pytest.raises(EngineError) as failure:
        engine(stack, tmp_path / "state.json").up()

    message = str(failure.value)
    assert "environment 'nobody-made-this' does not exist in Run:ai" in message
    assert "searched /api/v1/asset/environment by name, visible to project" in message


def test_a_workload_template_fills_what_the_stack_leaves_unset(
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    tmp_path: Path,
) -> None:
    stack = stack_with(
        connection,
        "existing-d",
        inferences=inferences_with({"template": "team-serving"}),
    )
    state = tmp_path / "state.json"

    summary = engine(stack, state).up()
    spec = served_spec(client, summary)
    edited = {
        "meta": {"name": "team-small"},
        "spec": {"gpuDevicesRequest": 1, "cpuCoreRequest": 3},
    }
    client.put(f"/api/v1/asset/compute/{team_assets['compute']}", edited)
    second = engine(stack, state).up()
    after_edit = served_spec(client, second)
    engine(stack, state).destroy()

    # No image in the stack: the template's environment supplies it; the
    # stack's gpu portion wins over the template's compute resource.
    assert spec["image"] == ENV_IMAGE
    assert spec["compute"]["gpuPortionRequest"] == 0.5
    assert spec["compute"]["cpuCoreRequest"] == 2
    assert "Qwen/Qwen2.5-0.5B-Instruct" in spec["args"]
    names = [variable["name"] for variable in spec["environmentVariables"]]
    assert {"VLLM_LOGGING_LEVEL", "TEMPLATE_VAR", "HF_TOKEN"} <= set(names)
    # The template's data source is mounted beside the stack's model store.
    assert [m["server"] for m in spec["storage"]["nfs"]] == ["nfs.team.internal"]
    assert spec["storage"]["pvc"][0]["name"] == "model-store"
    # An edit to the template's compute resource is an update of the inference.
    assert after_edit["compute"]["cpuCoreRequest"] == 3
    assert second.updated and "Inference chat-qwen" in second.updated


# -- the copy rules, without a control plane ------------------------------------


def inference(**values: Any) -> InferenceConfig:
    return InferenceConfig.model_validate({"name": "x", "model": "org/m", **values})


def test_what_the_stack_sets_wins_over_the_environment() -> None:
    settings = inference(image="mine:1", env=[{"name": "LOG", "value": "info"}])
    ours = {
        "image": "mine:1",
        "args": "org/m --port 8000",
        "environmentVariables": [{"name": "LOG", "value": "info"}],
    }
    asset = {
        "image": "theirs:2",
        "command": "serve",
        "args": "--fast",
        "runAsUid": 1000,
        "uidGidSource": "custom",
        "environmentVariables": [
            {"name": "LOG", "value": "debug"},
            {"name": "EXTRA", "value": "1"},
        ],
    }

    merged = environment_from_asset(ours, asset, settings)
    variables = variables_from_asset(asset, ours["environmentVariables"])

    assert merged["image"] == "mine:1" and merged["command"] == "serve"
    assert merged["args"] == "org/m --port 8000 --fast"
    assert merged["security"] == {"runAsUid": 1000, "uidGidSource": "custom"}
    assert variables == [
        {"name": "EXTRA", "value": "1"},
        {"name": "LOG", "value": "info"},
    ]


def test_a_credential_variable_of_an_environment_is_refused_with_the_fix() -> None:
    asset = {
        "environmentVariables": [
            {"name": "API_KEY", "credential": {"assetId": "a1", "key": "k"}}
        ]
    }

    with pytest.raises(Exception, match="API_KEY.*env: \\[\\{name: API_KEY"):
        variables_from_asset(asset, [])


def test_compute_memory_request_replaces_the_asset_portion() -> None:
    settings = inference(server="tgi", gpu={"memory": "20Gi"})
    ours = {
        "gpuDevicesRequest": 1,
        "gpuRequestType": "memory",
        "gpuMemoryRequest": "20Gi",
        "largeShmRequest": True,
    }
    asset = {
        "gpuDevicesRequest": 2,
        "gpuRequestType": "portion",
        "gpuPortionRequest": 0.5,
        "cpuCoreRequest": 4,
    }

    merged = compute_from_asset(ours, asset, settings)

    assert merged == {
        "gpuDevicesRequest": 2,
        "gpuRequestType": "memory",
        "gpuMemoryRequest": "20Gi",
        "cpuCoreRequest": 4,
        "largeShmRequest": True,
    }


# -- config errors ---------------------------------------------------------------


def config_problems(**values: Any) -> str:
    base: dict[str, Any] = {
        "environment": "dev",
        "connection": {
            "url": "http://127.0.0.1:1",
            "clientId": "c",
            "clusterId": "4ebb4567-6dc7-53ea-b9cd-401715881a88",
        },
        "projects": [{"name": "p", "quotas": [{"gpu": 1}]}],
        "inferences": [{"name": "chat", "model": "org/m"}],
    }
    with pytest.raises(ConfigError) as failure:
        StackConfig.from_values({**base, **values})
    return str(failure.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {
                "environments": {"shared": {"existing": True, "image": "x:1"}},
                "inferences": [
                    {"name": "chat", "model": "org/m", "environment": "shared"}
                ],
            },
            "runai-hf:environments.shared: an environment that exists in Run:ai is "
            "looked up, not defined here: drop image",
        ),
        (
            {
                "environments": {"shared": {"existing": True}},
                "inferences": [
                    {
                        "name": "chat",
                        "model": "org/m",
                        "environment": "shared",
                        "template": "t",
                    }
                ],
            },
            "runai-hf:inferences[0].environment: 'shared' references a Run:ai "
            "asset, and template brings the template's own environment",
        ),
        (
            {"computeResources": {"small": {"existing": True, "scope": "galaxy"}}},
            "runai-hf:computeResources.small.scope: 'galaxy' is not a scope",
        ),
        (
            {
                "dataSources": [
                    {
                        "name": "d",
                        "kind": "nfs",
                        "existing": True,
                        "server": "nfs.local",
                    }
                ]
            },
            "an existing data source is looked up and its spec copied: drop server",
        ),
        (
            {"modelStores": [{"name": "w", "existing": True, "size": "10Gi"}]},
            "an existing model store is looked up, not written: drop size",
        ),
        (
            {"modelStores": [{"name": "w", "scope": "tenant"}]},
            "scope only applies with existing: true",
        ),
        (
            {
                "dataSources": [
                    {"name": "d", "kind": "nfs", "server": "s", "path": "/e"}
                ]
            },
            "kind nfs needs mountPath",
        ),
        (
            {
                "inferences": [
                    {
                        "name": "chat",
                        "model": "org/m",
                        "template": "t",
                        "templateId": "4ebb4567-6dc7-53ea-b9cd-401715881a88",
                    }
                ]
            },
            "template and templateId both name a workload template: keep one",
        ),
        (
            {
                "environments": {"shared": {"existing": True}},
                "inferences": [
                    {
                        "name": "chat",
                        "model": "org/m",
                        "environment": "shared",
                        "delivery": "knative",
                        "endpoint": {"access": "public"},
                    }
                ],
            },
            "runai-hf:inferences[0].environment: 'shared' references a Run:ai asset",
        ),
    ],
)
def test_reference_mistakes_are_named(values: dict[str, Any], expected: str) -> None:
    assert expected in config_problems(**values)


def test_offline_preflight_shows_references_unresolved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-refs.yaml"
    document = json.loads(json.dumps(_local_document()))
    document["config"]["runai-hf:environments"] = PRESETS["environments"]
    document["config"]["runai-hf:inferences"][0]["environment"] = "shared"
    path.write_text(yaml.safe_dump(document))
    try:
        status = main(["--stack", "scratch-refs", "--json"])
    finally:
        path.unlink()

    plan = json.loads(capsys.readouterr().out)
    inference = next(r for r in plan["resources"] if r["type"].endswith(":Inference"))
    lookup = next(r for r in plan["resources"] if r["type"].endswith("runai:Lookup"))
    assert status == 0
    assert inference["inputs"]["spec"]["image"] == "(known after apply)"
    assert inference["inputs"]["spec"]["compute"]["gpuPortionRequest"] == 0.5
    assert lookup["inputs"]["name"] == "team-vllm"


def _local_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (PROJECT_DIR / "stacks" / "Pulumi.local.yaml").read_text()
    )
    return loaded


def test_online_preflight_resolves_an_environment_and_fails_on_a_missing_one(
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, str],
    team_assets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-online-refs.yaml"
    document = _local_document()
    config = document["config"]
    config.update(
        {
            "runai:url": connection["runai:url"],
            "runai:clusterId": connection["runai:clusterId"],
            "runai-hf:environments": PRESETS["environments"],
        }
    )
    config["runai-hf:inferences"][0]["environment"] = "shared"
    config["runai-hf:dataSources"] = [
        {"name": "d", "kind": "nfs", "existing": True, "runaiName": "team-datasets"}
    ]
    config["runai-hf:inferences"][0]["dataSources"] = ["d"]
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    try:
        path.write_text(yaml.safe_dump(document))
        found = main(["--stack", "scratch-online-refs", "--json", "--online"])
        plan = json.loads(capsys.readouterr().out)
        config["runai-hf:environments"]["shared"]["runaiName"] = "not-there"
        config["runai-hf:computeResources"] = {
            "small": {"existing": True, "runaiName": "nor-this"}
        }
        config["runai-hf:inferences"][0]["compute"] = "small"
        path.write_text(yaml.safe_dump(document))
        missing = main(["--stack", "scratch-online-refs", "--online", "--json"])
        captured = capsys.readouterr()
        err = captured.err
    finally:
        path.unlink(missing_ok=True)

    inference = next(r for r in plan["resources"] if r["type"].endswith(":Inference"))
    assert found == 0 and inference["inputs"]["spec"]["image"] == ENV_IMAGE
    assert inference["inputs"]["spec"]["storage"]["nfs"][0]["server"] == (
        "nfs.team.internal"
    )
    assert missing == 1
    assert "2 references could not be resolved" in err
    assert "nor-this" in json.loads(captured.out)["error"]
    assert "environment 'not-there' does not exist in Run:ai" in err
    assert "compute resource 'nor-this' does not exist in Run:ai" in err


@pytest.mark.parametrize(
    ("kind", "lookup", "expected"),
    [
        (
            "config-map",
            {"spec": {"configMap": "tpl", "mountPath": "/t/a.jinja", "subPath": "a"}},
            {"configMap": "tpl", "mountPath": "/t/a.jinja", "subPath": "a"},
        ),
        (
            "secret",
            {
                "spec": {"credentialAssetId": "c1", "mountPath": "/s"},
                "secretName": "their-secret",
            },
            {"mountPath": "/s", "secret": "their-secret"},
        ),
        (
            "git",
            {
                "spec": {"repository": "https://g/r.git", "path": "/code"},
                "secretName": "git-login",
            },
            {
                "repository": "https://g/r.git",
                "path": "/code",
                "secretRef": {"name": "git-login", "authenticationMethod": "password"},
            },
        ),
        (
            "pvc",
            {"spec": {"path": "/w", "claimName": "c"}, "clusterName": "pvc-real"},
            {
                "claimName": "pvc-real",
                "existingPvc": True,
                "readOnly": False,
                "path": "/models",
            },
        ),
    ],
)
def test_an_existing_data_source_becomes_an_inline_mount(
    kind: str, lookup: dict[str, Any], expected: dict[str, Any]
) -> None:
    mount = storage_from_asset(kind, "d", lookup, mount_path="/models")

    assert mount == {"name": "d", **expected}


def test_quota_policies_weigh_a_templates_gpus_once_it_is_read(
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = client.post(
        "/api/v1/asset/compute",
        {
            "meta": {"name": "four-gpus", "scope": "tenant"},
            "spec": {"gpuDevicesRequest": 4},
        },
    )
    template = client.post(
        "/api/v1/asset/workload-template",
        {
            "meta": {"name": "big-serving", "scope": "tenant"},
            "spec": {
                "assets": {
                    "environment": team_assets["environment"],
                    "compute": big["meta"]["id"],
                }
            },
        },
    )
    document = _local_document()
    config = document["config"]
    config.update(
        {
            "runai:url": connection["runai:url"],
            "runai:clusterId": connection["runai:clusterId"],
            "runai-hf:environment": "prod",
        }
    )
    inference = config["runai-hf:inferences"][0]
    inference.pop("gpu")
    inference.update(
        template="big-serving",
        priority="very-high",
        endpoint={"access": "authenticatedUsers"},
    )
    inference.pop("preemptibility")
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-big-template.yaml"
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    try:
        path.write_text(yaml.safe_dump(document))
        offline = main(["--stack", "scratch-big-template"])
        offline_out = capsys.readouterr().out
        online = main(["--stack", "scratch-big-template", "--online"])
        online_out = capsys.readouterr().out
    finally:
        path.unlink(missing_ok=True)
        client.delete(f"/api/v1/asset/workload-template/{template['meta']['id']}")
        client.delete(f"/api/v1/asset/compute/{big['meta']['id']}")

    # Offline the template's compute is unknown, and the policies say they
    # cannot judge it yet; read, its 4 GPUs break the 1-GPU quota.
    assert offline == 0 and "cannot check until the value is known" in offline_out
    assert online == 1
    assert "[mandatory] non-preemptible-within-deserved-quota" in online_out


def test_a_change_plan_judges_references_without_reading_run_ai(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = _local_document()
    config = document["config"]
    # Nothing listens there: a read would fail the plan.
    config["runai:url"] = "http://127.0.0.1:9"
    config.update({f"runai-hf:{key}": value for key, value in PRESETS.items()})
    config["runai-hf:inferences"][0]["compute"] = "small"
    config["runai-hf:inferences"].append(
        {**config["runai-hf:inferences"][0], "name": "chat-two", "template": "tpl"}
    )
    config["runai-hf:inferences"][1].pop("compute")
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-plan-refs.yaml"
    old = tmp_path / "old.yaml"
    try:
        path.write_text(yaml.safe_dump(document))
        old.write_text(yaml.safe_dump(document))
        same = main(["--stack", "scratch-plan-refs", "--baseline", str(old)])
        same_out = capsys.readouterr().out
        config["runai-hf:computeResources"]["small"]["runaiName"] = "team-large"
        path.write_text(yaml.safe_dump(document))
        renamed = main(["--stack", "scratch-plan-refs", "--baseline", str(old)])
        renamed_out = capsys.readouterr().out
    finally:
        path.unlink(missing_ok=True)

    assert same == 0 and "0 create" not in same_out
    assert "replace" not in same_out.split("policies:")[0]
    # Another asset named is another lookup: the old one goes, unread.
    rows = [line.split() for line in renamed_out.splitlines()]
    assert renamed == 0
    actions = ("create", "update", "replace", "delete")
    assert [r[:2] for r in rows if r[1:2] == ["Lookup"] and r[0] in actions] == [
        ["create", "Lookup"],
        ["delete", "Lookup"],
    ]


def test_lookups_of_look_alike_names_in_look_alike_projects_stay_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = _local_document()
    config = document["config"]
    quotas = [{"nodePool": "default", "gpu": 1}]
    config["runai-hf:projects"] = [
        {"name": "b-c", "quotas": quotas},
        {"name": "c", "quotas": quotas},
    ]
    config["runai-hf:environments"] = {
        "e1": {"existing": True, "runaiName": "a"},
        "e2": {"existing": True, "runaiName": "a-b"},
    }
    config["runai-hf:credentials"] = []
    config["runai-hf:modelStores"] = []
    first = config["runai-hf:inferences"][0]
    config["runai-hf:inferences"] = [
        {**first, "name": "i1", "project": "b-c", "environment": "e1"},
        {**first, "name": "i2", "project": "c", "environment": "e2"},
    ]
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-look-alike.yaml"
    try:
        path.write_text(yaml.safe_dump(document))
        status = main(["--stack", "scratch-look-alike", "--json"])
    finally:
        path.unlink(missing_ok=True)

    plan = json.loads(capsys.readouterr().out)
    urns = [r["urn"] for r in plan["resources"] if r["type"].endswith(":Lookup")]
    assert status == 0
    assert len(urns) == len(set(urns)) == 2


def test_another_projects_template_is_not_taken(
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pools = client.get("/api/v1/node-pools")["nodepools"]
    pool = next(p for p in pools if p["name"] == "default")
    owner = client.post(
        "/api/v1/org-unit/projects",
        {
            "name": "template-owner",
            "clusterId": connection["runai:clusterId"],
            "resources": [
                {
                    "nodePool": {"id": pool["id"], "name": "default"},
                    "gpu": {"deserved": 0},
                }
            ],
        },
    )
    theirs = client.post(
        "/api/v1/asset/workload-template",
        {
            "meta": {
                "name": "owners-serving",
                "scope": "project",
                "projectId": int(owner["id"]),
            },
            "spec": {"assets": {"environment": team_assets["environment"]}},
        },
    )
    document = _local_document()
    document["config"].update(
        {
            "runai:url": connection["runai:url"],
            "runai:clusterId": connection["runai:clusterId"],
        }
    )
    inference = document["config"]["runai-hf:inferences"][0]
    path = PROJECT_DIR / "stacks" / "Pulumi.scratch-other-template.yaml"
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    try:
        inference["template"] = "owners-serving"
        path.write_text(yaml.safe_dump(document))
        by_name = main(["--stack", "scratch-other-template", "--online"])
        by_name_err = capsys.readouterr().err
        inference.pop("template")
        inference["templateId"] = theirs["meta"]["id"]
        path.write_text(yaml.safe_dump(document))
        by_id = main(["--stack", "scratch-other-template", "--online"])
        by_id_err = capsys.readouterr().err
    finally:
        path.unlink(missing_ok=True)
        client.delete(f"/api/v1/asset/workload-template/{theirs['meta']['id']}")
        client.delete(f"/api/v1/org-unit/projects/{owner['id']}")

    assert by_name == 1
    assert "workload template 'owners-serving' does not exist in Run:ai" in by_name_err
    assert by_id == 1
    assert f"belongs to project {owner['id']}, so project (new) cannot use it" in (
        by_id_err
    )


def test_a_variable_the_inference_sets_itself_needs_no_credential_of_the_asset() -> (
    None
):
    asset = {
        "environmentVariables": [
            {"name": "API_KEY", "credential": {"assetId": "gone", "key": "k"}}
        ]
    }
    ours = [{"name": "API_KEY", "secret": {"name": "mine", "key": "k"}}]

    assert variables_from_asset(asset, ours) == ours


def test_online_reads_the_stacks_own_project_and_names_what_up_would_hit(
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, str],
    client: RunaiClient,
    team_assets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    name = "scratch-own-project"
    quotas = [{"nodePool": "default", "gpu": 1}]
    document = _local_document()
    config = document["config"]
    config.update(
        {
            "runai:url": connection["runai:url"],
            "runai:clusterId": connection["runai:clusterId"],
            "runai-hf:projects": [{"name": "own-project", "quotas": quotas}],
            "runai-hf:environments": {
                "mine": {"existing": True, "runaiName": "project-env"}
            },
        }
    )
    config["runai-hf:inferences"][0]["environment"] = "mine"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    projects = configured_project_provider(connection)
    made = projects.create(
        {
            "name": "own-project",
            "clusterId": connection["runai:clusterId"],
            "quotas": quotas,
            "description": f"managed by Pulumi stack runai-hf/{name}",
        }
    )
    environment = client.post(
        "/api/v1/asset/environment",
        {
            "meta": {
                "name": "project-env",
                "scope": "project",
                "projectId": int(made.outs["projectId"]),
            },
            "spec": {"image": "team/project-image:1"},
        },
    )
    try:
        path.write_text(yaml.safe_dump(document))
        found = main(["--stack", name, "--online", "--json"])
        plan = json.loads(capsys.readouterr().out)
        config["runai-hf:projects"][0]["department"] = "no-such-department"
        path.write_text(yaml.safe_dump(document))
        unknown = main(["--stack", name, "--online"])
        unknown_err = capsys.readouterr().err
    finally:
        path.unlink(missing_ok=True)
        client.delete(f"/api/v1/asset/environment/{environment['meta']['id']}")
        projects.delete(str(made.id), made.outs)

    inference = next(r for r in plan["resources"] if r["type"].endswith(":Inference"))
    assert found == 0
    assert inference["inputs"]["spec"]["image"] == "team/project-image:1"
    assert unknown == 1 and "department 'no-such-department' does not exist" in (
        unknown_err
    )


def configured_project_provider(connection: dict[str, str]) -> Any:
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config

    from components._providers import ProjectProvider

    provider = ProjectProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    return provider


def test_the_stacks_own_mounts_win_over_a_templates() -> None:
    own = {"nfs": [{"name": "corpus", "server": "a", "path": "/e", "mountPath": "/d"}]}
    sources = [
        {"kind": "nfs", "name": "corpus", "spec": {"server": "b", "mountPath": "/x"}},
        {"kind": "nfs", "name": "other", "spec": {"server": "c", "mountPath": "/d"}},
        {
            "kind": "config-map",
            "name": "tpl",
            "spec": {"configMap": "t", "mountPath": "/t"},
        },
    ]

    merged = storage_with_template(own, sources)

    assert merged["nfs"] == own["nfs"]
    assert merged["configMapVolume"] == [
        {"name": "tpl", "configMap": "t", "mountPath": "/t"}
    ]
