"""What the rules read of each resource, whatever resource type carries it.

CrossGuard sees custom resources, not component inputs, so every rule reads a
small view (`InferenceView`, `ProjectView`, `CredentialView`,
`DataSourceView`) built by a reader per resource type: the Run:ai dynamic
resources, and Knative `Service`s (Knative delivery), read through the same
`InferenceView`, so every inference rule applies to both unchanged.

During a preview some values are unknown. A view holds None for them and
notes each unknown property path with the fields it feeds (`unknown`); a rule
checks what is known, then calls `finish` with what it could not check, which
makes pulumi-policy report one advisory "cannot check until the value is
known" instead of a crash or a false violation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, TypeVar

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from quantities import number as to_number

__all__ = [
    "CREDENTIAL_TYPE",
    "CredentialView",
    "DATA_SOURCE_TYPE",
    "DataSourceView",
    "EnvVar",
    "INFERENCE_TYPE",
    "KNATIVE_SERVICE_TYPE",
    "InferenceView",
    "NotKnownYet",
    "PROJECT_TYPE",
    "Placement",
    "ProjectView",
    "Quota",
    "RUNAI_DEFAULT_PRIORITY",
    "credential_view",
    "data_source_view",
    "finish",
    "inference_view",
    "placements",
    "project_view",
    "settings",
]

INFERENCE_TYPE = "pulumi-python:dynamic/runai:Inference"
KNATIVE_SERVICE_TYPE = "kubernetes:serving.knative.dev/v1:Service"
PROJECT_TYPE = "pulumi-python:dynamic/runai:Project"
CREDENTIAL_TYPE = "pulumi-python:dynamic/runai:Credential"
DATA_SOURCE_TYPE = "pulumi-python:dynamic/runai:DataSource"

# Run:ai gives an inference without a priority class this one (2.2x docs).
RUNAI_DEFAULT_PRIORITY = "very-high"
# Run:ai's classes that run non-preemptible when preemptibility is not set.
NON_PREEMPTIBLE_PRIORITIES = frozenset({"very-high", "high"})

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


_UNKNOWN = _Unknown()


class NotKnownYet(UnknownValueError):
    """Some value a rule needs is unknown until the update runs.

    pulumi-policy turns any `UnknownValueError` into one advisory diagnostic,
    whatever the policy's level, and keeps the violations already reported.
    """

    def __init__(self, what: Sequence[str]) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [])
        self.message = "cannot check until the value is known: " + "; ".join(what)


def finish(pending: Sequence[str]) -> None:
    """Call last in a rule: anything it could not check becomes an advisory."""
    if pending:
        raise NotKnownYet(sorted(set(pending)))


def _plain(value: Any) -> Any:
    # The analyzer wraps props in proxies that raise on unknown leaves; copy
    # them into plain dicts and lists with unknowns as one marker.
    if isinstance(value, str):
        return _UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return _plain(container[key])
    except UnknownValueError:
        return _UNKNOWN


# Unknown property path -> the view fields it feeds.
Unknowns = Mapping[str, AbstractSet[str]]


class _Reader:
    """Reads paths out of a resource's props and notes which were unknown.

    `unknown` maps each unknown property path to the view fields it feeds.
    """

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.data: Any = _plain(props)
        self.unknown: dict[str, set[str]] = {}

    def get(self, field: str, *path: str) -> Any:
        value = self.data
        for depth, step in enumerate(path, start=1):
            value = value.get(step) if isinstance(value, dict) else None
            if value is _UNKNOWN:
                # Name the outermost unknown: "spec", not every leaf under it.
                return self.known(field, value, ".".join(path[:depth]))
        return value

    def known(self, field: str, value: Any, path: str) -> Any:
        if value is _UNKNOWN:
            self.unknown.setdefault(path, set()).add(field)
            return None
        return value

    def text(self, field: str, *path: str) -> str | None:
        value = self.get(field, *path)
        return None if value is None else str(value)

    def number(self, field: str, *path: str) -> float | None:
        return to_number(self.get(field, *path))

    def items(self, field: str, *path: str) -> list[Any]:
        value = self.get(field, *path)
        if not isinstance(value, list):
            return []
        if any(item is _UNKNOWN for item in value):
            self.known(field, _UNKNOWN, ".".join(path))
            return []
        return value


def _pending(
    kind: str, name: str, unknown: Unknowns, fields: Iterable[str]
) -> list[str]:
    wanted = set(fields)
    return [
        f"{kind} {name}: {path}"
        for path, fed in sorted(unknown.items())
        if any(field.split("[", 1)[0] in wanted for field in fed)
    ]


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """One environment variable: its name (None while unknown), where its
    value comes from (`value`, `secret`, `configMap`...), and its path."""

    name: str | None
    source: str | None
    path: str


@dataclasses.dataclass(frozen=True)
class InferenceView:
    """One inference server as the rules see it; None means "not set"."""

    name: str
    urn: str
    project: str | None
    model_store: str | None
    priority: str | None
    preemptibility: str | None
    gpu_devices: float | None
    gpu_request_type: str | None
    gpu_portion: float | None
    gpu_portion_limit: float | None
    gpu_memory: Any
    gpu_memory_limit: Any
    cpu_cores: Any
    cpu_cores_limit: Any
    cpu_memory: Any
    cpu_memory_limit: Any
    min_replicas: float | None
    max_replicas: float | None
    metric: str | None
    scale_to_zero_retention: float | None
    node_pools: tuple[str, ...]
    image: str | None
    environment: tuple[EnvVar, ...]
    authorization: str | None
    cluster_local_only: bool
    initialization_timeout: float | None
    request_timeout: float | None
    storage_kinds: frozenset[str]
    unknown: Unknowns
    gpu_memory_per_device: Any = None

    @property
    def effective_priority(self) -> str:
        return self.priority or RUNAI_DEFAULT_PRIORITY

    @property
    def replicas(self) -> tuple[int, int]:
        """(min, max) with the API's defaults: min 1; max = min, or 1 at min 0."""
        low = int(self.min_replicas) if self.min_replicas is not None else 1
        high = int(self.max_replicas) if self.max_replicas is not None else 0
        return low, max(high, low, 1)

    @property
    def guaranteed_replicas(self) -> int:
        """Replicas that must fit the deserved quota (they cannot be preempted)."""
        low, high = self.replicas
        if self.preemptibility == "semi-preemptible":
            return low
        if self.preemptibility == "preemptible":
            return 0
        if self.preemptibility is None and (
            self.effective_priority not in NON_PREEMPTIBLE_PRIORITIES
        ):
            return 0
        return high

    def pending(self, *fields: str) -> list[str]:
        return _pending("inference", self.name, self.unknown, fields)

    def preemption_pending(self) -> list[str]:
        """What is unknown of whether this inference can be preempted."""
        if self.preemptibility is not None:
            return []
        return self.pending("preemptibility", "priority")


def _env_var(index: int, entry: Any) -> EnvVar | None:
    # A variable whose name is unknown is kept: whether that matters depends
    # on where its value comes from, which is the rule's business.
    if not isinstance(entry, dict) or entry.get("exclude") is True:
        return None
    name = entry.get("name")
    sources = [key for key in entry if key not in ("name", "exclude", "description")]
    return EnvVar(
        name=None if name is _UNKNOWN else str(name or ""),
        source=sources[0] if sources else None,
        path=f"spec.environmentVariables[{index}].name",
    )


def _storage_kinds(storage: Any) -> frozenset[str]:
    if not isinstance(storage, dict):
        return frozenset()
    return frozenset(kind for kind, mounts in storage.items() if mounts)


def _runai_inference(props: Mapping[str, Any], name: str, urn: str) -> InferenceView:
    r = _Reader(props)
    spec = ("spec",)
    compute = ("spec", "compute")
    scaling = ("spec", "autoscaling")
    serving = ("spec", "servingConfiguration")
    environment = [
        _env_var(index, entry)
        for index, entry in enumerate(
            r.items("environment", *spec, "environmentVariables")
        )
    ]
    return InferenceView(
        name=r.text("name", "name") or name,
        urn=urn,
        project=r.text("project", "project"),
        model_store=r.text("model_store", "modelStore"),
        priority=r.text("priority", *spec, "priorityClass"),
        preemptibility=r.text("preemptibility", *spec, "preemptibility"),
        gpu_devices=r.number("gpu", *compute, "gpuDevicesRequest"),
        gpu_request_type=r.text("gpu", *compute, "gpuRequestType"),
        gpu_portion=r.number("gpu", *compute, "gpuPortionRequest"),
        gpu_portion_limit=r.number("gpu_limit", *compute, "gpuPortionLimit"),
        gpu_memory=r.get("gpu", *compute, "gpuMemoryRequest"),
        gpu_memory_limit=r.get("gpu_limit", *compute, "gpuMemoryLimit"),
        cpu_cores=r.get("cpu", *compute, "cpuCoreRequest"),
        cpu_cores_limit=r.get("cpu", *compute, "cpuCoreLimit"),
        cpu_memory=r.get("memory", *compute, "cpuMemoryRequest"),
        cpu_memory_limit=r.get("memory", *compute, "cpuMemoryLimit"),
        min_replicas=r.number("replicas", *scaling, "minReplicas"),
        max_replicas=r.number("replicas", *scaling, "maxReplicas"),
        metric=r.text("metric", *scaling, "metric"),
        scale_to_zero_retention=r.number(
            "retention", *scaling, "scaleToZeroRetentionSeconds"
        ),
        node_pools=tuple(str(p) for p in r.items("node_pools", *spec, "nodePools")),
        image=r.text("image", *spec, "image"),
        environment=tuple(var for var in environment if var is not None),
        authorization=r.text("access", *spec, "servingPort", "authorizationType"),
        cluster_local_only=r.get(
            "access", *spec, "servingPort", "clusterLocalAccessOnly"
        )
        is True,
        initialization_timeout=r.number(
            "timeouts", *serving, "initializationTimeoutSeconds"
        ),
        request_timeout=r.number("timeouts", *serving, "requestTimeoutSeconds"),
        storage_kinds=_storage_kinds(r.get("storage", *spec, "storage")),
        unknown=r.unknown,
        # The stack's runai-hf:gpuMemoryPerNodePool, as the provider got it.
        gpu_memory_per_device=r.get("gpu", "rollout", "gpuMemoryPerDevice"),
    )


_KNATIVE_METRICS = {"rps": "throughput", "concurrency": "concurrency"}


def _count(text: Any) -> float | None:
    """An annotation's number ("2", "600s"); None when absent or not a number."""
    if not isinstance(text, str):
        return to_number(text)
    try:
        return float(text.removesuffix("s"))
    except ValueError:
        return None


def _knative_env(index: int, entry: Any) -> EnvVar | None:
    if not isinstance(entry, dict):
        return None
    source = entry.get("valueFrom")
    kind: str | None = "value"
    if isinstance(source, dict):
        # secretKeyRef is a Kubernetes secret, as a credential-backed variable is.
        keys = {"secretKeyRef": "secret", "configMapKeyRef": "configMap"}
        kind = next((keys.get(key, key) for key in source), "valueFrom")
    elif "value" not in entry:
        kind = None
    name = entry.get("name")
    return EnvVar(
        name=None if name is _UNKNOWN else str(name or ""),
        source=kind,
        path=f"spec.template.spec.containers[0].env[{index}].name",
    )


def _knative_gpu(
    annotations: Mapping[str, Any], limits: Mapping[str, Any]
) -> dict[str, Any]:
    """Run:ai's fraction annotations, else whole GPUs from the device limit."""
    if "gpu-fraction" in annotations:
        return {
            "gpu_devices": 1.0,
            "gpu_request_type": "portion",
            "gpu_portion": _count(annotations["gpu-fraction"]),
            "gpu_portion_limit": _count(annotations.get("gpu-fraction-limit")),
        }
    if "gpu-memory" in annotations:
        limit = annotations.get("gpu-memory-limit")
        return {
            "gpu_devices": 1.0,
            "gpu_request_type": "memory",
            "gpu_memory": f"{annotations['gpu-memory']}Mi",  # Run:ai counts MiB
            "gpu_memory_limit": f"{limit}Mi" if limit is not None else None,
        }
    return {"gpu_devices": _count(limits.get("nvidia.com/gpu")) or 0.0}


def _knative_service(props: Mapping[str, Any], name: str, urn: str) -> InferenceView:
    """A Knative Service bound to a Run:ai project, read as an inference."""
    r = _Reader(props)
    template = ("spec", "template")
    labels = r.get("project", *template, "metadata", "labels") or {}
    annotations = r.get("replicas", *template, "metadata", "annotations") or {}
    containers = r.items("image", *template, "spec", "containers")
    server = containers[0] if containers and isinstance(containers[0], dict) else {}
    resources = server.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    volumes = r.items("storage", *template, "spec", "volumes")
    service_labels = r.get("access", "metadata", "labels") or {}
    scale = "autoscaling.knative.dev/"
    metric = annotations.get(scale + "metric")
    gpu = {
        "gpu_devices": None,
        "gpu_request_type": None,
        "gpu_portion": None,
        "gpu_portion_limit": None,
        "gpu_memory": None,
        "gpu_memory_limit": None,
        **_knative_gpu(annotations, limits),
    }
    environment = [
        _knative_env(index, entry)
        for index, entry in enumerate(server.get("env") or [])
    ]
    local = service_labels.get("networking.knative.dev/visibility") == "cluster-local"
    return InferenceView(
        name=r.text("name", "metadata", "name") or name,
        urn=urn,
        project=labels.get("runai/queue"),
        model_store=None,
        priority=labels.get("priorityClassName")
        or r.text("priority", *template, "spec", "priorityClassName"),
        preemptibility=labels.get("kai.scheduler/preemptibility"),
        cpu_cores=requests.get("cpu"),
        cpu_cores_limit=limits.get("cpu"),
        cpu_memory=requests.get("memory"),
        cpu_memory_limit=limits.get("memory"),
        min_replicas=_count(annotations.get(scale + "min-scale")),
        max_replicas=_count(annotations.get(scale + "max-scale")),
        metric=_KNATIVE_METRICS.get(metric, metric) if metric else None,
        scale_to_zero_retention=_count(
            annotations.get(scale + "scale-to-zero-pod-retention-period")
        ),
        node_pools=(),
        image=server.get("image"),
        environment=tuple(var for var in environment if var is not None),
        # Knative delivery has no authenticating layer: public unless local.
        authorization="public",
        cluster_local_only=local,
        initialization_timeout=_count(
            annotations.get("serving.knative.dev/progress-deadline")
        ),
        request_timeout=r.number("timeouts", *template, "spec", "timeoutSeconds"),
        storage_kinds=frozenset(
            "pvc"
            for volume in volumes
            if isinstance(volume, dict) and "persistentVolumeClaim" in volume
        ),
        unknown=r.unknown,
        **gpu,
    )


_InferenceReader = Callable[[Mapping[str, Any], str, str], InferenceView]
_INFERENCE_READERS: dict[str, _InferenceReader] = {
    INFERENCE_TYPE: _runai_inference,
    KNATIVE_SERVICE_TYPE: _knative_service,
}


def inference_view(
    resource_type: str, props: Mapping[str, Any], name: str, urn: str = ""
) -> InferenceView | None:
    """The inference a resource describes, or None for other resource types."""
    reader = _INFERENCE_READERS.get(resource_type)
    return None if reader is None else reader(props, name, urn)


@dataclasses.dataclass(frozen=True)
class Quota:
    """A project's quota on one node pool; limits are None when not set."""

    node_pool: str
    gpu: float
    gpu_limit: float | None
    cpu: Any
    cpu_limit: Any
    memory: Any
    memory_limit: Any


@dataclasses.dataclass(frozen=True)
class ProjectView:
    name: str
    urn: str
    quotas: tuple[Quota, ...]
    default_node_pools: tuple[str, ...]
    unknown: Unknowns
    existing: bool = False

    def quota(self, node_pool: str) -> Quota | None:
        return next((q for q in self.quotas if q.node_pool == node_pool), None)

    def default_node_pool(self) -> str:
        """Where Run:ai places a workload that names no node pool."""
        if self.default_node_pools:
            return self.default_node_pools[0]
        return self.quotas[0].node_pool if self.quotas else "default"

    def pending(self, *fields: str) -> list[str]:
        return _pending("project", self.name, self.unknown, fields)


def _limit(value: Any) -> Any:
    # The legacy API wrote -1 for "no limit"; treat it like an absent limit.
    amount = to_number(value)
    return None if amount is not None and amount < 0 else value


def _quota(reader: _Reader, index: int, entry: Any) -> Quota | None:
    path = f"quotas[{index}]"
    entry = reader.known("quotas", entry, path)
    if not isinstance(entry, dict):
        return None

    def read(key: str) -> Any:
        return reader.known(f"quota_{key}[{index}]", entry.get(key), f"{path}.{key}")

    return Quota(
        node_pool=str(read("nodePool") or "default"),
        gpu=to_number(read("gpu")) or 0.0,
        gpu_limit=to_number(_limit(read("gpuLimit"))),
        cpu=read("cpu"),
        cpu_limit=_limit(read("cpuLimit")),
        memory=read("memory"),
        memory_limit=_limit(read("memoryLimit")),
    )


def project_view(
    resource_type: str, props: Mapping[str, Any], name: str, urn: str = ""
) -> ProjectView | None:
    if resource_type != PROJECT_TYPE:
        return None
    reader = _Reader(props)
    quotas = [
        _quota(reader, index, entry)
        for index, entry in enumerate(reader.items("quotas", "quotas"))
    ]
    pools = reader.items("quota_nodePool", "defaultNodePools")
    return ProjectView(
        name=reader.text("name", "name") or name,
        urn=urn,
        quotas=tuple(q for q in quotas if q is not None),
        default_node_pools=tuple(str(pool) for pool in pools),
        unknown=reader.unknown,
        existing=props.get("existing") is True,
    )


@dataclasses.dataclass(frozen=True)
class CredentialView:
    name: str
    kind: str | None
    url: str | None
    unknown: Unknowns

    def pending(self, *fields: str) -> list[str]:
        return _pending("credential", self.name, self.unknown, fields)


def credential_view(
    resource_type: str, props: Mapping[str, Any], name: str
) -> CredentialView | None:
    if resource_type != CREDENTIAL_TYPE:
        return None
    reader = _Reader(props)
    return CredentialView(
        name=reader.text("name", "name") or name,
        kind=reader.text("kind", "kind"),
        url=reader.text("url", "url"),
        unknown=reader.unknown,
    )


@dataclasses.dataclass(frozen=True)
class DataSourceView:
    name: str
    urn: str
    kind: str | None
    unknown: Unknowns

    def pending(self, *fields: str) -> list[str]:
        return _pending("data source", self.name, self.unknown, fields)


def data_source_view(
    resource_type: str, props: Mapping[str, Any], name: str, urn: str = ""
) -> DataSourceView | None:
    if resource_type != DATA_SOURCE_TYPE:
        return None
    reader = _Reader(props)
    return DataSourceView(
        name=reader.text("name", "name") or name,
        urn=urn,
        kind=reader.text("kind", "kind"),
        unknown=reader.unknown,
    )


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def urn(self) -> str: ...


_V = TypeVar("_V", bound=_Named)


@dataclasses.dataclass(frozen=True)
class Placement:
    """An inference with the project and data sources it depends on."""

    inference: InferenceView
    project: ProjectView | None
    data_sources: tuple[DataSourceView, ...]


def _linked(
    resource: PolicyResource, wanted: str, name: str | None, views: Sequence[_V]
) -> list[_V]:
    # The dependency is authoritative; the name is the fallback for a graph
    # without it (ids such as projectId are unknown during a preview).
    urns = {d.urn for d in resource.dependencies if d.resource_type == wanted}
    linked = [view for view in views if view.urn in urns]
    return linked or [view for view in views if name and view.name == name]


def placements(resources: Sequence[PolicyResource]) -> list[Placement]:
    """Every inference of a stack, each with its project and model store."""
    projects = [
        project
        for r in resources
        if (project := project_view(r.resource_type, r.props, r.name, r.urn))
    ]
    sources = [
        source
        for r in resources
        if (source := data_source_view(r.resource_type, r.props, r.name, r.urn))
    ]
    found = []
    for resource in resources:
        view = inference_view(
            resource.resource_type, resource.props, resource.name, resource.urn
        )
        if view is None:
            continue
        owners = _linked(resource, PROJECT_TYPE, view.project, projects)
        stores = _linked(resource, DATA_SOURCE_TYPE, view.model_store, sources)
        found.append(Placement(view, next(iter(owners), None), tuple(stores)))
    return found


def settings(
    args: ResourceValidationArgs | StackValidationArgs,
    schema: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The policy's config over its schema defaults.

    The CLI fills in the defaults before it configures the pack; filling them
    here too keeps a pack run without that step (a bare analyzer) correct.
    """
    merged = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    merged.update(args.get_config() or {})
    return merged
