"""Serve the stack's Hugging Face models on Run:ai: config in, components out."""

import pulumi

from components import (
    ConfigError,
    Credential,
    CredentialArgs,
    DataSource,
    DataSourceArgs,
    HFInference,
    HFInferenceArgs,
    Project,
    ProjectArgs,
    load_stack_config,
)


def config_value(key: str) -> str | None:
    namespace, name = key.split(":", 1)
    return pulumi.Config(namespace).get(name)


def secret_value(key: str) -> pulumi.Output[str]:
    namespace, name = key.split(":", 1) if ":" in key else ("runai-hf", key)
    value = pulumi.Config(namespace).get_secret(name)
    if value is None:
        raise ConfigError(
            [
                f"{namespace}:{name}: the Hugging Face token is not set; run "
                f"`pulumi config set --secret {name} <token>`"
            ]
        )
    return value


config = load_stack_config(config_value)

project = Project(
    config.project.name,
    ProjectArgs(
        cluster_id=config.connection.cluster_id,
        quotas=config.project.quotas,
        description=config.project.description,
        requested_namespace=config.project.requested_namespace,
    ),
)
credential = Credential(
    config.credential.name,
    CredentialArgs(project=project, value=secret_value(config.credential.token_key)),
)
model_store = DataSource(
    config.model_store.name,
    DataSourceArgs(
        project=project,
        mount_path=config.model_store.mount_path,
        size=config.model_store.size,
        storage_class=config.model_store.storage_class,
        claim_name=config.model_store.claim_name,
    ),
)
inferences = [
    HFInference(
        settings.name,
        HFInferenceArgs(
            project=project,
            credential=credential,
            model_store=model_store,
            settings=settings,
            control_plane_url=config.connection.url,
        ),
    )
    for settings in config.inferences
]

pulumi.export("projectId", project.project_id)
pulumi.export("namespace", project.namespace)
pulumi.export(
    "inferences",
    {
        inference.workload_name: {
            "workloadId": inference.workload_id,
            "phase": inference.phase,
            "url": inference.url,
            "curl": inference.curl,
        }
        for inference in inferences
    },
)
