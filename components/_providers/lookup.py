"""Assets another team owns, looked up by name: read every time, never written.

An environment, a compute resource, a data source or a workload template that
already exists in Run:ai is referenced by its name (and, optionally, its
scope). The lookup is a resource of its own so that its findings reach the
inferences through ordinary outputs: `diff` reads the asset again on every
preview and update, so an edit made in Run:ai shows up as a change of this
lookup, and from there as an update of every inference that copies from it.
"""

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
from ._base import AssetProvider, changed, diff_result, required

__all__ = ["COLLECTIONS", "LookupProvider", "nearness", "visible"]

logger = logging.getLogger("runai_hf")

COLLECTIONS = {
    "environment": "/api/v1/asset/environment",
    "compute": "/api/v1/asset/compute",
    "workload-template": "/api/v1/asset/workload-template",
    "pvc": "/api/v1/asset/datasource/pvc",
    "nfs": "/api/v1/asset/datasource/nfs",
    "host-path": "/api/v1/asset/datasource/host-path",
    "git": "/api/v1/asset/datasource/git",
    "config-map": "/api/v1/asset/datasource/config-map",
    "secret": "/api/v1/asset/datasource/secrets",
}
"""Where each kind of asset lives, by the kind name the stack uses."""

SCOPES = ("project", "department", "cluster", "tenant")
"""Nearest first: a project's own asset shadows a tenant-wide one of that name."""

_IDENTITY = ["kind", "name", "scope", "projectId", "byId"]
_CREDENTIAL_FIELDS = {"secret": "credentialAssetId", "git": "credentialId"}
"""Data source kinds that name a credential, and the spec field naming it."""
_TEMPLATE_KINDS = {
    "pvc": "pvc",
    "nfs": "nfs",
    "hostPath": "host-path",
    "git": "git",
    "config-map": "config-map",
    "secret-volume": "secret",
}
"""A template's data source kinds (the API's AssetKind) -> the lookup's."""
_WHAT = {
    "environment": "environment",
    "compute": "compute resource",
    "workload-template": "workload template",
}


class LookupProvider(AssetProvider):
    """Finds one asset by kind and name; its outputs are the asset's id and spec.

    Inputs: `kind` (a key of COLLECTIONS), `name`, optionally `projectId` (the
    asset must be visible to that project) and `scope` (only assets of that
    scope). A secret data source also yields the Kubernetes secret name of the
    credential it mounts, which is what an inference takes.
    """

    path = COLLECTIONS["environment"]

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        failures = required(props, "kind", "name")
        kind = props.get("kind")
        if kind is not None and kind not in COLLECTIONS:
            failures.append(
                CheckFailure("kind", f"{kind!r} is not one of {', '.join(COLLECTIONS)}")
            )
        scope = props.get("scope")
        if scope is not None and scope not in SCOPES:
            failures.append(
                CheckFailure("scope", f"{scope!r} is not one of {', '.join(SCOPES)}")
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        asset = self._find(props)
        return CreateResult(str(asset["meta"]["id"]), self._outputs(props, asset))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        asset = self._at(props).fetch(id_)
        if asset is None:
            return ReadResult(None, {})
        inputs = {key: props[key] for key in (*_IDENTITY, "existing") if key in props}
        return ReadResult(id_, self._outputs(inputs, asset), inputs)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        named = self.diff_names(olds, news)
        if named.replaces:
            return named

        # Read again: what someone changed in Run:ai is this lookup's change.
        asset = self._at(news).fetch(id_)
        if asset is None:
            return diff_result(["name"], ["name"], delete_first=False)
        fresh = self._outputs(news, asset)
        watched = ("spec", "secretName", "environment", "compute", "dataSources")
        moved = [k for k in watched if fresh.get(k) != olds.get(k)]
        return diff_result(moved, [], delete_first=False)

    @staticmethod
    def diff_names(olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
        """The part of `diff` that needs no read: another asset is named.

        An offline change plan uses only this; it cannot see edits made in
        Run:ai, and must not try to.
        """
        replaces = changed(olds, news, _IDENTITY)
        return diff_result(replaces, replaces, delete_first=False)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        asset = self._at(news).fetch(id_)
        if asset is None:
            raise RunaiHFError(f"{self._label(news)} disappeared from Run:ai")
        logger.info("%s: read again; it changed in Run:ai", self._label(news))
        return UpdateResult(self._outputs(news, asset))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        logger.info("%s: not ours, left in place", self._label(props))

    def _find(self, props: Mapping[str, Any]) -> Any:
        """The asset of that name nearest to the project, or a clear error."""
        kind = self._at(props)
        # A project not created yet has no id: a preview passes a placeholder.
        project = str(props.get("projectId") or "")
        project = project if project.isdigit() else ""
        if props.get("byId"):
            asset = kind.fetch(str(props["name"]))
            if asset is None:
                raise RunaiHFError(
                    f"{self._label(props)} does not exist in Run:ai (read "
                    f"{kind.path}/{props['name']}); check the id"
                )
            if not visible(asset, project):
                owner = (asset.get("meta") or {}).get("projectId")
                raise RunaiHFError(
                    f"{self._label(props)} belongs to project {owner}, so project "
                    f"{project or '(new)'} cannot use it; use one of that "
                    "project's own, or one shared wider (department, cluster, "
                    "tenant)"
                )
            return asset
        query: dict[str, Any] = {"name": props["name"]}
        if project.isdigit():
            query["projectId"] = project
        if props.get("scope"):
            query["scope"] = props["scope"]
        with kind.client() as client:
            entries = client.get(kind.path, **query).get("entries") or []
        found = [
            entry
            for entry in entries
            if (entry.get("meta") or {}).get("name") == props["name"]
            and visible(entry, project)
        ]
        if not found:
            raise RunaiHFError(
                f"{self._label(props)} does not exist in Run:ai (searched "
                f"{kind.path} by name, {_where(props)}); create it there, or "
                "define it in the stack instead of referencing it"
            )
        return min(found, key=nearness)

    def _outputs(
        self, props: Mapping[str, Any], asset: Mapping[str, Any]
    ) -> dict[str, Any]:
        outputs = dict(props)
        # Every output gets a value, empty when there is nothing: a preview
        # takes a missing or null output for unknown, which would hold up
        # whatever copies from this lookup.
        outputs.update(
            assetId=str(asset["meta"]["id"]),
            spec=normalize(asset.get("spec") or {}),
            clusterName=self.cluster_name(asset) or "",
            secretName="",
            environment={},
            compute={},
            dataSources=[],
        )
        if props.get("kind") == "environment":
            outputs["spec"] = self._with_secret_names(outputs["spec"])
        if props.get("kind") == "workload-template":
            outputs.update(self._template_assets(outputs["spec"]))
            specific = outputs["spec"].get("specificEnv") or {}
            if specific:
                specific = self._with_secret_names(specific)
                outputs["spec"] = {**outputs["spec"], "specificEnv": specific}
        field = _CREDENTIAL_FIELDS.get(str(props.get("kind")))
        credential_id = (asset.get("spec") or {}).get(field) if field else None
        if credential_id:
            secret = self._credential_secret(str(credential_id))
            if secret is None:
                raise RunaiHFError(
                    f"{self._label(props)} uses credential {credential_id}, which "
                    "Run:ai does not have (or has no Kubernetes secret for); fix "
                    "the data source in Run:ai"
                )
            outputs["secretName"] = secret
        return outputs

    def _template_assets(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The specs of the environment and compute resource a template names.

        Read with the template, so that an edit to either is a change of this
        lookup like an edit to the template itself.
        """
        assets = spec.get("assets") or {}
        found: dict[str, Any] = {
            "environment": {},
            "compute": {},
            "dataSources": self._template_data_sources(assets),
        }
        for kind in ("environment", "compute"):
            reference = assets.get(kind)
            asset_id = reference.get("id") if isinstance(reference, dict) else None
            if not asset_id:
                continue
            asset = self._at({"kind": kind}).fetch(str(asset_id))
            if asset is None:
                raise RunaiHFError(
                    f"workload template's {kind} {asset_id} does not exist in Run:ai"
                )
            found[kind] = self._with_secret_names(normalize(asset.get("spec") or {}))
        return found

    def _template_data_sources(self, assets: Mapping[str, Any]) -> list[Any]:
        """Each data source a template names, as a lookup would give it."""
        sources = []
        for reference in assets.get("datasources") or []:
            kind = _TEMPLATE_KINDS.get(str(reference.get("kind")))
            if kind is None:
                raise RunaiHFError(
                    f"the workload template names a {reference.get('kind')} data "
                    "source, which an inference cannot mount"
                )
            props = {"kind": kind, "name": reference.get("name") or reference["id"]}
            asset = self._at(props).fetch(str(reference["id"]))
            if asset is None:
                raise RunaiHFError(
                    f"the workload template's {kind} data source {reference['id']} "
                    "does not exist in Run:ai"
                )
            outputs = self._outputs(props, asset)
            sources.append(
                {
                    "kind": kind,
                    "name": asset["meta"]["name"],
                    **{k: outputs[k] for k in ("spec", "clusterName", "secretName")},
                }
            )
        return sources

    def _credential_secret(self, credential_id: str) -> str | None:
        """The Kubernetes secret behind a credential, None when there is none.

        Credentials are read by id per kind; a secret volume or a variable
        reads a generic secret as a rule, the other kinds are tried after it.
        """
        for kind in ("generic-secret", "password", "docker-registry"):
            credential = self._at_path(f"/api/v1/asset/credentials/{kind}").fetch(
                str(credential_id)
            )
            if credential is not None and self.cluster_name(credential):
                return str(self.cluster_name(credential))
        return None

    def _with_secret_names(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The spec with each credential-backed variable also naming its
        Kubernetes secret, which is what an inference's variable takes.

        One whose credential is gone is left as it is: an inference that sets
        that variable itself does not need it, and one that does not is told.
        """
        variables = []
        for variable in spec.get("environmentVariables") or []:
            credential = variable.get("credential") or {}
            name = (
                self._credential_secret(credential["assetId"])
                if credential.get("assetId")
                else None
            )
            if name is not None:
                secret = {"name": name, "key": credential.get("key")}
                variable = {**variable, "secret": secret}
            variables.append(variable)
        if not variables:
            return dict(spec)
        return {**spec, "environmentVariables": variables}

    def _at_path(self, path: str) -> LookupProvider:
        provider = LookupProvider()
        provider._config = self._config
        provider.path = path
        return provider

    def _at(self, props: Mapping[str, Any]) -> LookupProvider:
        return self._at_path(COLLECTIONS[str(props.get("kind"))])

    @staticmethod
    def _label(props: Mapping[str, Any]) -> str:
        kind = str(props.get("kind"))
        return f"{_WHAT.get(kind, f'{kind} data source')} {props.get('name')!r}"


def _where(props: Mapping[str, Any]) -> str:
    project = str(props.get("projectId") or "")
    scope = props.get("scope")
    seen = f"visible to project {project}" if project.isdigit() else "in any project"
    return f"{scope} scope, {seen}" if scope else seen


def visible(asset: Mapping[str, Any], project: str) -> bool:
    """Whether a project may use the asset, as far as its scope tells.

    A project-scoped asset serves its own project only; a project not created
    yet (its id unknown) has none of its own. Wider scopes are left to Run:ai.
    """
    meta = asset.get("meta") or {}
    if meta.get("scope") != "project":
        return True
    return project.isdigit() and str(meta.get("projectId")) == project


def nearness(asset: Mapping[str, Any]) -> int:
    scope = (asset.get("meta") or {}).get("scope")
    return SCOPES.index(scope) if scope in SCOPES else len(SCOPES)
