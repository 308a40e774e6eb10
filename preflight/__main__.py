"""`python -m preflight --stack NAME`: check a stack offline, or apply it locally.

Without flags it runs the program under the SDK's mock runtime with the stack
file (no CLI, no network, no credentials), prints the planned resources and
runs the policy pack; exit status 0 means the stack is valid and breaks no
mandatory policy, 1 that it does, with the reasons. With `--baseline OLD.yaml`
it also runs the program for the old stack file and prints what each resource
would undergo, decided by the providers' own check and diff (docs/changes.md).

`--apply` and `--destroy` drive the local demo: the engine simulation applies
the stack to a Run:ai emulator on loopback. That is not Pulumi; with the
Pulumi CLI use `pulumi up --policy-pack policies`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import re
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.errors import ApiError, ControlPlaneUnreachable, RunaiHFError

from ._changes import (
    ONLINE_UNAVAILABLE,
    ChangePlan,
    changes_json,
    load_baseline,
    plan_changes,
    render_changes,
)
from ._plan import display, in_plan_order, plan_rows, render_table, resource_json
from ._policy import Violation, load_pack_config, run_policy_pack
from ._render import render_manifests
from ._runtime import ProgramRun, Registration, run_program
from ._stackfile import SECRET_PLACEHOLDER, StackFile, StackFileError, load_stack_file
from .engine import EngineError, SimulatedEngine

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_ENVIRONMENT = {"runai:clientSecret": "RUNAI_CLIENT_SECRET"}
TOKEN_ENVIRONMENT = "HF_TOKEN"


def _credential_secret_keys(stack_file: StackFile) -> dict[str, str]:
    """Secret config key -> the kind of credential that reads it."""
    raw = stack_file.get(f"{stack_file.project}:credentials") or "[]"
    try:
        credentials = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    keys: dict[str, str] = {}
    for credential in credentials if isinstance(credentials, list) else []:
        if not isinstance(credential, dict) or credential.get("existing") is True:
            continue  # an existing credential is only looked up: no secret
        if credential.get("kind") in ("dockerRegistry", "password"):
            key, kind = credential.get("passwordKey"), str(credential["kind"])
        else:
            key, kind = credential.get("tokenKey") or "hfToken", "huggingFace"
        if isinstance(key, str) and key:
            keys[key if ":" in key else f"{stack_file.project}:{key}"] = kind
    return keys


def secret_keys_read(stack_file: StackFile) -> list[str]:
    """Every secret config key the program reads."""
    return sorted(
        {
            *SECRET_ENVIRONMENT,
            *_credential_secret_keys(stack_file),
            *stack_file.secret_keys,
        }
    )


def with_placeholders(stack_file: StackFile) -> StackFile:
    """The preflight holds no credentials: each secret key gets a placeholder."""
    missing = {
        key: SECRET_PLACEHOLDER
        for key in secret_keys_read(stack_file)
        if key not in stack_file.config
    }
    return stack_file.with_secrets(missing)


def _echo_inputs(registration: Registration) -> tuple[str | None, dict[str, Any]]:
    # A preview's outputs for a new resource are its inputs; what only the
    # provider knows stays unknown.
    return (None, dict(registration.inputs)) if registration.custom else (None, {})


def plan(stack_file: StackFile, *, online: bool = False) -> ProgramRun:
    missing: list[str] = []
    handler = _lookup_existing(stack_file, missing) if online else _echo_inputs
    run = run_program(PROJECT_DIR, with_placeholders(stack_file), handler, preview=True)
    if missing:
        # Every reference was tried, so one run names all that are missing.
        count = f"{len(missing)} references" if len(missing) > 1 else "a reference"
        raise RunaiHFError(f"{count} could not be resolved:\n  " + "\n  ".join(missing))
    return run


def _lookup_existing(
    stack_file: StackFile, missing: list[str]
) -> Callable[[Registration], tuple[str | None, dict[str, Any]]]:
    """Resolve what the stack only references (`existing: true`) in Run:ai.

    Reads only: each such resource's own provider looks it up by name through
    the stack's connection, and a project the stack creates is read when it
    exists already; everything else is planned offline as usual. What cannot
    be found is collected in `missing`, and the plan goes on.
    """
    import base64

    import dill
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config as DynamicConfig
    from pulumi.runtime import rpc

    secret = os.environ.get(SECRET_ENVIRONMENT["runai:clientSecret"])
    if not secret:
        raise RunaiHFError(
            "--online reads Run:ai through the stack's connection: set "
            "RUNAI_CLIENT_SECRET (it is only used for reads)"
        )
    config = {**stack_file.config, "runai:clientSecret": secret}

    def handler(registration: Registration) -> tuple[str | None, dict[str, Any]]:
        inputs = {
            key: rpc.unwrap_rpc_secret(value)
            for key, value in registration.inputs.items()
        }
        planned_project = registration.type.endswith(":Project") and not (
            inputs.get("existing") or inputs.get("declared")
        )
        wanted = planned_project or inputs.get("existing") is True
        if not registration.custom or not wanted:
            return _echo_inputs(registration)
        blob = str(inputs.pop("__provider"))
        provider = dill.loads(base64.b64decode(blob))
        provider.configure(ConfigureRequest(DynamicConfig(config, stack_file.project)))
        checked = provider.check({}, inputs).inputs
        try:
            if planned_project:
                # Its id, when this stack made it before, lets lookups scoped
                # to the project find what belongs to it.
                known = provider.read_planned(checked)
                if known is None:
                    return _echo_inputs(registration)
                return known[0], {**registration.inputs, **known[1]}
            found = provider.create(checked)
        except (ApiError, ControlPlaneUnreachable):
            raise  # the connection, not the reference: no use trying the rest
        except RunaiHFError as error:
            missing.append(str(error))
            return _echo_inputs(registration)
        return found.id, {**registration.inputs, **(found.outs or {})}

    return handler


def _environment(stack_file: StackFile) -> str:
    environment = stack_file.get(f"{stack_file.project}:environment") or "dev"
    return "dev" if environment == "local" else environment


def check_policies(stack_file: StackFile, run: ProgramRun) -> list[Violation]:
    pack_config = load_pack_config(PROJECT_DIR / "policies", _environment(stack_file))
    return run_policy_pack(run.registrations, pack_config=pack_config)


def _print_violations(violations: list[Violation]) -> None:
    if not violations:
        print("policies: no violations")
        return
    print("policies:")
    for violation in violations:
        message = violation.message.replace("\n", ": ", 1)
        print(f"  [{violation.enforcement}] {violation.policy}: {message}")


def command_plan(
    stack_file: StackFile,
    *,
    as_json: bool,
    baseline: Path | None = None,
    render: Path | None = None,
    online: bool = False,
) -> int:
    changes: ChangePlan | None = None
    if baseline is None:
        run = plan(stack_file, online=online)
    else:
        old = load_baseline(PROJECT_DIR, stack_file.stack, baseline)
        changes = plan_changes(old, stack_file, run_plan=plan)
        run = changes.run
    violations = check_policies(stack_file, run)
    blocking = [v for v in violations if v.enforcement == "mandatory"]
    if as_json:
        document = {
            "stack": stack_file.stack,
            "resources": [resource_json(r) for r in in_plan_order(run.registrations)],
            "violations": [v.as_json() for v in violations],
        }
        if changes is not None:
            document["changes"] = changes_json(changes)
        print(json.dumps(document, indent=2))
    else:
        print(f"stack {stack_file.stack}: {len(run.custom())} resources planned")
        print(render_table(plan_rows(run.registrations)))
        if changes is not None:
            print("\n" + render_changes(changes))
        _print_violations(violations)
    invalid = _render(run, render) if render is not None else False
    return 1 if blocking or invalid else 0


def _render(run: ProgramRun, directory: Path) -> bool:
    """Write the Kubernetes manifests; True when one breaks its schema."""
    written, problems = render_manifests(run.registrations, directory)
    print(f"rendered {len(written)} Kubernetes objects to {directory}", file=sys.stderr)
    for problem in problems:
        print(f"  schema: {problem}", file=sys.stderr)
    return bool(problems)


def _require_loopback(stack_file: StackFile) -> None:
    url = stack_file.get("runai:url") or ""
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RunaiHFError(
            f"runai:url {url!r} is not on this machine: the local demo only applies "
            "stacks to an emulator on loopback; use `pulumi up` for a control plane"
        )


def secret_variable(key: str) -> str:
    """The environment variable the local demo reads a registry or Git
    password from: `runai-hf:gitPassword` -> `RUNAI_HF_SECRET_GIT_PASSWORD`."""
    name = key.rsplit(":", 1)[-1]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return "RUNAI_HF_SECRET_" + re.sub(r"[^A-Za-z0-9]+", "_", words).upper()


def _with_environment_secrets(stack_file: StackFile, *, destroy: bool) -> StackFile:
    """The local demo's secrets from the environment: the client secret, HF
    tokens (HF_TOKEN) and other credentials' passwords (`secret_variable`).

    A destroy runs no program, so it needs only the client secret.
    """
    wanted = dict(SECRET_ENVIRONMENT)
    credentials = {} if destroy else _credential_secret_keys(stack_file)
    for key, kind in credentials.items():
        wanted[key] = (
            TOKEN_ENVIRONMENT if kind == "huggingFace" else secret_variable(key)
        )
    secrets: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for key, variable in wanted.items():
        value = os.environ.get(variable)
        if value:
            secrets[key] = value
        elif key not in stack_file.config:
            missing.setdefault(variable, []).append(key)
    if missing:
        needed = [f"{v} (for {', '.join(keys)})" for v, keys in missing.items()]
        raise RunaiHFError("set the environment variables " + ", ".join(needed))
    return stack_file.with_secrets(secrets)


def command_apply(stack_file: StackFile, *, destroy: bool, state: Path) -> int:
    _require_loopback(stack_file)
    print(f"local demo: engine simulation, not Pulumi (state in {state})")
    if not destroy:
        violations = check_policies(stack_file, plan(stack_file))
        _print_violations(violations)
        if any(v.enforcement == "mandatory" for v in violations):
            return 1
    engine = SimulatedEngine(
        program_dir=PROJECT_DIR,
        stack_file=_with_environment_secrets(stack_file, destroy=destroy),
        state_path=state,
        report=lambda line: print(f"  {line}", flush=True),
    )
    summary = engine.destroy() if destroy else engine.up()
    print(f"done: {summary.counts()}")
    if not destroy:
        _print_exports(summary.exports)
    return 0


def _print_exports(exports: dict[str, Any]) -> None:
    for name, inference in (display(exports.get("inferences")) or {}).items():
        print(f"inference {name}: {inference.get('phase')} at {inference.get('url')}")
        print(inference.get("curl") or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m preflight", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--stack", required=True, help="stack name: stacks/Pulumi.<name>.yaml"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--apply", action="store_true", help="local demo: apply to the emulator"
    )
    mode.add_argument(
        "--destroy", action="store_true", help="local demo: delete what it made"
    )
    mode.add_argument(
        "--baseline",
        type=Path,
        metavar="OLD.yaml",
        help="also print what changes from this old stack file, offline",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="DIR",
        help="also write the Kubernetes objects (Knative delivery) as YAML, "
        "one file each, secrets masked",
    )
    parser.add_argument(
        "--state", type=Path, help="local demo state file (default .state/<stack>.json)"
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="resolve `existing: true` references in Run:ai (reads only, through "
        "the stack's connection and RUNAI_CLIENT_SECRET); with --baseline: not "
        "available yet",
    )
    args = parser.parse_args(argv)
    if args.online and args.baseline:
        print(f"preflight: {ONLINE_UNAVAILABLE}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    try:
        stack_file = load_stack_file(PROJECT_DIR, args.stack)
        if args.apply or args.destroy:
            logging.getLogger("runai_hf").setLevel(logging.INFO)
            state = args.state or PROJECT_DIR / ".state" / f"{args.stack}.json"
            return command_apply(stack_file, destroy=args.destroy, state=state)
        return command_plan(
            stack_file,
            as_json=args.json,
            baseline=args.baseline,
            render=args.render,
            online=args.online,
        )
    except (RunaiHFError, EngineError, FileNotFoundError, StackFileError) as error:
        print(f"preflight: stack {args.stack}: {error}", file=sys.stderr)
        if args.json:
            # Tools reading stdout get the failure too, not an empty document.
            print(json.dumps({"stack": args.stack, "error": str(error)}, indent=2))
        return 1


if __name__ == "__main__":
    sys.exit(main())
