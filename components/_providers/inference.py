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

    _replace_keys: ClassVar[list[str]] = ["projectId", "clusterId"]

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = auto_name(olds or {}, normalize(news))
        failures = required(props, "name", "projectId", "clusterId", "spec")
        failures += dns_failure(props, "name")
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
            before = {revision["id"] for revision in self._revisions(client, id_)}
            client.patch(path, {"spec": merge_patch(old_spec, new_spec)})
            logger.info("inference %s: update submitted", news["name"])
            try:
                self._wait_rollout(client, news, id_, before)
            except WorkloadError:
                self._revert(client, news["name"], path, new_spec, old_spec)
                raise
            workload = self._wait_running(client, news, id_)
        return UpdateResult(self._outputs(news, id_, workload))

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
