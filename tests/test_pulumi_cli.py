"""With the real Pulumi CLI: preview, up and destroy the local stack.

Runs only where `pulumi` is on PATH; elsewhere each test is skipped and says
why. Nothing here imitates the CLI. The stack file is copied so the secrets
the CLI writes never touch the committed one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROJECT_DIR

PULUMI = shutil.which("pulumi")

pytestmark = pytest.mark.skipif(
    PULUMI is None,
    reason="the Pulumi CLI is not on PATH (install it to run `pulumi preview` and "
    "`pulumi up` with the policy pack); the mock runtime, engine simulation and "
    "analyzer tests cover the rest",
)

Runner = Callable[..., str]


@pytest.fixture
def pulumi(tmp_path: Path) -> Runner:
    assert PULUMI is not None
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(PULUMI), *args, "--non-interactive"],
            cwd=PROJECT_DIR,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return run


def local_config(tmp_path: Path, **changes: Any) -> Path:
    document = yaml.safe_load(
        (PROJECT_DIR / "stacks" / "Pulumi.local.yaml").read_text()
    )
    document["config"].update(changes)
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def set_secrets(pulumi: Runner, config_file: Path, client_secret: str) -> None:
    for key, value in (
        ("hfToken", "hf_cli_test"),
        ("runai:clientSecret", client_secret),
    ):
        pulumi(
            "config",
            "set",
            "--secret",
            key,
            "--config-file",
            str(config_file),
            stdin=value,
        )


POLICY = [
    "--policy-pack",
    "policies",
    "--policy-pack-config",
    "policies/config/dev.json",
]


def test_preview_with_policy_pack(pulumi: Runner, tmp_path: Path) -> None:
    config_file = local_config(tmp_path)
    pulumi("stack", "init", "local")
    set_secrets(pulumi, config_file, "unused-in-preview")

    out = pulumi("preview", "--config-file", str(config_file), *POLICY)

    assert "chat-qwen" in out


def test_up_and_destroy_against_the_emulator(
    pulumi: Runner, tmp_path: Path, emulator: Any
) -> None:
    config_file = local_config(
        tmp_path,
        **{"runai:url": emulator.base_url, "runai:clusterId": emulator.cluster_id},
    )
    pulumi("stack", "init", "local")
    set_secrets(pulumi, config_file, emulator.client_secret)

    pulumi("up", "--yes", "--config-file", str(config_file), *POLICY)
    outputs = json.loads(pulumi("stack", "output", "--json"))
    again = pulumi("up", "--yes", "--config-file", str(config_file), *POLICY)
    pulumi("destroy", "--yes", "--config-file", str(config_file))

    chat = outputs["inferences"]["chat-qwen"]
    assert chat["phase"] == "Running" and chat["url"].startswith("https://")
    assert "hf_cli_test" not in json.dumps(outputs)
    assert "4 unchanged" in again or "unchanged" in again
