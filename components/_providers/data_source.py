"""`/api/v1/asset/datasource/<kind>`: the PVC model store and other data sources."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from .._values import normalize
from ._base import (
    AssetProvider,
    auto_name,
    changed,
    diff_result,
    dns_failure,
    required,
)

__all__ = ["DataSourceProvider"]

logger = logging.getLogger("runai_hf")

_OUTPUT_ONLY = frozenset({"assetId", "__provider"})


_VOLUME_PATHS = {
    "nfs": "nfs",
    "host-path": "host-path",
    "config-map": "config-map",
    "secret": "secrets",
    "git": "git",
}
_SPEC_FIXED = frozenset({"config-map", "secret"})
"""Kinds whose update body takes only `meta`: a spec change replaces them.
The others (nfs, host-path, git) take `{meta, spec}` and update in place."""


class DataSourceProvider(AssetProvider):
    """A data source: the PVC model store, or an NFS, host path, ConfigMap,
    Secret or Git volume (`kind`, with the API's `spec` as given)."""

    path = "/api/v1/asset/datasource/pvc"
    _replace_keys: ClassVar[list[str]] = [
        "projectId",
        "clusterId",
        "existingPvc",
        "readOnly",
        "size",
        "storageClass",
    ]
    _update_keys: ClassVar[list[str]] = ["name", "description", "path"]

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = auto_name(olds or {}, normalize(news))
        if props.get("kind", "pvc") != "pvc":
            failures = required(props, "name", "projectId", "clusterId", "spec")
            if props["kind"] not in _VOLUME_PATHS:
                kinds = ", ".join(["pvc", *_VOLUME_PATHS])
                failures.append(CheckFailure("kind", f"{props['kind']!r}: not {kinds}"))
            return CheckResult(props, failures + dns_failure(props, "name"))
        failures = required(props, "name", "projectId", "clusterId", "path")
        failures += dns_failure(props, "name")
        if not props.get("existingPvc") and not props.get("size"):
            failures.append(
                CheckFailure("size", "a new PVC needs a size, such as 20Gi")
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = f"data source {props['name']}"
        if props.get("kind", "pvc") != "pvc":
            body = {"meta": self.meta(props), "spec": props["spec"]}
            asset_id, asset = self._at(props).create_asset(body, label)
            return CreateResult(asset_id, {**props, "assetId": asset_id})
        asset_id, asset = self.create_asset(self._body(props), label)
        return CreateResult(asset_id, self._outputs(props, asset))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        asset = self._at(props).fetch(id_)
        if asset is None:
            return ReadResult(None, {})
        if props.get("kind", "pvc") != "pvc":
            mine = props.get("spec") or {}
            served = {k: v for k, v in (asset.get("spec") or {}).items() if k in mine}
            inputs = {k: v for k, v in props.items() if k not in _OUTPUT_ONLY}
            inputs.update(name=asset["meta"]["name"], spec=normalize(served))
            return ReadResult(id_, {**inputs, "assetId": id_}, inputs)
        spec, meta = asset["spec"], asset["meta"]
        claim_info = spec.get("claimInfo") or {}
        inputs = {
            **props,
            "name": meta["name"],
            "path": spec.get("path"),
            "existingPvc": bool(spec.get("existingPvc")),
            "readOnly": bool(spec.get("readOnly")),
            "size": claim_info.get("size"),
            "storageClass": claim_info.get("storageClass"),
        }
        inputs = {key: item for key, item in inputs.items() if key not in _OUTPUT_ONLY}
        return ReadResult(id_, self._outputs(inputs, asset), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if news.get("kind", "pvc") != "pvc":
            replaces = changed(olds, news, ["kind", "projectId", "clusterId"])
            spec = changed(olds, news, ["spec"])
            if spec and news["kind"] in _SPEC_FIXED:
                replaces += spec
            changes = replaces + spec + changed(olds, news, ["name", "description"])
            pinned = bool(news.get("namePinned"))
            return diff_result(changes, replaces, delete_first=pinned)
        replaces = changed(olds, news, self._replace_keys)
        # The claim name is an output when Run:ai chose it; only a name the
        # user asks for can differ from it.
        if news.get("claimName") and news["claimName"] != olds.get("claimName"):
            replaces.append("claimName")
        changes = replaces + changed(olds, news, self._update_keys)
        pinned = bool(news.get("namePinned"))
        return diff_result(changes, replaces, delete_first=pinned)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        if news.get("kind", "pvc") != "pvc":
            meta = {"name": news["name"], "description": news.get("description")}
            volume = self._at(news)
            with volume.client() as client:
                client.put(f"{volume.path}/{id_}", {"meta": meta, "spec": news["spec"]})
            return UpdateResult({**news, "assetId": id_})
        body = {
            "meta": {"name": news["name"], "description": news.get("description")},
            "spec": {"path": news["path"]},
        }
        with self.client() as client:
            asset = client.put(f"{self.path}/{id_}", body)
        return UpdateResult(self._outputs(news, asset))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        volume = self._at(props)
        volume.delete_path(f"{volume.path}/{id_}")
        logger.debug("data source %s: deleted", props.get("name", id_))

    def _body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "path": props["path"],
            "existingPvc": bool(props.get("existingPvc")),
            "readOnly": bool(props.get("readOnly")),
        }
        if props.get("claimName"):
            spec["claimName"] = props["claimName"]
        if not spec["existingPvc"]:
            claim_info: dict[str, Any] = {
                "size": props["size"],
                "accessModes": {"readWriteOnce": True},
                "volumeMode": "Filesystem",
            }
            if props.get("storageClass"):
                claim_info["storageClass"] = props["storageClass"]
            spec["claimInfo"] = claim_info
        return {"meta": self.meta(props), "spec": spec}

    def _outputs(
        self, props: Mapping[str, Any], asset: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            **props,
            "assetId": asset["meta"]["id"],
            "claimName": self.cluster_name(asset) or props.get("claimName"),
        }

    def _at(self, props: Mapping[str, Any]) -> DataSourceProvider:
        """This provider, pointed at the collection of the data source's kind."""
        kind = str(props.get("kind") or "pvc")
        if kind == "pvc":
            return self
        provider = DataSourceProvider()
        provider._config = self._config
        provider.path = f"/api/v1/asset/datasource/{_VOLUME_PATHS[kind]}"
        return provider
