"""Build a whole stack's components from its validated configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from .config import CredentialConfig, StackConfig
from .credential import Credential, CredentialArgs
from .data_source import DataSource, DataSourceArgs
from .inference import HFInference, HFInferenceArgs
from .project import Project, ProjectArgs

__all__ = ["deploy_stack"]

SecretReader = Callable[[str], pulumi.Output[str]]


def deploy_stack(config: StackConfig, *, secret: SecretReader) -> dict[str, Any]:
    """Projects, then credentials and model stores, then inferences; the exports.

    `secret(key)` returns the secret config value named by a credential's
    `tokenKey` or `passwordKey`.
    """
    connection = config.connection
    projects = {
        p.name: Project(
            p.name,
            ProjectArgs(
                cluster_id=connection.cluster_id,
                quotas=p.quotas,
                description=p.description,
                department=p.department,
                existing=p.existing,
                requested_namespace=p.requested_namespace,
                default_node_pools=p.default_node_pools,
            ),
        )
        for p in config.projects
    }
    credentials = {
        c.name: _credential(c, projects[config.project_of(c.project)], secret)
        for c in config.credentials
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
            ),
        )
        for s in config.model_stores
    }

    inferences = []
    for settings in config.inferences:
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
                    control_plane_url=connection.url,
                    hf_token=credentials[token.name] if token else None,
                    model_store=stores[store.name] if store else None,
                    registry_credentials=[
                        credentials[name] for name in settings.image_pull_secrets
                    ],
                    env_credentials=env_credentials,
                    gpu_memory_per_device=config.gpu_memory_of(settings),
                ),
            )
        )
    return _exports(projects, inferences)


def _credential(
    settings: CredentialConfig, project: Project, secret: SecretReader
) -> Credential:
    if settings.kind == "dockerRegistry":
        args = CredentialArgs(
            project=project,
            value=secret(settings.secret_key),
            kind="docker-registry",
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


def _exports(
    projects: dict[str, Project], inferences: list[HFInference]
) -> dict[str, Any]:
    return {
        "projects": {
            name: {"projectId": p.project_id, "namespace": p.namespace}
            for name, p in projects.items()
        },
        "inferences": {
            i.workload_name: {
                "workloadId": i.workload_id,
                "phase": i.phase,
                "url": i.url,
                "curl": i.curl,
            }
            for i in inferences
        },
    }
