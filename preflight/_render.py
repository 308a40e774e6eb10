"""`--render DIR`: the Kubernetes objects of a plan as YAML files, secrets masked.

One file per object, named as pulumi-kubernetes' own renderer names them
(`<apiVersion>-<kind>-<namespace>-<name>.yaml`), so a GitOps repository or a
reviewer sees what `pulumi up` would apply. Secret values are written as
`[secret]`: the files may be committed. Each Knative Service is checked
against the vendored CRD schema before it is written.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pulumi.runtime import rpc

from ._plan import SECRET_TEXT, display, in_plan_order
from ._runtime import Registration

__all__ = ["SERVICE_CRD", "render_manifests", "service_schema"]

SERVICE_CRD = (
    Path(__file__).resolve().parent.parent
    / "components"
    / "schemas"
    / "knative-serving-300-resources-service.yaml"
)
KUBERNETES_PREFIX = "kubernetes:"
_FIELDS = ("apiVersion", "kind", "metadata", "type", "data", "stringData", "spec")


@functools.cache
def service_schema() -> dict[str, Any]:
    """The `openAPIV3Schema` of serving.knative.dev/v1 Service."""
    crd = yaml.safe_load(SERVICE_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def manifest_of(registration: Registration) -> dict[str, Any]:
    raw = dict(registration.inputs)
    for key in ("data", "stringData"):
        # pulumi-kubernetes makes the whole map secret; its keys are not, and
        # a map of masked values still reads (and validates) as a Secret.
        value = raw.get(key)
        if rpc.is_rpc_secret(value) and isinstance(rpc.unwrap_rpc_secret(value), dict):
            raw[key] = {name: SECRET_TEXT for name in rpc.unwrap_rpc_secret(value)}
    inputs = display(raw)
    return {key: inputs[key] for key in _FIELDS if inputs.get(key) is not None}


def file_name(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata") or {}
    api = str(manifest["apiVersion"]).replace("/", "_").replace(":", "_")
    namespace = metadata.get("namespace") or "default"
    return f"{api}-{str(manifest['kind']).lower()}-{namespace}-{metadata['name']}.yaml"


def schema_problems(manifest: dict[str, Any]) -> list[str]:
    if manifest.get("apiVersion") != "serving.knative.dev/v1":
        return []
    validator = jsonschema.Draft7Validator(service_schema())
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def render_manifests(
    registrations: list[Registration], directory: Path
) -> tuple[list[Path], list[str]]:
    """Write every Kubernetes object; (files written, schema problems)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    problems: list[str] = []
    for registration in in_plan_order(registrations):
        if not registration.type.startswith(KUBERNETES_PREFIX):
            continue
        manifest = manifest_of(registration)
        name = file_name(manifest)
        problems += [f"{name}: {problem}" for problem in schema_problems(manifest)]
        path = directory / name
        path.write_text(yaml.safe_dump(manifest, sort_keys=True))
        written.append(path)
    return written, problems
