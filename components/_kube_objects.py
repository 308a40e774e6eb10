"""The Kubernetes objects a Knative inference needs beside its Service.

Secrets are named from a hash of their content, so a rotated token is a new
Secret, the template that references it changes, and Knative rolls a new
revision; the old Secret is deleted only after the Service moved off it
(Pulumi creates replacements before deleting). The hash is of a high-entropy
token, truncated, so the name reveals nothing usable; it is unsecreted so the
revision name and the rendered manifests stay readable.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1.PersistentVolumeClaim import PersistentVolumeClaim
from pulumi_kubernetes.core.v1.Secret import Secret
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ._knative import content_name
from .config import CredentialConfig, ModelStoreConfig

__all__ = ["claim_name_of", "model_store_claim", "credential_secret"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi"}


def credential_secret(
    settings: CredentialConfig, namespace: str, value: pulumi.Output[str]
) -> pulumi.Output[str]:
    """A Secret for an HF token or a registry login; returns its name."""
    if settings.kind == "dockerRegistry":
        kind, key = "kubernetes.io/dockerconfigjson", ".dockerconfigjson"
        data = value.apply(lambda password: _docker_config(settings, password))
    else:
        kind, key, data = "Opaque", "HF_TOKEN", value
    name = pulumi.Output.unsecret(
        data.apply(lambda content: content_name(settings.name, kind, content))
    )
    secret = Secret(
        f"{settings.name}-{namespace}",
        metadata=ObjectMetaArgs(name=name, namespace=namespace, labels=MANAGED_BY),
        type=kind,
        # `value` is the secret config Output; what is derived from it stays secret.
        string_data={key: data},
    )
    return secret.metadata.apply(lambda meta: meta.name or "")


def _docker_config(settings: CredentialConfig, password: str) -> str:
    user = settings.user or ""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    entry = {"username": user, "password": password, "auth": auth}
    return json.dumps({"auths": {settings.registry_url: entry}}, sort_keys=True)


def claim_name_of(store: ModelStoreConfig) -> str:
    return store.claim_name or store.runai_name or store.name


def model_store_claim(store: ModelStoreConfig, namespace: str) -> str:
    """A PVC for a new model store (none for an existing one); its name."""
    name = claim_name_of(store)
    if store.existing_pvc:
        return name
    spec: dict[str, Any] = {
        # TODO: ReadWriteOnce keeps every replica on the node that mounted the
        # store first; replicas spread over nodes need ReadWriteMany, which
        # depends on the storage class. Add an accessModes key to modelStores.
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": store.size or "50Gi"}},
    }
    if store.storage_class:
        spec["storageClassName"] = store.storage_class
    # A plain dict spec (typed args would only rename the same fields).
    PersistentVolumeClaim(  # type: ignore[call-overload]
        f"{store.name}-{namespace}",
        metadata=ObjectMetaArgs(name=name, namespace=namespace, labels=MANAGED_BY),
        spec=spec,
    )
    return name
