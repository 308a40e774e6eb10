"""Dynamic providers: one per Run:ai object, each with its own type token.

The engine pickles a provider into the `__provider` input and unpickles it in
the provider process, so these classes live in an importable module (pickled
by reference, a few hundred bytes, stable across runs) and keep nothing on
`self` but the connection that `configure` hands them there. Every method
builds its own client. Inputs arrive as the engine sends them: plain values,
secrets unwrapped, every number a float.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from ._client import ConnectionSettings, RunaiClient
from ._values import normalize
from .errors import NotFoundError, RunaiHFError, WorkloadError

__all__ = [
    "CredentialProvider",
    "DataSourceProvider",
    "InferenceProvider",
    "ProjectProvider",
    "INFERENCE_UPDATABLE_SPEC_FIELDS",
]

logger = logging.getLogger("runai_hf")

T = TypeVar("T")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

INFERENCE_UPDATABLE_SPEC_FIELDS = frozenset(
    {
        "autoscaling",
        "servingConfiguration",
        "args",
        "category",
        "command",
        "compute",
        "createHomeDir",
        "environmentVariables",
        "image",
        "imagePullPolicy",
        "imagePullSecrets",
        "nodeAffinityRequired",
        "nodePools",
        "nodeType",
        "podAffinity",
        "preemptibility",
        "priorityClass",
        "probes",
        "workingDir",
    }
)
"""The spec fields `InferenceUpdateSpecSpec` accepts: a PATCH rolls them out."""

_DEFAULT_READY_TIMEOUT = 600.0
"""Knative's default progress deadline, used when no initialization timeout is set."""


def _diff_result(changes: object, replaces: list[str]) -> DiffResult:
    # Names are pinned (they are the declared names), and Run:ai keeps names
    # unique: a replacement must delete the old object before it creates.
    # TODO: auto-named objects (logical name plus a random suffix) would allow
    # create-before-delete and so a replacement without downtime; until then
    # a replaced inference is briefly unavailable.
    return DiffResult(
        changes=bool(changes), replaces=replaces, delete_before_replace=bool(replaces)
    )


def _ready_timeout(props: Mapping[str, Any]) -> float:
    serving = (props.get("spec") or {}).get("servingConfiguration") or {}
    return float(serving.get("initializationTimeoutSeconds") or _DEFAULT_READY_TIMEOUT)


def secret_digest(value: str) -> str:
    """A one-way fingerprint of a secret, so a rotation shows as a change."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _dns_failure(props: Mapping[str, Any], key: str) -> list[CheckFailure]:
    value = props.get(key)
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.match(value):
        return [
            CheckFailure(
                key,
                f"{value!r} is not a DNS-1123 label (lower-case letters, digits, '-', "
                "at most 63 characters)",
            )
        ]
    return []


def _required(props: Mapping[str, Any], *keys: str) -> list[CheckFailure]:
    return [
        CheckFailure(key, f"{key} is required")
        for key in keys
        if props.get(key) in (None, "")
    ]


def _changed(
    olds: Mapping[str, Any], news: Mapping[str, Any], keys: list[str]
) -> list[str]:
    return [key for key in keys if normalize(olds.get(key)) != normalize(news.get(key))]


def _wait(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    initial: float,
    ceiling: float,
) -> T | None:
    """Call `probe` with a growing pause until it returns a value or time runs out."""
    deadline = time.monotonic() + timeout
    pause = initial
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 1.5, ceiling)


class _RunaiProvider(ResourceProvider):
    """What every Run:ai provider shares: connection, client, waiting."""

    serialize_as_secret_always = False
    poll_initial: ClassVar[float] = 0.25
    poll_ceiling: ClassVar[float] = 5.0

    def __init__(self) -> None:
        super().__init__()
        self._config: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Whatever `configure` gathered stays in this process: the pickle that
        # lands in state must never carry the connection or its secret.
        state = dict(self.__dict__)
        state["_config"] = {}
        return state

    def configure(self, req: ConfigureRequest) -> None:
        keys = ("runai:url", "runai:clientId", "runai:clientSecret")
        self._config = {key: req.config.get(key) for key in keys}

    def client(self) -> RunaiClient:
        return RunaiClient(ConnectionSettings.resolve(self._config))

    def wait(self, probe: Callable[[], T | None], *, timeout: float) -> T | None:
        return _wait(
            probe, timeout=timeout, initial=self.poll_initial, ceiling=self.poll_ceiling
        )

    def wait_gone(self, client: RunaiClient, path: str, *, timeout: float) -> bool:
        def gone() -> bool | None:
            try:
                client.get(path)
            except NotFoundError:
                return True
            return None

        return bool(self.wait(gone, timeout=timeout))

    def delete_path(self, path: str, *, timeout: float = 300.0) -> None:
        """DELETE, treating 404 as already gone, then wait for the 404."""
        with self.client() as client:
            try:
                client.delete(path)
            except NotFoundError:
                return
            if not self.wait_gone(client, path, timeout=timeout):
                raise RunaiHFError(f"{path} still exists {timeout:.0f} s after DELETE")


class ProjectProvider(_RunaiProvider):
    """`/api/v1/org-unit/projects`: a project and its per-node-pool GPU quotas."""

    _replace_keys: ClassVar[list[str]] = ["name", "clusterId", "requestedNamespace"]
    _update_keys: ClassVar[list[str]] = ["description", "quotas"]

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        failures = _required(props, "name", "clusterId", "quotas")
        failures += _dns_failure(props, "name")
        for index, quota in enumerate(props.get("quotas") or []):
            gpu, limit = quota.get("gpu"), quota.get("gpuLimit")
            if not isinstance(gpu, int | float) or gpu < 0:
                failures.append(
                    CheckFailure(
                        f"quotas[{index}].gpu", f"{gpu!r} is not a GPU count >= 0"
                    )
                )
            elif limit is not None and limit < gpu:
                failures.append(
                    CheckFailure(
                        f"quotas[{index}].gpuLimit",
                        f"limit {limit} is below the deserved {gpu}",
                    )
                )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.client() as client:
            body = {
                "name": props["name"],
                "clusterId": props["clusterId"],
                "resources": self._resources(client, props),
            }
            for key in ("description", "requestedNamespace"):
                if props.get(key):
                    body[key] = props[key]
            project = client.post("/api/v1/org-unit/projects", body)
            project_id = str(project["id"])
            project = self._wait_ready(client, project_id) or project
        logger.debug("project %s: created as %s", props["name"], project_id)
        return CreateResult(project_id, self._outputs(props, project))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client() as client:
            try:
                project = client.get(f"/api/v1/org-unit/projects/{id_}")
            except NotFoundError:
                return ReadResult(None, {})
        inputs = {
            "name": project["name"],
            "clusterId": project["clusterId"],
            "quotas": self._quotas_from(project),
        }
        for key in ("description", "requestedNamespace"):
            if props.get(key) is not None:
                inputs[key] = project.get(key) or None
        return ReadResult(id_, self._outputs(inputs, project), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, self._replace_keys)
        changes = replaces + _changed(olds, news, self._update_keys)
        return _diff_result(changes, replaces)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        with self.client() as client:
            body: dict[str, Any] = {"resources": self._resources(client, news)}
            if news.get("description"):
                body["description"] = news["description"]
            project = client.put(f"/api/v1/org-unit/projects/{id_}", body)
        logger.debug("project %s: quotas updated", news["name"])
        return UpdateResult(self._outputs(news, project))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.delete_path(f"/api/v1/org-unit/projects/{id_}")
        logger.debug("project %s: deleted", props.get("name", id_))

    def _resources(self, client: RunaiClient, props: Mapping[str, Any]) -> list[Any]:
        pools = client.get(
            "/api/v1/node-pools", filterBy=f"clusterId=={props['clusterId']}"
        )["nodepools"]
        ids = {pool["name"]: pool["id"] for pool in pools}
        resources = []
        for quota in props["quotas"]:
            pool = quota.get("nodePool") or "default"
            if pool not in ids:
                known = ", ".join(sorted(ids)) or "none"
                raise RunaiHFError(
                    f"project {props['name']}: node pool {pool!r} does not exist in "
                    f"cluster {props['clusterId']}; known node pools: {known}"
                )
            gpu = {"deserved": quota["gpu"], "limit": quota.get("gpuLimit")}
            resources.append({"nodePool": {"id": ids[pool], "name": pool}, "gpu": gpu})
        return resources

    def _wait_ready(self, client: RunaiClient, project_id: str) -> Any:
        def ready() -> Any:
            project = client.get(f"/api/v1/org-unit/projects/{project_id}")
            phase = (project.get("status") or {}).get("phase")
            return project if phase in (None, "Ready") else None

        return self.wait(ready, timeout=120.0)

    @staticmethod
    def _quotas_from(project: Mapping[str, Any]) -> list[dict[str, Any]]:
        quotas = []
        for resource in project.get("resources") or []:
            gpu = resource.get("gpu") or {}
            quotas.append(
                normalize(
                    {
                        "nodePool": (resource.get("nodePool") or {}).get("name"),
                        "gpu": gpu.get("deserved", 0),
                        "gpuLimit": gpu.get("limit"),
                    }
                )
            )
        return quotas

    @staticmethod
    def _outputs(
        props: Mapping[str, Any], project: Mapping[str, Any]
    ) -> dict[str, Any]:
        status = project.get("status") or {}
        namespace = status.get("namespace") or props.get("requestedNamespace")
        return {
            **props,
            "projectId": str(project["id"]),
            "namespace": namespace or f"runai-{props['name']}",
            "phase": status.get("phase") or "Ready",
        }


class _AssetProvider(_RunaiProvider):
    """Assets answer 202 and sync to the cluster; wait for their status."""

    path: ClassVar[str]

    def wait_synced(self, client: RunaiClient, asset_id: str, name: str) -> Any:
        def synced() -> Any:
            asset = client.get(f"{self.path}/{asset_id}", statusInfo="true")
            status = (asset.get("status") or {}).get("status")
            if status in ("Failed", "Issues found"):
                message = (asset.get("status") or {}).get("message") or status
                raise RunaiHFError(
                    f"{name}: the cluster could not create it: {message}"
                )
            return asset if status in (None, "No issues found", "No status") else None

        asset = self.wait(synced, timeout=120.0)
        if asset is None:
            raise RunaiHFError(f"{name}: not synced to the cluster after 120 s")
        return asset

    def create_asset(self, body: Mapping[str, Any], label: str) -> tuple[str, Any]:
        """POST the asset, then wait until the cluster has it."""
        with self.client() as client:
            asset_id = str(client.post(self.path, body)["meta"]["id"])
            asset = self.wait_synced(client, asset_id, label)
        logger.debug("%s: created", label)
        return asset_id, asset

    def fetch(self, asset_id: str) -> Any:
        """The asset, or None when it is gone."""
        with self.client() as client:
            try:
                return client.get(f"{self.path}/{asset_id}")
            except NotFoundError:
                return None

    @staticmethod
    def cluster_name(asset: Mapping[str, Any]) -> str | None:
        resources = (asset.get("clusterInfo") or {}).get("resources") or []
        return resources[0].get("name") if resources else None

    @staticmethod
    def meta(props: Mapping[str, Any]) -> dict[str, Any]:
        meta = {
            "name": props["name"],
            "scope": "project",
            "projectId": int(props["projectId"]),
            "clusterId": props["clusterId"],
        }
        if props.get("description"):
            meta["description"] = props["description"]
        return meta


class CredentialProvider(_AssetProvider):
    """A generic-secret credential holding one key, such as `HF_TOKEN`.

    The value reaches the API and nothing else: outputs carry only its
    digest, so the state and every log stay free of it, while a rotated
    token still shows up as a change (and so a replacement, since Run:ai
    lets only a credential's description change).
    """

    path = "/api/v1/asset/credentials/generic-secret"

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        failures = _required(props, "name", "projectId", "clusterId", "key")
        failures += _dns_failure(props, "name")
        if not props.get("value"):
            failures.append(
                CheckFailure("value", "the secret value is empty; set its config key")
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        body = {
            "meta": self.meta(props),
            "spec": {"keyValuePairs": [{"key": props["key"], "value": props["value"]}]},
        }
        asset_id, asset = self.create_asset(body, f"credential {props['name']}")
        return CreateResult(asset_id, self._outputs(props, asset))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        asset = self.fetch(id_)
        if asset is None:
            return ReadResult(None, {})
        meta = asset["meta"]
        inputs: dict[str, Any] = {
            key: props.get(key) for key in ("key", "valueDigest") if key in props
        }
        inputs.update(
            name=meta["name"],
            projectId=str(meta.get("projectId")),
            clusterId=meta.get("clusterId"),
        )
        if meta.get("description"):
            inputs["description"] = meta["description"]
        return ReadResult(id_, self._outputs(inputs, asset), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        news = {**news, "valueDigest": secret_digest(str(news.get("value") or ""))}
        keys = ["name", "projectId", "clusterId", "key", "valueDigest"]
        replaces = _changed(olds, news, keys)
        changes = replaces + _changed(olds, news, ["description"])
        return _diff_result(changes, replaces)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        meta = {"description": news.get("description") or None}
        with self.client() as client:
            asset = client.put(f"{self.path}/{id_}", {"meta": meta})
        return UpdateResult(self._outputs(news, asset))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.delete_path(f"{self.path}/{id_}")
        logger.debug("credential %s: deleted", props.get("name", id_))

    def _outputs(
        self, props: Mapping[str, Any], asset: Mapping[str, Any]
    ) -> dict[str, Any]:
        outputs = {key: item for key, item in props.items() if key != "value"}
        if props.get("value"):
            outputs["valueDigest"] = secret_digest(str(props["value"]))
        outputs["assetId"] = asset["meta"]["id"]
        outputs["kubernetesSecretName"] = self.cluster_name(asset)
        return outputs


class DataSourceProvider(_AssetProvider):
    """A PVC data source: the model store the server downloads weights into."""

    path = "/api/v1/asset/datasource/pvc"
    _replace_keys: ClassVar[list[str]] = [
        "projectId",
        "clusterId",
        "existingPvc",
        "readOnly",
        "size",
        "storageClass",
    ]
    _update_keys: ClassVar[list[str]] = ["name", "description", "path"]

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        failures = _required(props, "name", "projectId", "clusterId", "path")
        failures += _dns_failure(props, "name")
        if not props.get("existingPvc") and not props.get("size"):
            failures.append(
                CheckFailure("size", "a new PVC needs a size, such as 20Gi")
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = f"data source {props['name']}"
        asset_id, asset = self.create_asset(self._body(props), label)
        return CreateResult(asset_id, self._outputs(props, asset))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        asset = self.fetch(id_)
        if asset is None:
            return ReadResult(None, {})
        spec, meta = asset["spec"], asset["meta"]
        claim_info = spec.get("claimInfo") or {}
        inputs = {
            **props,
            "name": meta["name"],
            "path": spec.get("path"),
            "existingPvc": bool(spec.get("existingPvc")),
            "readOnly": bool(spec.get("readOnly")),
            "size": claim_info.get("size"),
            "storageClass": claim_info.get("storageClass"),
        }
        inputs = {key: item for key, item in inputs.items() if key not in _OUTPUT_ONLY}
        return ReadResult(id_, self._outputs(inputs, asset), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, self._replace_keys)
        # The claim name is an output when Run:ai chose it; only a name the
        # user asks for can differ from it.
        if news.get("claimName") and news["claimName"] != olds.get("claimName"):
            replaces.append("claimName")
        changes = replaces + _changed(olds, news, self._update_keys)
        return _diff_result(changes, replaces)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        body = {
            "meta": {"name": news["name"], "description": news.get("description")},
            "spec": {"path": news["path"]},
        }
        with self.client() as client:
            asset = client.put(f"{self.path}/{id_}", body)
        return UpdateResult(self._outputs(news, asset))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.delete_path(f"{self.path}/{id_}")
        logger.debug("data source %s: deleted", props.get("name", id_))

    def _body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "path": props["path"],
            "existingPvc": bool(props.get("existingPvc")),
            "readOnly": bool(props.get("readOnly")),
        }
        if props.get("claimName"):
            spec["claimName"] = props["claimName"]
        if not spec["existingPvc"]:
            claim_info: dict[str, Any] = {
                "size": props["size"],
                "accessModes": {"readWriteOnce": True},
                "volumeMode": "Filesystem",
            }
            if props.get("storageClass"):
                claim_info["storageClass"] = props["storageClass"]
            spec["claimInfo"] = claim_info
        return {"meta": self.meta(props), "spec": spec}

    def _outputs(
        self, props: Mapping[str, Any], asset: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            **props,
            "assetId": asset["meta"]["id"],
            "claimName": self.cluster_name(asset) or props.get("claimName"),
        }


_OUTPUT_ONLY = frozenset({"assetId", "workloadId", "phase", "url", "__provider"})


class InferenceProvider(_RunaiProvider):
    """`/api/v1/workloads/inferences`: a Knative-served model behind one URL.

    Spec fields in INFERENCE_UPDATABLE_SPEC_FIELDS change through a PATCH
    (a new revision); any other change replaces the workload.
    """

    _replace_keys: ClassVar[list[str]] = ["name", "projectId", "clusterId"]

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        failures = _required(props, "name", "projectId", "clusterId", "spec")
        failures += _dns_failure(props, "name")
        spec = props.get("spec") or {}
        if not spec.get("image"):
            failures.append(CheckFailure("spec.image", "the server image is required"))
        timeout = (spec.get("servingConfiguration") or {}).get(
            "initializationTimeoutSeconds"
        )
        if timeout is not None and (not isinstance(timeout, int) or timeout < 1):
            failures.append(
                CheckFailure(
                    "spec.servingConfiguration.initializationTimeoutSeconds",
                    f"{timeout!r} is not a whole number of seconds >= 1",
                )
            )
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        body = {
            "name": props["name"],
            "projectId": str(props["projectId"]),
            "clusterId": props["clusterId"],
            "spec": props["spec"],
        }
        with self.client() as client:
            workload_id = client.post("/api/v1/workloads/inferences", body)[
                "workloadId"
            ]
            logger.info("inference %s: submitted as %s", props["name"], workload_id)
            try:
                workload = self._wait_running(client, props, workload_id)
            except WorkloadError:
                self._remove_after_failure(client, props["name"], workload_id)
                raise
        return CreateResult(workload_id, self._outputs(props, workload_id, workload))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client() as client:
            try:
                inference = client.get(f"/api/v1/workloads/inferences/{id_}")
                workload = client.get(f"/api/v1/workloads/{id_}")
            except NotFoundError:
                return ReadResult(None, {})
        served = inference.get("spec") or {}
        managed = (props.get("spec") or {}).keys() or served.keys()
        inputs = {
            **{key: item for key, item in props.items() if key not in _OUTPUT_ONLY},
            "name": inference["name"],
            "projectId": str(inference["projectId"]),
            "clusterId": inference["clusterId"],
            "spec": normalize({key: served[key] for key in managed if key in served}),
        }
        return ReadResult(id_, self._outputs(inputs, id_, workload), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, self._replace_keys)
        old_spec, new_spec = olds.get("spec") or {}, news.get("spec") or {}
        spec_keys = sorted(set(old_spec) | set(new_spec))
        for key in _changed(old_spec, new_spec, spec_keys):
            if key not in INFERENCE_UPDATABLE_SPEC_FIELDS:
                replaces.append(f"spec.{key}")
        changes = replaces or _changed(old_spec, new_spec, spec_keys)
        extra = _changed(olds, news, ["model", "server"])
        return _diff_result(changes or extra, replaces)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        spec = news.get("spec") or {}
        patch = {
            key: spec.get(key) for key in spec if key in INFERENCE_UPDATABLE_SPEC_FIELDS
        }
        path = f"/api/v1/workloads/inferences/{id_}"
        with self.client() as client:
            before = {revision["id"] for revision in self._revisions(client, id_)}
            client.patch(path, {"spec": patch})
            logger.info("inference %s: update submitted", news["name"])
            self._wait_rollout(client, news, id_, before)
            workload = self._wait_running(client, news, id_)
        return UpdateResult(self._outputs(news, id_, workload))

    @staticmethod
    def _revisions(client: RunaiClient, workload_id: str) -> list[dict[str, Any]]:
        path = f"/api/v1/workloads/inferences/{workload_id}/revisions"
        try:
            answer = client.get(path)
        except NotFoundError:
            # Clusters before 2.21 have no revisions API; the workload phase
            # is then all there is to follow.
            return []
        return list(answer.get("revisions") or [])

    def _wait_rollout(
        self,
        client: RunaiClient,
        props: Mapping[str, Any],
        workload_id: str,
        before: set[str],
    ) -> None:
        """Wait until one revision serves: the new one, or the old if none came."""
        name = str(props["name"])
        timeout = _ready_timeout(props)
        started = time.monotonic()
        polls: dict[str, Any] = {"count": 0, "last": ""}

        def settled() -> bool | None:
            polls["count"] += 1
            revisions = self._revisions(client, workload_id)
            if not revisions:
                return True
            newest = max(
                revisions, key=lambda revision: revision.get("createdAt") or ""
            )
            phase = newest.get("phase") or "Unknown"
            report = f"{newest.get('name')} {phase}"
            if report != polls["last"]:
                elapsed = time.monotonic() - started
                logger.info(
                    "inference %s: revision %s after %.0f s", name, report, elapsed
                )
                polls["last"] = report
            if phase == "Failed":
                raise WorkloadError(
                    name=name,
                    phase=phase,
                    phase_message=newest.get("phaseMessage") or "",
                    reason=f"revision {newest.get('name')} failed; the previous one "
                    "still serves",
                )
            fresh = newest["id"] not in before or polls["count"] > 2
            return phase == "Running" and len(revisions) == 1 and fresh or None

        if not self.wait(settled, timeout=timeout):
            raise WorkloadError(
                name=name,
                phase="Updating",
                phase_message=polls["last"],
                reason=f"the new revision did not take over within {timeout:.0f} s",
            )

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.delete_path(f"/api/v1/workloads/inferences/{id_}")
        logger.debug("inference %s: deleted", props.get("name", id_))

    def _wait_running(
        self, client: RunaiClient, props: Mapping[str, Any], workload_id: str
    ) -> Any:
        name = str(props["name"])
        timeout = _ready_timeout(props)
        started = time.monotonic()
        seen: dict[str, Any] = {"phase": "Unknown", "phaseMessage": ""}

        def running() -> Any:
            workload = client.get(f"/api/v1/workloads/{workload_id}")
            phase = workload.get("phase") or "Unknown"
            if phase != seen["phase"]:
                logger.info(
                    "inference %s: %s after %.0f s",
                    name,
                    phase,
                    time.monotonic() - started,
                )
            seen.update(phase=phase, phaseMessage=workload.get("phaseMessage") or "")
            if phase == "Failed":
                raise WorkloadError(
                    name=name,
                    phase=phase,
                    phase_message=seen["phaseMessage"],
                    reason="the workload failed",
                )
            return workload if phase == "Running" and workload.get("urls") else None

        workload = self.wait(running, timeout=timeout)
        if workload is None:
            raise WorkloadError(
                name=name,
                phase=seen["phase"],
                phase_message=seen["phaseMessage"],
                reason=f"not running within the initialization timeout, {timeout:.0f}s",
            )
        return workload

    def _remove_after_failure(
        self, client: RunaiClient, name: str, workload_id: str
    ) -> None:
        # A create the engine sees fail leaves nothing in state, so nothing
        # may stay behind in Run:ai either.
        path = f"/api/v1/workloads/inferences/{workload_id}"
        try:
            client.delete(path)
        except NotFoundError:
            return
        self.wait_gone(client, path, timeout=300.0)
        logger.info("inference %s: removed after the failed create", name)

    @staticmethod
    def _outputs(
        props: Mapping[str, Any], workload_id: str, workload: Mapping[str, Any]
    ) -> dict[str, Any]:
        urls = workload.get("urls") or []
        return {
            **props,
            "workloadId": workload_id,
            "phase": workload.get("phase") or "Unknown",
            "url": urls[0] if urls else None,
        }
