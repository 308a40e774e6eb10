"""The pack: its name, every policy, and the environment's config.

`__main__.py` wraps these in a PolicyPack (whose constructor serves gRPC and
never returns); the offline preflight and the tests load this module directly.
The rules live by group in `priority`, `quota` and `hygiene`, on the views in
`views`. The modules import each other by their top-level names: the CLI runs
the pack directory itself (`python -m pulumi.policy <engine> <pack dir>`), so
its directory, whatever its name, is what is on `sys.path`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi.runtime
from hygiene import HYGIENE_POLICIES
from priority import PRIORITY_POLICIES
from pulumi_policy import EnforcementLevel, Policy
from quota import QUOTA_POLICIES

__all__ = ["PACK_NAME", "POLICIES", "environment_config", "initial_config"]

PACK_NAME = "runai-hf-guardrails"

POLICIES: list[Policy] = [*PRIORITY_POLICIES, *QUOTA_POLICIES, *HYGIENE_POLICIES]

_LEVELS = {
    policy.name: policy.enforcement_level.value
    for policy in POLICIES
    if policy.enforcement_level is not None
}

CONFIG_DIR = Path(__file__).resolve().parent / "config"
ENVIRONMENT_KEY = "runai-hf:environment"

InitialConfig = dict[str, EnforcementLevel | dict[str, Any]]


def environment_config(environment: str) -> dict[str, Any]:
    """`config/<env>.json`, the `--policy-pack-config` file of an environment.

    `local` uses the dev file; an environment without a file gets {}.
    """
    name = "dev" if environment == "local" else environment
    path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _initial(name: str, value: Any) -> EnforcementLevel | dict[str, Any]:
    if isinstance(value, str):
        return EnforcementLevel(value)
    # The CLI reads an initial entry without a level as advisory (protobuf has
    # no "unset"), so an entry that names none keeps the policy's own level.
    settings = dict(value)
    level = settings.get("enforcementLevel") or _LEVELS.get(name, "advisory")
    settings["enforcementLevel"] = EnforcementLevel(level)
    return settings


def initial_config(environment: str | None = None) -> InitialConfig | None:
    """The stack's environment file as the pack's initial config.

    The CLI starts the pack with the stack's config in PULUMI_CONFIG, so the
    pack knows `runai-hf:environment` and a plain `pulumi preview
    --policy-pack policies` checks each stack by its environment's file; a
    `--policy-pack-config` file still applies on top of it.
    """
    environment = environment or pulumi.runtime.get_config(ENVIRONMENT_KEY)
    if not environment:
        return None
    document = environment_config(str(environment))
    return {name: _initial(name, value) for name, value in document.items()} or None
