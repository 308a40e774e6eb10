"""Read a stack's configuration the way the Pulumi CLI hands it to a program.

Order: `config:` defaults and values from Pulumi.yaml, then
`stacks/Pulumi.<stack>.yaml`. Values become strings (mappings and lists as
JSON), because that is what the engine sends. `secure:` values cannot be
decrypted without the CLI; they count as secret keys with a placeholder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SECRET_PLACEHOLDER", "StackFile", "load_stack_file"]

SECRET_PLACEHOLDER = "[secret]"


@dataclasses.dataclass(frozen=True)
class StackFile:
    """One stack's raw configuration, keyed by fully qualified key."""

    project: str
    stack: str
    path: Path
    config: dict[str, str]
    secret_keys: frozenset[str]

    def get(self, key: str) -> str | None:
        return self.config.get(key)

    def with_secrets(self, secrets: dict[str, str]) -> StackFile:
        """A copy where `secrets` (key -> value) are set and counted as secret."""
        return dataclasses.replace(
            self,
            config={**self.config, **secrets},
            secret_keys=self.secret_keys | frozenset(secrets),
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def load_stack_file(project_dir: Path, stack: str) -> StackFile:
    """Merge Pulumi.yaml and the stack file; raise FileNotFoundError naming both."""
    project_file = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    project = str(project_file["name"])
    stack_dir = project_dir / str(project_file.get("stackConfigDir") or ".")
    path = stack_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[7:-5] for p in stack_dir.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(
            f"no stack file {path}: known stacks are {', '.join(known) or 'none'}"
        )

    def qualified(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, declared in (project_file.get("config") or {}).items():
        if isinstance(declared, dict) and declared.get("secret"):
            secret_keys.add(qualified(key))
        if isinstance(declared, dict) and (
            "default" in declared or "value" in declared
        ):
            config[qualified(key)] = _text(
                declared.get("value", declared.get("default"))
            )
    stack_values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    for key, value in stack_values.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[qualified(key)] = SECRET_PLACEHOLDER
            secret_keys.add(qualified(key))
        else:
            config[qualified(key)] = _text(value)
    return StackFile(project, stack, path, config, frozenset(secret_keys))
