"""Credentials: a generic secret (such as `HF_TOKEN`), a Docker registry login,
or a user and password."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from .._values import normalize
from ..errors import RunaiHFError
from ._base import (
    AssetProvider,
    auto_name,
    changed,
    diff_result,
    dns_failure,
    matches_digest,
    moved,
    name_replaces,
    required,
    secret_digest,
)
from .lookup import nearness, visible

__all__ = ["CredentialProvider"]

logger = logging.getLogger("runai_hf")

_PATHS = {
    "generic-secret": "/api/v1/asset/credentials/generic-secret",
    "docker-registry": "/api/v1/asset/credentials/docker-registry",
    "password": "/api/v1/asset/credentials/password",
}
_NEEDED = {
    "generic-secret": ("key",),
    "docker-registry": ("url", "user"),
    "password": ("user",),
}
_IDENTITY = ["kind", "projectId", "clusterId", "key", "url", "user"]


class CredentialProvider(AssetProvider):
    """A project credential whose secret reaches the API and nothing else.

    Outputs carry only a salted digest of the secret (`valueDigest`), so state
    and logs stay free of it while a rotation still shows as a change, and so
    as a replacement, since Run:ai lets only a credential's description change.
    """

    path = _PATHS["generic-secret"]

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = auto_name(olds or {}, normalize(news))
        kind = props.setdefault("kind", "generic-secret")
        if props.get("existing"):
            return CheckResult(props, required(props, "name", "kind"))
        failures = required(props, "name", "projectId", "clusterId")
        failures += dns_failure(props, "name")
        if kind not in _PATHS:
            failures.append(
                CheckFailure("kind", f"{kind!r} is not one of {', '.join(_PATHS)}")
            )
        failures += required(props, *_NEEDED.get(kind, ()))
        if not props.get("value"):
            failures.append(
                CheckFailure("value", "the secret value is empty; set its config key")
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        if props.get("existing"):
            asset = self._find(props)
            return CreateResult(str(asset["meta"]["id"]), self._outputs(props, asset))
        label = f"credential {props['name']}"
        asset_id, asset = self._kind(props).create_asset(self._body(props), label)
        return CreateResult(asset_id, self._outputs(props, asset))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        asset = self._kind(props).fetch(id_)
        if asset is None:
            return ReadResult(None, {})
        meta = asset["meta"]
        inputs: dict[str, Any] = {
            key: props[key]
            for key in ("kind", "key", "url", "user", "valueDigest")
            if key in props
        }
        inputs.update(
            name=meta["name"],
            projectId=str(meta.get("projectId")),
            clusterId=meta.get("clusterId"),
        )
        if meta.get("description"):
            inputs["description"] = meta["description"]
        return ReadResult(id_, self._outputs(inputs, asset), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if news.get("existing") or olds.get("existing"):
            # Only read: another name or kind means looking up another one.
            replaces = changed(olds, news, ["name", "kind", "existing", "projectId"])
            replaces += moved(olds, news)
            return diff_result(replaces, replaces, delete_first=False)
        replaces = name_replaces(olds, news) + moved(olds, news)
        replaces += changed(olds, {"kind": "generic-secret", **news}, _IDENTITY)
        if not matches_digest(str(news.get("value") or ""), olds.get("valueDigest")):
            replaces.append("value")
        updates = changed(olds, news, ["description"])
        pinned = bool(news.get("namePinned"))
        return diff_result(replaces + updates, replaces, delete_first=pinned)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        kind = self._kind(news)
        meta = {"description": news.get("description") or None}
        with kind.client() as client:
            asset = client.put(f"{kind.path}/{id_}", {"meta": meta})
        outputs = self._outputs(news, asset)
        outputs["valueDigest"] = olds.get("valueDigest")
        return UpdateResult(outputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("existing"):
            logger.info(
                "credential %s: existing credential left in place", props["name"]
            )
            return
        kind = self._kind(props)
        kind.delete_path(f"{kind.path}/{id_}")
        logger.debug("credential %s: deleted", props.get("name", id_))

    def _find(self, props: Mapping[str, Any]) -> Any:
        """The existing credential of that name (in its project when known)."""
        kind = self._kind(props)
        project = str(props.get("projectId") or "")
        query: dict[str, Any] = {"name": props["name"]}
        if project.isdigit():
            query["projectId"] = project
        with kind.client() as client:
            entries = client.get(kind.path, **query).get("entries") or []
        found = [
            e
            for e in entries
            if (e.get("meta") or {}).get("name") == props["name"]
            and visible(e, project)
        ]
        if not found:
            where = (
                f"visible to project {project}"
                if project.isdigit()
                else "in any scope but another project's"
            )
            raise RunaiHFError(
                f"credential {props['name']!r} ({props.get('kind')}) does not exist in "
                f"Run:ai (searched {kind.path} by name, {where}); create it, or drop "
                "existing: true so the stack creates it"
            )
        # As for every lookup: the project's own first, then wider scopes.
        credential = min(found, key=nearness)
        _warn_if_key_missing(props, credential)
        return credential

    def _kind(self, props: Mapping[str, Any]) -> CredentialProvider:
        # The same provider serves every kind; only the collection differs.
        kind = CredentialProvider()
        kind._config = self._config
        kind.path = _PATHS[str(props.get("kind") or "generic-secret")]
        return kind

    def _body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        if props.get("kind") == "docker-registry":
            spec = {
                "url": props["url"],
                "user": props["user"],
                "password": props["value"],
            }
        elif props.get("kind") == "password":
            spec = {"user": props["user"], "password": props["value"]}
        else:
            spec = {"keyValuePairs": [{"key": props["key"], "value": props["value"]}]}
        return {"meta": self.meta(props), "spec": spec}

    def _outputs(
        self, props: Mapping[str, Any], asset: Mapping[str, Any]
    ) -> dict[str, Any]:
        outputs = {key: item for key, item in props.items() if key != "value"}
        if props.get("value"):
            outputs["valueDigest"] = secret_digest(str(props["value"]))
        outputs["assetId"] = asset["meta"]["id"]
        outputs["kubernetesSecretName"] = self.cluster_name(asset)
        return outputs


def _warn_if_key_missing(props: Mapping[str, Any], credential: Any) -> None:
    """An existing generic secret without the key the stack reads from it.

    Only a warning: the key is what an HF token is read under, and the same
    credential may serve only variables that name other keys.
    """
    wanted = props.get("key")
    pairs = (credential.get("spec") or {}).get("keyValuePairs")
    if not wanted or not isinstance(pairs, list):
        return
    keys = sorted(str(pair.get("key")) for pair in pairs if isinstance(pair, dict))
    if wanted not in keys:
        logger.warning(
            "credential %s: it holds the keys %s, not %s; an inference reading "
            "its token from it will not start",
            props["name"],
            ", ".join(keys) or "(none)",
            wanted,
        )
