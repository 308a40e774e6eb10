"""`--baseline OLD.yaml`: what a stack-file change does to each resource."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROJECT_DIR
from preflight.__main__ import main, plan
from preflight._changes import changes_json, plan_changes, render_changes
from preflight._stackfile import load_stack_file

DYNAMIC = "pulumi-python:dynamic"
PROD = PROJECT_DIR / "stacks" / "Pulumi.prod.yaml"
OLD_TOKEN = "hf_oldTokenThatMustNeverBePrinted"
NEW_TOKEN = "hf_newTokenThatMustNeverBePrinted"

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def scratch_stack() -> Iterator[tuple[str, Path]]:
    """A copy of the prod stack file under a throwaway stack name."""
    name = "scratch-changes"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    shutil.copy(PROD, path)
    yield name, path
    path.unlink(missing_ok=True)


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    """A scratch copy of the prod stack file: the old version."""
    path = tmp_path / "old.yaml"
    shutil.copy(PROD, path)
    return path


def edit(path: Path, change: Edit) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document))


def inference(name: str, change: Edit) -> Edit:
    def apply(config: dict[str, Any]) -> None:
        for settings in config["runai-hf:inferences"]:
            if settings["name"] == name:
                change(settings)

    return apply


def planned(
    capsys: pytest.CaptureFixture[str], stack: str, baseline: Path
) -> dict[str, Any]:
    """`--json` for the stack against the baseline."""
    main(["--stack", stack, "--baseline", str(baseline), "--json"])
    return dict(json.loads(capsys.readouterr().out))


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {change["name"]: change for change in document["changes"]}


def others_unchanged(changes: dict[str, dict[str, Any]], *changed: str) -> bool:
    return all(
        change["action"] == "unchanged"
        for name, change in changes.items()
        if name not in changed
    )


def test_the_same_file_leaves_every_resource_unchanged(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT_DIR)

    status = main(["--stack", "prod", "--baseline", "stacks/Pulumi.prod.yaml"])

    out = capsys.readouterr().out
    table = out[out.index("changes from stacks/Pulumi.prod.yaml") :]
    rows = table.splitlines()[2:]
    assert status == 0
    assert rows[0].startswith("unchanged  Project")
    assert "ACTION     TYPE        NAME" in table
    assert all(row.startswith(("unchanged", "policies")) for row in rows)


def test_unknowns_in_both_runs_change_nothing(
    capsys: pytest.CaptureFixture[str], baseline: Path
) -> None:
    document = planned(capsys, "prod", baseline)

    llama = [
        r
        for r in document["resources"]
        if r["type"] == DYNAMIC + "/runai:Inference" and r["name"] == "chat-llama"
    ][0]
    assert "(known after apply)" in json.dumps(llama["inputs"]["spec"])
    assert by_name(document)["chat-llama"]["action"] == "unchanged"


def test_json_lists_a_change_per_resource(
    capsys: pytest.CaptureFixture[str], baseline: Path
) -> None:
    document = planned(capsys, "prod", baseline)

    custom = {r["urn"] for r in document["resources"] if r["type"].startswith(DYNAMIC)}
    assert {change["urn"] for change in document["changes"]} == custom
    for change in document["changes"]:
        assert {"urn", "action", "fields"} <= set(change)
        assert isinstance(change["fields"], list)


def test_new_image_tag_rolls_out_that_inference_only(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(path, inference("chat-llama", lambda i: i.update(image="vllm/vllm-openai:v1")))

    changes = by_name(planned(capsys, name, baseline))

    llama = changes["chat-llama"]
    assert llama["action"] == "update"
    assert "spec.image" in llama["fields"]
    assert any("rolling update" in note for note in llama["notes"])
    assert others_unchanged(changes, "chat-llama")


def test_new_container_port_replaces_the_inference_and_says_so_about_the_url(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(path, inference("chat-llama", lambda i: i["endpoint"].update(port=8080)))

    changes = by_name(planned(capsys, name, baseline))

    llama = changes["chat-llama"]
    assert llama["action"] == "replace"
    assert "spec.servingPort" in llama["fields"]
    assert (
        "new endpoint URL (it follows the workload name and project)"
        in (llama["notes"])
    )
    assert "creates the new one first, then deletes the old one" in llama["notes"]
    assert others_unchanged(changes, "chat-llama")


def test_a_pinned_name_is_replaced_delete_first_and_keeps_its_url(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    pin = inference("chat-llama", lambda i: i.update(runaiName="chat-llama"))
    edit(baseline, pin)
    edit(path, pin)
    edit(path, inference("chat-llama", lambda i: i["endpoint"].update(port=8080)))

    llama = by_name(planned(capsys, name, baseline))["chat-llama"]

    assert llama["action"] == "replace"
    assert "deletes the old one first: a short outage" in llama["notes"]
    assert any(note.startswith("same endpoint URL") for note in llama["notes"])


def test_more_min_replicas_is_an_update(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(path, inference("chat-llama", lambda i: i["replicas"].update(min=3, max=4)))

    changes = by_name(planned(capsys, name, baseline))

    assert changes["chat-llama"]["action"] == "update"
    assert changes["chat-llama"]["fields"] == ["spec.autoscaling.minReplicas"]
    assert others_unchanged(changes, "chat-llama")


def test_new_labels_replace_the_inference(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(path, inference("chat-llama", lambda i: i["labels"].update(tier="gold")))

    changes = by_name(planned(capsys, name, baseline))

    assert changes["chat-llama"]["action"] == "replace"
    assert changes["chat-llama"]["fields"] == ["spec.labels"]


def test_bigger_model_store_replaces_it_and_warns_its_inference(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack

    def grow(config: dict[str, Any]) -> None:
        config["runai-hf:modelStores"][0].update(size="200Gi")

    edit(path, grow)

    changes = by_name(planned(capsys, name, baseline))

    store, llama = changes["llama-weights"], changes["chat-llama"]
    assert store["action"] == "replace" and store["fields"] == ["size"]
    assert store["notes"][0] == (
        "creates the new one first; the old one is retained, not deleted "
        "(retainOnDestroy)"
    )
    assert any("download the weights again" in note for note in store["notes"])
    # Its claim name is unknown in both runs, so the provider sees no change;
    # the plan warns that the replaced store's new outputs may still bring one.
    # The new store is created first under a new name, so its claim name in
    # `spec.storage` (creation-only) changes: the inference is replaced.
    assert llama["action"] == "replace" and llama["fields"] == ["spec.storage.pvc"]
    assert any("DataSource llama-weights" in note for note in llama["notes"])
    assert others_unchanged(changes, "llama-weights", "chat-llama")


def test_rotated_token_replaces_its_credentials_without_printing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = load_stack_file(PROJECT_DIR, "prod")
    old = stack.with_secrets({"runai-hf:hfToken": OLD_TOKEN})
    new = stack.with_secrets({"runai-hf:hfToken": NEW_TOKEN})

    result = plan_changes(old, new, run_plan=plan)

    changes = {change.name: change for change in result.changes}
    for credential in ("hf-token", "hf-token-tgi"):
        assert changes[credential].action == "replace"
        assert changes[credential].fields == ["value"]
    assert changes["registry"].action == "unchanged"
    shown = render_changes(result) + json.dumps(changes_json(result))
    shown += capsys.readouterr().out + capsys.readouterr().err
    assert OLD_TOKEN not in shown and NEW_TOKEN not in shown


def test_reencrypted_secure_token_replaces_its_credentials(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(baseline, lambda c: c.update({"hfToken": {"secure": "v1:cipher-OLD"}}))
    edit(path, lambda c: c.update({"hfToken": {"secure": "v1:cipher-NEW"}}))

    status = main(["--stack", name, "--baseline", str(baseline)])

    out = capsys.readouterr().out
    rows = [row for row in out.splitlines() if row.startswith("replace")]
    assert status == 0
    assert [row.split()[1:4] for row in rows] == [
        ["Credential", "hf-token", "value"],
        ["Credential", "hf-token-tgi", "value"],
    ]
    assert "ciphertext changed" in rows[0]
    assert "cipher-OLD" not in out and "cipher-NEW" not in out
    updates = [row.split()[1:3] for row in out.splitlines() if row.startswith("update")]
    # The new credentials come first under new names: the inferences roll.
    assert updates == [["Inference", "chat-llama"], ["Inference", "chat-mistral"]]


def test_removed_inference_is_deleted_and_a_new_one_created(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path], baseline: Path
) -> None:
    name, path = scratch_stack
    edit(path, inference("chat-mistral", lambda i: i.update(name="chat-mistral-v2")))

    changes = by_name(planned(capsys, name, baseline))

    assert changes["chat-mistral"]["action"] == "delete"
    assert changes["chat-mistral"]["notes"] == ["its endpoint URL stops answering"]
    assert changes["chat-mistral-v2"]["action"] == "create"
    assert changes["chat-mistral-v2"]["notes"] == ["new endpoint URL"]
    assert others_unchanged(changes, "chat-mistral", "chat-mistral-v2")


def test_missing_baseline_fails_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.yaml"

    status = main(["--stack", "prod", "--baseline", str(missing)])

    assert status == 1
    assert f"no baseline stack file {missing}" in capsys.readouterr().err


def test_online_is_refused_as_not_available_yet(
    capsys: pytest.CaptureFixture[str], baseline: Path
) -> None:
    status = main(["--stack", "prod", "--baseline", str(baseline), "--online"])

    assert status == 2
    assert "--online is not available yet" in capsys.readouterr().err


def test_invalid_baseline_is_named_in_the_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "old.yaml"
    broken.write_text("config:\n\tbad: tab\n")

    status = main(["--stack", "prod", "--baseline", str(broken)])

    assert status == 1
    assert f"baseline {broken} is not valid YAML" in capsys.readouterr().err


def test_moving_a_credential_and_a_data_source_to_another_project_replaces_them(
    capsys: pytest.CaptureFixture[str],
    scratch_stack: tuple[str, Path],
    baseline: Path,
) -> None:
    stack, path = scratch_stack

    def move(config: dict[str, Any]) -> None:
        for section in ("runai-hf:credentials", "runai-hf:dataSources"):
            for item in config[section]:
                if item["name"] in ("registry", "chat-template"):
                    item["project"] = "llm-prod-tgi"
        for settings in config["runai-hf:inferences"]:
            if settings["name"] == "chat-llama":
                settings["project"] = "llm-prod-tgi"

    edit(path, move)
    changes = by_name(planned(capsys, stack, baseline))

    # The projects' ids are unknown offline; their names say it all the same.
    assert changes["registry"]["action"] == "replace"
    assert "project" in changes["registry"]["fields"]
    assert changes["chat-template"]["action"] == "replace"
    assert changes["hf-token"]["action"] == "unchanged"
