"""Build a whole stack's components from its validated configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from ._existing import storage_from_asset, template_environment
from ._kube_objects import credential_secret, model_store_claim
from ._presets import is_reference
from ._resources import RunaiLookup
from .config import CredentialConfig, DataSourceConfig, InferenceConfig, StackConfig
from .credential import Credential, CredentialArgs, CredentialKind
from .data_source import DataSource, DataSourceArgs
from .inference import HFInference, HFInferenceArgs, KnativeDelivery
from .project import Project, ProjectArgs

__all__ = ["deploy_stack"]

SecretReader = Callable[[str], pulumi.Output[str]]


def deploy_stack(config: StackConfig, *, secret: SecretReader) -> dict[str, Any]:
    """Projects, then credentials and model stores, then inferences; the exports.

    `secret(key)` returns the secret config value named by a credential's
    `tokenKey` or `passwordKey`.
    """
    connection = config.connection
    control_plane_url = connection.url if connection else ""
    # Run:ai takes a project's assets with it; a retained model store only
    # survives a destroy when its project does, so such a project is kept.
    knative_only = _knative_only(config)
    keepers = {
        config.project_of(s.project)
        for s in config.model_stores
        if s.retain_on_destroy and not s.existing and s.name not in knative_only
    }
    projects = {
        p.name: Project(
            p.name,
            ProjectArgs(
                cluster_id=connection.cluster_id if connection else "",
                declared=config.declared_projects,
                quotas=p.quotas,
                description=p.description,
                department=p.department,
                existing=p.existing,
                requested_namespace=p.requested_namespace,
                default_node_pools=p.default_node_pools,
                retain_on_destroy=p.name in keepers,
            ),
        )
        for p in config.projects
    }
    # Run:ai assets only for what a Run:ai API inference uses (or nothing
    # uses, as before); Knative inferences get Kubernetes objects instead.
    credentials = {
        c.name: _credential(c, projects[config.project_of(c.project)], secret)
        for c in config.credentials
        if c.name not in knative_only
    }
    stores = {
        s.name: DataSource(
            s.name,
            DataSourceArgs(
                project=projects[config.project_of(s.project)],
                mount_path=s.mount_path,
                size=s.size,
                storage_class=s.storage_class,
                claim_name=s.claim_name,
                existing_pvc=s.existing_pvc,
                pinned_name=s.runai_name,
                existing=s.existing,
                scope=s.scope,
                retain_on_destroy=s.retain_on_destroy,
            ),
        )
        for s in config.model_stores
        if s.name not in knative_only
    }
    # Data sources become Run:ai assets (so they show in Run:ai); inferences
    # mount them inline through `spec.storage`.
    sources = {
        source.name: _volume_source(
            source, projects[config.project_of(source.project)], credentials
        )
        for source in config.data_sources
    }
    presets = _Presets(config, projects)
    kube = _KubeObjects(config, secret)

    inferences = []
    for settings in config.inferences:
        if config.delivery_of(settings) == "knative":
            project = projects[config.project_of(settings.project)]
            inferences.append(kube.inference(settings, project, control_plane_url))
            continue
        token = config.hf_token_of(settings)
        store = config.model_store_of(settings)
        env_credentials = {
            v.credential: credentials[v.credential]
            for v in settings.env
            if v.credential
        }
        inferences.append(
            HFInference(
                settings.name,
                HFInferenceArgs(
                    project=projects[config.project_of(settings.project)],
                    settings=settings,
                    control_plane_url=control_plane_url,
                    hf_token=credentials[token.name] if token else None,
                    model_store=stores[store.name] if store else None,
                    registry_credentials=[
                        credentials[name] for name in settings.image_pull_secrets
                    ],
                    env_credentials=env_credentials,
                    gpu_memory_per_device=config.gpu_memory_of(settings),
                    volumes=_attachments(settings, config, credentials, sources),
                    data_sources=[sources[name] for name in settings.data_sources],
                    environment_asset=presets.lookup("environment", settings),
                    compute_asset=presets.lookup("compute", settings),
                    template_id=presets.template_id(settings),
                    template_sources=presets.template_sources(settings),
                ),
            )
        )
    return _exports(projects, inferences)


def _knative_only(config: StackConfig) -> set[str]:
    """Credentials and model stores that only Knative inferences use."""
    # Data sources are Run:ai assets whatever mounts them, and so are the
    # credentials they name.
    users: dict[str, set[str]] = {
        d.credential: {"runaiApi"} for d in config.data_sources if d.credential
    }
    for settings in config.inferences:
        names = [c.name for c in _credentials_of(config, settings)]
        store = config.model_store_of(settings)
        for name in names + ([store.name] if store else []):
            users.setdefault(name, set()).add(config.delivery_of(settings))
    return {name for name, modes in users.items() if modes == {"knative"}}


def _credentials_of(
    config: StackConfig, settings: InferenceConfig
) -> list[CredentialConfig]:
    token = config.hf_token_of(settings)
    named = [*settings.image_pull_secrets, *(v.credential for v in settings.env)]
    found = [config.credential(name) for name in named if name]
    return ([token] if token else []) + found


class _KubeObjects:
    """Secrets and PVCs for Knative inferences: one per object and namespace."""

    def __init__(self, config: StackConfig, secret: SecretReader) -> None:
        self.config = config
        self.secret = secret
        self.secrets: dict[tuple[str, str], pulumi.Output[str]] = {}
        self.claims: dict[tuple[str, str], str] = {}

    def secret_name(self, name: str, namespace: str) -> pulumi.Output[str]:
        if (name, namespace) not in self.secrets:
            settings = self.config.credential(name)
            value = self.secret(settings.secret_key)
            self.secrets[name, namespace] = credential_secret(
                settings, namespace, value
            )
        return self.secrets[name, namespace]

    def claim(self, store_name: str, namespace: str) -> str:
        if (store_name, namespace) not in self.claims:
            store = next(s for s in self.config.model_stores if s.name == store_name)
            self.claims[store_name, namespace] = model_store_claim(store, namespace)
        return self.claims[store_name, namespace]

    def inference(
        self, settings: InferenceConfig, project: Project, control_plane_url: str
    ) -> HFInference:
        config = self.config
        namespace = config.namespace_of(project.project_name)
        token = config.hf_token_of(settings)
        store = config.model_store_of(settings)
        delivery = KnativeDelivery(
            namespace=namespace,
            cluster=config.knative,
            token_secret=self.secret_name(token.name, namespace) if token else None,
            claim_name=self.claim(store.name, namespace) if store else None,
            mount_path=store.mount_path if store else None,
            pull_secrets=[
                self.secret_name(name, namespace)
                for name in settings.image_pull_secrets
            ],
            credential_secrets={
                v.credential: self.secret_name(v.credential, namespace)
                for v in settings.env
                if v.credential
            },
        )
        args = HFInferenceArgs(
            project=project,
            settings=settings,
            control_plane_url=control_plane_url,
            knative=delivery,
        )
        return HFInference(settings.name, args)


def _credential(
    settings: CredentialConfig, project: Project, secret: SecretReader
) -> Credential:
    kind = _CREDENTIAL_KINDS[settings.kind]
    if settings.existing:
        args = CredentialArgs(
            project=project,
            value="",
            kind=kind,
            existing=True,
            pinned_name=settings.runai_name or settings.name,
        )
        return Credential(settings.name, args)
    if settings.kind in ("dockerRegistry", "password"):
        args = CredentialArgs(
            project=project,
            value=secret(settings.secret_key),
            kind=kind,
            url=settings.registry_url,
            user=settings.user,
            pinned_name=settings.runai_name,
        )
    else:
        args = CredentialArgs(
            project=project,
            value=secret(settings.secret_key),
            pinned_name=settings.runai_name,
        )
    return Credential(settings.name, args)


_CREDENTIAL_KINDS: dict[str, CredentialKind] = {
    "huggingFace": "generic-secret",
    "dockerRegistry": "docker-registry",
    "password": "password",
}


def _exports(
    projects: dict[str, Project], inferences: list[HFInference]
) -> dict[str, Any]:
    return {
        "projects": {
            name: {"projectId": p.project_id, "namespace": p.namespace}
            for name, p in projects.items()
        },
        "inferences": {i.workload_name: _inference_exports(i) for i in inferences},
    }


def _inference_exports(inference: HFInference) -> dict[str, Any]:
    exports: dict[str, Any] = {
        "workloadId": inference.workload_id,
        "phase": inference.phase,
        "url": inference.url,
        "curl": inference.curl,
    }
    if inference.revision is not None:
        exports.update(delivery=inference.delivery, revision=inference.revision)
    return exports


_STORAGE_KEYS = {
    "nfs": "nfs",
    "hostPath": "hostPath",
    "configMap": "configMapVolume",
    "secret": "secretVolume",
    "git": "git",
}
_ASSET_KINDS = {
    "nfs": "nfs",
    "hostPath": "host-path",
    "configMap": "config-map",
    "secret": "secret",
    "git": "git",
}


def _volume_spec(
    source: DataSourceConfig, credentials: dict[str, Credential], *, asset: bool
) -> dict[str, Any]:
    """The data source as its asset's spec (`asset`) or as an inference mount.

    Inference takes storage inline, not by asset id, so the same settings are
    written twice: once to create the asset, once into `spec.storage`.
    """
    if source.kind == "git":
        return _git_spec(source, credentials, asset=asset)
    spec: dict[str, Any] = {"mountPath": source.mount_path}
    if source.kind in ("nfs", "hostPath"):
        spec.update(path=source.path, readOnly=source.read_only)
    if source.kind == "nfs":
        spec["server"] = source.server
    if source.kind == "hostPath" and source.mount_propagation:
        spec["mountPropagation"] = source.mount_propagation
    if source.kind == "configMap":
        spec["configMap"] = source.config_map
        if source.sub_path:
            spec["subPath"] = source.sub_path
    if source.kind in ("configMap", "secret") and source.default_mode:
        spec["defaultMode"] = source.default_mode
    if source.kind == "secret":
        credential = credentials[str(source.credential)]
        if asset:
            spec["credentialAssetId"] = credential.asset_id
        else:
            spec["secret"] = credential.kubernetes_secret_name
    if not asset:
        spec["name"] = source.name
    return spec


def _git_spec(
    source: DataSourceConfig, credentials: dict[str, Credential], *, asset: bool
) -> dict[str, Any]:
    """Git's own field names: `path` is where the checkout is mounted.

    The asset names its credential by asset id (`credentialId`); an inference
    mount cannot, so it names the credential's Kubernetes secret (`secretRef`)
    and leaves the secret's keys to Run:ai, which wrote that secret.
    """
    spec: dict[str, Any] = {"repository": source.repository, "path": source.mount_path}
    if source.branch:
        spec["branch"] = source.branch
    if source.revision:
        spec["revision"] = source.revision
    if source.credential:
        credential = credentials[source.credential]
        if asset:
            spec["credentialId"] = credential.asset_id
        else:
            spec["secretRef"] = {
                "name": credential.kubernetes_secret_name,
                "authenticationMethod": "password",
            }
    if not asset:
        spec["name"] = source.name
    return spec


def _volume_source(
    source: DataSourceConfig, project: Project, credentials: dict[str, Credential]
) -> DataSource:
    if source.existing:
        args = DataSourceArgs(
            project=project,
            kind=_ASSET_KINDS[source.kind],
            existing=True,
            pinned_name=source.runai_name or source.name,
            scope=source.scope,
        )
        return DataSource(source.name, args)
    return DataSource(
        source.name,
        DataSourceArgs(
            project=project,
            mount_path=str(source.mount_path),
            kind=_ASSET_KINDS[source.kind],
            spec=_volume_spec(source, credentials, asset=True),
            pinned_name=source.runai_name,
        ),
    )


def _attachments(
    settings: InferenceConfig,
    config: StackConfig,
    credentials: dict[str, Credential],
    created: dict[str, DataSource],
) -> dict[str, list[Any]]:
    sources = {d.name: d for d in config.data_sources}
    mounts: dict[str, list[Any]] = {}
    for name in settings.data_sources:
        source = sources[name]
        lookup = created[name].lookup
        entry: Any
        if lookup is None:
            entry = _volume_spec(source, credentials, asset=False)
        else:
            entry = _copied_mount(_ASSET_KINDS[source.kind], name, lookup)
        mounts.setdefault(_STORAGE_KEYS[source.kind], []).append(entry)
    return mounts


def _copied_mount(kind: str, name: str, lookup: RunaiLookup) -> pulumi.Output[Any]:
    """An existing data source's spec, as an inference mount, once it is read."""
    found = pulumi.Output.all(
        spec=lookup.spec, clusterName=lookup.clusterName, secretName=lookup.secretName
    )
    return found.apply(lambda outputs: storage_from_asset(kind, name, outputs))


class _Presets:
    """Lookups of the environments, compute resources and templates that exist
    in Run:ai: one per asset and project, shared by the inferences naming it."""

    def __init__(self, config: StackConfig, projects: dict[str, Project]) -> None:
        self.config = config
        self.projects = projects
        self.found: dict[tuple[str, str, str], RunaiLookup] = {}

    def lookup(
        self, reference: str, settings: InferenceConfig
    ) -> pulumi.Output[dict[str, Any]] | None:
        """What the inference copies for `environment` or `compute`: the spec
        of the existing asset it names, else its workload template's."""
        section = {"environment": "environments", "compute": "compute_resources"}
        name = getattr(settings, reference)
        preset = getattr(self.config, section[reference]).get(name) if name else None
        if preset is not None and is_reference(preset):
            runai_name = str(preset.get("runaiName") or name)
            scope = preset.get("scope")
            return self._find(reference, runai_name, settings, scope=scope).spec
        if preset is not None:
            return None  # defined in the stack: nothing to copy
        template = self.template(settings)
        if template is None:
            return None
        if reference == "environment":
            return pulumi.Output.all(template.environment, template.spec).apply(
                lambda found: template_environment(found[0], found[1])
            )
        return template.compute.apply(lambda found: dict(found or {}))

    def template_id(self, settings: InferenceConfig) -> pulumi.Input[str] | None:
        template = self.template(settings)
        return template.assetId if template is not None else None

    def template_sources(
        self, settings: InferenceConfig
    ) -> pulumi.Output[list[dict[str, Any]]] | None:
        template = self.template(settings)
        return template.dataSources if template is not None else None

    def template(self, settings: InferenceConfig) -> RunaiLookup | None:
        """The workload template the inference names, by name or by id."""
        if settings.template is not None:
            return self._find("workload-template", settings.template, settings)
        if settings.template_id is not None:
            return self._find(
                "workload-template", settings.template_id, settings, by_id=True
            )
        return None

    def _find(
        self,
        kind: str,
        runai_name: str,
        settings: InferenceConfig,
        *,
        scope: str | None = None,
        by_id: bool = False,
    ) -> RunaiLookup:
        project_name = self.config.project_of(settings.project)
        key = (kind, runai_name, project_name)
        if key not in self.found:
            project = self.projects[project_name]
            props: dict[str, Any] = {
                "existing": True,
                "kind": kind,
                "name": runai_name,
                "projectId": project.project_id,
            }
            if by_id:
                props["byId"] = True
            if scope:
                props["scope"] = scope
            # Project names have no '/', so this name is one lookup's only.
            self.found[key] = RunaiLookup(
                f"{kind}/{runai_name}/{project_name}",
                props,
                pulumi.ResourceOptions(parent=project),
            )
        return self.found[key]
