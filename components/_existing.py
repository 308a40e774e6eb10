"""What an inference copies from assets it references instead of defining.

The inference API takes everything inline: an environment's image and
arguments, a compute resource's requests and a data source's spec are written
into `InferenceSpecSpec`, not referenced by id. These functions do that copy
once the lookups have answered. The rule is the same everywhere: what the
stack sets on the inference wins; what it leaves unset comes from the asset;
what neither says keeps the program's default for the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import InferenceConfig
from .errors import RunaiHFError

__all__ = [
    "compute_from_asset",
    "environment_from_asset",
    "storage_from_asset",
    "storage_with_template",
    "template_environment",
    "variables_from_asset",
]

_ENVIRONMENT_PLAIN = {
    "image": "image",
    "imagePullPolicy": "image_pull_policy",
    "command": "command",
    "workingDir": "working_dir",
}
"""Spec field -> the InferenceConfig field that, when set, keeps the asset's out."""

_SECURITY_KEYS = (
    "uidGidSource",
    "runAsUid",
    "runAsGid",
    "supplementalGroups",
    "capabilities",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "seccompProfileType",
)

_COMPUTE_GROUPS: dict[str, tuple[str, ...]] = {
    "gpu.devices": ("gpuDevicesRequest",),
    "gpu.portion": ("gpuRequestType", "gpuPortionRequest", "gpuMemoryRequest"),
    "gpu.memory": ("gpuRequestType", "gpuMemoryRequest", "gpuPortionRequest"),
    "gpu.portion_limit": ("gpuPortionLimit",),
    "gpu.memory_limit": ("gpuMemoryLimit",),
    "cpu.request": ("cpuCoreRequest",),
    "cpu.limit": ("cpuCoreLimit",),
    "memory.request": ("cpuMemoryRequest",),
    "memory.limit": ("cpuMemoryLimit",),
    "large_shared_memory": ("largeShmRequest",),
    "extended_resources": ("extendedResources",),
}
"""A setting of the stack -> the compute keys it decides (and the asset's it
drops: a portion request replaces a memory request, and the other way)."""

_COMPUTE_ASSET_KEYS = frozenset(k for keys in _COMPUTE_GROUPS.values() for k in keys)

_STORAGE_KEYS = {
    "pvc": "pvc",
    "nfs": "nfs",
    "host-path": "hostPath",
    "git": "git",
    "config-map": "configMapVolume",
    "secret": "secretVolume",
}
"""A lookup's data source kind -> its list under the inference's `spec.storage`."""

_STORAGE_FIELDS = {
    "nfs": ("server", "path", "mountPath", "readOnly"),
    "host-path": ("path", "mountPath", "readOnly", "mountPropagation"),
    "config-map": ("configMap", "mountPath", "subPath", "defaultMode"),
    "secret": ("mountPath", "defaultMode"),
    "git": ("repository", "branch", "revision", "path"),
}


def environment_from_asset(
    spec: Mapping[str, Any], asset: Mapping[str, Any], settings: InferenceConfig
) -> dict[str, Any]:
    """The spec with what the stack leaves unset taken from an environment
    (all but the variables: see `variables_from_asset`)."""
    chosen = settings.model_fields_set
    result = dict(spec)
    for key, field in _ENVIRONMENT_PLAIN.items():
        if field not in chosen and asset.get(key) is not None:
            result[key] = asset[key]
    if "args" not in chosen and asset.get("args"):
        # The model and port are the program's; the asset adds its own flags.
        result["args"] = f"{spec['args']} {asset['args']}"
    if "security" not in chosen:
        security = {k: asset[k] for k in _SECURITY_KEYS if asset.get(k) is not None}
        if security:
            result["security"] = security
    return result


def variables_from_asset(
    asset: Mapping[str, Any], ours: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The asset's variables under the inference's own (same name: ours win)."""
    taken = {variable["name"] for variable in ours}
    copied = []
    for variable in asset.get("environmentVariables") or []:
        name = variable.get("name")
        if not name or name in taken or variable.get("exclude"):
            continue
        if variable.get("credential") is not None and not variable.get("secret"):
            # The lookup names the secret of every credential it can read.
            credential = variable["credential"].get("assetId")
            raise RunaiHFError(
                f"environment variable {name!r} of the referenced environment reads "
                f"credential {credential}, which Run:ai does not have (or has no "
                "Kubernetes secret for): fix the environment in Run:ai, or set "
                f"{name} on the inference with env: [{{name: {name}, credential: "
                "<a credential of this stack>, key: ...}]"
            )
        entry = {"name": name}
        for key in ("value", "secret", "configMap", "podFieldRef"):
            if variable.get(key) is not None:
                entry[key] = variable[key]
        copied.append(entry)
    return copied + list(ours)


_SPECIFIC_ENVIRONMENT_KEYS = (
    "args",
    "command",
    "runAsUid",
    "runAsGid",
    "supplementalGroups",
)
"""What a template's `specificEnv` may say over its environment asset."""


def template_environment(
    environment: Mapping[str, Any] | None, template: Mapping[str, Any]
) -> dict[str, Any]:
    """A template's environment asset with its `specificEnv` laid over it."""
    result = dict(environment or {})
    specific = template.get("specificEnv") or {}
    for key in _SPECIFIC_ENVIRONMENT_KEYS:
        if specific.get(key) is not None:
            result[key] = specific[key]
    variables = specific.get("environmentVariables") or []
    if variables:
        named = {variable.get("name") for variable in variables}
        kept = [
            variable
            for variable in result.get("environmentVariables") or []
            if variable.get("name") not in named
        ]
        result["environmentVariables"] = kept + list(variables)
    return result


def compute_from_asset(
    compute: Mapping[str, Any], asset: Mapping[str, Any], settings: InferenceConfig
) -> dict[str, Any]:
    """The compute block: the asset's requests, then what the stack sets."""
    result = {k: v for k, v in asset.items() if k in _COMPUTE_ASSET_KEYS}
    result = {k: v for k, v in result.items() if v is not None}
    for setting, keys in _COMPUTE_GROUPS.items():
        if _is_set(settings, setting):
            for key in keys:
                result.pop(key, None)
    result.update(_compute_set_in_stack(compute, settings))
    if "largeShmRequest" not in result and compute.get("largeShmRequest"):
        # The server needs it (TGI, tensor parallelism) whatever the asset says.
        result["largeShmRequest"] = True
    result.setdefault("gpuDevicesRequest", compute.get("gpuDevicesRequest", 1))
    return result


def _compute_set_in_stack(
    compute: Mapping[str, Any], settings: InferenceConfig
) -> dict[str, Any]:
    """Only the compute keys the stack decides; a template or asset fills the rest."""
    keys = {
        key
        for setting, decided in _COMPUTE_GROUPS.items()
        if _is_set(settings, setting)
        for key in decided
    }
    return {key: value for key, value in compute.items() if key in keys}


def _is_set(settings: InferenceConfig, setting: str) -> bool:
    head, _, tail = setting.partition(".")
    if head not in settings.model_fields_set:
        return False
    if not tail:
        return True
    part = getattr(settings, head)
    return part is not None and tail in part.model_fields_set


def storage_from_asset(
    kind: str, name: str, lookup: Mapping[str, Any], *, mount_path: str | None = None
) -> dict[str, Any]:
    """One `spec.storage` entry copied from an existing data source.

    `lookup` is a lookup's outputs: `spec`, `clusterName` and, for a secret
    volume, `secretName`. A PVC is mounted by its claim at `mount_path` (the
    model store's), the others where the asset says.
    """
    spec = lookup.get("spec") or {}
    if kind == "pvc":
        claim = lookup.get("clusterName") or spec.get("claimName")
        return {
            "name": name,
            "claimName": claim,
            "existingPvc": True,
            "readOnly": bool(spec.get("readOnly")),
            "path": mount_path or spec.get("path"),
        }
    entry: dict[str, Any] = {"name": name}
    entry.update({k: spec[k] for k in _STORAGE_FIELDS[kind] if spec.get(k) is not None})
    if kind == "secret":
        entry["secret"] = lookup["secretName"]
    if kind == "git" and lookup.get("secretName"):
        entry["secretRef"] = {
            "name": lookup["secretName"],
            "authenticationMethod": "password",
        }
    return entry


def storage_with_template(
    storage: Mapping[str, Any], sources: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """The inference's mounts, then a template's data sources where the
    inference has no mount of that name or at that path (its own win)."""
    result = {key: list(entries) for key, entries in storage.items()}
    taken = {
        (entry.get("name"), entry.get("mountPath") or entry.get("path"))
        for entries in result.values()
        for entry in entries
    }
    names = {name for name, _ in taken}
    paths = {path for _, path in taken}
    for source in sources:
        entry = storage_from_asset(str(source["kind"]), str(source["name"]), source)
        path = entry.get("mountPath") or entry.get("path")
        if entry["name"] in names or path in paths:
            continue
        result.setdefault(_STORAGE_KEYS[str(source["kind"])], []).append(entry)
    return result
