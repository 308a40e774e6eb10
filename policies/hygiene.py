"""Hygiene rules: pinned images, secrets only from credentials, private prod
endpoints, registry URLs, autoscaling and timeouts Run:ai accepts, model stores
inference can mount.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from quantities import fmt
from views import (
    EnvVar,
    InferenceView,
    Placement,
    credential_view,
    finish,
    inference_view,
    placements,
    settings,
)

__all__ = [
    "HYGIENE_POLICIES",
    "docker_hub_registry_url",
    "endpoint_not_public",
    "image_tag_pinned",
    "no_s3_model_store",
    "scale_to_zero_metric",
    "secrets_from_credentials",
    "serving_timeouts_in_range",
]

_STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}


def _inference(args: ResourceValidationArgs) -> InferenceView | None:
    return inference_view(args.resource_type, args.props, args.name, args.urn)


_IMAGE_SCHEMA: dict[str, dict[str, Any]] = {
    "forbiddenTags": {
        **_STRINGS,
        "description": "Tags that move, so a deploy is not repeatable.",
        "default": ["latest"],
    },
    "requireDigest": {
        "type": "boolean",
        "description": "Require images pinned by digest (image@sha256:...).",
        "default": False,
    },
}


def image_reference(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry port is no tag."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return name, None, digest or None
    repository, _, tag = name.rpartition(":")
    return repository, tag, digest or None


def _image_problem(image: str, config: dict[str, Any]) -> str | None:
    repository, tag, digest = image_reference(image)
    if digest:
        return None
    if config["requireDigest"]:
        return (
            f"is not pinned by digest, which this environment requires; use "
            f"{repository}@sha256:<digest>"
        )
    if tag is None:
        return (
            f"has no tag, so it pulls latest; pin a version such as "
            f"{repository}:<version>"
        )
    if tag in config["forbiddenTags"]:
        return (
            f"uses the tag {tag}, which moves between pulls; pin a version such as "
            f"{repository}:<version> or a digest"
        )
    return None


def _check_image(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = _inference(args)
    if view is None:
        return
    finish(view.pending("image"))
    if view.image is None:
        return

    problem = _image_problem(view.image, settings(args, _IMAGE_SCHEMA))
    if problem is not None:
        report(f"inference {view.name}: image {view.image} {problem}", None)


image_tag_pinned = ResourceValidationPolicy(
    name="image-tag-pinned",
    description="Server images carry a fixed tag (or digest), never latest.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Set the inference's `image` to a version tag (vllm/vllm-openai:v0.10.2) "
        "or a digest; with requireDigest, only image@sha256:<digest> passes."
    ),
    validate=_check_image,
    config_schema=PolicyConfigSchema(properties=_IMAGE_SCHEMA),
)

_SECRETS_SCHEMA: dict[str, dict[str, Any]] = {
    "secretNamePattern": {
        "type": "string",
        "format": "regex",
        "description": "Variables whose name matches this regular expression "
        "(searched, case-insensitive) hold secrets.",
        "default": "token|key|secret|passw(or)?d",
    },
    "alwaysSecret": {
        **_STRINGS,
        "description": "Variables that hold secrets whatever their name.",
        "default": ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
    },
    "allowedLiteralNames": {
        **_STRINGS,
        "description": "Variables the pattern matches that hold no secret.",
        "default": [],
    },
}

# Sources backed by a Run:ai credential's Kubernetes secret.
_CREDENTIAL_SOURCES = frozenset({"secret", "userCredential"})


def _holds_secret(name: str, config: dict[str, Any]) -> bool:
    if name in config["allowedLiteralNames"]:
        return False
    if name in config["alwaysSecret"]:
        return True
    pattern = str(config["secretNamePattern"])
    return re.search(pattern, name, re.IGNORECASE) is not None


def _source(variable: EnvVar) -> str:
    if variable.source == "value":
        return "a literal value"
    if variable.source is None:
        return "no value source"
    return f"a {variable.source} reference"


def _check_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = _inference(args)
    if view is None:
        return
    config = settings(args, _SECRETS_SCHEMA)
    pending = view.pending("environment")

    # Never quote the value: it is the secret this rule protects.
    for variable in view.environment:
        if variable.source in _CREDENTIAL_SOURCES:
            continue
        if variable.name is None:
            pending.append(f"inference {view.name}: {variable.path}")
            continue
        if not _holds_secret(variable.name, config):
            continue
        report(
            f"inference {view.name}: environment variable {variable.name} is set "
            f"from {_source(variable)}; a token, key, secret or password must come "
            "from a credential: reference the credential's Kubernetes secret "
            "(secret: {name, key}) instead (the value is not shown here)",
            None,
        )
    finish(pending)


secrets_from_credentials = ResourceValidationPolicy(
    name="secrets-from-credentials",
    description="The HF token and every secret-like variable come from a "
    "credential, never a literal value.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps=(
        "Put the value in a Run:ai credential (a generic secret) and set the "
        "variable from its Kubernetes secret (`secret: {name, key}`); a literal "
        "lands in the workload spec and the state in plain text."
    ),
    validate=_check_secrets,
    config_schema=PolicyConfigSchema(properties=_SECRETS_SCHEMA),
)

_ENDPOINT_SCHEMA: dict[str, dict[str, Any]] = {
    "forbiddenAuthorizationTypes": {
        **_STRINGS,
        "description": "servingPort.authorizationType values this environment "
        "does not allow.",
        "default": ["public"],
    },
}


def _check_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = _inference(args)
    if view is None:
        return
    finish(view.pending("access"))
    if view.cluster_local_only:
        return

    # Run:ai serves an endpoint without an authorization type publicly.
    access = view.authorization or "public"
    forbidden = settings(args, _ENDPOINT_SCHEMA)["forbiddenAuthorizationTypes"]
    if access in forbidden:
        shown = access if view.authorization else "public (Run:ai's default)"
        report(
            f"inference {view.name}: endpoint access is {shown}, which this "
            "environment does not allow: anyone who reaches the URL can use the "
            "model; set endpoint access to authenticatedUsers, authorizedUsers or "
            "authorizedGroups",
            None,
        )


endpoint_not_public = ResourceValidationPolicy(
    name="endpoint-not-public",
    description="Inference endpoints require sign-in where the environment says so.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Set the inference's `endpoint.access` to authenticatedUsers, or to "
        "authorizedUsers/authorizedGroups with the users or groups allowed."
    ),
    validate=_check_endpoint,
    config_schema=PolicyConfigSchema(properties=_ENDPOINT_SCHEMA),
)

_REGISTRY_SCHEMA: dict[str, dict[str, Any]] = {
    "dockerHubUrl": {
        "type": "string",
        "description": "The registry URL Docker Hub credentials must use.",
        "default": "https://index.docker.io/v1/",
    },
    "dockerHubHosts": {
        **_STRINGS,
        "description": "Host names that mean Docker Hub.",
        "default": [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "registry.hub.docker.com",
            "hub.docker.com",
        ],
    },
}


def registry_host(url: str) -> str:
    """The host of a registry URL written with or without a scheme."""
    text = url.strip()
    parsed = urllib.parse.urlsplit(text if "://" in text else f"//{text}")
    return (parsed.hostname or "").lower()


def _check_registry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = credential_view(args.resource_type, args.props, args.name)
    if view is None:
        return
    finish(view.pending("kind"))
    if view.kind != "docker-registry":
        return
    finish(view.pending("url"))

    config = settings(args, _REGISTRY_SCHEMA)
    url, wanted = view.url or "", str(config["dockerHubUrl"])
    if registry_host(url) in config["dockerHubHosts"] and url.strip() != wanted:
        report(
            f"credential {view.name}: Docker Hub registry URL {url!r} makes image "
            f"pulls of Knative inference fail with 401; set the credential's url "
            f"to {wanted}",
            None,
        )


docker_hub_registry_url = ResourceValidationPolicy(
    name="docker-hub-registry-url",
    description="Docker Hub registry credentials use https://index.docker.io/v1/.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Run:ai resolves image digests through Knative, which needs the Docker "
        "Hub credential registered as https://index.docker.io/v1/; recreate the "
        "credential with that URL."
    ),
    validate=_check_registry,
    config_schema=PolicyConfigSchema(properties=_REGISTRY_SCHEMA),
)

_SCALING_SCHEMA: dict[str, dict[str, Any]] = {
    "scaleToZeroMetrics": {
        **_STRINGS,
        "description": "Autoscaling metrics Run:ai can scale to zero on.",
        "default": ["throughput", "concurrency"],
    },
}


def _scaling_problems(view: InferenceView, metrics: list[str]) -> list[str]:
    low = view.replicas[0]
    problems = []
    if low == 0 and view.metric not in metrics:
        shown = f"metric {view.metric}" if view.metric else "no metric"
        problems.append(
            f"min replicas 0 (scale to zero) with {shown}; Run:ai scales to zero "
            f"only on {' or '.join(metrics)}: set autoscaling.metric to one of "
            "them, or keep min replicas at 1 or more"
        )
    retention = view.scale_to_zero_retention
    if retention and low != 0:
        problems.append(
            f"scaleToZeroRetentionSeconds {fmt(retention)} with min replicas {low}; "
            "the retention only applies to scale to zero: drop it or set min "
            "replicas to 0"
        )
    return problems


def _check_scaling(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = _inference(args)
    if view is None:
        return
    finish(view.pending("replicas", "metric", "retention"))

    metrics = [str(m) for m in settings(args, _SCALING_SCHEMA)["scaleToZeroMetrics"]]
    for problem in _scaling_problems(view, metrics):
        report(f"inference {view.name}: {problem}", None)


scale_to_zero_metric = ResourceValidationPolicy(
    name="scale-to-zero-metric",
    description="Scale to zero only with min replicas 0 and a throughput or "
    "concurrency metric.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "For scale to zero set replicas.min to 0 and autoscaling.metric to "
        "throughput or concurrency (latency cannot wake a server at zero); "
        "otherwise keep min replicas at 1 or more and drop the retention."
    ),
    validate=_check_scaling,
    config_schema=PolicyConfigSchema(properties=_SCALING_SCHEMA),
)

_TIMEOUTS_SCHEMA: dict[str, dict[str, Any]] = {
    "minTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "description": "The shortest initialization or request timeout.",
        "default": 5,
    },
    "maxInitializationTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "description": "The longest initialization timeout the cluster's Run:ai "
        "version accepts.",
        "default": 3600,
    },
    "maxRequestTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "description": "The longest request timeout.",
        "default": 600,
    },
}


def _timeout_problem(
    key: str, seconds: float | None, low: float, high: float
) -> str | None:
    if seconds is None or low <= seconds <= high:
        return None
    return (
        f"servingConfiguration.{key} {fmt(seconds)} s is outside {fmt(low)} s to "
        f"{fmt(high)} s; set it within that range"
    )


def _check_timeouts(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = _inference(args)
    if view is None:
        return
    config = settings(args, _TIMEOUTS_SCHEMA)
    low = float(config["minTimeoutSeconds"])

    checks = (
        (
            "initializationTimeoutSeconds",
            view.initialization_timeout,
            config["maxInitializationTimeoutSeconds"],
        ),
        (
            "requestTimeoutSeconds",
            view.request_timeout,
            config["maxRequestTimeoutSeconds"],
        ),
    )
    for key, seconds, high in checks:
        problem = _timeout_problem(key, seconds, low, float(high))
        if problem is not None:
            report(f"inference {view.name}: {problem}", None)
    finish(view.pending("timeouts"))


serving_timeouts_in_range = ResourceValidationPolicy(
    name="serving-timeouts-in-range",
    description="Initialization and request timeouts are in the range Run:ai accepts.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.LOW,
    remediation_steps=(
        "Keep initializationTimeout between 5 s and the cluster's maximum "
        "(maxInitializationTimeoutSeconds, 3600 by default) and the request "
        "timeout between 5 s and 600 s."
    ),
    validate=_check_timeouts,
    config_schema=PolicyConfigSchema(properties=_TIMEOUTS_SCHEMA),
)

_STORE_SCHEMA: dict[str, dict[str, Any]] = {
    "forbiddenKinds": {
        **_STRINGS,
        "description": "Data source kinds inference cannot use as a model store.",
        "default": ["s3"],
    },
}


def _store_problems(placement: Placement, forbidden: list[str]) -> list[str]:
    view = placement.inference
    problems = [
        f"inference {view.name} mounts {kind} storage (spec.storage.{kind}), which "
        "Run:ai inference does not support; load the weights into a PVC data "
        "source and use it as the model store"
        for kind in sorted(view.storage_kinds & set(forbidden))
    ]
    for store in placement.data_sources:
        if store.kind in forbidden and view.model_store in (None, store.name):
            problems.append(
                f"inference {view.name}: model store {store.name} is a data source "
                f"of kind {store.kind}, which Run:ai inference does not support; "
                "use a PVC data source as the model store"
            )
    return problems


def _check_model_store(args: StackValidationArgs, report: ReportViolation) -> None:
    forbidden = [str(k) for k in settings(args, _STORE_SCHEMA)["forbiddenKinds"]]
    pending: list[str] = []
    for placement in placements(args.resources):
        view = placement.inference
        pending += view.pending("storage", "model_store")
        for store in placement.data_sources:
            pending += store.pending("kind")
        for problem in _store_problems(placement, forbidden):
            report(problem, view.urn or None)
    finish(pending)


no_s3_model_store = StackValidationPolicy(
    name="no-s3-model-store",
    description="Model stores are data sources inference can mount (not S3).",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Run:ai inference cannot mount S3 data sources: copy the weights into a "
        "PVC data source and name it as the inference's model store."
    ),
    validate=_check_model_store,
    config_schema=PolicyConfigSchema(properties=_STORE_SCHEMA),
)

HYGIENE_POLICIES = [
    image_tag_pinned,
    secrets_from_credentials,
    endpoint_not_public,
    docker_hub_registry_url,
    scale_to_zero_metric,
    serving_timeouts_in_range,
    no_s3_model_store,
]
