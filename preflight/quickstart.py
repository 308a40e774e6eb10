"""The main job on the embedded default: deploy the `local` stack to the emulator.

Starts the Run:ai control-plane emulator on 127.0.0.1:8787 (state in
`.state/emulator.db`, so a second run finds what the first made), then:

- with the Pulumi CLI on PATH: `pulumi up --policy-pack policies` on Pulumi's
  local file backend (`.state/pulumi`), passphrase secrets provider, the
  secrets set from the environment into a copy of the stack file under
  `.state/`, so the committed stack file stays free of them;
- without it: says so, shows how to install it, and applies the stack through
  the engine simulation (`python -m preflight --stack local --apply`), which
  is a local demo, not Pulumi.

`--destroy` removes what it made. The emulator stops when the job ends.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT_DIR / ".state"
STACK = "local"
PORT = 8787
PLACEHOLDER_TOKEN = "hf_local_demo_placeholder"
INSTALL_HINT = (
    "install it from https://www.pulumi.com/docs/install/ "
    "(for example `curl -fsSL https://get.pulumi.com | sh`), then run this again"
)


def _client_secret() -> str:
    path = STATE_DIR / "emulator-client-secret"
    if not path.is_file():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def start_emulator(client_secret: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(PORT),
        "--db",
        str(STATE_DIR / "emulator.db"),
    ]
    env = {**os.environ, "RUNAI_CLIENT_SECRET": client_secret}
    log = (STATE_DIR / "emulator.log").open("a")
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    log.close()
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(
                f"quickstart: the emulator did not start; is port {PORT} in use?"
            )
        if "client secret" not in line:
            print(line.rstrip())
        if "listening on" in line:
            print(f"emulator: request log in {STATE_DIR / 'emulator.log'}")
            return process
    process.terminate()
    raise SystemExit("quickstart: the emulator did not report its address in 30 s")


def run_with_cli(pulumi: str, *, destroy: bool, env: dict[str, str]) -> int:
    config_file = STATE_DIR / f"Pulumi.{STACK}.yaml"
    if not config_file.exists():
        shutil.copy(PROJECT_DIR / "stacks" / f"Pulumi.{STACK}.yaml", config_file)
    backend = STATE_DIR / "pulumi"
    backend.mkdir(parents=True, exist_ok=True)
    env = {
        **env,
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": env.get("PULUMI_CONFIG_PASSPHRASE", "local-demo"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }

    def pulumi_run(*args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [pulumi, *args, "--non-interactive"],
            cwd=PROJECT_DIR,
            env=env,
            input=stdin,
            text=True,
            check=True,
        )

    pulumi_run("stack", "select", "--create", STACK)
    for key, value in (
        ("hfToken", env["HF_TOKEN"]),
        ("runai:clientSecret", env["RUNAI_CLIENT_SECRET"]),
    ):
        # The value goes through stdin so it never shows in a process list.
        pulumi_run(
            "config",
            "set",
            "--secret",
            key,
            "--config-file",
            str(config_file),
            stdin=value,
        )
    common = ["--yes", "--config-file", str(config_file)]
    if destroy:
        pulumi_run("destroy", *common)
        return 0
    pack_config = PROJECT_DIR / "policies" / "config" / "dev.json"
    policy = ["--policy-pack", "policies"]
    if pack_config.is_file():
        policy += ["--policy-pack-config", str(pack_config)]
    pulumi_run("up", *common, *policy)
    pulumi_run("stack", "output", "inferences", "--json")
    return 0


def run_simulation(*, destroy: bool, env: dict[str, str]) -> int:
    from preflight.__main__ import main

    os.environ.update({key: env[key] for key in ("HF_TOKEN", "RUNAI_CLIENT_SECRET")})
    return main(["--stack", STACK, "--destroy" if destroy else "--apply"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="quickstart", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--destroy", action="store_true", help="remove what it made")
    args = parser.parse_args(argv)

    client_secret = _client_secret()
    env = {**os.environ, "RUNAI_CLIENT_SECRET": client_secret}
    if not env.get("HF_TOKEN"):
        env["HF_TOKEN"] = PLACEHOLDER_TOKEN
        print(
            "quickstart: HF_TOKEN is not set; using a placeholder (the emulator "
            "downloads nothing, and Qwen2.5-0.5B is not gated)"
        )
    emulator = start_emulator(client_secret)
    try:
        pulumi = shutil.which("pulumi")
        if pulumi:
            return run_with_cli(pulumi, destroy=args.destroy, env=env)
        print(f"quickstart: the Pulumi CLI is not on PATH; {INSTALL_HINT}.")
        action = "destroying" if args.destroy else "applying"
        print(
            f"quickstart: meanwhile, {action} the local stack with the engine "
            "simulation (a local demo, not Pulumi)"
        )
        return run_simulation(destroy=args.destroy, env=env)
    except subprocess.CalledProcessError as error:
        print(f"quickstart: {error.cmd[0]} {error.cmd[1]} failed ({error.returncode})")
        return 1
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
