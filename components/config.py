"""The typed stack configuration: what a `stacks/Pulumi.<env>.yaml` file may hold.

One pydantic model, validated once, before any resource is registered. Every
problem is reported with its stack config key path (`runai-hf:inferences[0].gpu`),
the offending value and what is allowed. Defaults follow the Run:ai UI form for
Hugging Face inference: priority `very-high` (non-preemptible), one replica, a
public HTTP endpoint, vLLM on port 8000, image pull policy `IfNotPresent`.

Secrets never live in the structured config. The HF token and the Run:ai client
secret are top-level config keys of their own (`pulumi config set --secret`);
the structured config only names the key that holds the token.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .errors import ConfigError

__all__ = [
    "PROJECT_NAMESPACE",
    "Autoscaling",
    "Connection",
    "CredentialConfig",
    "EndpointAccess",
    "GpuRequest",
    "InferenceConfig",
    "ModelStoreConfig",
    "NodePoolQuota",
    "ProjectConfig",
    "Replicas",
    "StackConfig",
    "load_stack_config",
    "parse_duration",
]

PROJECT_NAMESPACE = "runai-hf"
"""The Pulumi project name, and so the namespace of the program's config keys."""

RUNAI_NAMESPACE = "runai"
"""Config namespace of the control-plane connection (`runai:url`, ...)."""

PRIORITY_CLASSES = (
    "very-low",
    "low",
    "medium-low",
    "medium",
    "medium-high",
    "high",
    "very-high",
)
NON_PREEMPTIBLE_CLASSES = frozenset({"high", "very-high"})
"""Run:ai runs these priority classes non-preemptible; the rest preemptible."""

FORM_MAX_INITIALIZATION_TIMEOUT = 3600
"""The Run:ai 2.23 form accepts 5 s to 60 min; later versions allow more."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")
_QUANTITY = re.compile(r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*(:[A-Za-z][A-Za-z0-9_.-]*)?$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity: write a number with an "
            "optional unit, such as 20Gi, 500Mi or 1T"
        )
    return value


def parse_duration(value: object) -> int:
    """Seconds from an int (seconds) or a string such as `90s`, `10m`, `1h30m`."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value != int(value):
            raise ValueError(f"{value!r} is not a whole number of seconds")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        match = _DURATION.match(text)
        if text and match:
            hours, minutes, seconds = (int(part or 0) for part in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise ValueError(
        f"{value!r} is not a duration: give seconds (300) or a string like "
        "'90s', '10m' or '1h30m'"
    )


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Quantity = Annotated[str, AfterValidator(_quantity)]
Seconds = Annotated[int, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class Connection(_Model):
    """How providers reach the control plane: the `runai:` config keys."""

    url: str
    client_id: str = Field(min_length=1)
    cluster_id: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL: give the Run:ai control-plane "
                "address, such as https://acme.run.ai"
            )
        return value.rstrip("/")

    @field_validator("cluster_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not re.match(r"^[0-9a-fA-F-]{36}$", value):
            raise ValueError(
                f"{value!r} is not a cluster UUID: copy it from the Run:ai UI "
                "(Resources > Clusters) or from the emulator's start-up lines"
            )
        return value


class NodePoolQuota(_Model):
    """The project's GPU quota on one node pool."""

    node_pool: DnsLabel = "default"
    gpu: float = Field(ge=0, description="Deserved GPUs (guaranteed quota).")
    gpu_limit: float | None = Field(
        default=None, ge=0, description="Most GPUs the project may use; none: no cap."
    )

    @model_validator(mode="after")
    def _limit_covers_deserved(self) -> NodePoolQuota:
        if self.gpu_limit is not None and self.gpu_limit < self.gpu:
            raise ValueError(
                f"gpuLimit {self.gpu_limit:g} is below the deserved gpu "
                f"{self.gpu:g}: a limit must be at least the deserved quota"
            )
        return self


class ProjectConfig(_Model):
    """The Run:ai project the inferences run in."""

    name: DnsLabel
    description: str | None = None
    requested_namespace: DnsLabel | None = None
    quotas: list[NodePoolQuota] = Field(min_length=1)

    @field_validator("quotas")
    @classmethod
    def _one_quota_per_pool(cls, quotas: list[NodePoolQuota]) -> list[NodePoolQuota]:
        pools = [quota.node_pool for quota in quotas]
        repeated = sorted({pool for pool in pools if pools.count(pool) > 1})
        if repeated:
            raise ValueError(
                f"node pool {', '.join(repeated)} has more than one quota: "
                "give one entry per node pool"
            )
        return quotas


class CredentialConfig(_Model):
    """The generic-secret credential that holds the Hugging Face token."""

    name: DnsLabel
    token_key: str = Field(
        default="hfToken",
        description="Top-level config key holding the token, set with "
        "`pulumi config set --secret`.",
    )

    @field_validator("token_key")
    @classmethod
    def _config_key(cls, value: str) -> str:
        if not _CONFIG_KEY.match(value):
            raise ValueError(
                f"{value!r} is not a config key name: use letters, digits, '_', "
                "'-' and '.', such as hfToken"
            )
        return value


class ModelStoreConfig(_Model):
    """The PVC data source the server downloads weights into (the model store)."""

    name: DnsLabel
    size: Quantity = "50Gi"
    storage_class: DnsLabel | None = None
    claim_name: DnsLabel | None = None
    mount_path: str = "/models"

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value == "/":
            raise ValueError(
                f"{value!r} is not an absolute container path below '/': "
                "use a path such as /models"
            )
        return value


class GpuRequest(_Model):
    """Whole GPU devices, or a portion of one GPU."""

    devices: int | None = Field(default=None, ge=1)
    portion: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_kind(self) -> GpuRequest:
        if self.devices is not None and self.portion is not None:
            raise ValueError(
                f"devices {self.devices} and portion {self.portion:g} are both set: "
                "give whole devices or a portion of one GPU, not both"
            )
        if self.devices is None and self.portion is None:
            raise ValueError("give devices (whole GPUs) or portion (0 < portion <= 1)")
        return self

    @property
    def total(self) -> float:
        """GPUs one replica takes."""
        return (
            float(self.devices)
            if self.devices is not None
            else float(self.portion or 0)
        )


class Replicas(_Model):
    """How many replicas the inference runs; min 0 allows scale to zero."""

    min: int = Field(default=1, ge=0)
    max: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max is not None and self.max < self.min:
            raise ValueError(
                f"max {self.max} is below min {self.min}: max replicas must be at "
                "least min replicas"
            )
        return self

    @property
    def effective_max(self) -> int:
        """The maximum the API applies when none is given."""
        return self.max if self.max is not None else max(self.min, 1)


class Autoscaling(_Model):
    """The metric that drives scaling between min and max replicas."""

    metric: Literal["throughput", "concurrency", "latency"]
    threshold: int = Field(ge=1)


class EndpointAccess(_Model):
    """Who may call the serving endpoint (the form's four choices)."""

    access: Literal[
        "public", "authenticatedUsers", "authorizedGroups", "authorizedUsers"
    ]
    groups: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_match_access(self) -> EndpointAccess:
        if self.access == "authorizedGroups" and not self.groups:
            raise ValueError("access authorizedGroups needs at least one group name")
        if self.access == "authorizedUsers" and not self.users:
            raise ValueError("access authorizedUsers needs at least one user or app")
        if self.access in ("public", "authenticatedUsers") and (
            self.groups or self.users
        ):
            raise ValueError(
                f"access {self.access} takes no groups or users: choose "
                "authorizedGroups or authorizedUsers to name them"
            )
        return self


def _default_endpoint() -> EndpointAccess:
    return EndpointAccess(access="public")


class InferenceConfig(_Model):
    """One Hugging Face model served by vLLM or TGI."""

    name: DnsLabel
    model: str
    server: Literal["vllm", "tgi"] = "vllm"
    image: str | None = None
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    gpu: GpuRequest = Field(default_factory=lambda: GpuRequest(devices=1))
    replicas: Replicas = Field(default_factory=Replicas)
    autoscaling: Autoscaling | None = None
    node_pools: list[DnsLabel] | None = None
    priority: Literal[
        "very-low", "low", "medium-low", "medium", "medium-high", "high", "very-high"
    ] = "very-high"
    preemptibility: Literal["preemptible", "non-preemptible"] | None = None
    endpoint: EndpointAccess = Field(default_factory=_default_endpoint)
    initialization_timeout: Seconds | None = None

    @field_validator("model")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if not _MODEL_ID.match(value):
            raise ValueError(
                f"{value!r} is not a Hugging Face model id: write it as shown on "
                "the Hub, such as meta-llama/Llama-3.1-8B-Instruct"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or " " in value):
            raise ValueError(f"{value!r} is not an image reference")
        return value

    @field_validator("initialization_timeout")
    @classmethod
    def _timeout_in_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        maximum = int((info.context or {}).get("max_initialization_timeout", 3600))
        if not 5 <= value <= maximum:
            raise ValueError(
                f"{value} s is outside 5 s to {maximum} s ({maximum // 60} min); "
                "raise runai-hf:maxInitializationTimeoutSeconds if your Run:ai "
                "version accepts longer"
            )
        return value

    @model_validator(mode="after")
    def _scaling_rules(self) -> InferenceConfig:
        low, high = self.replicas.min, self.replicas.effective_max
        needs_metric = low < high and not (low == 0 and high == 1)
        if needs_metric and self.autoscaling is None:
            raise ValueError(
                f"replicas {low} to {high} need autoscaling (metric and threshold): "
                "Run:ai requires a metric when min replicas is below max"
            )
        return self

    @property
    def effective_preemptibility(self) -> str:
        """Explicit preemptibility, else the one Run:ai gives the priority class."""
        if self.preemptibility is not None:
            return self.preemptibility
        if self.priority in NON_PREEMPTIBLE_CLASSES:
            return "non-preemptible"
        return "preemptible"


class StackConfig(_Model):
    """Everything one stack file declares."""

    environment: Literal["local", "dev", "staging", "prod"]
    connection: Connection
    project: ProjectConfig
    credential: CredentialConfig
    model_store: ModelStoreConfig
    inferences: list[InferenceConfig] = Field(min_length=1)
    max_initialization_timeout_seconds: int = Field(
        default=FORM_MAX_INITIALIZATION_TIMEOUT, ge=5
    )

    @field_validator("inferences")
    @classmethod
    def _unique_names(cls, inferences: list[InferenceConfig]) -> list[InferenceConfig]:
        names = [inference.name for inference in inferences]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"inference name {', '.join(repeated)} is used twice")
        return inferences

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> StackConfig:
        """Validate raw values, raising ConfigError with config key paths."""
        try:
            maximum = int(values.get("maxInitializationTimeoutSeconds") or 3600)
        except (TypeError, ValueError):
            maximum = FORM_MAX_INITIALIZATION_TIMEOUT
        try:
            return cls.model_validate(
                values, context={"max_initialization_timeout": maximum}
            )
        except ValidationError as error:
            raise ConfigError(_describe(error)) from None


_STRUCTURED_KEYS = ("project", "credential", "modelStore", "inferences")
_CONNECTION_KEYS = ("url", "clientId", "clusterId")


def load_stack_config(get: Callable[[str], str | None]) -> StackConfig:
    """Read and validate the stack's config through `get(fully_qualified_key)`.

    `get` returns the raw string the engine holds for a key, or None. The
    program passes a reader over `pulumi.Config`; the preflight passes one
    over the stack file.
    """
    import json

    values: dict[str, Any] = {}
    problems: list[str] = []
    for key in ("environment", "maxInitializationTimeoutSeconds", *_STRUCTURED_KEYS):
        raw = get(f"{PROJECT_NAMESPACE}:{key}")
        if raw is None:
            continue
        if key == "environment":
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(
                f"{PROJECT_NAMESPACE}:{key}: {raw!r} is not structured data; "
                "write it as a YAML mapping or list in the stack file"
            )
    values["connection"] = {
        key: raw
        for key in _CONNECTION_KEYS
        if (raw := get(f"{RUNAI_NAMESPACE}:{key}")) is not None
    }
    if problems:
        raise ConfigError(problems)
    return StackConfig.from_values(values)


def config_key_path(loc: tuple[int | str, ...]) -> str:
    """`("inferences", 0, "gpu")` -> `runai-hf:inferences[0].gpu`."""
    if not loc:
        return PROJECT_NAMESPACE
    head, *rest = loc
    if head == "connection":
        if not rest:
            return "runai: connection keys (url, clientId, clusterId)"
        head, *rest = rest
        text = f"{RUNAI_NAMESPACE}:{head}"
    else:
        text = f"{PROJECT_NAMESPACE}:{head}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        where = config_key_path(loc)
        message = _message(item)
        if item["type"] == "extra_forbidden":
            message += _suggestion(loc)
        problems.append(f"{where}: {message}")
    return problems


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the setting at `loc` (list indexes skipped)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            return None
        annotation = fields[part].annotation
        model = _inner_model(annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def _suggestion(loc: tuple[int | str, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    known = sorted(f.alias or name for name, f in model.model_fields.items())
    close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    return f"; known settings here: {', '.join(known)}"


def _is_union_tag(part: int | str) -> bool:
    # Pydantic puts the union member or validator name into `loc`
    # (`function-after[...]`); it means nothing to a user.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _message(item: Any) -> str:
    kind = item["type"]
    value = item.get("input")
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if kind == "missing":
        return "is required but not set"
    if kind == "extra_forbidden":
        return (
            f"is not a known setting (value {value!r}); remove it or fix the spelling"
        )
    if kind == "literal_error":
        return f"{value!r} is not allowed; expected {item['ctx']['expected']}"
    return f"{value!r}: {item['msg'].lower()}"
