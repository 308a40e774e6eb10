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
    is_auto_name_of,
    moved,
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
        retained = self._retained(props)
        if retained is not None:
            return self._adopt(props, retained)
        asset_id, asset = self.create_asset(self._body(props), label)
        return CreateResult(asset_id, self._outputs(props, asset))

    def _retained(self, props: Mapping[str, Any]) -> Any:
        """A PVC data source this stack kept on an earlier destroy, if any.

        It must be in the same project, carry this stack's mark, have this
        store's name (or its stem and an auto-name suffix) and the same
        create-only fields, so it holds what this store would: an asset of
        someone else's, or one made for other settings, is never taken over.
        """
        query = {"scope": "project", "projectId": props["projectId"]}
        if props.get("namePinned"):
            query["name"] = props["name"]
        with self.client() as client:
            entries = client.get(self.path, **query).get("entries") or []
        claim = bool(props.get("claimName"))
        wanted = _create_only(self._body(props)["spec"], claim=claim)
        ours = [asset for asset in entries if self._same_store(props, asset)]
        found = [
            asset
            for asset in ours
            if _matches(_create_only(asset.get("spec") or {}, claim=claim), wanted)
        ]
        for asset in ours:
            if asset not in found:
                # Kept weights this stack can no longer use: say so, since
                # nothing else will ever point at them.
                logger.warning(
                    "model store %s: the retained PVC data source %s was made "
                    "with other settings (size, storage class or claim) and is "
                    "not adopted; delete it in Run:ai if its weights are no "
                    "longer needed",
                    props.get("logicalName") or props["name"],
                    asset["meta"]["name"],
                )
        # Several can match after repeated destroy and up with adoption off;
        # the newest most likely holds the most recent weights.
        found.sort(key=lambda asset: str(asset["meta"].get("createdAt") or ""))
        return found[-1] if found else None

    @staticmethod
    def _same_store(props: Mapping[str, Any], asset: Mapping[str, Any]) -> bool:
        meta = asset.get("meta") or {}
        mark = str(props.get("description") or "")
        description = str(meta.get("description") or "")
        name = str(meta.get("name") or "")
        named = (
            name == props["name"]
            if props.get("namePinned")
            else is_auto_name_of(str(props.get("logicalName") or ""), name)
        )
        return (
            bool(mark)
            and (description == mark or description.endswith(f"({mark})"))
            and str(meta.get("projectId")) == str(props["projectId"])
            and meta.get("clusterId") == props["clusterId"]
            and named
        )

    def _adopt(self, props: Mapping[str, Any], asset: Any) -> CreateResult:
        asset_id = str(asset["meta"]["id"])
        kept = asset["meta"]["name"]
        # The adopted asset takes the name `check` chose for this run, so the
        # state's inputs and outputs agree and the next up changes nothing;
        # the PVC in the cluster, and the weights in it, stay as they are.
        body = {
            "meta": {"name": props["name"], "description": props.get("description")},
            "spec": {"path": props["path"]},
        }
        if kept != props["name"] or asset["spec"].get("path") != props["path"]:
            with self.client() as client:
                asset = client.put(f"{self.path}/{asset_id}", body)
        renamed = f", renamed {props['name']}" if kept != props["name"] else ""
        logger.info(
            "model store %s: adopted the retained PVC data source %s%s",
            props.get("logicalName") or props["name"],
            kept,
            renamed,
        )
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
            replaces += moved(olds, news)
            spec = changed(olds, news, ["spec"])
            if spec and news["kind"] in _SPEC_FIXED:
                replaces += spec
            changes = replaces + spec + changed(olds, news, ["name", "description"])
            pinned = bool(news.get("namePinned"))
            return diff_result(changes, replaces, delete_first=pinned)
        replaces = changed(olds, news, self._replace_keys) + moved(olds, news)
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


def _create_only(spec: Mapping[str, Any], *, claim: bool) -> dict[str, Any]:
    """The fields of a PVC asset's spec that only a new asset can change.

    Compared exactly as `diff` compares them (the size as written, an unset
    storage class only with an unset one): a replacement differs from the
    object it replaces in one of these, so it can never adopt that object,
    which the engine deletes right after. The price: a store whose storage
    class Run:ai filled in with the cluster default is not adopted, and a new
    one is made (with a warning naming the kept one).
    """
    info = spec.get("claimInfo") or {}
    fields: dict[str, Any] = {
        "existingPvc": bool(spec.get("existingPvc")),
        "readOnly": bool(spec.get("readOnly")),
    }
    if not fields["existingPvc"]:
        fields["size"] = info.get("size")
        fields["storageClass"] = info.get("storageClass") or None
    if claim:
        fields["claimName"] = spec.get("claimName")
    return fields


def _matches(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(found.get(key) == value for key, value in wanted.items())
