"""`/api/v1/workloads/inferences`: a Knative-served model behind one URL."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from .._client import RunaiClient
from .._quantity import quantity_value
from .._values import normalize
from ..errors import NotFoundError, RunaiHFError, WorkloadError
from ._base import (
    RunaiProvider,
    auto_name,
    changed,
    diff_result,
    dns_failure,
    name_replaces,
    required,
)

__all__ = ["INFERENCE_UPDATABLE_SPEC_FIELDS", "InferenceProvider", "merge_patch"]

logger = logging.getLogger("runai_hf")

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


def _ready_timeout(props: Mapping[str, Any]) -> float:
    serving = (props.get("spec") or {}).get("servingConfiguration") or {}
    return float(serving.get("initializationTimeoutSeconds") or _DEFAULT_READY_TIMEOUT)


def _rollout_timeout(props: Mapping[str, Any]) -> float:
    rollout = props.get("rollout") or {}
    return float(rollout.get("timeoutSeconds") or _DEFAULT_READY_TIMEOUT)


def _progress(message: str) -> None:
    """Progress goes to the engine's log when one is attached, else to logging."""
    logger.info(message)
    from pulumi.runtime import settings

    if settings.get_engine() is not None:
        import pulumi

        pulumi.log.info(message)


def gpus_per_replica(spec: Mapping[str, Any], gpu_memory_per_device: str) -> float:
    """GPUs one replica takes: devices x portion, or memory / GPU memory."""
    compute = spec.get("compute") or {}
    devices = float(compute.get("gpuDevicesRequest") or 0)
    if compute.get("gpuRequestType") == "portion":
        return devices * float(compute.get("gpuPortionRequest") or 0)
    if compute.get("gpuRequestType") == "memory":
        memory = quantity_value(str(compute.get("gpuMemoryRequest") or "0"))
        return devices * memory / quantity_value(gpu_memory_per_device)
    return devices


def non_preemptible(spec: Mapping[str, Any]) -> bool:
    preemptibility = spec.get("preemptibility")
    if preemptibility is not None:
        return bool(preemptibility == "non-preemptible")
    return spec.get("priorityClass") in (None, "very-high", "high")


def _updatable(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k in INFERENCE_UPDATABLE_SPEC_FIELDS}


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`.

    A field the new spec no longer has is sent as null, recursively, so a
    portion request dropped for whole devices really goes away.
    """
    patch: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        if key not in new:
            patch[key] = None
        elif isinstance(old.get(key), Mapping) and isinstance(new[key], Mapping):
            nested = merge_patch(old[key], new[key])
            if nested:
                patch[key] = nested
        elif normalize(old.get(key)) != normalize(new[key]):
            patch[key] = new[key]
    return patch


_OUTPUT_ONLY = frozenset({"assetId", "workloadId", "phase", "url", "__provider"})


class InferenceProvider(RunaiProvider):
    """`/api/v1/workloads/inferences`: a Knative-served model behind one URL.

    Spec fields in INFERENCE_UPDATABLE_SPEC_FIELDS change through a PATCH
    (a new revision); any other change replaces the workload.
    """

    # A workload template is merged in once, at creation: another one means a
    # new workload.
    _replace_keys: ClassVar[list[str]] = [
        "project",
        "projectId",
        "clusterId",
        "templateId",
    ]

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = auto_name(olds or {}, normalize(news))
        if not props.get("templateId"):
            props.pop("templateId", None)
        failures = required(props, "name", "projectId", "clusterId", "spec")
        failures += dns_failure(props, "name")
        # Fields an existing environment left undecided arrive as nulls.
        spec = {k: v for k, v in (props.get("spec") or {}).items() if v is not None}
        props["spec"] = spec
        if not spec.get("image") and not props.get("templateId"):
            failures.append(
                CheckFailure(
                    "spec.image",
                    "the server image is required (or a workload template with "
                    "an environment that has one)",
                )
            )
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
        if props.get("templateId"):
            body["templateId"] = props["templateId"]
        with self.client() as client:
            workload_id = client.post("/api/v1/workloads/inferences", body)[
                "workloadId"
            ]
            logger.info("inference %s: submitted as %s", props["name"], workload_id)
            try:
                workload = self._wait_running(client, props, workload_id)
            except Exception:
                # Whatever stopped the wait (the workload failing, the API
                # erring, the connection dropping), the engine records no
                # resource, so the submitted workload must not stay running.
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
        replaces = name_replaces(olds, news) + changed(olds, news, self._replace_keys)
        old_spec, new_spec = olds.get("spec") or {}, news.get("spec") or {}
        spec_keys = sorted(set(old_spec) | set(new_spec))
        for key in changed(old_spec, new_spec, spec_keys):
            if key not in INFERENCE_UPDATABLE_SPEC_FIELDS:
                replaces.append(f"spec.{key}")
        changes = replaces or changed(old_spec, new_spec, spec_keys)
        extra = changed(olds, news, ["model", "server", "rollout"])
        pinned = bool(news.get("namePinned"))
        return diff_result(changes or extra, replaces, delete_first=pinned)

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        old_spec = _updatable(olds.get("spec") or {})
        new_spec = _updatable(news.get("spec") or {})
        path = f"/api/v1/workloads/inferences/{id_}"
        with self.client() as client:
            patch = merge_patch(old_spec, new_spec)
            if not patch:
                # Only our own bookkeeping changed (model label, rollout
                # settings): nothing for Run:ai to roll out.
                workload = client.get(f"/api/v1/workloads/{id_}")
                return UpdateResult(self._outputs(news, id_, workload))
            self._check_room(client, news)
            # Every revision so far, retired ones too: only a revision that
            # appears after the PATCH tells how this rollout went.
            known = (self._revisions(client, id_) or []) + (
                self._revisions(client, id_, deleted=True) or []
            )
            before = {revision["id"] for revision in known}
            client.patch(path, {"spec": patch})
            _progress(f"inference {news['name']}: update submitted")
            try:
                self._wait_rollout(client, news, id_, before)
            except WorkloadError:
                self._revert(client, news["name"], path, new_spec, old_spec)
                raise
            workload = self._wait_running(client, news, id_)
        return UpdateResult(self._outputs(news, id_, workload))

    def _check_room(self, client: RunaiClient, props: Mapping[str, Any]) -> None:
        """Refuse an update whose new revision cannot fit the free deserved GPUs.

        Run:ai places a revision's minimum pods together beside the old
        revision, and non-preemptible work cannot borrow over-quota GPUs, so
        such an update would only sit pending until the rollout deadline.
        """
        spec = props.get("spec") or {}
        rollout = props.get("rollout") or {}
        if rollout.get("waitForQuota") or not non_preemptible(spec):
            return
        project = client.get(f"/api/v1/org-unit/projects/{props['projectId']}")
        pool = _node_pool(spec, project)
        scaling = spec.get("autoscaling") or {}
        replicas = max(int(scaling.get("minReplicas") or 1), 1)
        per_replica = gpus_per_replica(
            spec, str(rollout.get("gpuMemoryPerDevice") or "80Gi")
        )
        needed = replicas * per_replica
        free = _free_deserved(project, pool)
        if free is None or needed <= free + 1e-9:
            return
        raise RunaiHFError(
            f"inference {props['name']}: the update needs {_gpus(needed)} on node pool "
            f"{pool} for its new revision ({replicas} x {per_replica:g}) beside the "
            f"running one, but project {project.get('name')} has {_gpus(free)} of its "
            "deserved quota free there, and non-preemptible inference cannot use "
            "over-quota "
            "GPUs. Raise the project's deserved GPUs, lower min replicas for the "
            "rollout, or set rolloutWaitsForQuota: true to submit it anyway"
        )

    def _revert(
        self,
        client: RunaiClient,
        name: str,
        path: str,
        new_spec: Mapping[str, Any],
        old_spec: Mapping[str, Any],
    ) -> None:
        # Run:ai keeps serving the old revision but still shows the failed spec
        # as the workload's; submitting the old spec again makes the control
        # plane agree with the state, which keeps the old inputs.
        try:
            client.patch(path, {"spec": merge_patch(new_spec, old_spec)})
        except RunaiHFError as error:
            logger.warning(
                "inference %s: could not restore the old spec: %s", name, error
            )
            return
        logger.info("inference %s: previous spec submitted again", name)

    @staticmethod
    def _revisions(
        client: RunaiClient, workload_id: str, *, deleted: bool = False
    ) -> list[dict[str, Any]] | None:
        """Live (or retired) revisions; None where the cluster has no such API."""
        path = f"/api/v1/workloads/inferences/{workload_id}/revisions"
        try:
            answer = client.get(path, deleted="true") if deleted else client.get(path)
        except NotFoundError:
            # Clusters before 2.21 have no revisions API; the workload phase
            # is then all there is to follow.
            return None
        return list(answer.get("revisions") or [])

    def _fail_if_retired(
        self, client: RunaiClient, name: str, workload_id: str, before: set[str]
    ) -> None:
        """A new revision that Run:ai already removed failed its rollout."""
        retired = self._revisions(client, workload_id, deleted=True) or []
        for revision in retired:
            if revision["id"] in before or revision.get("phase") != "Failed":
                continue
            raise WorkloadError(
                name=name,
                phase="Failed",
                phase_message=revision.get("phaseMessage") or "",
                reason=f"revision {revision.get('name')} was removed; the previous "
                "one still serves",
            )

    def _wait_rollout(
        self,
        client: RunaiClient,
        props: Mapping[str, Any],
        workload_id: str,
        before: set[str],
    ) -> None:
        """Wait until one revision serves: the new one, or the old if none came."""
        name = str(props["name"])
        timeout = _rollout_timeout(props)
        started = time.monotonic()
        polls: dict[str, Any] = {"last": ""}

        def settled() -> bool | None:
            revisions = self._revisions(client, workload_id)
            if revisions is None:
                return True
            self._fail_if_retired(client, name, workload_id, before)
            fresh = [r for r in revisions if r["id"] not in before]
            if not fresh:
                return None
            newest = max(fresh, key=lambda revision: revision.get("createdAt") or "")
            phase = newest.get("phase") or "Unknown"
            message = newest.get("phaseMessage") or ""
            report = f"{newest.get('name')} {phase}" + (
                f" ({message})" if message else ""
            )
            if report != polls["last"]:
                elapsed = time.monotonic() - started
                _progress(f"inference {name}: revision {report} after {elapsed:.0f} s")
                polls["last"] = report
            if phase == "Failed":
                raise WorkloadError(
                    name=name,
                    phase=phase,
                    phase_message=message,
                    reason=f"revision {newest.get('name')} failed; the previous one "
                    "still serves",
                )
            return phase == "Running" and len(revisions) == 1 or None

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
                elapsed = time.monotonic() - started
                _progress(f"inference {name}: {phase} after {elapsed:.0f} s")
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
            self.wait_gone(client, path, timeout=300.0)
        except NotFoundError:
            return
        except RunaiHFError as error:
            # The create's own error is the one raised; this one is only told.
            logger.error(
                "inference %s: the failed create left workload %s in Run:ai and "
                "deleting it failed too (%s); delete it there",
                name,
                workload_id,
                error,
            )
            return
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


def _node_pool(spec: Mapping[str, Any], project: Mapping[str, Any]) -> str:
    pools = spec.get("nodePools") or project.get("defaultNodePools") or []
    if pools:
        return str(pools[0])
    resources = project.get("resources") or [{}]
    return str((resources[0].get("nodePool") or {}).get("name") or "default")


def _free_deserved(project: Mapping[str, Any], pool: str) -> float | None:
    """Deserved GPUs minus what non-preemptible work holds; None if unknown."""
    deserved = None
    for resource in project.get("resources") or []:
        if (resource.get("nodePool") or {}).get("name") == pool:
            deserved = float((resource.get("gpu") or {}).get("deserved") or 0)
    statuses = (project.get("status") or {}).get("nodePoolQuotaStatuses") or []
    held = None
    for status in statuses:
        if status.get("nodePoolName") == pool:
            held = (status.get("allocatedNonPreemptible") or {}).get("gpu")
    if deserved is None or held is None:
        return None
    return deserved - float(held)


def _gpus(count: float) -> str:
    return f"{count:g} GPU" + ("" if count == 1 else "s")
