"""The typed stack configuration: what a `stacks/Pulumi.<env>.yaml` file may hold.

One pydantic model, validated once, before any resource is registered. Every
problem is reported with its stack config key path (`runai-hf:inferences[0].gpu`),
the offending value and what is allowed. Defaults follow the Run:ai UI form for
Hugging Face inference: priority `very-high` (non-preemptible), one replica, a
public HTTP endpoint, vLLM on port 8000, image pull policy `IfNotPresent`.

Secrets never live in the structured config. The HF token, registry passwords
and the Run:ai client secret are top-level config keys of their own (`pulumi
config set --secret`); the structured config only names those keys.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ._config_errors import closest, cross_reference_problems, describe
from ._presets import expand_with_origins
from ._quantity import QUANTITY_PATTERN, cpu_cores, quantity_value
from .errors import ConfigError

__all__ = [
    "CAPABILITIES",
    "PROJECT_NAMESPACE",
    "Autoscaling",
    "Connection",
    "CpuRequest",
    "CredentialConfig",
    "EndpointAccess",
    "EnvironmentVariable",
    "ExtendedResource",
    "GpuRequest",
    "Delivery",
    "InferenceConfig",
    "KnativeCluster",
    "MemoryRequest",
    "ModelStoreConfig",
    "NodePoolQuota",
    "ProjectConfig",
    "Replicas",
    "Security",
    "StackConfig",
    "Tool",
    "Toleration",
    "load_stack_config",
    "normalize_registry_url",
    "parse_duration",
]

PROJECT_NAMESPACE = "runai-hf"
"""The Pulumi project name, and so the namespace of the program's config keys."""

RUNAI_NAMESPACE = "runai"
"""Config namespace of the control-plane connection (`runai:url`, ...)."""

NON_PREEMPTIBLE_CLASSES = frozenset({"high", "very-high"})
"""Run:ai runs these priority classes non-preemptible; the rest preemptible."""

FORM_MAX_INITIALIZATION_TIMEOUT = 3600
"""The Run:ai 2.23 form accepts 5 s to 60 min; later versions allow more."""

DOCKER_HUB = "https://index.docker.io/v1/"
"""The only Docker Hub spelling Knative's digest resolution authenticates with."""

CAPABILITIES = (
    "AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE "
    "DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE "
    "MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW "
    "SETGID SETFCAP SETPCAP SETUID SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE "
    "SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG "
    "SYSLOG WAKE_ALARM"
).split()
"""The Linux capabilities the API's `security.capabilities` enum allows."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_FILE_MODE = re.compile(r"^0[0-7]{3}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MODEL_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?"
_MODEL_ID = re.compile(rf"^(?:{_MODEL_PART}/)?{_MODEL_PART}$")
_CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*(:[A-Za-z][A-Za-z0-9_.-]*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_MEMORY_UNITS = {"MB": "M", "GB": "G", "TB": "T"}


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def _uuid(value: str) -> str:
    # A pattern constraint would show users the regular expression instead.
    if not _UUID.match(value):
        raise ValueError(
            f"{value!r} is not a UUID (such as 4ebb4567-6dc7-53ea-b9cd-401715881a88): "
            "copy the template's id from Run:ai, or name it in template instead"
        )
    return value


def _file_mode(value: str) -> str:
    if not _FILE_MODE.match(value):
        raise ValueError(
            f"{value!r} is not a file mode: write a 0 and three octal digits, in "
            "quotes, such as '0644' or '0400'"
        )
    return value


def _quantity(value: str) -> str:
    problem = f"{value!r} is not a Kubernetes quantity"
    if QUANTITY_PATTERN.match(value):
        try:
            if quantity_value(value) > 0:
                return value
            problem = f"{value!r} is not above zero"
        except ValueError:
            pass
    raise ValueError(
        f"{problem}: write a positive number with an optional unit, such as "
        "20Gi, 500Mi or 1T"
    )


def _config_key(value: str) -> str:
    if not _CONFIG_KEY.match(value):
        raise ValueError(
            f"{value!r} is not a config key name: use letters, digits, '_', '-' "
            "and '.', such as hfToken"
        )
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or value == "/" or " " in value:
        raise ValueError(
            f"{value!r} is not an absolute container path below '/': use a path "
            "such as /models"
        )
    return value


def _cpu(value: object) -> float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a CPU amount: give cores (2, 0.5) or 500m")
    try:
        cores = cpu_cores(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a CPU amount: give cores (2, 0.5) or millicores (500m)"
        ) from None
    if cores < 0:
        raise ValueError(f"{value!r} is negative: CPU amounts are 0 or more")
    return value


def _memory(value: str) -> str:
    text = value.strip()
    for unit, short in _MEMORY_UNITS.items():
        if text.endswith(unit):
            text = text[: -len(unit)] + short
    if re.fullmatch(r"[0-9.]+", text):
        raise ValueError(
            f"{value!r} has no unit (it would mean {text} bytes): write 512MB, "
            "20GB or 20Gi"
        )
    try:
        if QUANTITY_PATTERN.match(text) and quantity_value(text) > 0:
            return text
    except ValueError:
        pass
    raise ValueError(
        f"{value!r} is not an amount of memory: write a positive amount in MB or "
        "GB (512MB, 20GB) or as a Kubernetes quantity (20Gi)"
    )


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


def normalize_registry_url(url: str) -> str:
    """Docker Hub in the one spelling that works with Knative; others unchanged."""
    bare = re.sub(r"^https?://", "", url.strip()).rstrip("/")
    hub = {"docker.io", "index.docker.io", "registry-1.docker.io", "hub.docker.com"}
    if bare.split("/")[0] in hub:
        return DOCKER_HUB
    return url.strip()


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a yes/no value; give a number here")
    return value


Count = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[float, BeforeValidator(_not_bool)]
Name = Annotated[str, Field(min_length=1)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
AssetScope = Literal["project", "department", "cluster", "tenant"]
Quantity = Annotated[str, AfterValidator(_quantity)]
ConfigKey = Annotated[str, AfterValidator(_config_key)]
ContainerPath = Annotated[str, AfterValidator(_absolute_path)]
Seconds = Annotated[
    int,
    BeforeValidator(parse_duration),
    # The schema says what parse_duration takes, not only the int it returns.
    WithJsonSchema({"type": ["integer", "string"], "format": "duration"}),
]
Cpu = Annotated[float | str, BeforeValidator(_cpu)]
Memory = Annotated[str, AfterValidator(_memory)]
Port = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=65535)]
Access = Literal["authenticatedUsers", "authorizedGroups", "authorizedUsers"]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


def _at_least(
    request: float | None,
    limit: float | None,
    what: str,
    written: tuple[object, object] | None = None,
) -> None:
    if request is not None and limit is not None and limit < request:
        shown = written or (f"{request:g}", f"{limit:g}")
        raise ValueError(
            f"{what} limit {shown[1]} is below its request {shown[0]}: a limit "
            "must be at least the request"
        )


# -- connection and projects -------------------------------------------------


class Connection(_Model):
    """How providers reach the control plane: the `runai:` config keys."""

    url: str
    """The Run:ai control plane, such as https://acme.run.ai."""
    client_id: str = Field(min_length=1)
    """The service account (or application) client id."""
    cluster_id: str
    """The cluster UUID (Resources > Clusters in the UI)."""

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
        if not re.fullmatch(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            value,
        ):
            raise ValueError(
                f"{value!r} is not a cluster UUID: copy it from the Run:ai UI "
                "(Resources > Clusters) or from the emulator's start-up lines"
            )
        return value


class NodePoolQuota(_Model):
    """The project's quota on one node pool: GPUs, and optionally CPU and memory."""

    node_pool: DnsLabel = "default"
    """The node pool the quota applies to."""
    gpu: Number = Field(ge=0, description="Deserved GPUs (guaranteed quota).")
    gpu_limit: Number | None = Field(
        default=None, ge=0, description="Most GPUs the project may use; none: no cap."
    )
    cpu: Cpu | None = Field(default=None, description="Deserved CPU: cores or 500m.")
    cpu_limit: Cpu | None = None
    """Most CPU the project may use."""
    memory: Memory | None = Field(
        default=None, description="Deserved CPU memory: 512MB, 64GB or 64Gi."
    )
    memory_limit: Memory | None = None
    """Most CPU memory the project may use."""

    @model_validator(mode="after")
    def _limits_cover_deserved(self) -> NodePoolQuota:
        if self.gpu_limit is not None and self.gpu_limit < self.gpu:
            raise ValueError(
                f"gpuLimit {self.gpu_limit:g} is below the deserved gpu "
                f"{self.gpu:g}: a limit must be at least the deserved quota"
            )
        _at_least(self.cpu_cores, _cores(self.cpu_limit), "cpu")
        _at_least(
            _bytes(self.memory),
            _bytes(self.memory_limit),
            "memory",
            (self.memory, self.memory_limit),
        )
        return self

    @property
    def cpu_cores(self) -> float | None:
        return _cores(self.cpu)


def _cores(value: float | str | None) -> float | None:
    return None if value is None else cpu_cores(value)


def _bytes(value: str | None) -> float | None:
    return None if value is None else quantity_value(value)


class ProjectConfig(_Model):
    """A Run:ai project, created by the stack or referenced as existing."""

    name: DnsLabel
    """The project name (a DNS label; its namespace is runai-<name>)."""
    description: str | None = None
    """Shown in Run:ai, with a note of the owning stack."""
    department: str | None = Field(
        default=None, description="Parent department, looked up by name."
    )
    existing: bool = Field(
        default=False,
        description="Reference a project that already exists (read only, never "
        "deleted) instead of creating it.",
    )
    requested_namespace: DnsLabel | None = None
    """The Kubernetes namespace to use instead of runai-<name>."""
    default_node_pools: list[DnsLabel] | None = None
    """Node pools, in order, for workloads that name none."""
    quotas: list[NodePoolQuota] = Field(default_factory=list)
    """One quota per node pool."""

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

    @model_validator(mode="after")
    def _quota_unless_existing(self) -> ProjectConfig:
        if not self.existing and not self.quotas:
            raise ValueError(
                f"project {self.name} has no quotas: give at least one node pool "
                "quota, or set existing: true to use a project that exists"
            )
        return self


# -- credentials and data sources ----------------------------------------------


class _ProjectAsset(_Model):
    """What every asset a stack creates in a project has: names and a project."""

    name: DnsLabel
    """Its name in the stack (and the stem of its name in Run:ai)."""
    runai_name: DnsLabel | None = None
    """Pin the name in Run:ai; by default it is the name plus a random suffix, so
    a replacement can start beside the old object. A pinned name is replaced
    delete-first (a short outage)."""
    project: DnsLabel | None = Field(
        default=None, description="Project name; defaults to the only project."
    )


class CredentialConfig(_ProjectAsset):
    """A project credential: the Hugging Face token, a Docker registry login, or
    a user and password (for a private Git repository)."""

    kind: Literal["huggingFace", "dockerRegistry", "password"] = "huggingFace"
    """huggingFace: a generic secret holding HF_TOKEN; dockerRegistry: a login;
    password: a user and password, such as a Git repository's."""
    token_key: ConfigKey | None = Field(
        default=None,
        description="huggingFace: the secret config key holding the token "
        "(default hfToken).",
    )
    url: str | None = Field(default=None, description="dockerRegistry: registry URL.")
    user: str | None = Field(
        default=None, description="dockerRegistry and password: user name."
    )
    password_key: ConfigKey | None = Field(
        default=None,
        description="dockerRegistry and password: the secret config key holding "
        "the password.",
    )
    existing: bool = False
    """Use a credential that already exists in the project, looked up by its
    Run:ai name (`runaiName`, else `name`): only read, never changed or deleted."""

    @model_validator(mode="after")
    def _fields_of_kind(self) -> CredentialConfig:
        if self.existing:
            given = [
                to_camel(field)
                for field in ("token_key", "url", "user", "password_key")
                if getattr(self, field) is not None
            ]
            if given:
                raise ValueError(
                    f"an existing credential is looked up, not written: drop "
                    f"{', '.join(given)}"
                )
            return self
        takes = _CREDENTIAL_FIELDS[self.kind]
        needs = tuple(f for f in takes if f != "token_key")
        stray = [
            to_camel(f)
            for f in ("token_key", "url", "user", "password_key")
            if f not in takes and getattr(self, f) is not None
        ]
        missing = [to_camel(f) for f in needs if getattr(self, f) is None]
        if self.kind == "huggingFace" and stray:
            owners = [
                kind
                for kind, fields in _CREDENTIAL_FIELDS.items()
                if any(to_camel(f) in stray for f in fields)
            ]
            raise ValueError(
                f"{', '.join(stray)} belong to kind {' or '.join(owners)}; "
                "a huggingFace credential takes only tokenKey"
            )
        if missing or stray:
            names = [to_camel(f) for f in needs]
            wanted = ", ".join(names[:-1]) + " and " + names[-1]
            parts = [f"needs {wanted}"]
            if missing:
                parts[0] += f" (missing: {', '.join(missing)})"
            if stray:
                parts.append(f"takes no {', '.join(stray)}")
            raise ValueError(f"a {self.kind} credential " + " and ".join(parts))
        return self

    @property
    def secret_key(self) -> str:
        """The top-level config key that holds this credential's secret."""
        if self.kind in ("dockerRegistry", "password"):
            return str(self.password_key)
        return self.token_key or "hfToken"

    @property
    def registry_url(self) -> str | None:
        return normalize_registry_url(self.url) if self.url else None


_CREDENTIAL_FIELDS = {
    "huggingFace": ("token_key",),
    "dockerRegistry": ("url", "user", "password_key"),
    "password": ("user", "password_key"),
}
"""The settings each credential kind takes (all but tokenKey are required)."""


def _only_looked_up(
    asset: ModelStoreConfig | DataSourceConfig, rule: str, keep: Iterable[str] = ()
) -> bool:
    """Whether the asset is a reference (`existing`), which names it and no more."""
    if not asset.existing:
        if asset.scope is not None:
            raise ValueError("scope only applies with existing: true")
        return False
    naming = {"name", "runai_name", "project", "existing", "scope", *keep}
    given = asset.model_fields_set - naming
    if given:
        names = ", ".join(sorted(to_camel(field) for field in given))
        raise ValueError(f"{rule}: drop {names}")
    return True


class ModelStoreConfig(_ProjectAsset):
    """A PVC data source the server downloads weights into (a model store)."""

    size: Quantity | None = "50Gi"
    """Size of a new PVC."""
    storage_class: DnsLabel | None = None
    """Storage class of a new PVC; the cluster default if unset."""
    claim_name: DnsLabel | None = None
    """The PVC name (required with existingPvc)."""
    existing_pvc: bool = Field(
        default=False, description="Mount a PVC that exists (claimName) as it is."
    )
    mount_path: ContainerPath = "/models"
    """Where the store is mounted; HF_HOME points here."""
    existing: bool = False
    """Use a PVC data source that exists in Run:ai, looked up by its Run:ai name
    (`runaiName`, else `name`) among those the project sees: only read, never
    changed or deleted. Its claim is mounted at `mountPath`."""
    scope: AssetScope | None = None
    """existing: only look in this scope (default: nearest to the project)."""
    retain_on_destroy: bool = True
    """Keep the PVC data source, and the weights downloaded into it, when the
    stack is destroyed or the store is removed from it; a later `up` adopts it
    again. A project the stack creates is kept with it (Run:ai deletes a
    project's assets with the project), its quota still reserved. false:
    destroy deletes the data source and its weights."""

    @model_validator(mode="after")
    def _existing_needs_claim(self) -> ModelStoreConfig:
        rule = "an existing model store is looked up, not written"
        if _only_looked_up(self, rule, keep={"mount_path"}):
            return self
        if self.existing_pvc and not self.claim_name:
            raise ValueError("existingPvc: true needs the claimName of that PVC")
        return self


class DataSourceConfig(_ProjectAsset):
    """Another data source an inference mounts: NFS, a host path, a ConfigMap, a
    Secret volume (a credential's Kubernetes secret) or a Git repository."""

    kind: Literal["nfs", "hostPath", "configMap", "secret", "git", "s3"]
    """The data source kind; s3 cannot be mounted by inference and is refused."""
    mount_path: ContainerPath | None = None
    """Where the inference sees it (for git, the repository's checkout); required
    unless existing."""
    existing: bool = False
    """Use a data source of this kind that exists in Run:ai, looked up by its
    Run:ai name (`runaiName`, else `name`) among those the project sees: only
    read, never changed or deleted; its spec is copied into each inference."""
    scope: AssetScope | None = None
    """existing: only look in this scope (default: nearest to the project)."""
    server: str | None = None
    """nfs: the NFS server."""
    path: str | None = None
    """nfs: the exported path; hostPath: the absolute path on the node."""
    read_only: bool = True
    """nfs and hostPath: mount read-only."""
    mount_propagation: Literal["None", "HostToContainer"] | None = None
    """hostPath: mount propagation."""
    config_map: DnsLabel | None = None
    """configMap: the ConfigMap's name in the project namespace."""
    sub_path: str | None = None
    """configMap: mount one key (a relative path, no '..') at mountPath instead of
    the whole map."""
    default_mode: Annotated[str, AfterValidator(_file_mode)] | None = None
    """configMap and secret: file mode, such as 0644."""
    credential: DnsLabel | None = None
    """secret: the credential of this stack whose Kubernetes secret is mounted;
    git: the password credential of this stack for a private repository."""
    repository: str | None = Field(default=None, validate_default=True)
    """git: the repository URL, such as https://github.com/org/repo.git."""
    branch: Name | None = None
    """git: the branch to check out."""
    revision: Name | None = None
    """git: a specific revision (commit) to check out."""

    @field_validator("path")
    @classmethod
    def _path_of_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is not None and kind == "git":
            raise ValueError(
                f"{value!r}: a git data source takes no path; the checkout goes to "
                "mountPath (the API's git path), path is the export or node path "
                "of kinds nfs and hostPath"
            )
        if value is not None and kind == "hostPath":
            # Kubernetes refuses a relative or '..' host path only when the
            # pod starts; here it is refused before anything is created.
            segments = value.split("/")
            if not value.startswith("/") or ".." in segments or value.strip() != value:
                raise ValueError(
                    f"{value!r} is not an absolute node path: a hostPath data "
                    "source mounts a directory of the node, such as /mnt/data "
                    "(starting with '/', no '..' segments)"
                )
        return value

    @field_validator("sub_path")
    @classmethod
    def _relative_key_path(cls, value: str | None) -> str | None:
        # Kubernetes allows only a descending relative subPath; '..' or a
        # leading '/' would fail every replica at start, not at `up`.
        if value is not None and (
            not value
            or value.startswith("/")
            or ".." in value.split("/")
            or value.strip() != value
        ):
            raise ValueError(
                f"{value!r} is not a relative key path: give the ConfigMap key "
                "to mount (or a path below it), such as template.jinja, without "
                "a leading '/' or '..' segments"
            )
        return value

    @field_validator("repository")
    @classmethod
    def _repository_of_git(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is None:
            return value
        if kind != "git":
            if value is not None:
                raise ValueError(
                    f"belongs to kind git; a {kind} data source takes no repository"
                )
            return value
        if value is None:
            if info.data.get("existing"):
                return None  # read from the existing data source
            raise ValueError(
                "is required for kind git: give the repository URL, such as "
                "https://github.com/org/repo.git"
            )
        return _git_repository(value)

    @field_validator("branch", "revision")
    @classmethod
    def _only_git(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind != "git":
            raise ValueError(
                f"belongs to kind git; a {kind} data source takes no {info.field_name}"
            )
        return value

    @model_validator(mode="after")
    def _fields_of_kind(self) -> DataSourceConfig:
        needed = {
            "nfs": ("server", "path"),
            "hostPath": ("path",),
            "configMap": ("config_map",),
            "secret": ("credential",),
            "git": (),
            "s3": (),
        }[self.kind]
        if self.kind == "s3":
            raise ValueError(
                "kind s3: Run:ai does not support S3 data sources for inference; "
                "copy the data into a PVC model store instead"
            )
        rule = "an existing data source is looked up and its spec copied"
        if _only_looked_up(self, rule, keep={"kind"}):
            return self
        if self.mount_path is None:
            needed = ("mount_path", *needed)
        missing = [to_camel(f) for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(missing)}")
        return self


_GIT_SCHEMES = ("https", "http", "ssh", "git")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s:][^\s]*$")
_HTTP_USER_INFO = re.compile(r"^\s*https?://[^/?#]*@", re.IGNORECASE)


def _git_repository(value: str) -> str:
    """A Git URL (https, http, ssh, git) or scp-like SSH address, no password.

    An http(s) URL takes no user information at all: a token alone before
    '@' (https://ghp_...@github.com/...) is as secret as user:password.
    """
    if _HTTP_USER_INFO.match(value):
        # Checked on the raw text, before parsing, so that no later message
        # (an unparseable URL's included) can repeat the secret.
        raise ValueError(
            "the URL holds user information before '@' (a user name or token), "
            "which would land in the stack file, the state, the plan and Run:ai "
            "in clear: write it as https://host/org/repo.git and sign in with a "
            "credential of kind password, named in credential:"
        )
    if "?" in value or "#" in value:
        # Query strings carry tokens (?access_token=...); a repository URL
        # needs none. Not repeated, for the same reason as above.
        raise ValueError(
            "the URL has a query or fragment ('?' or '#'), where access tokens "
            "go; a repository URL needs neither: write it as "
            "https://host/org/repo.git and sign in with a credential of kind "
            "password, named in credential:"
        )
    if _SCP_LIKE.match(value):
        return value
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme in _GIT_SCHEMES and parsed.hostname and parsed.path.strip("/"):
        if parsed.password is not None:
            # The URL itself is not repeated: it carries a password.
            raise ValueError(
                "the URL holds a password, which would land in the stack file and "
                "in Run:ai: remove it and name a password credential in credential"
            )
        if " " not in value:
            return value
    # What comes before an '@' may be a token, in a URL too malformed for the
    # check above to see it: never repeat that part.
    shown = repr(value) if "@" not in value else f"'...@{value.rsplit('@', 1)[1]}'"
    raise ValueError(
        f"{shown} is not a Git repository URL: use https://host/org/repo.git, "
        "or ssh://git@host/org/repo.git or git@host:org/repo.git for SSH"
    )


# -- inference parts -------------------------------------------------------------


class GpuRequest(_Model):
    """GPU devices per replica, and a fraction of each as a portion or as memory."""

    devices: Count = Field(default=1, ge=0)
    """Whole GPU devices per replica (1 with a fraction)."""
    portion: Number | None = Field(default=None, gt=0, le=1)
    """A fraction of one GPU, 0 < portion <= 1."""
    portion_limit: Number | None = Field(default=None, gt=0, le=1)
    """Most of the GPU the replica may use (>= portion)."""
    memory: Quantity | None = None
    """A fraction of one GPU given as memory, such as 20Gi."""
    memory_limit: Quantity | None = None
    """Most GPU memory the replica may use (>= memory)."""

    @model_validator(mode="after")
    def _fraction_rules(self) -> GpuRequest:
        fraction = self.portion is not None or self.memory is not None
        if self.portion is not None and self.memory is not None:
            raise ValueError(
                "portion and memory are both set: a GPU fraction is a portion or "
                "an amount of memory, not both"
            )
        if fraction and self.devices != 1:
            raise ValueError(
                f"devices {self.devices} with a fraction: fractions apply to one "
                "device; use devices: 1, or whole devices without portion or memory"
            )
        if self.portion_limit is not None and self.portion is None:
            raise ValueError("portionLimit needs portion")
        if self.memory_limit is not None and self.memory is None:
            raise ValueError("memoryLimit needs memory")
        _at_least(self.portion, self.portion_limit, "GPU portion")
        _at_least(
            _bytes(self.memory),
            _bytes(self.memory_limit),
            "GPU memory",
            (self.memory, self.memory_limit),
        )
        return self

    @property
    def fraction_kind(self) -> str | None:
        if self.portion is not None:
            return "portion"
        return "memory" if self.memory is not None else None


class CpuRequest(_Model):
    """CPU per replica: cores (2, 0.5) or millicores (500m)."""

    request: Cpu | None = None
    """Guaranteed CPU."""
    limit: Cpu | None = None
    """Most CPU (>= request); unlimited if unset."""

    @model_validator(mode="after")
    def _limit_covers_request(self) -> CpuRequest:
        _at_least(_cores(self.request), _cores(self.limit), "cpu")
        return self


class MemoryRequest(_Model):
    """CPU memory per replica, in MB or GB (or a Kubernetes quantity)."""

    request: Memory | None = None
    """Guaranteed memory."""
    limit: Memory | None = None
    """Most memory (>= request); unlimited if unset."""

    @model_validator(mode="after")
    def _limit_covers_request(self) -> MemoryRequest:
        _at_least(
            _bytes(self.request),
            _bytes(self.limit),
            "memory",
            (self.request, self.limit),
        )
        return self


class ExtendedResource(_Model):
    """A device plugin resource, such as `nvidia.com/mig-1g.10gb: 1`."""

    resource: str = Field(min_length=1)
    """The resource name, such as nvidia.com/mig-1g.10gb."""
    quantity: Quantity
    """How many per replica."""


class Replicas(_Model):
    """How many replicas the inference runs; min 0 allows scale to zero."""

    min: Count = Field(default=1, ge=0)
    """Fewest replicas; 0 allows scale to zero."""
    max: Count | None = Field(default=None, ge=1)
    """Most replicas; defaults to min (1 when min is 0)."""

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
    """What drives scaling."""
    threshold: Count = Field(ge=1)
    """The metric value per replica that triggers scaling."""


class EndpointAccess(_Model):
    """The serving endpoint: who may call it, protocol, and container port."""

    access: Literal[
        "public",
        "clusterLocal",
        "authenticatedUsers",
        "authorizedGroups",
        "authorizedUsers",
    ] = "public"
    """public, authenticatedUsers, or named groups or users (and apps);
    clusterLocal (delivery knative only): reachable only inside the cluster."""
    groups: list[Name] = Field(default_factory=list)
    """Identity provider groups, for authorizedGroups."""
    users: list[Name] = Field(default_factory=list)
    """Users or applications, for authorizedUsers."""
    protocol: Literal["http", "grpc"] = "http"
    """HTTP or gRPC."""
    port: Port | None = Field(
        default=None, description="Container port; defaults to the server's."
    )

    @model_validator(mode="after")
    def _names_match_access(self) -> EndpointAccess:
        _names_match(self.access, self.groups, self.users)
        return self


def _names_match(access: str, groups: list[str], users: list[str]) -> None:
    if access == "authorizedGroups" and not groups:
        raise ValueError("access authorizedGroups needs at least one group name")
    if access == "authorizedUsers" and not users:
        raise ValueError("access authorizedUsers needs at least one user or app")
    if access in ("public", "clusterLocal", "authenticatedUsers") and (groups or users):
        raise ValueError(
            f"access {access} takes no groups or users: choose authorizedGroups "
            "or authorizedUsers to name them"
        )


class Tool(_Model):
    """A tool connection: an external URL or a NodePort, automatic or custom."""

    name: str = Field(min_length=1)
    """The tool name shown in Run:ai."""
    type: Literal["externalUrl", "nodePort"]
    """An external URL or a NodePort."""
    container_port: Port
    """The container port the tool listens on."""
    url: str | None = Field(default=None, description="externalUrl: a custom URL.")
    node_port: Count | None = Field(
        default=None, ge=30000, le=32767, description="nodePort: a custom port."
    )
    access: Access = "authenticatedUsers"
    """Who may use the tool."""
    groups: list[Name] = Field(default_factory=list)
    """Groups, for authorizedGroups."""
    users: list[Name] = Field(default_factory=list)
    """Users or applications, for authorizedUsers."""

    @model_validator(mode="after")
    def _custom_matches_type(self) -> Tool:
        if self.type == "nodePort" and self.url is not None:
            raise ValueError("url is for externalUrl tools; a nodePort takes nodePort")
        if self.type == "externalUrl" and self.node_port is not None:
            raise ValueError("nodePort is for nodePort tools; an externalUrl takes url")
        _names_match(self.access, self.groups, self.users)
        return self


class SecretReference(_Model):
    name: DnsLabel
    """The Kubernetes object name."""
    key: str = Field(min_length=1)
    """The key within it."""


class EnvironmentVariable(_Model):
    """One variable: a literal, a key of a stack credential, a secret or a ConfigMap."""

    name: str
    """The variable name."""
    value: str | None = None
    """A literal value (never a secret: use credential or secret)."""
    credential: DnsLabel | None = Field(
        default=None, description="A credential of this stack; its key is `key`."
    )
    key: str | None = None
    """The key within the credential."""
    secret: SecretReference | None = None
    """A Kubernetes secret key in the project namespace."""
    config_map: SecretReference | None = None
    """A ConfigMap key in the project namespace."""

    @field_validator("name")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an environment variable name: letters, digits, "
                "'_', '.' and '-', not starting with a digit"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EnvironmentVariable:
        sources = [
            name
            for name in ("value", "credential", "secret", "configMap")
            if getattr(self, _snake(name)) is not None
        ]
        if len(sources) != 1:
            raise ValueError(
                f"variable {self.name} has {len(sources)} value sources "
                f"({', '.join(sources) or 'none'}): give exactly one of value, "
                "credential (with key), secret or configMap"
            )
        if (self.credential is None) != (self.key is None):
            raise ValueError(f"variable {self.name}: credential and key go together")
        return self


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda match: "_" + match.group(1).lower(), name)


class Security(_Model):
    """Where UID and GID come from, and extra Linux capabilities."""

    uid_gid_source: Literal["image", "idpToken", "custom"] = "image"
    """Where UID and GID come from."""
    uid: Count | None = Field(default=None, ge=0)
    """custom only: the user id."""
    gid: Count | None = Field(default=None, ge=0)
    """custom only: the group id."""
    supplemental_groups: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    """custom only: extra group ids."""
    capabilities: list[
        Literal[
            "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN",
            "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK",
            "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
            "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
            "NET_RAW", "SETGID", "SETFCAP", "SETPCAP", "SETUID", "SYS_ADMIN",
            "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT",
            "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
            "SYSLOG", "WAKE_ALARM",
        ]
    ] = Field(default_factory=list)  # fmt: skip
    """Linux capabilities to add."""

    @model_validator(mode="after")
    def _custom_ids(self) -> Security:
        custom = self.uid_gid_source == "custom"
        given = [
            name
            for name, value in (
                ("uid", self.uid),
                ("gid", self.gid),
                ("supplementalGroups", self.supplemental_groups or None),
            )
            if value is not None
        ]
        if custom and (self.uid is None or self.gid is None):
            raise ValueError("uidGidSource custom needs uid and gid")
        if not custom and given:
            raise ValueError(
                f"{', '.join(given)}: only with uidGidSource custom (now "
                f"{self.uid_gid_source})"
            )
        return self


class Toleration(_Model):
    """Lets replicas run on nodes with a matching taint."""

    key: str | None = None
    """The taint key."""
    operator: Literal["Equal", "Exists"] = "Equal"
    """Equal matches key and value; Exists matches the key."""
    value: str | None = None
    """The taint value (Equal only)."""
    effect: Literal["NoSchedule", "NoExecute", "PreferNoSchedule", "Any"] = "NoSchedule"
    """The taint effect to tolerate."""
    seconds: Count | None = Field(
        default=None, ge=1, description="NoExecute only: how long to stay."
    )

    @model_validator(mode="after")
    def _operator_rules(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("operator Exists takes no value; use Equal to match one")
        if self.operator == "Equal" and not self.key:
            raise ValueError("operator Equal needs a key (and usually a value)")
        if self.seconds is not None and self.effect != "NoExecute":
            raise ValueError(f"seconds is for effect NoExecute, not {self.effect}")
        return self


def _label_map(values: dict[str, str]) -> dict[str, str]:
    for key, value in values.items():
        if len(key) > 63 + 254 or not _LABEL_KEY.match(key):
            raise ValueError(
                f"{key!r} is not a Kubernetes label or annotation key: an optional "
                "DNS prefix and '/', then at most 63 letters, digits, '-', '_', '.'"
            )
        if len(key.rsplit("/", 1)[-1]) > 63:
            raise ValueError(
                f"{key!r}: the name after the prefix exceeds 63 characters"
            )
        if not isinstance(value, str):
            raise ValueError(f"{key}: {value!r} is not a string; quote it")
    return values


def _label_values(values: dict[str, str]) -> dict[str, str]:
    for key, value in values.items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"{key}: {value!r} is not a label value: at most 63 letters, digits, "
                "'-', '_', '.', starting and ending with a letter or digit"
            )
    return values


Labels = Annotated[
    dict[str, str], AfterValidator(_label_map), AfterValidator(_label_values)
]
Annotations = Annotated[dict[str, str], AfterValidator(_label_map)]


class InferenceConfig(_Model):
    """One Hugging Face model served by vLLM or TGI: every field of the form."""

    name: DnsLabel
    """The inference's name in the stack (and the stem of its workload name)."""
    runai_name: DnsLabel | None = None
    """Pin the workload name; by default it is the name plus a random suffix, so
    a replacement can start beside the old one (the URL follows the name). A
    pinned name is replaced delete-first (a short outage)."""
    delivery: Delivery | None = None
    """runaiApi: created through the Run:ai inference API; knative: a Knative
    Service (and its Secrets and PVC) applied with pulumi-kubernetes. Defaults
    to runai-hf:delivery."""
    rollout_timeout: Seconds | None = None
    """How long an update may take to move traffic to the new revision: at least
    the initialization timeout; default 600 s (Knative's progress deadline) or
    the initialization timeout when that is longer."""
    rollout_waits_for_quota: bool = False
    """Submit an update even when the project's free GPUs cannot hold the new
    revision beside the old one (it waits, pending, until they can)."""
    project: DnsLabel | None = Field(
        default=None, description="Project name; defaults to the only project."
    )
    model: str
    """The Hugging Face model id, as shown on the Hub."""
    environment: str | None = None
    """An environment of this stack to start from; fields set here override it."""
    compute: str | None = None
    """A compute resource of this stack to start from; fields set here override it."""
    template: str | None = Field(default=None, min_length=1)
    """A Run:ai workload template, by name, looked up when the program runs: what
    the inference leaves unset is copied from it (its environment's image,
    command and variables, its compute resource, its data sources). Fields set
    here override."""
    template_id: Annotated[str, AfterValidator(_uuid)] | None = None
    """The same, by the template's id (a UUID), for a template found elsewhere."""
    data_source_set: str | None = None
    """A data source set of this stack: its model store unless modelStore is set
    here, and its data sources before the ones listed here (each once)."""
    server: Literal["vllm", "tgi"] = "vllm"
    """vLLM (port 8000) or TGI (port 80)."""
    hf_token: DnsLabel | None = Field(
        default=None,
        description="The huggingFace credential to read HF_TOKEN from; defaults "
        "to the project's only one.",
    )
    model_store: DnsLabel | None = Field(
        default=None,
        description="Model store name; defaults to the project's only one.",
    )
    data_sources: list[DnsLabel] = Field(default_factory=list)
    """Data sources of this stack to mount, each at its own mountPath."""
    image: str | None = None
    """Server image; defaults to the pinned vLLM or TGI image."""
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    """When the node pulls the image."""
    image_pull_secrets: list[DnsLabel] = Field(
        default_factory=list, description="dockerRegistry credentials for the image."
    )
    endpoint: EndpointAccess = Field(default_factory=lambda: EndpointAccess())
    """Who may call the endpoint, and how."""
    tools: list[Tool] = Field(default_factory=list)
    """Tool connections: external URLs or NodePorts."""
    command: str | None = Field(default=None, min_length=1)
    """Replaces the image entry point (the server default otherwise)."""
    args: str | None = Field(
        default=None, min_length=1, description="Replaces the server's arguments."
    )
    env: list[EnvironmentVariable] = Field(default_factory=list)
    """Environment variables, added to HF_HOME and HF_TOKEN."""
    working_dir: ContainerPath | None = None
    """The container working directory."""
    security: Security | None = None
    """UID/GID source and Linux capabilities."""
    gpu: GpuRequest = Field(default_factory=lambda: GpuRequest())
    """GPUs per replica."""
    cpu: CpuRequest | None = None
    """CPU request and limit per replica."""
    memory: MemoryRequest | None = None
    """CPU memory request and limit per replica."""
    large_shared_memory: bool | None = Field(
        default=None,
        description="A large /dev/shm; defaults on for TGI and for several GPUs.",
    )
    extended_resources: list[ExtendedResource] = Field(default_factory=list)
    """Other device plugin resources per replica."""
    replicas: Replicas = Field(default_factory=lambda: Replicas())
    """Replica range."""
    autoscaling: Autoscaling | None = None
    """Required when min replicas is below max (except 0 to 1)."""
    scale_to_zero_after: Seconds | None = Field(
        default=None, description="Idle time before scaling to zero (0 s to 60 min)."
    )
    node_pools: list[DnsLabel] | None = None
    """Node pools to try, in order; the project default if unset."""
    node_type: str | None = Field(default=None, min_length=1)
    """A node type (node label value) to run on."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Taints the replicas tolerate."""
    priority: Literal[
        "very-low", "low", "medium-low", "medium", "medium-high", "high", "very-high"
    ] = "very-high"
    """The Run:ai priority class."""
    preemptibility: Literal["preemptible", "non-preemptible"] | None = None
    """Defaults to the priority class: very-high and high are non-preemptible."""
    initialization_timeout: Seconds | None = None
    """Time to become ready: 5 s to maxInitializationTimeoutSeconds."""
    request_timeout: Seconds | None = Field(
        default=None, description="Longest a request may take: 5 s to 10 min."
    )
    annotations: Annotations = Field(default_factory=dict)
    """Kubernetes annotations on the workload."""
    labels: Labels = Field(default_factory=dict)
    """Kubernetes labels on the workload."""

    @field_validator("model")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if not _MODEL_ID.match(value) or ".." in value or "--" in value:
            raise ValueError(
                f"{value!r} is not a Hugging Face model id: write it as shown on "
                "the Hub, such as meta-llama/Llama-3.1-8B-Instruct"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or re.search(r"\s", value)):
            raise ValueError(
                f"{value!r} is not an image reference: no spaces, such as "
                "vllm/vllm-openai:v0.10.2"
            )
        return value

    @field_validator("initialization_timeout")
    @classmethod
    def _initialization_in_range(
        cls, value: int | None, info: ValidationInfo
    ) -> int | None:
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

    @field_validator("request_timeout")
    @classmethod
    def _request_in_range(cls, value: int | None) -> int | None:
        if value is not None and not 5 <= value <= 600:
            raise ValueError(f"{value} s is outside 5 s to 600 s (10 min)")
        return value

    @field_validator("scale_to_zero_after")
    @classmethod
    def _retention_in_range(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 3600:
            raise ValueError(f"{value} s is outside 0 s to 3600 s (60 min)")
        return value

    @model_validator(mode="after")
    def _one_template(self) -> InferenceConfig:
        if self.template is not None and self.template_id is not None:
            raise ValueError(
                "template and templateId both name a workload template: keep one"
            )
        return self

    @model_validator(mode="after")
    def _rollout_covers_initialization(self) -> InferenceConfig:
        rollout, initialization = self.rollout_timeout, self.initialization_timeout
        if rollout is not None and initialization and rollout < initialization:
            raise ValueError(
                f"rolloutTimeout {self.rollout_timeout} s is shorter than "
                f"initializationTimeout {self.initialization_timeout} s: a rollout "
                "must give the new revision time to start"
            )
        return self

    @model_validator(mode="after")
    def _scaling_rules(self) -> InferenceConfig:
        low, high = self.replicas.min, self.replicas.effective_max
        needs_metric = low < high and not (low == 0 and high == 1)
        if needs_metric and self.autoscaling is None:
            raise ValueError(
                f"replicas {low} to {high} need autoscaling (metric and threshold): "
                "Run:ai requires a metric when min replicas is below max"
            )
        if self.scale_to_zero_after is not None:
            metric = self.autoscaling.metric if self.autoscaling else None
            if low != 0 or metric not in ("throughput", "concurrency"):
                raise ValueError(
                    "scaleToZeroAfter needs replicas.min 0 and an autoscaling metric "
                    f"of throughput or concurrency (now min {low}, metric {metric})"
                )
        return self

    @property
    def effective_rollout_timeout(self) -> int:
        if self.rollout_timeout is not None:
            return self.rollout_timeout
        return max(600, self.initialization_timeout or 0)

    @property
    def effective_preemptibility(self) -> str:
        """Explicit preemptibility, else the one Run:ai gives the priority class."""
        if self.preemptibility is not None:
            return self.preemptibility
        if self.priority in NON_PREEMPTIBLE_CLASSES:
            return "non-preemptible"
        return "preemptible"


Delivery = Literal["runaiApi", "knative"]

FeatureState = Literal["enabled", "disabled", "allowed"]

RUNAI_KNATIVE_FEATURES: dict[str, FeatureState] = {
    "kubernetes.podspec-schedulername": "enabled",
    "kubernetes.podspec-affinity": "enabled",
    "kubernetes.podspec-tolerations": "enabled",
    "kubernetes.podspec-nodeselector": "enabled",
    "kubernetes.podspec-securitycontext": "enabled",
    "kubernetes.containerspec-addcapabilities": "enabled",
    "kubernetes.podspec-init-containers": "enabled",
    "kubernetes.podspec-fieldref": "enabled",
    "kubernetes.podspec-persistent-volume-claim": "enabled",
    "kubernetes.podspec-persistent-volume-write": "enabled",
    "kubernetes.podspec-volumes-emptydir": "enabled",
    "multi-container": "enabled",
}
"""The config-features flags Run:ai's Knative setup turns on; every other flag
is assumed at Knative's default (disabled, priorityclassname included)."""


class KnativeCluster(_Model):
    """What the cluster's Knative Serving allows, for delivery knative."""

    features: dict[str, FeatureState] = Field(default_factory=dict)
    """config-features flags (enabled, disabled or allowed) over the ones Run:ai
    documents as required (schedulername, tolerations, affinity, nodeselector,
    securitycontext, persistent-volume-claim and -write, ...)."""
    max_revision_timeout_seconds: Count = Field(default=600, ge=1)
    """config-defaults max-revision-timeout-seconds: the longest requestTimeout."""
    domain: str = Field(default="svc.cluster.local", min_length=1)
    """config-domain's domain: the service URL is http://<name>.<namespace>.<domain>."""

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value):
            raise ValueError(
                f"{value!r} is not a DNS domain: lower-case letters, digits, '-' "
                "and '.', such as svc.cluster.local or inference.example.com"
            )
        return value

    def flag_on(self, flag: str) -> bool:
        """Whether the webhook accepts the field the flag gates."""
        state = self.features.get(flag, RUNAI_KNATIVE_FEATURES.get(flag, "disabled"))
        return state in ("enabled", "allowed")


# -- the stack -------------------------------------------------------------------


class StackConfig(_Model):
    """Everything one stack file declares."""

    environment: Literal["local", "dev", "staging", "prod"]
    """Which environment the stack is; the policy pack keys its rules on it."""
    connection: Connection | None = None
    """The runai: keys; optional only for a Knative-only stack whose projects
    are all existing with requestedNamespace and quotas (nothing calls Run:ai)."""
    projects: list[ProjectConfig] = Field(min_length=1)
    """The Run:ai projects the stack creates or uses."""
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Named server setups (server, image, command, args, env, endpoint,
    tools, security) that inferences name in `environment` and override; or
    `{existing: true, runaiName, scope}` to copy an environment that exists in
    Run:ai (image, command, working directory, variables, security; its args
    follow the model's) into each inference when the program runs."""
    compute_resources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Named per-replica resources (gpu, cpu, memory, largeSharedMemory,
    extendedResources) that inferences name in `compute` and override; or
    `{existing: true, runaiName, scope}` to copy a compute resource that
    exists in Run:ai."""
    data_source_sets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Named storage setups (modelStore, dataSources) that inferences name in
    `dataSourceSet` and extend."""
    credentials: list[CredentialConfig] = Field(default_factory=list)
    """HF tokens, registry logins, and user and password logins."""
    model_stores: list[ModelStoreConfig] = Field(default_factory=list)
    """PVC data sources for model weights."""
    data_sources: list[DataSourceConfig] = Field(default_factory=list)
    """Other data sources inferences mount (NFS, host path, ConfigMap, Secret,
    Git repository)."""
    inferences: list[InferenceConfig] = Field(min_length=1)
    """The models to serve."""
    max_initialization_timeout_seconds: int = Field(
        default=FORM_MAX_INITIALIZATION_TIMEOUT, ge=5
    )
    """The longest initialization timeout this Run:ai accepts (2.23: 60 min)."""
    delivery: Delivery = "runaiApi"
    """How inferences that set no delivery are created: runaiApi (the Run:ai
    inference API) or knative (Knative Services applied with pulumi-kubernetes)."""
    knative: KnativeCluster = Field(default_factory=lambda: KnativeCluster())
    """The cluster's Knative Serving settings, for delivery knative."""
    gpu_memory_per_node_pool: dict[DnsLabel, Quantity] = Field(default_factory=dict)
    """GPU memory of one device per node pool (default 80Gi), to count GPU
    memory requests as GPUs when an update checks the project's free quota."""

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> StackConfig:
        """Validate raw values, raising ConfigError with config key paths."""
        maximum = values.get("maxInitializationTimeoutSeconds", 3600)
        if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 5:
            # The key's own error is reported; judge timeouts by the form's limit.
            maximum = FORM_MAX_INITIALIZATION_TIMEOUT
        values, preset_problems, origins = expand_with_origins(values)
        if preset_problems:
            raise ConfigError(preset_problems)
        try:
            config = cls.model_validate(
                values, context={"max_initialization_timeout": maximum}
            )
        except ValidationError as error:
            raise ConfigError(describe(error, cls)) from None
        problems = cross_reference_problems(config, origins)
        if not problems:
            from ._knative_rules import delivery_problems

            problems = delivery_problems(config)
        if problems:
            raise ConfigError(problems)
        return config

    def gpu_memory_of(self, inference: InferenceConfig) -> str:
        """Memory of one GPU on the inference's first node pool."""
        pool = (inference.node_pools or ["default"])[0]
        return self.gpu_memory_per_node_pool.get(pool, "80Gi")

    @model_validator(mode="after")
    def _connection_unless_declared(self) -> StackConfig:
        if self.connection is not None:
            return self
        api = [i.name for i in self.inferences if self.delivery_of(i) != "knative"]
        undeclared = [
            p.name
            for p in self.projects
            if not (p.existing and p.requested_namespace and p.quotas)
        ]
        if api or undeclared:
            reasons = []
            if api:
                reasons.append(f"inference {', '.join(api)} uses the Run:ai API")
            if undeclared:
                reasons.append(
                    f"project {', '.join(undeclared)} is not declared as existing "
                    "with requestedNamespace and quotas"
                )
            raise ValueError(
                "runai:url, runai:clientId and runai:clusterId are required: "
                + "; ".join(reasons)
                + ". Only a Knative-only stack over declared projects runs without "
                "the control plane"
            )
        return self

    @property
    def declared_projects(self) -> bool:
        """No connection: projects are declarations the stack only records."""
        return self.connection is None

    def delivery_of(self, inference: InferenceConfig) -> Delivery:
        return inference.delivery or self.delivery

    def namespace_of(self, project_name: str) -> str:
        """The project's namespace: requestedNamespace, else runai-<project>."""
        project = next(p for p in self.projects if p.name == project_name)
        return project.requested_namespace or f"runai-{project.name}"

    def secret_keys(self) -> list[str]:
        """The top-level config keys whose secrets the credentials need."""
        return sorted({c.secret_key for c in self.credentials if not c.existing})

    def project_of(self, name: str | None) -> str:
        """The project a credential, store or inference belongs to."""
        return name or self.projects[0].name

    def credential(self, name: str) -> CredentialConfig:
        return next(c for c in self.credentials if c.name == name)

    def hf_token_of(self, inference: InferenceConfig) -> CredentialConfig | None:
        if inference.hf_token:
            return self.credential(inference.hf_token)
        project = self.project_of(inference.project)
        tokens = [
            c
            for c in self.credentials
            if c.kind == "huggingFace" and self.project_of(c.project) == project
        ]
        return tokens[0] if len(tokens) == 1 else None

    def model_store_of(self, inference: InferenceConfig) -> ModelStoreConfig | None:
        project = self.project_of(inference.project)
        stores = [s for s in self.model_stores if self.project_of(s.project) == project]
        if inference.model_store:
            named = [s for s in self.model_stores if s.name == inference.model_store]
            return named[0] if named else None
        return stores[0] if len(stores) == 1 else None


_STRUCTURED_KEYS = (
    "dataSources",
    "dataSourceSets",
    "environments",
    "computeResources",
    "projects",
    "credentials",
    "modelStores",
    "inferences",
    "gpuMemoryPerNodePool",
    "knative",
)
_CONNECTION_KEYS = ("url", "clientId", "clusterId")


_KNOWN_KEYS = {
    PROJECT_NAMESPACE: {
        "environment",
        "delivery",
        "maxInitializationTimeoutSeconds",
        "hfToken",
    },
    RUNAI_NAMESPACE: {"url", "clientId", "clusterId", "clientSecret"},
}


def load_stack_config(
    get: Callable[[str], str | None], *, present: Iterable[str] = ()
) -> StackConfig:
    """Read and validate the stack's config through `get(fully_qualified_key)`.

    `get` returns the raw string the engine holds for a key, or None. The
    program passes a reader over `pulumi.Config`; the preflight passes one
    over the stack file. `present` lists every key the stack sets, so that a
    misspelt top-level key is refused rather than ignored.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    plain = ("environment", "delivery", "maxInitializationTimeoutSeconds")
    for key in (*plain, *_STRUCTURED_KEYS):
        raw = get(f"{PROJECT_NAMESPACE}:{key}")
        if raw is None:
            continue
        if key in ("environment", "delivery"):
            values[key] = raw
            continue
        if key == "maxInitializationTimeoutSeconds":
            values[key] = int(raw) if raw.strip().lstrip("-").isdigit() else raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(
                f"{PROJECT_NAMESPACE}:{key}: {raw!r} is not structured data; "
                "write it as a YAML mapping or list in the stack file"
            )
    connection = {
        key: raw
        for key in _CONNECTION_KEYS
        if (raw := get(f"{RUNAI_NAMESPACE}:{key}")) is not None
    }
    if connection:
        values["connection"] = connection
    problems += _unknown_keys(present, values)
    try:
        config = StackConfig.from_values(values)
    except ConfigError as error:
        raise ConfigError(problems + error.problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def _secret_keys_named(values: Mapping[str, Any]) -> set[str]:
    """Secret keys the (maybe invalid) credentials section names."""
    keys = set()
    credentials = values.get("credentials")
    for credential in credentials if isinstance(credentials, list) else []:
        if not isinstance(credential, dict):
            continue
        if credential.get("kind") in ("dockerRegistry", "password"):
            key = credential.get("passwordKey")
        else:
            key = credential.get("tokenKey") or "hfToken"
        if isinstance(key, str):
            keys.add(key)
    return keys


def _unknown_keys(present: Iterable[str], values: Mapping[str, Any]) -> list[str]:
    known = {
        namespace: names | set(_STRUCTURED_KEYS)
        if namespace == PROJECT_NAMESPACE
        else set(names)
        for namespace, names in _KNOWN_KEYS.items()
    }
    for key in _secret_keys_named(values):
        namespace, name = key.split(":", 1) if ":" in key else (PROJECT_NAMESPACE, key)
        known.setdefault(namespace, set()).add(name)
    problems = []
    for key in sorted(present):
        namespace, _, name = key.partition(":")
        if namespace in known and name not in known[namespace]:
            hint = closest(name, sorted(known[namespace]))
            problems.append(f"{key}: is not a key this program reads{hint}")
    return problems
