"""Serve the stack's Hugging Face models on Run:ai: config in, components out."""

import pulumi
from pulumi.runtime import config as runtime_config

from components import ConfigError, deploy_stack, load_stack_config
from components.config import PROJECT_NAMESPACE


def config_value(key: str) -> str | None:
    namespace, name = key.split(":", 1)
    return pulumi.Config(namespace).get(name)


def present_keys() -> set[str]:
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def secret_value(key: str) -> pulumi.Output[str]:
    namespace, name = key.split(":", 1) if ":" in key else (PROJECT_NAMESPACE, key)
    full = f"{namespace}:{name}"
    value = pulumi.Config(namespace).get_secret(name)
    if value is None:
        raise ConfigError(
            [f"{full}: this secret is not set; run `pulumi config set --secret {name}`"]
        )
    if not runtime_config.is_config_secret(full):
        raise ConfigError(
            [
                f"{full}: holds a plain value; secrets never go in a stack file in "
                f"clear: run `pulumi config set --secret {name}` instead"
            ]
        )
    return value


def refuse_plain_client_secret() -> None:
    # The providers read it themselves; the program only makes sure it is not
    # sitting in a stack file in clear.
    key = "runai:clientSecret"
    if config_value(key) is not None and not runtime_config.is_config_secret(key):
        raise ConfigError(
            [
                f"{key}: holds a plain value; secrets never go in a stack file in "
                "clear: run `pulumi config set --secret runai:clientSecret` instead"
            ]
        )


refuse_plain_client_secret()
config = load_stack_config(config_value, present=present_keys())
# Every secret is read before the first resource registers, so a missing one
# stops the run before anything is created.
secrets = {key: secret_value(key) for key in config.secret_keys()}
for name, value in deploy_stack(config, secret=secrets.__getitem__).items():
    pulumi.export(name, value)
