"""How inferences live: revision phases, rolling updates and GPU capacity.

Phases are derived, never stored. A revision that fits its node pool is
`Creating`, then `Initializing`, then `Running` (see `_clock`); one that did not
fit when it was made is `Pending` for good. A revision ends when a newer one
starts running (a finished rolling update), when an update replaces it before it
ran, or when its workload is deleted. The workload is `Running` while any of its
revisions serves, otherwise it shows its newest revision's phase; after a
DELETE it is `Deleting` for a moment and then gone.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from ._clock import CREATING_SECONDS, DELETING_SECONDS, INITIALIZING_SECONDS, Clock
from ._records import Inference, Json, Project, Revision
from ._state import Emulator

__all__ = [
    "OVER_LIMIT_MESSAGE",
    "RevisionState",
    "WorkloadState",
    "admit",
    "gpus_per_pod",
    "node_pool_name",
    "pod_count",
    "project_usage",
    "revision_states",
    "revisions_by_workload",
    "workload_state",
]

OVER_LIMIT_MESSAGE = "Not enough resources in the requested nodepool"

# A memory-based GPU request counts as this share of one device: the emulated
# node pools are A100-80GB class.
_GPU_MEMORY_BYTES = 80 * 1024**3
_QUANTITY = re.compile(r"^\+?(?P<number>[0-9.]+)(?P<unit>[A-Za-z]*)$")
_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


@dataclasses.dataclass(frozen=True)
class RevisionState:
    """A revision's phase at one moment, with when that phase began."""

    revision: Revision
    phase: str
    since: float
    ended_at: float | None = None
    message: str = ""
    reason: str | None = None

    @property
    def live(self) -> bool:
        """Not yet deleted."""
        return self.ended_at is None


@dataclasses.dataclass(frozen=True)
class WorkloadState:
    """A workload's phase at one moment."""

    phase: str
    since: float
    message: str = ""
    reason: str | None = None
    serving: RevisionState | None = None
    newest: RevisionState | None = None
    gone: bool = False


def pod_count(spec: Json) -> int:
    """Pods a revision starts with: `autoscaling.minReplicas`, default 1."""
    replicas = (spec.get("autoscaling") or {}).get("minReplicas")
    return 1 if replicas is None else int(replicas)


def gpus_per_pod(spec: Json) -> float:
    """GPUs one pod asks for: whole devices, a portion, or a memory share."""
    compute = spec.get("compute") or {}
    devices = compute.get("gpuDevicesRequest")
    share = compute.get("gpuPortionRequest")
    if share is None and compute.get("gpuMemoryRequest"):
        share = min(1.0, _bytes(str(compute["gpuMemoryRequest"])) / _GPU_MEMORY_BYTES)
    if share is not None:
        return float(devices or 1) * float(share)
    return float(devices or 0)


def node_pool_name(spec: Json, project: Project) -> str:
    """The pool a revision runs on: the spec's first, the project's, or default."""
    pools = spec.get("nodePools") or project.default_node_pools or ["default"]
    return str(pools[0])


def revisions_by_workload(emulator: Emulator) -> dict[str, list[Revision]]:
    """Every stored revision, grouped by workload and ordered by number."""
    grouped: dict[str, list[Revision]] = {}
    for revision in emulator.store.all(Revision):
        grouped.setdefault(revision.workload_id, []).append(revision)
    for revisions in grouped.values():
        revisions.sort(key=lambda revision: revision.number)
    return grouped


def revision_states(
    inference: Inference, revisions: list[Revision], *, clock: Clock, now: float
) -> list[RevisionState]:
    """The phase of each revision at `now`, oldest first."""
    states = []
    for index, revision in enumerate(revisions):
        end = _end(inference, revision, revisions[index + 1 :], clock=clock)
        states.append(_state_of(revision, end, clock=clock, now=now))
    return states


def workload_state(
    inference: Inference, states: list[RevisionState], *, clock: Clock, now: float
) -> WorkloadState:
    """The workload's phase at `now`, from its revisions' phases."""
    deleting_since = inference.delete_requested_at
    if deleting_since is not None and now >= deleting_since:
        return WorkloadState(
            "Deleting",
            deleting_since,
            message="The workload is being deleted",
            gone=now >= clock.after(deleting_since, DELETING_SECONDS),
        )

    live = [state for state in states if state.live]
    if not live:
        return WorkloadState("Unknown", inference.created_at)
    newest = live[-1]
    serving = next((s for s in reversed(live) if s.phase == "Running"), None)
    if serving is None:
        return WorkloadState(
            newest.phase,
            newest.since,
            message=newest.message,
            reason=newest.reason,
            newest=newest,
        )
    # During a rolling update the old revision keeps serving: still Running.
    message = "" if newest is serving else _update_message(newest)
    return WorkloadState(
        "Running", serving.since, message=message, serving=serving, newest=newest
    )


def admit(emulator: Emulator, revision: Revision, *, now: float) -> Revision:
    """Decide once whether a new revision fits its node pool, and record it."""
    need = revision.pods * revision.gpus_per_pod
    if need <= 0:
        return revision

    capacity = emulator.node_pool_named("spec.nodePools", revision.node_pool).gpus
    held = _held_gpus(emulator, revision.node_pool, now)
    if held + need <= capacity + 1e-9:
        return revision
    non_preemptible = revision.spec.get("preemptibility") == "non-preemptible"
    reason = "NonPreemptibleOverQuota" if non_preemptible else "OverLimit"
    return dataclasses.replace(revision, admitted=False, reason=reason)


def project_usage(
    emulator: Emulator, project: Project, now: float
) -> dict[str, dict[str, float]]:
    """GPUs per node pool of a project: requested, allocated, non-preemptible."""
    usage: dict[str, dict[str, float]] = {}
    for revision, state in _live_revisions(emulator, now, project_id=project.id):
        gpus = revision.pods * revision.gpus_per_pod
        pool = usage.setdefault(
            revision.node_pool,
            {"requested": 0.0, "allocated": 0.0, "allocatedNonPreemptible": 0.0},
        )
        pool["requested"] += gpus
        if state.phase == "Running":
            pool["allocated"] += gpus
            if revision.spec.get("preemptibility") != "preemptible":
                pool["allocatedNonPreemptible"] += gpus
    return usage


def _held_gpus(emulator: Emulator, pool: str, now: float) -> float:
    return sum(
        revision.pods * revision.gpus_per_pod
        for revision, _state in _live_revisions(emulator, now)
        if revision.admitted and revision.node_pool == pool
    )


def _live_revisions(
    emulator: Emulator, now: float, *, project_id: str | None = None
) -> Iterable[tuple[Revision, RevisionState]]:
    grouped = revisions_by_workload(emulator)
    for inference in emulator.store.all(Inference):
        if project_id is not None and inference.project_id != project_id:
            continue
        revisions = grouped.get(inference.id, [])
        states = revision_states(inference, revisions, clock=emulator.clock, now=now)
        for state in states:
            if state.live:
                yield state.revision, state


def _end(
    inference: Inference, revision: Revision, newer: list[Revision], *, clock: Clock
) -> tuple[float, str] | None:
    ends = []
    if revision.dropped_at is not None:
        ends.append((revision.dropped_at, "Replaced by a newer update before it ran"))
    if inference.delete_requested_at is not None:
        ends.append((inference.delete_requested_at, "The workload was deleted"))
    for later in newer:
        running_at = _running_at(later, clock)
        # A newer revision only takes over if it ran before it was itself ended.
        stops = (later.dropped_at, inference.delete_requested_at)
        stops_after = [stop for stop in stops if stop is not None]
        if running_at is not None and all(running_at < t for t in stops_after):
            ends.append((running_at, "Replaced by a newer revision"))
    return min(ends) if ends else None


def _running_at(revision: Revision, clock: Clock) -> float | None:
    if not revision.admitted:
        return None
    return clock.after(revision.created_at, CREATING_SECONDS + INITIALIZING_SECONDS)


def _state_of(
    revision: Revision, end: tuple[float, str] | None, *, clock: Clock, now: float
) -> RevisionState:
    if end is not None and now >= end[0]:
        return RevisionState(revision, "Stopped", end[0], end[0], message=end[1])
    if not revision.admitted:
        return RevisionState(
            revision,
            "Pending",
            revision.created_at,
            message=OVER_LIMIT_MESSAGE,
            reason=revision.reason,
        )

    initializing_at = clock.after(revision.created_at, CREATING_SECONDS)
    running_at = clock.after(initializing_at, INITIALIZING_SECONDS)
    if now < initializing_at:
        return RevisionState(revision, "Creating", revision.created_at)
    if now < running_at:
        message = "Pulling the image and starting the server"
        return RevisionState(revision, "Initializing", initializing_at, message=message)
    return RevisionState(revision, "Running", running_at)


def _update_message(newest: RevisionState) -> str:
    if newest.phase == "Pending":
        return f"Rolling update pending: {OVER_LIMIT_MESSAGE}"
    return f"Rolling update in progress: the new revision is {newest.phase}"


def _bytes(quantity: str) -> float:
    match = _QUANTITY.match(quantity)
    if match is None or match["unit"] not in _UNITS:
        return float(_GPU_MEMORY_BYTES)
    try:
        return float(match["number"]) * _UNITS[match["unit"]]
    except ValueError:
        return float(_GPU_MEMORY_BYTES)
