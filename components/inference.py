"""The HFInference component: one Hugging Face model served on Run:ai."""

from __future__ import annotations

import dataclasses

import pulumi

from ._resources import RunaiInference
from ._serving import build_spec, chat_curl
from .config import InferenceConfig
from .credential import Credential
from .data_source import DataSource
from .project import Project

__all__ = ["HFInference", "HFInferenceArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HFInferenceArgs:
    """Where the model runs, where its token and weights come from, and how."""

    project: Project
    credential: Credential
    model_store: DataSource
    settings: InferenceConfig
    control_plane_url: str


class HFInference(pulumi.ComponentResource):
    """A vLLM or TGI server for a Hub model, created through the Run:ai API.

    `pulumi up` waits until the workload runs; the outputs then hold its
    endpoint URL and a `curl` to try it.
    """

    workload_id: pulumi.Output[str]
    workload_name: str
    phase: pulumi.Output[str]
    url: pulumi.Output[str]
    curl: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: HFInferenceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-hf:index:HFInference", name, None, opts)

        settings = args.settings
        spec = build_spec(
            settings,
            token_secret_name=args.credential.kubernetes_secret_name,
            token_key=args.credential.key,
            claim_name=args.model_store.claim_name,
            mount_path=args.model_store.mount_path,
        )
        props = {
            "name": name,
            "projectId": args.project.project_id,
            "clusterId": args.project.cluster_id,
            "project": args.project.project_name,
            "credential": args.credential.credential_name,
            "modelStore": args.model_store.data_source_name,
            "model": settings.model,
            "server": settings.server,
            "spec": spec,
        }
        resource = RunaiInference(name, props, pulumi.ResourceOptions(parent=self))

        self.workload_name = name
        self.workload_id = resource.workloadId
        self.phase = resource.phase
        self.url = resource.url
        public = settings.endpoint.access == "public"
        self.curl = resource.url.apply(
            lambda url: chat_curl(
                url=url or "<endpoint url>",
                model=settings.model,
                server=settings.server,
                public=public,
                control_plane_url=args.control_plane_url,
            )
        )
        self.register_outputs(
            {
                "workloadId": self.workload_id,
                "phase": self.phase,
                "url": self.url,
                "curl": self.curl,
            }
        )
