"""The HFInference component: one Hugging Face model served on Run:ai."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from ._existing import (
    compute_from_asset,
    environment_from_asset,
    storage_with_template,
    variables_from_asset,
)
from ._knative import KnativeInputs, render_service, service_name, service_url
from ._resources import RunaiInference
from ._serving import SpecInputs, build_spec, chat_curl
from .config import InferenceConfig, KnativeCluster
from .credential import Credential
from .data_source import DataSource
from .project import Project, stack_mark

__all__ = ["HFInference", "HFInferenceArgs", "KnativeDelivery"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class KnativeDelivery:
    """Where a Knative inference goes and the Kubernetes objects it refers to.

    Secret names are Outputs (they hash the secret's content); the claim name
    and namespace are plain, known from the stack file.
    """

    namespace: str
    cluster: KnativeCluster
    token_secret: pulumi.Output[str] | None = None
    claim_name: str | None = None
    mount_path: str | None = None
    pull_secrets: list[pulumi.Output[str]] = dataclasses.field(default_factory=list)
    credential_secrets: Mapping[str, pulumi.Output[str]] = dataclasses.field(
        default_factory=dict
    )


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
    volumes: Mapping[str, list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    knative: KnativeDelivery | None = None
    """Set: deliver as a Knative Service instead of through the Run:ai API."""
    data_sources: list[DataSource] = dataclasses.field(default_factory=list)
    """The data sources `volumes` mounts: created before the inference, deleted
    after it (the mounts are inline, so nothing else orders them)."""
    environment_asset: pulumi.Output[dict[str, Any]] | None = None
    """The spec of an existing Run:ai environment to copy unset fields from."""
    compute_asset: pulumi.Output[dict[str, Any]] | None = None
    """The spec of an existing Run:ai compute resource to copy requests from."""
    template_sources: pulumi.Output[list[dict[str, Any]]] | None = None
    """The data sources of that template, as its lookup read them."""
    template_id: pulumi.Input[str] | None = None
    """The Run:ai workload template the inference is made from; what it gives
    arrives through `environment_asset` and `compute_asset`, copied inline."""


class HFInference(pulumi.ComponentResource):
    """A vLLM or TGI server for a Hub model, through the Run:ai API or Knative.

    `pulumi up` waits until the workload runs (a Knative Service: until it is
    Ready); the outputs then hold its endpoint URL and a `curl` to try it.
    """

    workload_id: pulumi.Output[str]
    workload_name: str
    delivery: str
    phase: pulumi.Output[str]
    url: pulumi.Output[str]
    curl: pulumi.Output[str]
    revision: pulumi.Output[str] | None = None

    def __init__(
        self,
        name: str,
        args: HFInferenceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-hf:index:HFInference", name, None, opts)

        self.workload_name = name
        if args.knative is not None:
            self._knative(name, args, args.knative)
            return
        self.delivery = "runaiApi"
        settings = args.settings
        spec = _with_assets(build_spec(settings, _spec_inputs(args)), args)
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
            "templateId": args.template_id,
            "rollout": {
                "timeoutSeconds": settings.effective_rollout_timeout,
                "waitForQuota": settings.rollout_waits_for_quota,
                "gpuMemoryPerDevice": args.gpu_memory_per_device,
            },
        }
        resource = RunaiInference(
            name,
            props,
            pulumi.ResourceOptions(parent=self, depends_on=list(args.data_sources)),
        )

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

    def _knative(
        self, name: str, args: HFInferenceArgs, delivery: KnativeDelivery
    ) -> None:
        from pulumi_kubernetes.apiextensions.CustomResource import CustomResource

        from ._knative import API_VERSION, KIND

        settings = args.settings
        manifest = _knative_manifest(args, delivery)
        timeout = f"{settings.effective_rollout_timeout}s"
        service = CustomResource(
            name,
            api_version=API_VERSION,
            kind=KIND,
            metadata=manifest.apply(lambda m: m["metadata"]),
            spec=manifest.apply(lambda m: m["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Beside the waitFor annotation: the engine's own timeout, so
                # `pulumi up` gives up when Knative's progress deadline does.
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
                depends_on=[args.project],
            ),
        )
        service_id = service_name(settings)
        url = service_url(service_id, delivery.namespace, delivery.cluster.domain)
        self.delivery = "knative"
        self.workload_id = pulumi.Output.from_input(
            f"{delivery.namespace}/{service_id}"
        )
        # waitFor holds `pulumi up` until Ready, so a finished update is Ready.
        self.phase = service.id.apply(lambda _: "Ready")
        self.url = pulumi.Output.from_input(url)
        self.revision = manifest.apply(
            lambda m: m["spec"]["template"]["metadata"]["name"]
        )
        self.curl = pulumi.Output.from_input(
            chat_curl(
                url=url,
                model=settings.model,
                server=settings.server,
                public=True,  # Knative delivery has no authenticating layer
                control_plane_url=args.control_plane_url,
            )
        )
        self.register_outputs(
            {"url": self.url, "revision": self.revision, "curl": self.curl}
        )


def _knative_manifest(
    args: HFInferenceArgs, delivery: KnativeDelivery
) -> pulumi.Output[dict[str, Any]]:
    """The Service manifest once every referenced Secret name is known."""
    token = delivery.token_secret
    names = list(delivery.credential_secrets)
    resolved = pulumi.Output.all(
        token if token is not None else None,
        pulumi.Output.all(*delivery.pull_secrets),
        pulumi.Output.all(*(delivery.credential_secrets[n] for n in names)),
    )

    def render(values: list[Any]) -> dict[str, Any]:
        token_name, pulls, credentials = values
        inputs = KnativeInputs(
            namespace=delivery.namespace,
            project=args.project.project_name,
            cluster=delivery.cluster,
            token_secret=token_name,
            token_key="HF_TOKEN",
            claim_name=delivery.claim_name,
            mount_path=delivery.mount_path,
            pull_secrets=tuple(pulls),
            credential_secrets=dict(zip(names, credentials, strict=True)),
            stack_mark=stack_mark(),
        )
        return render_service(args.settings, inputs)

    return resolved.apply(render)


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
        volumes=args.volumes,
    )


_ENVIRONMENT_SPEC_KEYS = (
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "workingDir",
    "security",
)


def _with_assets(spec: dict[str, Any], args: HFInferenceArgs) -> dict[str, Any]:
    """The spec with what existing assets or a template supply.

    Only the fields an asset can decide become Outputs of its lookup, so a
    preview still shows the rest of the spec as known.
    """
    settings = args.settings
    if args.template_sources is not None:
        own = pulumi.Output.from_input(spec.get("storage") or {})
        spec["storage"] = pulumi.Output.all(own, args.template_sources).apply(
            lambda found: storage_with_template(found[0], found[1]) or None
        )
    if args.compute_asset is not None:
        compute = spec["compute"]
        spec["compute"] = args.compute_asset.apply(
            lambda asset: compute_from_asset(compute, asset, settings)
        )
    asset = args.environment_asset
    if asset is not None:
        # The plain fields wait only for the asset; the variables also for
        # the secret names of new credentials.
        plain = {key: spec.get(key) for key in _ENVIRONMENT_SPEC_KEYS}
        decided = asset.apply(
            lambda found: environment_from_asset(plain, found, settings)
        )
        for key in _ENVIRONMENT_SPEC_KEYS:
            spec[key] = decided.apply(_field(key))
        ours = pulumi.Output.from_input(spec.get("environmentVariables") or [])
        spec["environmentVariables"] = pulumi.Output.all(ours, asset).apply(
            lambda found: variables_from_asset(found[1], found[0])
        )
    return spec


def _field(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda whole: whole.get(key)
