"""Workload templates merged into an inference at creation (`templateId`).

Run:ai merges "the spec, the template and its assets": what the request sets
wins, the template's environment and compute resource fill the rest, and its
`specificEnv` fills what both leave open. The emulator does the same for the
fields an inference spec has, so a stack that leaves the image to a template
gets the template's image. A template's data sources are not mounted (the
inference API takes storage inline; see README).
"""

from __future__ import annotations

from ._errors import bad_request
from ._records import Asset, Json, Project
from ._spec import schema_properties
from ._state import Emulator

__all__ = ["with_template"]

_SPEC_FIELDS = schema_properties("InferenceCreationRequest", "spec")
_COMPUTE_FIELDS = schema_properties("InferenceCreationRequest", "spec", "compute")
_SECURITY_FIELDS = schema_properties("InferenceCreationRequest", "spec", "security")
_ENVIRONMENT_FIELDS = ("image", "imagePullPolicy", "command", "args", "workingDir")


def with_template(
    emulator: Emulator, template_id: str, spec: Json, project: Project
) -> Json:
    """`spec` with what the template and its assets supply where it is silent."""
    template = _asset(emulator, "templateId", template_id, "workload-template")
    _check_visible(template, project)
    assets = template.spec.get("assets") or {}
    merged = dict(spec)

    environment = _asset(
        emulator, "template environment", assets["environment"]["id"], "environment"
    )
    _fill(merged, environment.spec, _ENVIRONMENT_FIELDS)
    _fill_security(merged, environment.spec)
    _merge_variables(merged, environment.spec.get("environmentVariables") or [])

    if assets.get("compute"):
        compute = _asset(
            emulator, "template compute", assets["compute"]["id"], "compute"
        )
        filled = dict(compute.spec)
        filled.update(merged.get("compute") or {})
        merged["compute"] = {k: v for k, v in filled.items() if k in _COMPUTE_FIELDS}

    specific = template.spec.get("specificEnv") or {}
    _fill(merged, specific, tuple(k for k in specific if k in _SPEC_FIELDS))
    return merged


def _asset(emulator: Emulator, field: str, asset_id: object, kind: str) -> Asset:
    asset = emulator.store.get(Asset, str(asset_id))
    if asset is None or asset.asset_kind != kind:
        raise bad_request(f"{field}: there is no {kind} with id {asset_id!r}")
    return asset


def _check_visible(template: Asset, project: Project) -> None:
    meta = template.meta
    # Asset metas carry the project id as a number, projects as a string.
    if meta.get("scope") == "project" and str(meta.get("projectId")) != project.id:
        raise bad_request(
            f"templateId: workload template {meta.get('name')!r} belongs to project"
            f" {meta.get('projectId')}, not to project {project.id}"
        )


def _fill(spec: Json, source: Json, fields: tuple[str, ...]) -> None:
    for field in fields:
        if spec.get(field) is None and source.get(field) is not None:
            spec[field] = source[field]


def _fill_security(spec: Json, environment: Json) -> None:
    if spec.get("security") is not None:
        return
    security = {
        k: v for k, v in environment.items() if k in _SECURITY_FIELDS and v is not None
    }
    if security:
        spec["security"] = security


def _merge_variables(spec: Json, inherited: list[Json]) -> None:
    own = list(spec.get("environmentVariables") or [])
    names = {variable.get("name") for variable in own}
    kept = [
        {k: v for k, v in variable.items() if k in ("name", "value", "configMap")}
        for variable in inherited
        if variable.get("name") not in names and variable.get("value") is not None
    ]
    if kept or own:
        spec["environmentVariables"] = kept + own
