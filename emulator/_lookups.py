"""Environments, compute resources and workload templates: assets to look up.

The project only reads these (by name, then by id), so the emulator keeps them
minimal: POST stores the spec as sent (nulls dropped), GET lists (with the
usual asset filters, `name` among them) and reads one, PUT replaces an
environment's or compute resource's spec (so a test can edit what a stack only
references), DELETE removes one. Templates take no PUT. A workload template's
`assets` name an environment, maybe a compute resource and data sources by
id; each must exist (with that kind), and the template shows them as
`{id, name}` references, as the document's `WorkloadTemplate` does.
"""

from __future__ import annotations

from collections.abc import Callable

from ._assets import Kind, Prepared, kind_endpoints
from ._errors import ApiError, bad_request
from ._http import Call, Reply
from ._naming import derived_name
from ._records import Asset, Json

__all__ = ["ENDPOINTS"]

_DELETED = Reply(202, {"code": 202, "message": "The asset is being deleted"})


def _prepare_as_sent(call: Call, meta: Json, asset_id: str) -> Prepared:
    spec = {k: v for k, v in (call.body.get("spec") or {}).items() if v is not None}
    return Prepared(spec, derived_name(meta["name"], asset_id[:5]))


def _referenced(call: Call, field: str, asset_id: object, kind: str | None) -> Asset:
    asset = call.emulator.store.get(Asset, str(asset_id))
    if asset is None or (kind is not None and asset.asset_kind != kind):
        what = f"{kind} asset" if kind else "asset"
        raise bad_request(f"{field}: there is no {what} with id {asset_id!r}")
    return asset


def _prepare_template(call: Call, meta: Json, asset_id: str) -> Prepared:
    requested = call.body["spec"]
    assets = requested["assets"]
    field = "spec.assets"
    environment = _referenced(
        call, f"{field}.environment", assets["environment"], "environment"
    )
    refs: Json = {"environment": _ref(environment)}
    if assets.get("compute"):
        compute = _referenced(call, f"{field}.compute", assets["compute"], "compute")
        refs["compute"] = _ref(compute)
    sources = []
    for index, source in enumerate(assets.get("datasources") or []):
        where = f"{field}.datasources[{index}]"
        found = _referenced(call, f"{where}.id", source["id"], None)
        if found.asset_kind != source["kind"]:
            raise bad_request(
                f"{where}.kind: asset {source['id']!r} is a {found.asset_kind!r},"
                f" not a {source['kind']!r}"
            )
        sources.append({**_ref(found), "kind": found.asset_kind})
    if sources:
        refs["datasources"] = sources
    if assets.get("workloadVolumes"):
        refs["workloadVolumes"] = assets["workloadVolumes"]
    spec: Json = {"assets": refs}
    if requested.get("specificEnv") is not None:
        spec["specificEnv"] = requested["specificEnv"]
    return Prepared(spec, derived_name(meta["name"], asset_id[:5]))


def _ref(asset: Asset) -> Json:
    return {"id": asset.id, "name": asset.meta["name"]}


def _no_update(call: Call, asset: Asset) -> None:  # pragma: no cover - no PUT route
    raise ApiError(405, "updating this asset is not emulated")


def _replace_spec(call: Call, asset: Asset) -> None:
    """PUT of an environment or compute resource: a new name, description and
    whole spec (the update request carries the full asset spec)."""
    meta = call.body["meta"]
    asset.meta = {**asset.meta, "name": meta["name"]}
    if meta.get("description") is not None:
        asset.meta["description"] = meta["description"]
    spec = call.body.get("spec") or {}
    asset.spec = {k: v for k, v in spec.items() if v is not None}


def _unused(spec: Json, name: str) -> bool:
    return False


def _lookup(
    path: str,
    asset_kind: str,
    label: str,
    prepare: Callable[[Call, Json, str], Prepared],
    update: Callable[[Call, Asset], None] = _no_update,
) -> Kind:
    return Kind(
        base=f"/api/v1/asset/{path}",
        asset_kind=asset_kind,
        label=label,
        prepare=prepare,
        update=update,
        uses=_unused,
        deleted=_DELETED,
    )


KINDS = (
    _lookup(
        "environment", "environment", "environment", _prepare_as_sent, _replace_spec
    ),
    _lookup("compute", "compute", "compute resource", _prepare_as_sent, _replace_spec),
    _lookup(
        "workload-template",
        "workload-template",
        "workload template",
        _prepare_template,
    ),
)

ENDPOINTS = [
    endpoint
    for kind in KINDS
    for endpoint in kind_endpoints(kind)
    if endpoint.method != "PUT" or kind.update is not _no_update
]
