"""The credential component: the HF token secret, a Docker registry login, or a
user and password."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pulumi

from ._resources import RunaiCredential
from .config import normalize_registry_url
from .project import Project, marked

__all__ = ["Credential", "CredentialArgs", "CredentialKind"]

CredentialKind = Literal["generic-secret", "docker-registry", "password"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CredentialArgs:
    """A project-scoped credential.

    `value` is the secret: the token of a generic secret, the password of a
    registry login or of a user and password credential. Pass a secret Output
    (`config.require_secret(...)`); a plain string is wrapped as a secret so it
    never lands in state in clear.
    Docker Hub URLs are rewritten to `https://index.docker.io/v1/`, the only
    spelling Knative's image digest resolution authenticates with.
    """

    project: Project
    value: pulumi.Input[str]
    kind: CredentialKind = "generic-secret"
    key: str = "HF_TOKEN"
    url: str | None = None
    user: str | None = None
    description: str | None = None
    pinned_name: str | None = None
    existing: bool = False
    """Look the credential up by `pinned_name` instead of creating it."""


class Credential(pulumi.ComponentResource):
    """A Run:ai credential; workloads read it by its Kubernetes secret name."""

    asset_id: pulumi.Output[str]
    kubernetes_secret_name: pulumi.Output[str]
    key: str
    credential_name: str

    def __init__(
        self,
        name: str,
        args: CredentialArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-hf:index:Credential", name, None, opts)

        props: dict[str, object] = {
            "logicalName": name,
            "name": args.pinned_name,
            "kind": args.kind,
            "projectId": args.project.project_id,
            "project": args.project.project_name,
            "clusterId": args.project.cluster_id,
            "value": pulumi.Output.secret(args.value),
            "description": marked(args.description),
        }
        if args.existing:
            props.update(existing=True, value=None, description=None)
            if args.kind == "generic-secret":
                props["key"] = args.key
        elif args.kind == "docker-registry":
            props.update(url=normalize_registry_url(args.url or ""), user=args.user)
        elif args.kind == "password":
            props["user"] = args.user
        else:
            props["key"] = args.key
        resource = RunaiCredential(
            name,
            props,
            pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["valueDigest"]
            ),
        )

        self.key = args.key
        self.credential_name = name
        self.asset_id = resource.assetId
        self.kubernetes_secret_name = resource.kubernetesSecretName
        self.register_outputs(
            {
                "assetId": self.asset_id,
                "kubernetesSecretName": self.kubernetes_secret_name,
            }
        )
