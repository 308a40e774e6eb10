"""Generate docs/configuration.md from the stack model's JSON schema.

`python -m components._reference` prints it; `--write` updates the file. A
test fails when the committed file and the model disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .config import PROJECT_NAMESPACE, RUNAI_NAMESPACE, StackConfig

__all__ = ["DOC_PATH", "render"]

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

_INTRO = f"""# Stack configuration reference

Generated from the pydantic model in `components/config.py` by
`python -m components._reference --write`; a test fails when this file and the
model disagree. Keys live in two namespaces: `{RUNAI_NAMESPACE}:` for the
control-plane connection, `{PROJECT_NAMESPACE}:` for everything else. Structured
values are YAML mappings and lists in `stacks/Pulumi.<stack>.yaml`.

Secrets are never part of the structured config: each is a top-level key set
with `pulumi config set --secret <key>` (`runai:clientSecret`, the HF token
key a huggingFace credential names in `tokenKey`, default `hfToken`, and the
password key a dockerRegistry or password credential names in `passwordKey`).

The `runai:` keys are required, except in a Knative-only stack whose projects
are all declared (`existing: true` with `requestedNamespace` and `quotas`):
such a stack calls nothing in Run:ai.

Durations take seconds (`300`) or `90s`, `10m`, `1h30m`. CPU takes cores
(`2`, `0.5`) or millicores (`500m`). Memory takes `512MB`, `20GB` or a
Kubernetes quantity (`20Gi`).
"""

_SECRETS = [
    ("runai:clientSecret", "string, secret", "", "The service account's secret."),
    (
        "runai-hf:<tokenKey>",
        "string, secret",
        "",
        "The HF token a huggingFace credential reads (default key `hfToken`).",
    ),
    (
        "runai-hf:<passwordKey>",
        "string, secret",
        "",
        "The password a dockerRegistry or password credential reads.",
    ),
]


def render() -> str:
    schema = StackConfig.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.get("$defs", {})
    rows: list[tuple[str, str, str, str]] = []
    required = set(schema.get("required", []))
    for name, spec in schema["properties"].items():
        if name == "connection":
            connection = _object_of(spec, definitions) or {"properties": {}}
            for key, inner in connection["properties"].items():
                rows.append(_row(f"{RUNAI_NAMESPACE}:{key}", inner, definitions, False))
            continue
        rows.append(
            _row(f"{PROJECT_NAMESPACE}:{name}", spec, definitions, name in required)
        )
        rows += _nested(f"{PROJECT_NAMESPACE}:{name}", spec, definitions)
    rows += _SECRETS
    lines = [_INTRO, "| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{key}` | {kind} | {default} | {text} |"
        for key, kind, default, text in rows
    ]
    return "\n".join(lines) + "\n"


def _resolve(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in spec:
        return dict(definitions[spec["$ref"].rsplit("/", 1)[-1]])
    return spec


def _object_of(
    spec: dict[str, Any], definitions: dict[str, Any]
) -> dict[str, Any] | None:
    """The object schema inside `spec`, through lists and optional unions."""
    spec = _resolve(spec, definitions)
    if spec.get("type") == "array":
        return _object_of(spec.get("items", {}), definitions)
    for option in spec.get("anyOf", []):
        found = _object_of(option, definitions)
        if found is not None:
            return found
    return spec if "properties" in spec else None


def _nested(
    prefix: str, spec: dict[str, Any], definitions: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    inner = _object_of(spec, definitions)
    if inner is None:
        return []
    resolved = _resolve(spec, definitions)
    is_list = resolved.get("type") == "array" or any(
        _resolve(o, definitions).get("type") == "array"
        for o in resolved.get("anyOf", [])
    )
    base = f"{prefix}[]" if is_list else prefix
    required = set(inner.get("required", []))
    rows = []
    for name, child in inner["properties"].items():
        path = f"{base}.{name}"
        rows.append(_row(path, child, definitions, name in required))
        rows += _nested(path, child, definitions)
    return rows


def _type(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    spec = _resolve(spec, definitions)
    if spec.get("format") == "duration":
        return "duration: seconds (`300`) or `90s`, `10m`, `1h30m`"
    if "enum" in spec:
        return " \\| ".join(f"`{value}`" for value in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    if "anyOf" in spec:
        kinds = [_type(o, definitions) for o in spec["anyOf"]]
        return " or ".join(k for k in kinds if k != "null") or "null"
    kind = spec.get("type", "mapping" if "properties" in spec else "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}), definitions)}"
    if kind == "object" and "properties" in spec:
        return "mapping"
    if kind == "object":
        return _mapping(spec.get("additionalProperties"), definitions)
    return str(kind)


def _mapping(values: Any, definitions: dict[str, Any]) -> str:
    """A mapping's type by what its values are: named settings or plain values."""
    if not isinstance(values, dict) or not values:
        return "mapping"
    values = _resolve(values, definitions)
    if values.get("type") == "object" or "properties" in values:
        return "mapping of name to settings"
    inner = _type(values, definitions)
    return "mapping of strings" if inner == "string" else f"mapping of name to {inner}"


def _bounds(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    spec = _resolve(spec, definitions)
    options = spec.get("anyOf", [spec])
    parts = []
    for option in options:
        for key, word in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        ):
            if key in option:
                parts.append(f"{word} {option[key]}")
    return f" ({', '.join(parts)})" if parts else ""


def _row(
    key: str, spec: dict[str, Any], definitions: dict[str, Any], required: bool
) -> tuple[str, str, str, str]:
    kind = _type(spec, definitions) + _bounds(spec, definitions)
    if required:
        kind += ", required"
    default = ""
    if "default" in spec and spec["default"] not in (None, [], {}):
        default = f"`{json.dumps(spec['default'])}`"
    text = (
        spec.get("description") or _resolve(spec, definitions).get("description") or ""
    )
    return key, kind, default, " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
