"""Credentials and data sources under `/api/v1/asset`.

Four kinds: generic-secret, docker-registry and password credentials, and PVC
data sources (`_datasources` and `_lookups` add more on the same flow). They
share the asset envelope (`meta`, `spec`, `clusterInfo`, `status`, `usedBy`)
and its scope rules: a `project` asset names an existing project by integer
id, and names are unique per kind within one scope. Each asset stands for one
Kubernetes object whose name is in `clusterInfo.resources[0].name`; workloads
refer to that name, not to the asset id.

Secret values never reach any answer, and the database keeps none of them: a
generic secret keeps only its keys, a docker-registry or password credential
only the SHA-256 of its password (so a test can tell which password was sent).
`status` appears when `statusInfo=true` (and on create), `usedBy` when
`usageInfo=true`, as in the real API.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable

from ._clock import ASSET_SYNC_SECONDS, iso
from ._errors import bad_request, conflict, not_found
from ._http import Call, Endpoint, Reply
from ._lifecycle import revision_states, revisions_by_workload, workload_state
from ._naming import check_dns_label, derived_name
from ._records import Asset, Inference, Json, Project
from ._state import TENANT_ID, Emulator

__all__ = [
    "ENDPOINTS",
    "Kind",
    "PASSWORD_ENDPOINTS",
    "Prepared",
    "check_unchanged",
    "check_unique",
    "kind_endpoints",
]

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_REGISTRY_LOGIN = ("user", "password", "url")
_SCOPE_ID = {
    "project": "projectId",
    "department": "departmentId",
    "cluster": "clusterId",
}


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What a kind makes of a creation request: the stored spec and more."""

    spec: Json
    cluster_name: str
    password_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class Kind:
    """What differs between asset kinds; the CRUD flow is shared."""

    base: str
    asset_kind: str
    label: str
    prepare: Callable[[Call, Json, str], Prepared]
    update: Callable[[Call, Asset], None]
    uses: Callable[[Json, str], bool]
    deleted: Reply
    encrypted: bool = False
    """Whether the spec shows `keyId`, the key that encrypts its values."""


def _create(kind: Kind) -> Callable[[Call], Reply]:
    def create(call: Call) -> Reply:
        emulator = call.emulator
        meta = _meta(emulator, call.body["meta"])
        asset_id = str(uuid.uuid4())
        prepared = kind.prepare(call, meta, asset_id)
        check_unique(emulator, kind, meta)
        asset = Asset(
            id=asset_id,
            asset_kind=kind.asset_kind,
            meta=meta,
            spec=prepared.spec,
            cluster_name=prepared.cluster_name,
            key_id=emulator.store.next_id("asset_key"),
            created_at=call.now,
            updated_at=call.now,
            created_by=emulator.settings.client_id,
            password_sha256=prepared.password_sha256,
        )
        emulator.store.save(asset)
        return Reply(202, _view(call, asset, status=True, usage=False, kind=kind))

    return create


def _list(kind: Kind) -> Callable[[Call], Reply]:
    def list_assets(call: Call) -> Reply:
        assets = [
            asset
            for asset in call.emulator.store.all(Asset)
            if asset.asset_kind == kind.asset_kind and _matches(call, asset)
        ]
        status, usage = call.flag("statusInfo"), call.flag("usageInfo")
        views = [_view(call, a, status=status, usage=usage, kind=kind) for a in assets]
        return Reply(200, {"entries": views})

    return list_assets


def _get(kind: Kind) -> Callable[[Call], Reply]:
    def get(call: Call) -> Reply:
        asset = _find(call, kind)
        status, usage = call.flag("statusInfo"), call.flag("usageInfo")
        return Reply(200, _view(call, asset, status=status, usage=usage, kind=kind))

    return get


def _put(kind: Kind) -> Callable[[Call], Reply]:
    def put(call: Call) -> Reply:
        asset = _find(call, kind)
        kind.update(call, asset)
        asset.updated_at = call.now
        asset.update_count += 1
        call.emulator.store.save(asset)
        return Reply(202, _view(call, asset, status=True, usage=False, kind=kind))

    return put


def _delete(kind: Kind) -> Callable[[Call], Reply]:
    def delete(call: Call) -> Reply:
        asset = _find(call, kind)
        call.emulator.store.remove(Asset, asset.id)
        return kind.deleted

    return delete


def _find(call: Call, kind: Kind) -> Asset:
    asset = call.emulator.store.get(Asset, call.params["AssetId"])
    if asset is None or asset.asset_kind != kind.asset_kind:
        raise not_found(kind.label, call.params["AssetId"])
    return asset


def _meta(emulator: Emulator, requested: Json) -> Json:
    meta = {key: value for key, value in requested.items() if value is not None}
    scope = meta["scope"]
    emulator.check_cluster("meta.clusterId", meta.get("clusterId"))
    if scope == "system":
        raise bad_request(
            "meta.scope: 'system' assets are made by Run:ai itself; use project,"
            " department, cluster or tenant"
        )
    for other, field in _SCOPE_ID.items():
        if other != scope and field in meta and field != "clusterId":
            raise bad_request(
                f"meta.{field}: only allowed with meta.scope {other!r}, not {scope!r}"
            )
    required = _SCOPE_ID.get(scope)
    if required is not None and required not in meta:
        raise bad_request(f"meta.{required}: required when meta.scope is {scope!r}")

    if scope == "project":
        project = emulator.project_for("meta.projectId", meta["projectId"])
        meta["clusterId"] = project.cluster_id
    if scope == "department":
        if emulator.department(meta["departmentId"]) is None:
            raise bad_request(
                f"meta.departmentId: there is no department with id"
                f" {meta['departmentId']!r}; GET /api/v1/org-unit/departments"
            )
        meta["clusterId"] = emulator.settings.cluster_id
    return meta


def _scope_key(meta: Json) -> tuple[str, object]:
    field = _SCOPE_ID.get(meta["scope"])
    return meta["scope"], meta.get(field) if field else None


def check_unique(
    emulator: Emulator, kind: Kind, meta: Json, *, skip: str | None = None
) -> None:
    for other in emulator.store.all(Asset):
        if (
            other.id != skip
            and other.asset_kind == kind.asset_kind
            and other.meta["name"] == meta["name"]
            and _scope_key(other.meta) == _scope_key(meta)
        ):
            scope, scope_id = _scope_key(meta)
            where = scope if scope_id is None else f"{scope} {scope_id}"
            raise conflict(
                f"meta.name: a {kind.label} named {meta['name']!r} already exists in"
                f" {where} (id {other.id}); names are unique per kind and scope"
            )


def _matches(call: Call, asset: Asset) -> bool:
    meta = asset.meta
    name, scope = call.query.get("name"), call.query.get("scope")
    if name is not None and meta["name"] != name:
        return False
    if scope is not None and meta["scope"] != scope:
        return False
    cluster_id = call.query.get("clusterId")
    if cluster_id is not None and meta.get("clusterId") not in (cluster_id, None):
        return False
    department_id = call.query.get("departmentId")
    if department_id is not None and not _under_department(call, meta, department_id):
        return False
    project_id = call.integer("projectId")
    return project_id is None or _visible_in_project(call, meta, project_id)


def _visible_in_project(call: Call, meta: Json, project_id: int) -> bool:
    # Without a scope filter a project sees its own assets and those of its
    # department, cluster and tenant, as the API documents.
    if meta["scope"] == "project":
        return bool(meta.get("projectId") == project_id)
    if call.query.get("scope") == "project":
        return False
    project = call.emulator.store.get(Project, str(project_id))
    if project is None:
        return False
    if meta["scope"] == "department":
        return bool(meta.get("departmentId") == project.parent_id)
    return True


def _under_department(call: Call, meta: Json, department_id: str) -> bool:
    if meta["scope"] == "department":
        return bool(meta.get("departmentId") == department_id)
    if meta["scope"] == "project":
        project = call.emulator.store.get(Project, str(meta.get("projectId")))
        return project is not None and project.parent_id == department_id
    return True


def _view(call: Call, asset: Asset, *, status: bool, usage: bool, kind: Kind) -> Json:
    meta: Json = {
        **asset.meta,
        "id": asset.id,
        "kind": asset.asset_kind,
        "tenantId": TENANT_ID,
        "createdBy": asset.created_by,
        "createdAt": iso(asset.created_at),
        "updatedBy": asset.created_by,
        "updatedAt": iso(asset.updated_at),
        "updateCount": asset.update_count,
    }
    if asset.meta["scope"] == "project":
        project = call.emulator.store.get(Project, str(asset.meta["projectId"]))
        if project is not None:
            meta["projectName"] = project.name

    spec = dict(asset.spec)
    if kind.encrypted:
        spec["keyId"] = asset.key_id
    view: Json = {
        "meta": meta,
        "spec": spec,
        "clusterInfo": {"resources": [{"name": asset.cluster_name}]},
    }
    if status:
        view["status"] = _sync_status(call, asset)
    if usage:
        view["usedBy"] = _used_by(call, asset, kind)
    return view


def _sync_status(call: Call, asset: Asset) -> Json:
    synced_at = call.emulator.clock.after(asset.created_at, ASSET_SYNC_SECONDS)
    return {
        "status": "No issues found" if call.now >= synced_at else "Creating",
        "issues": [],
    }


def _used_by(call: Call, asset: Asset, kind: Kind) -> Json:
    emulator = call.emulator
    grouped = revisions_by_workload(emulator)
    users = []
    for inference in emulator.store.all(Inference):
        if not kind.uses(inference.spec, asset.cluster_name):
            continue
        clock, now = emulator.clock, call.now
        states = revision_states(
            inference, grouped.get(inference.id, []), clock=clock, now=now
        )
        state = workload_state(inference, states, clock=clock, now=now)
        if not state.gone:
            users.append(
                {"id": inference.id, "name": inference.name, "status": state.phase}
            )
    return {
        "workspaces": [],
        "trainings": [],
        "distributed": [],
        "inferences": users,
        "templates": [],
    }


def _prepare_secret(call: Call, meta: Json, asset_id: str) -> Prepared:
    spec = call.body["spec"]
    existing = spec.get("existingSecretName")
    pairs = spec.get("keyValuePairs")
    if bool(existing) == bool(pairs):
        raise bad_request(
            "spec: give exactly one of existingSecretName (a Secret already in the"
            " cluster) or keyValuePairs (a non-empty list of {key, value})"
        )
    if existing:
        return _existing_secret(existing)

    keys: list[str] = []
    for index, pair in enumerate(pairs):
        field = f"spec.keyValuePairs[{index}]"
        key = pair.get("key")
        if not key or not _SECRET_KEY.match(key):
            raise bad_request(
                f"{field}.key: {key!r} is not a valid Secret key; use letters,"
                " digits, '-', '_' and '.' (for example HF_TOKEN)"
            )
        if key in keys:
            raise bad_request(
                f"{field}.key: {key!r} appears twice; keys must be unique"
            )
        if not isinstance(pair.get("value"), str):
            raise bad_request(f"{field}.value: required; give the value as a string")
        keys.append(key)
    # Only the keys are kept: the values exist in the emulated cluster alone.
    stored = {"keyValuePairs": [{"key": key} for key in keys]}
    return Prepared(stored, derived_name(meta["name"], asset_id[:5]))


def _existing_secret(name: str) -> Prepared:
    check_dns_label("spec.existingSecretName", name)
    return Prepared({"existingSecretName": name}, name)


def _update_credential(call: Call, asset: Asset) -> None:
    extra = sorted(key for key in call.body if key != "meta")
    if extra:
        raise bad_request(
            f"{extra[0]}: a credential's {extra[0]} cannot change; only"
            " meta.description can. Delete the credential and create a new one"
        )
    meta = call.body.get("meta") or {}
    check_unchanged(asset, meta, allowed={"description"})
    if "description" in meta:
        asset.meta["description"] = meta["description"]


def _secret_used(spec: Json, name: str) -> bool:
    variables = spec.get("environmentVariables") or []
    by_variable = any(
        ((variable or {}).get("secret") or {}).get("name") == name
        for variable in variables
    )
    return by_variable or _registry_used(spec, name)


def _prepare_registry(call: Call, meta: Json, asset_id: str) -> Prepared:
    spec = {key: value for key, value in call.body["spec"].items() if value}
    login = [key for key in _REGISTRY_LOGIN if key in spec]
    if "existingSecretName" in spec:
        if login:
            raise bad_request(
                f"spec.{login[0]}: not allowed with spec.existingSecretName; give"
                " either existingSecretName (a Secret already in the cluster) or"
                " user, password and url"
            )
        return _existing_secret(spec["existingSecretName"])

    missing = [key for key in _REGISTRY_LOGIN if key not in spec]
    if missing:
        raise bad_request(
            f"spec.{missing[0]}: required without spec.existingSecretName; give"
            " user, password and url (for Docker Hub, url"
            " https://index.docker.io/v1/), or existingSecretName"
        )
    # The password itself is never kept: only its digest, to compare with.
    digest = hashlib.sha256(str(spec["password"]).encode("utf-8")).hexdigest()
    stored = {"user": spec["user"], "url": spec["url"]}
    return Prepared(stored, derived_name(meta["name"], asset_id[:5]), digest)


def _prepare_password(call: Call, meta: Json, asset_id: str) -> Prepared:
    spec = {key: value for key, value in call.body["spec"].items() if value}
    login = [key for key in ("user", "password") if key in spec]
    if "existingSecretName" in spec:
        if login:
            raise bad_request(
                f"spec.{login[0]}: not allowed with spec.existingSecretName; give"
                " either existingSecretName (a Secret already in the cluster) or"
                " user and password"
            )
        return _existing_secret(spec["existingSecretName"])
    missing = [key for key in ("user", "password") if key not in spec]
    if missing:
        raise bad_request(
            f"spec.{missing[0]}: required without spec.existingSecretName; give"
            " user and password, or existingSecretName"
        )
    # As for a registry login, only the password's digest is kept.
    digest = hashlib.sha256(str(spec["password"]).encode("utf-8")).hexdigest()
    stored = {"user": spec["user"]}
    return Prepared(stored, derived_name(meta["name"], asset_id[:5]), digest)


def _password_used(spec: Json, name: str) -> bool:
    return False


def _registry_used(spec: Json, name: str) -> bool:
    pulls = spec.get("imagePullSecrets") or []
    return any((pull or {}).get("name") == name for pull in pulls)


def _prepare_pvc(call: Call, meta: Json, asset_id: str) -> Prepared:
    requested = {k: v for k, v in call.body["spec"].items() if v is not None}
    if not requested.get("path"):
        raise bad_request(
            "spec.path: required; the mount path inside the container, such as /models"
        )
    existing = bool(requested.get("existingPvc"))
    claim = requested.get("claimName")
    if existing and not claim:
        raise bad_request(
            "spec.claimName: required when spec.existingPvc is true; name the PVC"
            " that already exists in the project's namespace"
        )
    if not existing and not (requested.get("claimInfo") or {}).get("size"):
        raise bad_request(
            "spec.claimInfo.size: required when spec.existingPvc is false, because"
            " Run:ai creates the PVC; give a size such as '100Gi'"
        )
    if claim:
        check_dns_label("spec.claimName", claim)

    defaults = {"existingPvc": False, "readOnly": False, "ephemeral": False}
    spec = {**defaults, "dataSharing": False, **requested}
    return Prepared(spec, claim or derived_name(meta["name"], asset_id[:5]))


def _update_pvc(call: Call, asset: Asset) -> None:
    meta = call.body["meta"]
    spec = call.body.get("spec") or {}
    check_unchanged(asset, meta, allowed={"name", "description"})
    changed = sorted(
        key
        for key, value in spec.items()
        if key != "path" and value is not None and asset.spec.get(key) != value
    )
    if changed:
        raise bad_request(
            f"spec.{changed[0]}: cannot change on an existing data source; only"
            " meta.name, meta.description and spec.path can. Create a new one instead"
        )
    if meta["name"] != asset.meta["name"]:
        renamed = {**asset.meta, "name": meta["name"]}
        check_unique(call.emulator, _PVC, renamed, skip=asset.id)
        asset.meta["name"] = meta["name"]
    if "description" in meta:
        asset.meta["description"] = meta["description"]
    if spec.get("path"):
        asset.spec["path"] = spec["path"]


def _pvc_used(spec: Json, name: str) -> bool:
    claims = (spec.get("storage") or {}).get("pvc") or []
    return any(claim.get("claimName") == name for claim in claims)


def check_unchanged(asset: Asset, meta: Json, *, allowed: set[str]) -> None:
    for key, value in sorted(meta.items()):
        if key in allowed or key in ("id", "kind") or value is None:
            continue
        if asset.meta.get(key) != value:
            raise bad_request(
                f"meta.{key}: cannot change on an existing asset; only"
                f" {', '.join(sorted('meta.' + k for k in allowed))} can."
                " Create a new asset instead"
            )


_SECRET = Kind(
    base="/api/v1/asset/credentials/generic-secret",
    asset_kind="genericSecret",
    label="generic-secret credential",
    prepare=_prepare_secret,
    update=_update_credential,
    uses=_secret_used,
    deleted=Reply(204),
    encrypted=True,
)
_REGISTRY = Kind(
    base="/api/v1/asset/credentials/docker-registry",
    asset_kind="dockerRegistry",
    label="docker-registry credential",
    prepare=_prepare_registry,
    update=_update_credential,
    uses=_registry_used,
    deleted=Reply(202, {"code": 202, "message": "The credential is being deleted"}),
    encrypted=True,
)
_PASSWORD = Kind(
    base="/api/v1/asset/credentials/password",
    asset_kind="password",
    label="password credential",
    prepare=_prepare_password,
    update=_update_credential,
    uses=_password_used,
    deleted=Reply(202, {"code": 202, "message": "The credential is being deleted"}),
    encrypted=True,
)
_PVC = Kind(
    base="/api/v1/asset/datasource/pvc",
    asset_kind="pvc",
    label="PVC data source",
    prepare=_prepare_pvc,
    update=_update_pvc,
    uses=_pvc_used,
    deleted=Reply(202, {"code": 202, "message": "The data source is being deleted"}),
)


def kind_endpoints(kind: Kind) -> list[Endpoint]:
    item = kind.base + "/{AssetId}"
    return [
        Endpoint("POST", kind.base, _create(kind)),
        Endpoint("GET", kind.base, _list(kind)),
        Endpoint("GET", item, _get(kind)),
        Endpoint("PUT", item, _put(kind)),
        Endpoint("DELETE", item, _delete(kind)),
    ]


ENDPOINTS = kind_endpoints(_SECRET) + kind_endpoints(_REGISTRY) + kind_endpoints(_PVC)

PASSWORD_ENDPOINTS = kind_endpoints(_PASSWORD)
