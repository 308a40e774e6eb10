"""The credential component: a generic secret in Run:ai, such as the HF token."""

from __future__ import annotations

import dataclasses

import pulumi

from ._resources import RunaiCredential
from .project import Project

__all__ = ["Credential", "CredentialArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CredentialArgs:
    """A project-scoped generic secret with one key.

    `value` should be a secret Output (`config.require_secret(...)`); a plain
    string is wrapped as a secret so it never lands in state in clear text.
    """

    project: Project
    value: pulumi.Input[str]
    key: str = "HF_TOKEN"
    description: str | None = None


class Credential(pulumi.ComponentResource):
    """A Run:ai generic-secret credential; workloads read it by Kubernetes name."""

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

        props = {
            "name": name,
            "projectId": args.project.project_id,
            "clusterId": args.project.cluster_id,
            "key": args.key,
            "value": pulumi.Output.secret(args.value),
        }
        if args.description:
            props["description"] = args.description
        resource = RunaiCredential(name, props, pulumi.ResourceOptions(parent=self))

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
