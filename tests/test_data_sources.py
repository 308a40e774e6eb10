"""Data sources besides the model store: config rules, attachments, providers."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from test_config import VALID
from test_program import run_stack

from components._client import ConnectionSettings, RunaiClient
from components._providers import DataSourceProvider
from components._values import normalize
from components.config import StackConfig
from components.errors import ConfigError
from emulator import validate_request

NFS = {"name": "corpus", "kind": "nfs", "server": "nfs.internal", "path": "/export"}


def stack(*sources: dict[str, Any], attach: list[str]) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values["dataSources"] = list(sources)
    values["inferences"][0]["dataSources"] = attach
    return values


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


def test_each_kind_needs_its_fields() -> None:
    found = problems(
        stack({"name": "c", "kind": "configMap", "mountPath": "/c"}, attach=[])
    )

    assert found == ["runai-hf:dataSources[0]: kind configMap needs configMap"]


def test_s3_is_refused_for_inference() -> None:
    found = problems(stack({"name": "b", "kind": "s3", "mountPath": "/b"}, attach=[]))

    assert "does not support S3 data sources for inference" in found[0]


def test_two_data_sources_on_one_path_are_refused() -> None:
    other = {**NFS, "name": "other"}
    values = stack(
        {**NFS, "mountPath": "/data"},
        {**other, "mountPath": "/data"},
        attach=["corpus", "other"],
    )

    found = problems(values)

    assert found == [
        "runai-hf:inferences[0].dataSources[1]: 'other' mounts at /data, where data "
        "source corpus already is; give it another mountPath"
    ]


def test_model_store_path_is_taken_too() -> None:
    found = problems(stack({**NFS, "mountPath": "/models"}, attach=["corpus"]))

    assert "where model store models already is" in found[0]


def test_unknown_data_source_is_named() -> None:
    found = problems(stack({**NFS, "mountPath": "/data"}, attach=["corpra"]))

    assert found[0].startswith(
        "runai-hf:inferences[0].dataSources[0]: 'corpra' is not a data source"
    )


def test_prod_mounts_its_model_store_and_a_configmap_with_a_sub_path() -> None:
    run = run_stack("prod")

    inference = [
        r
        for r in run.by_type("pulumi-python:dynamic/runai:Inference")
        if r.name == "chat-llama"
    ][0].inputs
    # Mock runs hand numbers over as floats, as the engine does; the client
    # turns whole ones back into integers before sending.
    spec = normalize(inference["spec"])
    storage = spec["storage"]
    validate_request(
        "POST",
        "/api/v1/workloads/inferences",
        {
            "name": "chat",
            "projectId": "1",
            "clusterId": "4ebb4567-6dc7-53ea-b9cd-401715881a88",
            "spec": spec,
        },
    )

    assert storage["pvc"][0]["path"] == "/models"
    assert storage["configMapVolume"] == [
        {
            "configMap": "llama-chat-template",
            "mountPath": "/templates/chat.jinja",
            "name": "chat-template",
            "subPath": "template.jinja",
        }
    ]
    source = [
        r
        for r in run.by_type("pulumi-python:dynamic/runai:DataSource")
        if r.name == "chat-template"
    ][0]
    assert source.inputs["kind"] == "config-map"
    assert source.inputs["spec"]["subPath"] == "template.jinja"


@pytest.fixture
def project(connection: dict[str, str]) -> Any:
    from components._providers import ProjectProvider

    provider = ProjectProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    provider.poll_initial = 0.02  # type: ignore[misc]
    made = provider.create(
        {
            "name": f"ds-{uuid.uuid4().hex[:8]}",
            "clusterId": connection["runai:clusterId"],
            "quotas": [{"nodePool": "default", "gpu": 1}],
        }
    )
    yield made
    provider.delete(made.id, made.outs)


@pytest.mark.parametrize(
    ("kind", "spec", "change", "replaces"),
    [
        (
            "nfs",
            {
                "server": "nfs.internal",
                "path": "/export",
                "mountPath": "/data",
                "readOnly": True,
            },
            {"path": "/export2"},
            False,
        ),
        (
            "host-path",
            {"path": "/mnt/cache", "mountPath": "/cache", "readOnly": True},
            {"mountPath": "/cache2"},
            False,
        ),
        (
            "config-map",
            {"configMap": "tpl", "mountPath": "/t", "subPath": "a.jinja"},
            {"subPath": "b.jinja"},
            True,
        ),
        (
            "secret",
            {"credentialAssetId": "<credential>", "mountPath": "/s"},
            {"defaultMode": "0440"},
            True,
        ),
    ],
)
def test_kind_created_updated_or_replaced_and_deleted(
    connection: dict[str, str],
    project: Any,
    kind: str,
    spec: dict[str, Any],
    change: dict[str, Any],
    replaces: bool,
) -> None:
    provider = DataSourceProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    provider.poll_initial = 0.02  # type: ignore[misc]
    if spec.get("credentialAssetId"):
        spec = {**spec, "credentialAssetId": _credential(connection, project)}
    inputs = provider.check(
        {},
        {
            "logicalName": kind,
            "projectId": project.outs["projectId"],
            "clusterId": connection["runai:clusterId"],
            "kind": kind,
            "spec": spec,
        },
    ).inputs

    created = provider.create(inputs)
    news = {**inputs, "spec": {**spec, **change}}
    diff = provider.diff(created.id, created.outs, news)
    if not replaces:
        provider.update(created.id, created.outs, news)
        read = provider.read(created.id, news)
        assert read.inputs["spec"] == news["spec"]
    provider.delete(created.id, created.outs)

    assert diff.changes and bool(diff.replaces) is replaces
    assert provider.read(created.id, inputs).id is None


def _credential(connection: dict[str, str], project: Any) -> str:
    with RunaiClient(ConnectionSettings.resolve(connection)) as client:
        made = client.post(
            "/api/v1/asset/credentials/generic-secret",
            {
                "meta": {
                    "name": f"mounted-{uuid.uuid4().hex[:6]}",
                    "scope": "project",
                    "projectId": int(project.outs["projectId"]),
                    "clusterId": connection["runai:clusterId"],
                },
                "spec": {
                    "keyValuePairs": [{"key": "token", "value": "not-a-real-one"}]
                },
            },
        )
    return str(made["meta"]["id"])


def test_every_kind_is_created_attached_and_deleted_by_the_program(
    connection: dict[str, str], tmp_path: Any
) -> None:
    """The whole program, through the engine simulation, against the emulator:
    one inference mounting a source of every kind the API has for it."""
    from test_engine import engine, inferences_with, local_stack

    sources = [
        {**NFS, "mountPath": "/corpus"},
        {"name": "cache", "kind": "hostPath", "path": "/mnt/c", "mountPath": "/c"},
        {"name": "tpl", "kind": "configMap", "configMap": "t", "mountPath": "/t"},
        {
            "name": "token",
            "kind": "secret",
            "credential": "hf-token",
            "mountPath": "/s",
        },
        {
            "name": "code",
            "kind": "git",
            "repository": "https://example.invalid/org/repo.git",
            "branch": "main",
            "mountPath": "/code",
        },
    ]
    quotas = [{"nodePool": "default", "gpu": 1}]
    stack = local_stack(
        connection,
        projects=[{"name": "ds-every-kind", "quotas": quotas}],
        dataSources=sources,
        inferences=inferences_with({"dataSources": [s["name"] for s in sources]}),
        modelStores=[{"name": "model-store", "size": "20Gi", "retainOnDestroy": False}],
    )
    state = tmp_path / "state.json"
    lines: list[str] = []

    up = engine(stack, state, lines).up()
    workload_id = up.exports["inferences"]["chat-qwen"]["workloadId"]
    with RunaiClient(ConnectionSettings.resolve(connection)) as client:
        storage = client.get(f"/api/v1/workloads/inferences/{workload_id}")["spec"][
            "storage"
        ]
    down = engine(stack, state, lines).destroy()

    assert sorted(storage) == [
        "configMapVolume",
        "git",
        "hostPath",
        "nfs",
        "pvc",
        "secretVolume",
    ]
    assert storage["git"][0]["repository"].endswith("/org/repo.git")
    assert storage["secretVolume"][0]["secret"]  # the credential's secret name
    assert len([c for c in up.created if c.startswith("DataSource")]) == 6
    assert len([d for d in down.deleted if d.startswith("DataSource")]) == 6
    # The mounts are inline, yet the inference waits for its data sources and
    # goes before them.
    assert up.created[-1] == "Inference chat-qwen"
    assert down.deleted[0] == "Inference chat-qwen"
