"""Pulumi components for Hugging Face LLM inference on NVIDIA Run:ai.

The public surface: the four components with their Args, the typed stack
configuration, and the exception tree. Everything in a module whose name
starts with `_` is internal.
"""

from .config import InferenceConfig, StackConfig, load_stack_config
from .credential import Credential, CredentialArgs
from .data_source import DataSource, DataSourceArgs
from .errors import (
    ApiError,
    ConfigError,
    ConflictError,
    ControlPlaneUnreachable,
    NotFoundError,
    RunaiHFError,
    WorkloadError,
)
from .inference import HFInference, HFInferenceArgs
from .project import Project, ProjectArgs
from .stack import deploy_stack

__all__ = [
    "ApiError",
    "ConfigError",
    "ConflictError",
    "ControlPlaneUnreachable",
    "Credential",
    "CredentialArgs",
    "DataSource",
    "DataSourceArgs",
    "HFInference",
    "HFInferenceArgs",
    "InferenceConfig",
    "NotFoundError",
    "Project",
    "ProjectArgs",
    "RunaiHFError",
    "StackConfig",
    "WorkloadError",
    "deploy_stack",
    "load_stack_config",
]
