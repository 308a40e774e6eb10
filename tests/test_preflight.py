"""`python -m preflight`: the offline plan, its JSON, and its exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_DIR
from preflight.__main__ import main

PRODUCT_TYPES = "pulumi-python:dynamic/runai:"


@pytest.fixture
def scratch_stack() -> Iterator[tuple[str, Path]]:
    """A copy of the local stack file under a throwaway stack name."""
    name = "scratch-test"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.local.yaml", path)
    yield name, path
    path.unlink(missing_ok=True)


def edit(path: Path, key: str, change: object) -> None:
    document = yaml.safe_load(path.read_text())
    if callable(change):
        change(document["config"][key])
    else:
        document["config"][key] = change
    path.write_text(yaml.safe_dump(document))


def test_prod_json_lists_the_inference_with_its_references(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--stack", "prod", "--json"])

    document = json.loads(capsys.readouterr().out)
    inference = [
        r for r in document["resources"] if r["type"] == PRODUCT_TYPES + "Inference"
    ][0]["inputs"]
    token = [
        v for v in inference["spec"]["environmentVariables"] if v["name"] == "HF_TOKEN"
    ]
    assert status == 0
    assert document["stack"] == "prod" and document["violations"] == []
    assert inference["project"] == "llm-prod" and "projectId" in inference
    assert inference["credential"] == "hf-token"
    assert token[0]["secret"]["key"] == "HF_TOKEN" and "value" not in token[0]
    assert inference["modelStore"] == "llama-weights"
    assert inference["spec"]["storage"]["pvc"][0]["path"] == "/models"
    assert set(document["resources"][0]) == {"urn", "type", "name", "parent", "inputs"}


def test_json_masks_secrets(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(path, "runai-hf:hfToken", {"secure": "v1:ciphertext-from-the-cli"})

    main(["--stack", name, "--json"])

    out = capsys.readouterr().out
    credential = [
        r
        for r in json.loads(out)["resources"]
        if r["type"] == PRODUCT_TYPES + "Credential"
    ][0]
    assert credential["inputs"]["value"] == "[secret]"
    assert "ciphertext" not in out


def test_local_prints_the_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--stack", "local"])

    out = capsys.readouterr().out
    assert status == 0
    assert "ENDPOINT ACCESS" in out
    assert "Qwen/Qwen2.5-0.5B-Instruct" in out and "0.5 of 1" in out
    assert "medium (preemptible)" in out


def test_two_hour_initialization_timeout_fails_naming_the_key(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(
        path,
        "runai-hf:inferences",
        lambda items: items[0].update(initializationTimeout="2h"),
    )

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert "runai-hf:inferences[0].initializationTimeout: 7200 s is outside" in err


def test_mandatory_violation_fails_with_the_reason(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(
        path,
        "runai-hf:inferences",
        lambda items: items[0].update(
            priority="very-high", preemptibility=None, gpu={"devices": 2}
        ),
    )

    status = main(["--stack", name])

    out = capsys.readouterr().out
    assert status == 1
    assert "[mandatory] non-preemptible-within-deserved-quota" in out
    assert "needs 2 GPUs at max replicas but the deserved quota is 1" in out


def test_unknown_stack_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--stack", "nope"])

    err = capsys.readouterr().err
    assert status == 1
    assert "no stack file" in err and "known stacks are " in err
    assert {"local", "dev", "staging", "prod"} <= set(
        err.split("known stacks are ")[1].strip().split(", ")
    )


def test_runs_as_a_module_without_network_or_credentials() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "preflight", "--stack", "prod", "--json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["stack"] == "prod"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("config:\n\t runai-hf:environment: dev\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("config: 3\n", "`config:` must map keys"),
        ("config:\n  1: 2\n", "config key 1 is not a string"),
    ],
)
def test_broken_stack_files_get_one_clean_line(
    capsys: pytest.CaptureFixture[str],
    scratch_stack: tuple[str, Path],
    text: str,
    fragment: str,
) -> None:
    name, path = scratch_stack
    path.write_text(text)

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert fragment in err and "Traceback" not in err


def test_unknown_top_level_key_is_refused_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(path, "runai-hf:maxInitializationTimeoutSecond", 7200)
    edit(path, "runai:clientid", "x")

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert (
        "runai-hf:maxInitializationTimeoutSecond: is not a key this program reads"
        in err
    )
    assert "did you mean maxInitializationTimeoutSeconds?" in err
    assert (
        "runai:clientid: is not a key this program reads; did you mean clientId?" in err
    )


def test_plain_secret_in_a_stack_file_is_refused_and_not_echoed(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(path, "runai-hf:hfToken", "hf_plain_marker_value")

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert "runai-hf:hfToken: holds a plain value" in err
    assert "hf_plain_marker_value" not in err


def test_unknown_nested_key_does_not_echo_its_value(
    capsys: pytest.CaptureFixture[str], scratch_stack: tuple[str, Path]
) -> None:
    name, path = scratch_stack
    edit(path, "runai-hf:credentials", [{"name": "hf-token", "token": "hf_LEAKMARKER"}])

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert "runai-hf:credentials[0].token: is not a known setting" in err
    assert "hf_LEAKMARKER" not in err


def test_every_shipped_stack_passes() -> None:
    for stack in ("local", "dev", "staging", "prod"):
        assert main(["--stack", stack]) == 0, stack
