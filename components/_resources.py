"""The dynamic resources, one type token per Run:ai object.

Property names are the wire names (camelCase), so are the attributes.
Output-only properties are declared as None so the engine resolves them.
"""

from __future__ import annotations

import pickle
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from ._providers import (
    CredentialProvider,
    DataSourceProvider,
    InferenceProvider,
    LookupProvider,
    ProjectProvider,
)

__all__ = [
    "RunaiCredential",
    "RunaiDataSource",
    "RunaiInference",
    "RunaiLookup",
    "RunaiProject",
]

_PRISTINE_BATCH_SETITEMS = pickle._Pickler.__dict__["_batch_setitems"]


def _unwrap_pickler() -> None:
    """Undo what the SDK's provider serializer leaves behind.

    `pulumi.dynamic.serialize_provider` wraps `pickle._Pickler._batch_setitems`
    to sort dict items and never restores it, so every dynamic resource adds
    one more wrapper; a process that builds a few hundred of them (a long
    test run, several stacks planned in one process) hits RecursionError.
    Putting the original back before each serialization keeps one wrapper.
    """
    pickle._Pickler._batch_setitems = _PRISTINE_BATCH_SETITEMS  # type: ignore[attr-defined]


class RunaiProject(Resource, module="runai", name="Project"):
    """`pulumi-python:dynamic/runai:Project`"""

    projectId: pulumi.Output[str]
    namespace: pulumi.Output[str]
    phase: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        outputs = {"projectId": None, "namespace": None, "phase": None}
        _unwrap_pickler()
        super().__init__(ProjectProvider(), name, {**props, **outputs}, opts)


class RunaiCredential(Resource, module="runai", name="Credential"):
    """`pulumi-python:dynamic/runai:Credential`"""

    assetId: pulumi.Output[str]
    kubernetesSecretName: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        outputs = {"assetId": None, "kubernetesSecretName": None, "valueDigest": None}
        _unwrap_pickler()
        super().__init__(CredentialProvider(), name, {**props, **outputs}, opts)


class RunaiDataSource(Resource, module="runai", name="DataSource"):
    """`pulumi-python:dynamic/runai:DataSource`"""

    assetId: pulumi.Output[str]
    claimName: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        outputs = {"assetId": None, "claimName": props.get("claimName")}
        _unwrap_pickler()
        super().__init__(DataSourceProvider(), name, {**props, **outputs}, opts)


class RunaiInference(Resource, module="runai", name="Inference"):
    """`pulumi-python:dynamic/runai:Inference`"""

    workloadId: pulumi.Output[str]
    phase: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        outputs = {"workloadId": None, "phase": None, "url": None}
        _unwrap_pickler()
        super().__init__(InferenceProvider(), name, {**props, **outputs}, opts)


class RunaiLookup(Resource, module="runai", name="Lookup"):
    """`pulumi-python:dynamic/runai:Lookup`: an existing asset, only read."""

    assetId: pulumi.Output[str]
    spec: pulumi.Output[dict[str, Any]]
    clusterName: pulumi.Output[str]
    secretName: pulumi.Output[str]
    environment: pulumi.Output[dict[str, Any]]
    compute: pulumi.Output[dict[str, Any]]
    dataSources: pulumi.Output[list[dict[str, Any]]]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        outputs = {
            "assetId": None,
            "spec": None,
            "clusterName": None,
            "secretName": None,
            "environment": None,
            "compute": None,
            "dataSources": None,
        }
        _unwrap_pickler()
        super().__init__(LookupProvider(), name, {**props, **outputs}, opts)
