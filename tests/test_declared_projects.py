"""A Knative-only stack runs without the Run:ai control plane (GitOps)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components._providers import ProjectProvider
from conftest import PROJECT_DIR
from preflight.__main__ import main, plan
from preflight._stackfile import load_stack_file

PROJECT = "pulumi-python:dynamic/runai:Project"


@pytest.fixture
def scratch() -> Iterator[tuple[str, Path]]:
    name = "scratch-gitops"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.gitops.yaml", path)
    yield name, path
    path.unlink(missing_ok=True)


def edit_inference(path: Path, **change: object) -> None:
    document = yaml.safe_load(path.read_text())
    document["config"]["runai-hf:inferences"][0].update(change)
    path.write_text(yaml.safe_dump(document))


def test_shipped_gitops_stack_passes_without_a_connection() -> None:
    stack_file = load_stack_file(PROJECT_DIR, "gitops")

    run = plan(stack_file)

    assert not any(key.startswith("runai:") for key in stack_file.config)
    project = run.by_type(PROJECT)[0].inputs
    assert project["declared"] is True
    assert project["quotas"] == [{"nodePool": "default", "gpu": 2, "gpuLimit": 2}]
    assert main(["--stack", "gitops"]) == 0


def test_quota_policies_weigh_against_the_declared_quota(
    capsys: pytest.CaptureFixture[str], scratch: tuple[str, Path]
) -> None:
    name, path = scratch
    edit_inference(path, gpu={"devices": 3}, priority="very-high", preemptibility=None)

    status = main(["--stack", name])

    out = capsys.readouterr().out
    assert status == 1
    assert "non-preemptible-within-deserved-quota" in out and "llm-team" in out


def test_a_runai_api_inference_needs_the_connection(
    capsys: pytest.CaptureFixture[str], scratch: tuple[str, Path]
) -> None:
    name, path = scratch
    edit_inference(path, delivery="runaiApi", endpoint={"access": "public"})

    status = main(["--stack", name])

    err = capsys.readouterr().err
    assert status == 1
    assert "runai:url, runai:clientId and runai:clusterId are required" in err
    assert "inference chat-qwen uses the Run:ai API" in err


def test_declared_project_calls_nothing() -> None:
    provider = ProjectProvider()  # not configured: any API call would fail
    props = {
        "name": "llm-team",
        "clusterId": "",
        "declared": True,
        "existing": True,
        "requestedNamespace": "runai-llm-team",
        "quotas": [{"nodePool": "default", "gpu": 2}],
    }

    checked = provider.check({}, props)
    created = provider.create(checked.inputs)
    grown = {**props, "quotas": [{"nodePool": "default", "gpu": 4}]}
    diff = provider.diff(created.id, created.outs, grown)
    provider.delete(created.id, created.outs)

    assert not checked.failures
    assert created.id == "declared:llm-team"
    assert created.outs["namespace"] == "runai-llm-team"
    assert diff.changes and not diff.replaces
