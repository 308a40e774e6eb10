"""With the real Pulumi CLI: preview the local stack with the policy pack.

Runs only where `pulumi` is on PATH; elsewhere it is skipped and says why.
Nothing here imitates the CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_DIR

PULUMI = shutil.which("pulumi")

pytestmark = pytest.mark.skipif(
    PULUMI is None,
    reason="the Pulumi CLI is not on PATH (install it to run `pulumi preview` "
    "with the policy pack); the mock runtime and analyzer tests cover the rest",
)


def test_preview_with_policy_pack(tmp_path: Path) -> None:
    assert PULUMI is not None
    config_file = tmp_path / "Pulumi.local.yaml"
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.local.yaml", config_file)
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": (tmp_path / "backend").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (tmp_path / "backend").mkdir()

    def pulumi(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [PULUMI, *args, "--non-interactive"],
            cwd=PROJECT_DIR,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    pulumi("stack", "init", "local")
    for key in ("hfToken", "runai:clientSecret"):
        pulumi(
            "config",
            "set",
            "--secret",
            key,
            "--config-file",
            str(config_file),
            stdin="x",
        )
    out = pulumi(
        "preview",
        "--config-file",
        str(config_file),
        "--policy-pack",
        "policies",
        "--policy-pack-config",
        "policies/config/dev.json",
    )

    assert "pulumi-python:dynamic/runai:Inference" in out or "chat-qwen" in out
