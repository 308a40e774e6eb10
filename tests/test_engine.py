"""The engine simulation deploys the local stack into the emulator and back out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components._client import ConnectionSettings, RunaiClient
from components._providers._base import RunaiProvider
from conftest import PROJECT_DIR
from preflight._stackfile import StackFile, load_stack_file
from preflight.engine import EngineError, SimulatedEngine

TOKEN = "hf_engine_test_token"


@pytest.fixture(autouse=True)
def quick_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunaiProvider, "poll_initial", 0.02)


@pytest.fixture
def client(connection: dict[str, str]) -> Iterator[RunaiClient]:
    with RunaiClient(ConnectionSettings.resolve(connection)) as api:
        yield api


def local_stack(connection: dict[str, str], **overrides: Any) -> StackFile:
    stack_file = load_stack_file(PROJECT_DIR, "local")
    config = {
        **stack_file.config,
        "runai:url": connection["runai:url"],
        "runai:clusterId": connection["runai:clusterId"],
        "runai:clientId": connection["runai:clientId"],
    }
    for key, value in overrides.items():
        config[f"runai-hf:{key}"] = json.dumps(value)
    stack_file = StackFile(
        stack_file.project,
        stack_file.stack,
        stack_file.path,
        config,
        stack_file.secret_keys,
    )
    return stack_file.with_secrets(
        {
            "runai:clientSecret": connection["runai:clientSecret"],
            "runai-hf:hfToken": TOKEN,
        }
    )


def inferences_with(
    change: dict[str, Any], name: str = "chat-qwen"
) -> list[dict[str, Any]]:
    base = load_stack_file(PROJECT_DIR, "local").config["runai-hf:inferences"]
    items: list[dict[str, Any]] = json.loads(base)
    items[0].update(change, name=name)
    return items


def engine(stack_file: StackFile, state: Path, lines: list[str]) -> SimulatedEngine:
    return SimulatedEngine(
        program_dir=PROJECT_DIR,
        stack_file=stack_file,
        state_path=state,
        report=lines.append,
    )


def snapshot(client: RunaiClient, project_name: str) -> dict[str, Any]:
    """What the emulator holds for the stack's project, as plain data."""
    projects = client.get(
        "/api/v1/org-unit/projects", filterBy=f"name=={project_name}"
    )["projects"]
    if not projects:
        return {}
    project_id = projects[0]["id"]
    credentials = client.get(
        "/api/v1/asset/credentials/generic-secret", projectId=project_id
    )
    pvcs = client.get("/api/v1/asset/datasource/pvc", projectId=project_id)
    workloads = client.get("/api/v1/workloads", filterBy=f"projectId=={project_id}")[
        "workloads"
    ]
    revisions = {}
    for workload in workloads:
        path = f"/api/v1/workloads/inferences/{workload['id']}/revisions"
        active = client.get(path)["revisions"]
        retired = client.get(path, deleted="true")["revisions"]
        revisions[workload["id"]] = (len(active), len(retired))
    return {
        "project": projects[0],
        "credentials": credentials["entries"],
        "pvcs": pvcs["entries"],
        "workloads": workloads,
        "revisions": revisions,
    }


def test_local_stack_up_again_update_and_destroy(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    project = "hf-engine-a"
    stack = local_stack(
        connection,
        projects=[{"name": project, "quotas": [{"nodePool": "default", "gpu": 1}]}],
    )

    first = engine(stack, state, lines).up()
    deployed = snapshot(client, project)
    second = engine(stack, state, lines).up()
    again = snapshot(client, project)
    changed = local_stack(
        connection,
        projects=[{"name": project, "quotas": [{"nodePool": "default", "gpu": 1}]}],
        inferences=inferences_with({"image": "vllm/vllm-openai:v0.10.1"}),
    )
    third = engine(changed, state, lines).up()
    rolled = snapshot(client, project)
    gone = engine(changed, state, lines).destroy()
    after = snapshot(client, project)
    back = engine(changed, state, lines).up()
    adopted = snapshot(client, project)
    let_go = local_stack(
        connection,
        projects=[{"name": project, "quotas": [{"nodePool": "default", "gpu": 1}]}],
        modelStores=[{"name": "model-store", "size": "20Gi", "retainOnDestroy": False}],
    )
    engine(let_go, state, lines).up()
    final = engine(let_go, state, lines).destroy()
    emptied = snapshot(client, project)

    url = first.exports["inferences"]["chat-qwen"]["url"]
    assert len(first.created) == 4 and not first.updated
    assert [c["meta"]["name"][:9] for c in deployed["credentials"]] == ["hf-token-"]
    mark = "managed by Pulumi stack runai-hf/local"
    assert deployed["project"]["description"] == mark
    assert deployed["credentials"][0]["meta"]["description"] == mark
    assert [p["meta"]["name"][:12] for p in deployed["pvcs"]] == ["model-store-"]
    assert [(w["name"][:10], w["phase"]) for w in deployed["workloads"]] == [
        ("chat-qwen-", "Running")
    ]
    assert deployed["workloads"][0]["urls"] == [url]
    assert not second.changed and len(second.unchanged) == 4
    assert again == deployed
    assert third.updated == ["Inference chat-qwen"] and not third.replaced
    assert list(rolled["revisions"].values()) == [(1, 1)]
    # The model store is retained, and with it the project that holds it
    # (Run:ai deletes a project's assets with the project); the next up takes
    # both back, so the downloaded weights are used again.
    assert sorted(gone.deleted) == ["Credential hf-token", "Inference chat-qwen"]
    assert sorted(gone.retained) == ["DataSource model-store", "Project hf-engine-a"]
    assert not gone.lost and not after["workloads"] and not after["credentials"]
    assert after["project"]["id"] == deployed["project"]["id"]
    assert [p["meta"]["id"] for p in after["pvcs"]] == [
        p["meta"]["id"] for p in deployed["pvcs"]
    ]
    assert any(
        line.startswith("Project hf-engine-a: retained in Run:ai")
        and "quota stays reserved" in line
        for line in lines
    )
    assert adopted["project"]["id"] == deployed["project"]["id"]
    assert [p["meta"]["id"] for p in adopted["pvcs"]] == [
        p["meta"]["id"] for p in deployed["pvcs"]
    ]
    assert len(back.created) == 4 and len(adopted["workloads"]) == 1
    assert len(final.deleted) == 4 and not final.retained and emptied == {}
    state_text = state.read_text()
    assert (
        TOKEN not in state_text and connection["runai:clientSecret"] not in state_text
    )


def test_replacement_creates_first_and_removed_inference_is_deleted(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    quotas = [{"name": "hf-engine-b", "quotas": [{"nodePool": "default", "gpu": 1}]}]

    first = engine(local_stack(connection, projects=quotas), state, lines).up()
    moved = inferences_with({"endpoint": {"access": "authenticatedUsers"}})
    replaced = engine(
        local_stack(connection, projects=quotas, inferences=moved), state, lines
    ).up()
    after_replace = snapshot(client, "hf-engine-b")["workloads"]
    renamed = inferences_with({}, name="chat-renamed")
    swapped = engine(
        local_stack(connection, projects=quotas, inferences=renamed), state, lines
    ).up()
    workloads = snapshot(client, "hf-engine-b")["workloads"]
    engine(local_stack(connection, projects=quotas), state, lines).destroy()

    old_url = first.exports["inferences"]["chat-qwen"]["url"]
    new_url = replaced.exports["inferences"]["chat-qwen"]["url"]
    assert replaced.replaced == ["Inference chat-qwen"]
    assert replaced.deleted == ["Inference chat-qwen"]
    assert new_url != old_url
    assert [w["urls"] for w in after_replace] == [[new_url]]
    assert swapped.created == ["Inference chat-renamed"]
    assert swapped.deleted == ["Inference chat-qwen"]
    assert [w["name"][:13] for w in workloads] == ["chat-renamed-"]
    start = lines.index(
        "Inference chat-qwen: replacing because spec.servingPort changed"
    )
    assert lines[start + 1] == "Inference chat-qwen: creating"
    assert lines.index("Inference chat-qwen: deleting", start) > start + 1


def test_pinned_name_is_replaced_delete_first(
    connection: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    quotas = [{"name": "hf-engine-e", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    pinned = inferences_with({"runaiName": "chat-pinned"})
    moved = inferences_with(
        {"runaiName": "chat-pinned", "endpoint": {"access": "authenticatedUsers"}}
    )

    engine(
        local_stack(connection, projects=quotas, inferences=pinned), state, lines
    ).up()
    replaced = engine(
        local_stack(connection, projects=quotas, inferences=moved), state, lines
    ).up()
    engine(local_stack(connection, projects=quotas), state, lines).destroy()

    url = replaced.exports["inferences"]["chat-qwen"]["url"]
    assert "chat-pinned" in url
    start = lines.index(
        "Inference chat-qwen: replacing because spec.servingPort changed"
    )
    assert lines[start + 1 : start + 3] == [
        "Inference chat-qwen: deleting the old one first (its name is pinned)",
        "Inference chat-qwen: creating",
    ]


def test_failed_create_keeps_what_succeeded_in_state(
    connection: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "local.json"
    quotas = [{"name": "hf-engine-c", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    huge = inferences_with({"gpu": {"devices": 64}, "initializationTimeout": 5})
    stack = local_stack(connection, projects=quotas, inferences=huge)

    with pytest.raises(
        EngineError, match="Inference chat-qwen: create failed.*Pending"
    ):
        engine(stack, state, []).up()

    kept = json.loads(state.read_text())["resources"]
    assert sorted(entry["type"].rsplit(":", 1)[-1] for entry in kept.values()) == [
        "Credential",
        "DataSource",
        "Project",
    ]
    engine(local_stack(connection, projects=quotas), state, []).destroy()
    assert json.loads(state.read_text())["resources"] == {}


def test_object_deleted_outside_the_stack_is_created_again(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    projects = [{"name": "hf-engine-d", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    stack = local_stack(connection, projects=projects)
    engine(stack, state, lines).up()
    workload = snapshot(client, "hf-engine-d")["workloads"][0]
    client.delete(f"/api/v1/workloads/inferences/{workload['id']}")

    again = engine(stack, state, lines).up()
    engine(stack, state, lines).destroy()

    assert again.created == ["Inference chat-qwen"]
    assert "Inference chat-qwen: gone from Run:ai (deleted outside the stack)" in lines


def test_corrupt_state_file_is_refused_clearly(
    connection: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "local.json"
    state.write_text("[]")

    with pytest.raises(EngineError, match="is not the demo's state; move it aside"):
        engine(local_stack(connection), state, [])


def test_rotated_token_replaces_credential_and_rolls_the_inference(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    lines: list[str] = []
    projects = [{"name": "hf-engine-f", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    stack = local_stack(connection, projects=projects)
    rotated = stack.with_secrets({"runai-hf:hfToken": "hf_rotated_token"})

    engine(stack, state, lines).up()
    before = snapshot(client, "hf-engine-f")
    second = engine(rotated, state, lines).up()
    after = snapshot(client, "hf-engine-f")
    engine(rotated, state, lines).destroy()

    assert second.replaced == ["Credential hf-token"]
    assert second.updated == ["Inference chat-qwen"]
    assert second.deleted == ["Credential hf-token"]
    order = [
        lines.index("Credential hf-token: replacing because value changed"),
        lines.index("Inference chat-qwen: updating"),
        lines.index("Credential hf-token: deleting"),
    ]
    assert order == sorted(order)
    assert before["workloads"][0]["id"] == after["workloads"][0]["id"]
    old_name = before["credentials"][0]["meta"]["name"]
    assert [c["meta"]["name"] for c in after["credentials"]] != [old_name]
    assert "hf_rotated_token" not in state.read_text()


def test_bad_image_fails_the_rollout_and_the_next_good_one_succeeds(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    projects = [{"name": "hf-engine-g", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    bad = inferences_with({"image": "vllm/vllm-openai:does-not-exist"})
    good = inferences_with({"image": "vllm/vllm-openai:v0.10.1"})

    engine(local_stack(connection, projects=projects), state, []).up()
    serving = snapshot(client, "hf-engine-g")["workloads"][0]
    with pytest.raises(
        EngineError, match='Failed to pull image "vllm/vllm-openai:does'
    ):
        engine(
            local_stack(connection, projects=projects, inferences=bad), state, []
        ).up()
    still = snapshot(client, "hf-engine-g")
    kept = json.loads(state.read_text())["resources"]
    fixed = engine(
        local_stack(connection, projects=projects, inferences=good), state, []
    )
    result = fixed.up()
    after = snapshot(client, "hf-engine-g")
    engine(local_stack(connection, projects=projects), state, []).destroy()

    inference = [e for e in kept.values() if e["type"].endswith(":Inference")][0]
    assert still["workloads"][0]["phase"] == "Running"
    assert still["revisions"][serving["id"]][0] == 1
    assert inference["inputs"]["spec"]["image"] == "vllm/vllm-openai:v0.10.2"
    assert result.updated == ["Inference chat-qwen"]
    assert after["workloads"][0]["id"] == serving["id"]


def test_update_without_room_is_refused_before_the_patch(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    projects = [{"name": "hf-engine-h", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    whole = {"priority": "very-high", "preemptibility": None, "gpu": {"devices": 1}}
    first = inferences_with(whole)
    second = inferences_with({**whole, "image": "vllm/vllm-openai:v0.10.1"})

    engine(local_stack(connection, projects=projects, inferences=first), state, []).up()
    workload = snapshot(client, "hf-engine-h")["workloads"][0]
    stack = local_stack(connection, projects=projects, inferences=second)
    with pytest.raises(EngineError) as raised:
        engine(stack, state, []).up()
    revisions = snapshot(client, "hf-engine-h")["revisions"][workload["id"]]
    engine(local_stack(connection, projects=projects), state, []).destroy()

    message = str(raised.value)
    assert "needs 1 GPU on node pool default" in message
    assert "has 0 GPUs of its deserved quota free there" in message
    assert "rolloutWaitsForQuota" in message
    assert revisions == (1, 0)


def test_rollout_past_the_progress_deadline_fails_and_reverts(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    state = tmp_path / "local.json"
    projects = [{"name": "hf-engine-i", "quotas": [{"nodePool": "default", "gpu": 1}]}]
    whole = {
        "priority": "very-high",
        "preemptibility": None,
        "gpu": {"devices": 1},
        "initializationTimeout": 5,
        "rolloutTimeout": 5,
        "rolloutWaitsForQuota": True,
    }
    first = inferences_with(whole)
    second = inferences_with({**whole, "image": "vllm/vllm-openai:v0.10.1"})

    engine(local_stack(connection, projects=projects, inferences=first), state, []).up()
    stack = local_stack(connection, projects=projects, inferences=second)
    # The emulator's progress deadline (600 s / speed) passes first, as
    # Run:ai's would: the revision is removed and the provider says why.
    with pytest.raises(EngineError, match="was removed; the previous one") as raised:
        engine(stack, state, []).up()
    served = client.get(
        "/api/v1/workloads/inferences/"
        + snapshot(client, "hf-engine-i")["workloads"][0]["id"]
    )
    engine(local_stack(connection, projects=projects), state, []).destroy()

    assert "did not become ready" in str(raised.value)
    assert "Non-preemptible over quota" in str(raised.value)
    assert served["spec"]["image"] == "vllm/vllm-openai:v0.10.2"


def test_destroy_leaves_a_project_holding_what_others_put_in_it(
    connection: dict[str, str], tmp_path: Path, client: RunaiClient
) -> None:
    """Run:ai deletes a project's contents with it; another team's data source
    in a project this stack made must not go with the stack."""
    state = tmp_path / "local.json"
    lines: list[str] = []
    project = "hf-engine-shared"
    stack = local_stack(
        connection,
        projects=[{"name": project, "quotas": [{"nodePool": "default", "gpu": 1}]}],
        modelStores=[{"name": "model-store", "size": "20Gi", "retainOnDestroy": False}],
    )
    engine(stack, state, lines).up()
    project_id = int(snapshot(client, project)["project"]["id"])
    theirs = client.post(
        "/api/v1/asset/datasource/nfs",
        {
            "meta": {
                "name": "their-corpus",
                "scope": "project",
                "projectId": project_id,
            },
            "spec": {"server": "nfs.team", "path": "/x", "mountPath": "/x"},
        },
    )

    gone = engine(stack, state, lines).destroy()
    still = client.get(f"/api/v1/asset/datasource/nfs/{theirs['meta']['id']}")
    left = snapshot(client, project)
    client.delete(f"/api/v1/asset/datasource/nfs/{theirs['meta']['id']}")
    client.delete(f"/api/v1/org-unit/projects/{project_id}")

    assert still["meta"]["name"] == "their-corpus"
    assert (
        left["project"]["id"] == str(project_id) or left["project"]["id"] == project_id
    )
    assert gone.retained == [f"Project {project}"] and len(gone.deleted) == 3
    assert not any(line.startswith(f"Project {project}: deleted") for line in lines)
