"""Data sources beside PVC: nfs, host-path, git, config-map and secrets.

They share the asset envelope, scope rules and CRUD flow of `_assets`. What
differs is the spec each kind keeps and what a PUT may change, both read from
the OpenAPI document: host-path, nfs and git take `{meta, spec}` and replace
the whole spec; config-map and secrets keep their spec for good (their update
schemas have `meta` only, though the document still lists `spec` as required,
so a PUT may repeat the stored spec but not change it).

A git data source's `credentialId` (or the deprecated `passwordAssetId`) and a
secrets data source's `credentialAssetId` must name an existing credential.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._assets import (
    Kind,
    Prepared,
    check_unchanged,
    check_unique,
    kind_endpoints,
)
from ._errors import bad_request
from ._http import Call, Reply
from ._naming import check_dns_label, derived_name
from ._records import Asset, Json
from ._spec import schema_properties

__all__ = ["ENDPOINTS"]

_DELETED = Reply(202, {"code": 202, "message": "The data source is being deleted"})
_META_UPDATABLE = schema_properties("AssetUpdateRequest")


@dataclasses.dataclass(frozen=True)
class _Shape:
    """One kind's spec: its fields (from the document), musts and defaults."""

    schema: str
    required: tuple[str, ...]
    defaults: Json
    spec_updatable: bool

    @property
    def fields(self) -> frozenset[str]:
        return schema_properties(self.schema)


def _spec_of(shape: _Shape, body: Json) -> Json:
    spec = {key: value for key, value in body.items() if value is not None}
    unknown = sorted(set(spec) - shape.fields)
    if unknown:
        raise bad_request(
            f"spec.{unknown[0]}: not a field of this data source; it takes"
            f" {', '.join(sorted(shape.fields))}"
        )
    for field in shape.required:
        if not spec.get(field):
            raise bad_request(f"spec.{field}: required for this kind of data source")
    return {**shape.defaults, **spec}


def _credential(call: Call, field: str, asset_id: str, kinds: tuple[str, ...]) -> Asset:
    asset = call.emulator.store.get(Asset, asset_id)
    if asset is None or asset.asset_kind not in kinds:
        raise bad_request(
            f"{field}: there is no credential with id {asset_id!r} of kind"
            f" {' or '.join(kinds)}; create one under /api/v1/asset/credentials"
        )
    return asset


def _preparer(
    shape: _Shape, check: Callable[[Call, Json], str | None]
) -> Callable[[Call, Json, str], Prepared]:
    def prepare(call: Call, meta: Json, asset_id: str) -> Prepared:
        spec = _spec_of(shape, call.body["spec"])
        cluster_name = check(call, spec)
        return Prepared(spec, cluster_name or derived_name(meta["name"], asset_id[:5]))

    return prepare


def _no_check(call: Call, spec: Json) -> str | None:
    return None


_GIT_CREDENTIALS = ("password", "genericSecret")
_VOLUME_CREDENTIALS = ("genericSecret", "password", "dockerRegistry")


def _check_git(call: Call, spec: Json) -> str | None:
    for field in ("credentialId", "passwordAssetId"):
        if field in spec:
            kinds = _GIT_CREDENTIALS if field == "credentialId" else ("password",)
            _credential(call, f"spec.{field}", spec[field], kinds)
    return None


def _check_config_map(call: Call, spec: Json) -> str | None:
    check_dns_label("spec.configMap", spec["configMap"])
    return str(spec["configMap"])


def _check_secret_volume(call: Call, spec: Json) -> str | None:
    field = "spec.credentialAssetId"
    asset_id = spec["credentialAssetId"]
    return _credential(call, field, asset_id, _VOLUME_CREDENTIALS).cluster_name


def _updater(shape: _Shape) -> Callable[[Call, Asset], None]:
    def update(call: Call, asset: Asset) -> None:
        extra = sorted(key for key in call.body if key not in ("meta", "spec"))
        if extra:
            raise bad_request(
                f"{extra[0]}: not a field of this data source's update; it takes"
                " meta and spec"
            )
        meta = call.body["meta"]
        unknown = sorted(key for key in meta if key not in _META_UPDATABLE)
        if unknown:
            raise bad_request(
                f"meta.{unknown[0]}: cannot change on an existing data source; only"
                " meta.name and meta.description can"
            )
        check_unchanged(asset, meta, allowed={"name", "description"})
        requested = call.body.get("spec") or {}
        if shape.spec_updatable:
            spec = _spec_of(shape, requested)
            if shape.schema == "GitAssetSpec":
                _check_git(call, spec)
        else:
            for key, value in sorted(requested.items()):
                if value is not None and asset.spec.get(key) != value:
                    raise bad_request(
                        f"spec.{key}: cannot change on an existing data source of"
                        " this kind; its update takes meta only (name,"
                        " description). Create a new data source instead"
                    )
            spec = asset.spec
        if meta["name"] != asset.meta["name"]:
            renamed = {**asset.meta, "name": meta["name"]}
            kind = next(k for k in KINDS if k.asset_kind == asset.asset_kind)
            check_unique(call.emulator, kind, renamed, skip=asset.id)
            asset.meta["name"] = meta["name"]
        if meta.get("description") is not None:
            asset.meta["description"] = meta["description"]
        asset.spec = spec

    return update


def _unused(spec: Json, name: str) -> bool:
    return False


def _kind(
    path: str,
    asset_kind: str,
    label: str,
    shape: _Shape,
    check: Callable[[Call, Json], str | None] = _no_check,
) -> Kind:
    return Kind(
        base=f"/api/v1/asset/datasource/{path}",
        asset_kind=asset_kind,
        label=label,
        prepare=_preparer(shape, check),
        update=_updater(shape),
        uses=_unused,
        deleted=_DELETED,
    )


_READ_ONLY = {"readOnly": True}
KINDS = (
    _kind(
        "nfs",
        "nfs",
        "NFS data source",
        _Shape("NFSAssetSpec", ("server", "path", "mountPath"), _READ_ONLY, True),
    ),
    _kind(
        "host-path",
        "hostPath",
        "host-path data source",
        _Shape("HostPathSpec", ("path", "mountPath"), _READ_ONLY, True),
    ),
    _kind(
        "git",
        "git",
        "git data source",
        _Shape("GitAssetSpec", ("repository", "path"), {}, True),
        _check_git,
    ),
    _kind(
        "config-map",
        "config-map",
        "config-map data source",
        _Shape("ConfigMapAssetSpec", ("configMap", "mountPath"), {}, False),
        _check_config_map,
    ),
    _kind(
        "secrets",
        "secret-volume",
        "secrets data source",
        _Shape("SecretAssetSpec", ("credentialAssetId", "mountPath"), {}, False),
        _check_secret_volume,
    ),
)

ENDPOINTS = [endpoint for kind in KINDS for endpoint in kind_endpoints(kind)]
