"""What each delivery mode can carry, checked before anything is rendered.

Knative's webhook refuses (or silently strips) what the cluster's
`config-features` flags do not allow, and Run:ai's own serving layer is what
implements authenticated endpoints, tools and node pools. Refusing those here,
with the config key, the value and the fix, turns a failed `pulumi up` (or a
revision stuck on a stripped field) into a message before the first resource.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic.alias_generators import to_camel

from ._presets import is_reference
from .config import PROJECT_NAMESPACE, InferenceConfig, KnativeCluster, StackConfig

__all__ = [
    "CHILD_SUFFIX",
    "MAX_SERVICE_NAME",
    "RESERVED_ENV",
    "RESERVED_PORTS",
    "delivery_problems",
]

RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
"""Ports Knative's queue-proxy and activator listen on inside the pod."""
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
"""Variables Knative sets itself and refuses in a container spec."""
CHILD_SUFFIX = "-deployment"
"""The longest suffix Knative appends to a revision name for its children."""
REVISION_HASH_LENGTH = 8
MAX_SERVICE_NAME = 63 - len(CHILD_SUFFIX) - 1 - REVISION_HASH_LENGTH
"""A longer service name would push `<service>-<hash>-deployment` past 63."""

_AUTHENTICATED = ("authenticatedUsers", "authorizedGroups", "authorizedUsers")
_METRICS = {"concurrency": "concurrency", "throughput": "rps"}


def delivery_problems(config: StackConfig) -> list[str]:
    """Every inference checked against what its delivery mode can express."""
    problems: list[str] = []
    for index, inference in enumerate(config.inferences):
        key = f"{PROJECT_NAMESPACE}:inferences[{index}]"
        if config.delivery_of(inference) == "knative":
            problems += list(_knative(key, inference, config))
        elif inference.endpoint.access == "clusterLocal":
            problems.append(
                f"{key}.endpoint.access: 'clusterLocal' is a Knative delivery "
                "setting: set delivery: knative on this inference, or use access "
                "public on the Run:ai API"
            )
    return problems


def _knative(
    key: str, inference: InferenceConfig, config: StackConfig
) -> Iterator[str]:
    cluster = config.knative
    yield from _needs_runai(key, inference)
    yield from _run_ai_assets(key, inference, config)
    yield from _naming(key, inference)
    yield from _serving(key, inference, cluster)
    yield from _gates(key, inference, config)


def _run_ai_assets(
    key: str, inference: InferenceConfig, config: StackConfig
) -> Iterator[str]:
    """What only exists in Run:ai cannot be copied into a Knative Service."""
    fix = "define it in the stack, or use delivery runaiApi"
    for field, section in (
        ("environment", config.environments),
        ("compute", config.compute_resources),
    ):
        name = getattr(inference, field)
        if name is not None and is_reference(section.get(name)):
            yield (
                f"{key}.{field}: {name!r} references a Run:ai asset, which "
                f"delivery knative does not read: {fix}"
            )
    for field in ("template", "template_id"):
        if getattr(inference, field) is not None:
            yield (
                f"{key}.{to_camel(field)}: workload templates are merged by the "
                "Run:ai inference API, which delivery knative bypasses: use "
                "delivery runaiApi"
            )
    store = config.model_store_of(inference)
    if store is not None and store.existing:
        yield (
            f"{key}.modelStore: {store.name!r} is an existing Run:ai data source, "
            f"which delivery knative does not read: {fix} (existingPvc with its "
            "claimName mounts a PVC as it is)"
        )


def _needs_runai(key: str, inference: InferenceConfig) -> Iterator[str]:
    access = inference.endpoint.access
    if access in _AUTHENTICATED:
        yield (
            f"{key}.endpoint.access: {access!r} needs Run:ai's own serving layer "
            "(its authenticating ingress), which delivery knative bypasses: use "
            "public or clusterLocal, or delivery runaiApi"
        )
    if inference.tools:
        yield (
            f"{key}.tools: tool connections are made by the Run:ai inference API: "
            "remove them, or use delivery runaiApi"
        )
    if inference.node_pools:
        # TODO: map node pools onto Run:ai's node-pool label once its pod-level
        # key is confirmed; until then a Knative inference cannot pick a pool
        # (it lands in the project's default) and is refused rather than
        # silently placed elsewhere.
        yield (
            f"{key}.nodePools: {list(inference.node_pools)} is not supported with "
            "delivery knative yet: remove it (the project's default pool is used), "
            "or use delivery runaiApi"
        )
    if inference.node_type is not None:
        yield (
            f"{key}.nodeType: {inference.node_type!r} is not supported with delivery "
            "knative yet: remove it, or use delivery runaiApi"
        )
    if inference.security and inference.security.uid_gid_source == "idpToken":
        yield (
            f"{key}.security.uidGidSource: 'idpToken' is resolved by Run:ai at "
            "submission: use image or custom with delivery knative"
        )
    metric = inference.autoscaling.metric if inference.autoscaling else None
    if metric is not None and metric not in _METRICS:
        yield (
            f"{key}.autoscaling.metric: {metric!r} has no Knative autoscaler metric "
            "(KPA scales on concurrency or requests per second): use concurrency "
            "or throughput"
        )


def _naming(key: str, inference: InferenceConfig) -> Iterator[str]:
    name = inference.runai_name or inference.name
    field = "runaiName" if inference.runai_name else "name"
    if not name[0].isalpha():
        yield (
            f"{key}.{field}: {name!r} must start with a letter: a Knative Service "
            "name is a DNS-1035 label"
        )
    if len(name) > MAX_SERVICE_NAME:
        yield (
            f"{key}.{field}: {name!r} is {len(name)} characters; with delivery "
            f"knative at most {MAX_SERVICE_NAME}, so that the revision "
            f"<name>-<{REVISION_HASH_LENGTH}-char hash> and its {CHILD_SUFFIX!r} "
            "child stay within 63: shorten it"
        )


def _serving(
    key: str, inference: InferenceConfig, cluster: KnativeCluster
) -> Iterator[str]:
    from ._serving import SERVERS

    port = inference.endpoint.port or SERVERS[inference.server].port
    if port in RESERVED_PORTS:
        yield (
            f"{key}.endpoint.port: {port} is reserved by Knative "
            f"({', '.join(map(str, sorted(RESERVED_PORTS)))}): pick another port"
        )
    timeout = inference.request_timeout
    if timeout is not None and timeout > cluster.max_revision_timeout_seconds:
        yield (
            f"{key}.requestTimeout: {timeout} s is above the cluster's "
            f"max-revision-timeout-seconds ({cluster.max_revision_timeout_seconds}): "
            "lower it, or raise config-defaults and runai-hf:knative."
            "maxRevisionTimeoutSeconds together"
        )
    for index, variable in enumerate(inference.env):
        if variable.name in RESERVED_ENV:
            yield (
                f"{key}.env[{index}].name: {variable.name!r} is set by Knative "
                f"itself ({', '.join(sorted(RESERVED_ENV))}): rename it"
            )


def _gates(key: str, inference: InferenceConfig, config: StackConfig) -> Iterator[str]:
    for field, value, flag in _gated_fields(inference, config):
        if not config.knative.flag_on(flag):
            yield (
                f"{key}.{field}: {value} needs the Knative feature flag {flag}, "
                "which runai-hf:knative.features says is off: enable it in the "
                f"config-features ConfigMap (knative-serving namespace) and set "
                f"runai-hf:knative.features.{flag}: enabled"
            )


def _gated_fields(
    inference: InferenceConfig, config: StackConfig
) -> Iterator[tuple[str, str, str]]:
    """(config key, what it renders, flag) for every gated field it renders."""
    yield (
        "project",
        "schedulerName: runai-scheduler (binds the pods to Run:ai)",
        "kubernetes.podspec-schedulername",
    )
    if inference.tolerations:
        yield ("tolerations", "tolerations", "kubernetes.podspec-tolerations")
    store = config.model_store_of(inference)
    if store is not None:
        field = "modelStore"
        what = f"the model store PVC ({store.name})"
        yield (field, what, "kubernetes.podspec-persistent-volume-claim")
        # The server downloads weights into the store, so it mounts writable.
        yield (
            field,
            what + " mounted writable",
            "kubernetes.podspec-persistent-volume-write",
        )
    security = inference.security
    if security is not None and security.uid_gid_source == "custom":
        yield (
            "security",
            "a pod securityContext (uid, gid)",
            "kubernetes.podspec-securitycontext",
        )
    if security is not None and security.capabilities:
        yield (
            "security.capabilities",
            f"added capabilities {list(security.capabilities)}",
            "kubernetes.containerspec-addcapabilities",
        )
