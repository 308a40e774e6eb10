"""The HFInference component: one Hugging Face model served on Run:ai."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi

from ._resources import RunaiInference
from ._serving import SpecInputs, build_spec, chat_curl
from .config import InferenceConfig
from .credential import Credential
from .data_source import DataSource
from .project import Project, stack_mark

__all__ = ["HFInference", "HFInferenceArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HFInferenceArgs:
    """Where the model runs, where its token, weights and image come from, and how.

    `hf_token` is a generic-secret credential holding `HF_TOKEN` (needed for
    gated models); `model_store` a PVC the server caches weights in;
    `registry_credentials` docker-registry credentials used as image pull
    secrets; `env_credentials` the credentials `settings.env` entries name.
    """

    project: Project
    settings: InferenceConfig
    control_plane_url: str
    hf_token: Credential | None = None
    model_store: DataSource | None = None
    registry_credentials: list[Credential] = dataclasses.field(default_factory=list)
    env_credentials: Mapping[str, Credential] = dataclasses.field(default_factory=dict)
    gpu_memory_per_device: str = "80Gi"


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
        spec = build_spec(settings, _spec_inputs(args))
        props = {
            "logicalName": name,
            "name": settings.runai_name,
            "projectId": args.project.project_id,
            "clusterId": args.project.cluster_id,
            "project": args.project.project_name,
            "credential": args.hf_token.credential_name if args.hf_token else None,
            "modelStore": (
                args.model_store.data_source_name if args.model_store else None
            ),
            "model": settings.model,
            "server": settings.server,
            "spec": spec,
            "rollout": {
                "timeoutSeconds": settings.effective_rollout_timeout,
                "waitForQuota": settings.rollout_waits_for_quota,
                "gpuMemoryPerDevice": args.gpu_memory_per_device,
            },
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


def _spec_inputs(args: HFInferenceArgs) -> SpecInputs:
    store = args.model_store
    return SpecInputs(
        token_secret=args.hf_token.kubernetes_secret_name if args.hf_token else None,
        token_key=args.hf_token.key if args.hf_token else "HF_TOKEN",
        claim_name=store.claim_name if store else None,
        mount_path=store.mount_path if store else None,
        pull_secrets=[c.kubernetes_secret_name for c in args.registry_credentials],
        credential_secrets={
            name: credential.kubernetes_secret_name
            for name, credential in args.env_credentials.items()
        },
        stack_mark=stack_mark(),
    )
