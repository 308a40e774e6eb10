"""The local demo (`python -m preflight --apply`) reads every secret from the
environment: the client secret, HF tokens, and other credentials' passwords."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._providers._base import RunaiProvider
from conftest import PROJECT_DIR
from preflight.__main__ import main, secret_variable

PASSWORD = "git-pass-marker-7731"
TOKEN = "hf_demo_marker_7731"


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("runai-hf:gitPassword", "RUNAI_HF_SECRET_GIT_PASSWORD"),
        ("runai-hf:registryPassword", "RUNAI_HF_SECRET_REGISTRY_PASSWORD"),
        ("team:ci.token", "RUNAI_HF_SECRET_CI_TOKEN"),
    ],
)
def test_each_password_key_has_its_variable(key: str, variable: str) -> None:
    assert secret_variable(key) == variable


def test_a_git_source_with_a_password_applies_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(RunaiProvider, "poll_initial", 0.02)
    name = "scratch-demo-git"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    document: dict[str, Any] = yaml.safe_load(
        (PROJECT_DIR / "stacks" / "Pulumi.local.yaml").read_text()
    )
    config = document["config"]
    config.update(
        {
            "runai:url": connection["runai:url"],
            "runai:clusterId": connection["runai:clusterId"],
            "runai-hf:projects": [
                {"name": "demo-git", "quotas": [{"nodePool": "default", "gpu": 1}]}
            ],
            "runai-hf:modelStores": [
                {"name": "model-store", "size": "20Gi", "retainOnDestroy": False}
            ],
        }
    )
    config["runai-hf:credentials"].append(
        {"name": "git", "kind": "password", "user": "bot", "passwordKey": "gitPassword"}
    )
    config["runai-hf:dataSources"] = [
        {
            "name": "code",
            "kind": "git",
            "repository": "https://example.invalid/org/repo.git",
            "credential": "git",
            "mountPath": "/code",
        }
    ]
    config["runai-hf:inferences"][0]["dataSources"] = ["code"]
    state = tmp_path / "state.json"
    monkeypatch.setenv("RUNAI_CLIENT_SECRET", connection["runai:clientSecret"])
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("RUNAI_HF_SECRET_GIT_PASSWORD", raising=False)
    try:
        path.write_text(yaml.safe_dump(document))
        missing = main(["--stack", name, "--apply", "--state", str(state)])
        missing_err = capsys.readouterr().err
        monkeypatch.setenv("RUNAI_HF_SECRET_GIT_PASSWORD", PASSWORD)
        applied = main(["--stack", name, "--apply", "--state", str(state)])
        applied_out = capsys.readouterr()
        state_text = state.read_text()
        destroyed = main(["--stack", name, "--destroy", "--state", str(state)])
        capsys.readouterr()
    finally:
        path.unlink(missing_ok=True)

    assert missing == 1
    assert "RUNAI_HF_SECRET_GIT_PASSWORD (for runai-hf:gitPassword)" in missing_err
    assert applied == 0 and destroyed == 0
    assert "done: 6 created" in applied_out.out
    for secret in (PASSWORD, TOKEN):
        assert secret not in applied_out.out + applied_out.err + state_text


def test_an_existing_credential_needs_no_secret_from_the_environment() -> None:
    from preflight.__main__ import _credential_secret_keys
    from preflight._stackfile import StackFile

    credentials = [
        {"name": "hf-token", "existing": True},
        {"name": "mine", "tokenKey": "myToken"},
    ]
    stack_file = StackFile(
        "runai-hf",
        "x",
        PROJECT_DIR / "stacks" / "Pulumi.x.yaml",
        {"runai-hf:credentials": json.dumps(credentials)},
        set(),
    )

    assert _credential_secret_keys(stack_file) == {"runai-hf:myToken": "huggingFace"}
