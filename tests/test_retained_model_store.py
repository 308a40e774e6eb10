"""A model store outlives `destroy` by default, and a later `up` adopts it."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from test_engine import engine, local_stack
from test_program import run_stack

from components._client import ConnectionSettings, RunaiClient
from components._providers import DataSourceProvider, ProjectProvider
from components._providers._base import RunaiProvider
from components.errors import ConflictError

PVC_PATH = "/api/v1/asset/datasource/pvc"
MARK = "managed by Pulumi stack runai-hf/local"


@pytest.fixture(autouse=True)
def quick_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunaiProvider, "poll_initial", 0.02)


@pytest.fixture
def client(connection: dict[str, str]) -> Iterator[RunaiClient]:
    with RunaiClient(ConnectionSettings.resolve(connection)) as api:
        yield api


@pytest.fixture
def project(connection: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A project the stack does not own, so deleting the stack keeps it."""
    provider = ProjectProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    made = provider.create(
        {
            "name": f"kept-{uuid.uuid4().hex[:8]}",
            "clusterId": connection["runai:clusterId"],
            "quotas": [{"nodePool": "default", "gpu": 1}],
        }
    )
    yield dict(made.outs)
    provider.delete(str(made.id), made.outs)


def stores(client: RunaiClient, project: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(
        PVC_PATH, scope="project", projectId=project["projectId"]
    )["entries"]
    return found


def provider_for(connection: dict[str, str]) -> DataSourceProvider:
    provider = DataSourceProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    return provider


def store_inputs(
    connection: dict[str, str], project: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    news = {
        "logicalName": "model-store",
        "name": None,
        "projectId": project["projectId"],
        "clusterId": connection["runai:clusterId"],
        "kind": "pvc",
        "path": "/models",
        "existingPvc": False,
        "readOnly": False,
        "size": "20Gi",
        "description": MARK,
        **extra,
    }
    return dict(provider_for(connection).check({}, news).inputs)


def post_store(
    client: RunaiClient, project: dict[str, Any], name: str, description: str
) -> str:
    body = {
        "meta": {
            "name": name,
            "scope": "project",
            "projectId": int(project["projectId"]),
            "clusterId": project["clusterId"],
            "description": description,
        },
        "spec": {"path": "/models", "claimInfo": {"size": "20Gi"}},
    }
    return str(client.post(PVC_PATH, body)["meta"]["id"])


def test_the_model_store_and_its_project_are_registered_with_retain_on_delete() -> None:
    run = run_stack("local")

    retained = {r.name for r in run.custom() if r.retain_on_delete}

    # The project holds the store; Run:ai would delete the store with it.
    assert retained == {"model-store", "hf-local"}


def test_a_kept_store_is_adopted_instead_of_created(
    connection: dict[str, str],
    project: dict[str, Any],
    client: RunaiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_for(connection)
    first = provider.create(store_inputs(connection, project))
    again = store_inputs(connection, project)

    with caplog.at_level(logging.INFO, logger="runai_hf"):
        adopted = provider.create(again)

    assert adopted.id == first.id
    assert adopted.outs["claimName"] == first.outs["claimName"]
    assert [s["meta"]["name"] for s in stores(client, project)] == [again["name"]]
    assert caplog.messages == [
        f"model store model-store: adopted the retained PVC data source "
        f"{first.outs['name']}, renamed {again['name']}"
    ]


def test_unmarked_or_different_stores_are_not_adopted(
    connection: dict[str, str],
    project: dict[str, Any],
    client: RunaiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_for(connection)
    foreign = post_store(client, project, "model-store-ab12c", "the data team's")
    other_stack = post_store(
        client, project, "model-store-zz99z", f"{MARK}2 (another stack)"
    )
    smaller = provider.create(store_inputs(connection, project, size="10Gi"))

    with caplog.at_level(logging.WARNING, logger="runai_hf"):
        made = provider.create(store_inputs(connection, project))

    assert made.id not in (foreign, other_stack, smaller.id)
    assert len(stores(client, project)) == 4
    # Only this stack's own kept store is worth a word: it is orphaned now.
    assert len(caplog.messages) == 1
    assert f"retained PVC data source {smaller.outs['name']}" in caplog.messages[0]
    assert "is not adopted" in caplog.messages[0]


def test_a_pinned_name_taken_by_a_foreign_store_stays_a_conflict(
    connection: dict[str, str], project: dict[str, Any], client: RunaiClient
) -> None:
    post_store(client, project, "weights", "made by hand")

    with pytest.raises(ConflictError, match="already exists"):
        provider_for(connection).create(
            store_inputs(connection, project, name="weights")
        )


def test_destroy_keeps_the_store_up_adopts_it_and_false_lets_it_go(
    connection: dict[str, str],
    project: dict[str, Any],
    client: RunaiClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    existing = [{"name": project["name"], "existing": True}]
    stack = local_stack(connection, projects=existing)
    let_go = local_stack(
        connection,
        projects=existing,
        modelStores=[{"name": "model-store", "size": "20Gi", "retainOnDestroy": False}],
    )

    engine(stack, state, lines).up()
    deployed = stores(client, project)
    kept = engine(stack, state, lines).destroy()
    after_destroy = stores(client, project)
    with caplog.at_level(logging.INFO, logger="runai_hf"):
        engine(stack, state, lines).up()
    adopted = stores(client, project)
    switched = engine(let_go, state, lines).up()
    gone = engine(let_go, state, lines).destroy()

    assert kept.counts() == "2 deleted, 1 retained"
    assert kept.retained == ["DataSource model-store"]
    assert any(
        line.startswith("DataSource model-store: retained in Run:ai as model-store-")
        for line in lines
    )
    assert [s["meta"]["id"] for s in after_destroy] == [deployed[0]["meta"]["id"]]
    assert [s["meta"]["id"] for s in adopted] == [deployed[0]["meta"]["id"]]
    assert any("adopted the retained PVC data source" in m for m in caplog.messages)
    assert not switched.changed
    assert "DataSource model-store" in gone.deleted and not gone.retained
    assert stores(client, project) == []
    assert json.loads(state.read_text())["resources"] == {}


def test_only_a_project_this_stack_kept_is_adopted(
    connection: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    provider = ProjectProvider()
    provider.configure(ConfigureRequest(Config(dict(connection), "runai-hf")))
    inputs = {
        "name": f"keep-{uuid.uuid4().hex[:8]}",
        "clusterId": connection["runai:clusterId"],
        "quotas": [{"nodePool": "default", "gpu": 1}],
        "description": MARK,
    }
    kept = provider.create(dict(inputs))
    foreign = {**inputs, "name": f"theirs-{uuid.uuid4().hex[:8]}"}
    foreign.pop("description")
    theirs = provider.create(dict(foreign))

    with caplog.at_level(logging.INFO, logger="runai_hf"):
        adopted = provider.create({**inputs, "quotas": [{"gpu": 0.5}]})
    with pytest.raises(ConflictError):
        provider.create({**foreign, "description": MARK})
    other_stack = MARK.replace("/local", "/prod")
    with pytest.raises(ConflictError):
        provider.create({**inputs, "description": other_stack})
    with RunaiClient(ConnectionSettings.resolve(connection)) as api:
        served = api.get(f"/api/v1/org-unit/projects/{adopted.id}")
    provider.delete(str(adopted.id), adopted.outs)
    provider.delete(str(theirs.id), theirs.outs)

    assert adopted.id == kept.id
    assert caplog.messages == [
        f"project {inputs['name']}: adopted the project this stack kept (id {kept.id})"
    ]
    # Adopting brings the kept project to what the stack declares now.
    assert [r["gpu"]["deserved"] for r in served["resources"]] == [0.5]


def test_a_replaced_store_is_never_adopted_by_its_own_replacement(
    connection: dict[str, str],
    project: dict[str, Any],
    client: RunaiClient,
    tmp_path: Path,
) -> None:
    """The engine creates the replacement while the old store still exists,
    then deletes the old one: adopting it would delete the live store."""
    state = tmp_path / "local.json"
    lines: list[str] = []
    existing = [{"name": project["name"], "existing": True}]
    store = {"name": "model-store", "size": "20Gi", "retainOnDestroy": False}
    fast = local_stack(
        connection, projects=existing, modelStores=[{**store, "storageClass": "fast"}]
    )
    default = local_stack(connection, projects=existing, modelStores=[store])

    engine(fast, state, lines).up()
    before = [s["meta"]["id"] for s in stores(client, project)]
    changed = engine(default, state, lines).up()
    after = stores(client, project)
    engine(default, state, lines).destroy()

    assert "DataSource model-store" in changed.replaced
    assert len(after) == 1 and after[0]["meta"]["id"] not in before
    assert (after[0]["spec"].get("claimInfo") or {}).get("storageClass") is None
