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

__all__ = ["SECRET_PLACEHOLDER", "StackFile", "StackFileError", "load_stack_file"]

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
    # YAML dates and binary values become strings, as the CLI would send them.
    return value if isinstance(value, str) else json.dumps(value, default=str)


class StackFileError(ValueError):
    """A stack file that is not the YAML mapping Pulumi reads."""


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(error, "problem", None) or "unreadable YAML"
        hint = "; indent with spaces, not tabs" if "\t" in path.read_text() else ""
        raise StackFileError(
            f"{path} is not valid YAML{line}: {problem}{hint}"
        ) from None


def _config_section(path: Path, document: Any) -> dict[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path} must be a mapping with a `config:` section")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config:` must map keys to values")
    bad = [key for key in config if not isinstance(key, str)]
    if bad:
        raise StackFileError(f"{path}: config key {bad[0]!r} is not a string")
    return config


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
    declared_secret: set[str] = set()
    for key, declared in (project_file.get("config") or {}).items():
        if isinstance(declared, dict) and declared.get("secret"):
            declared_secret.add(qualified(key))
        if isinstance(declared, dict) and (
            "default" in declared or "value" in declared
        ):
            config[qualified(key)] = _text(
                declared.get("value", declared.get("default"))
            )
    stack_values = _config_section(path, _read_yaml(path))
    for key, value in stack_values.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[qualified(key)] = SECRET_PLACEHOLDER
            secret_keys.add(qualified(key))
        elif qualified(key) in declared_secret:
            # The CLI refuses a declared secret in clear; so does the preflight,
            # without repeating the value.
            raise StackFileError(
                f"{qualified(key)}: holds a plain value, but Pulumi.yaml declares it "
                f"secret: run `pulumi config set --secret {key}` instead"
            )
        else:
            config[qualified(key)] = _text(value)
    return StackFile(project, stack, path, config, frozenset(secret_keys))
