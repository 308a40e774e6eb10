"""Placing revisions on GPUs: project quotas per node pool, and pool capacity.

A revision is placed whole or not at all (Run:ai schedules the pods of one
Knative revision as a gang whose minimum is the min replicas), on its node
pool, and only when all of these hold, counting the GPUs that placed revisions
hold now (an old revision keeps its GPUs until its replacement runs):

- non-preemptible work (`preemptibility` `non-preemptible`, or priority
  `very-high`/`high` with no preemptibility) fits in the project's deserved GPUs
  on that pool minus what its non-preemptible work holds there; else `Pending`
  with `NonPreemptibleOverQuota`;
- all the project's work on that pool stays within its GPU `limit`, when one is
  set (not null or -1); else `OverLimit`;
- the pool has the GPUs free; else `OverLimit`. Preemptible work may go over
  the deserved quota this way: nothing is preempted in the emulator.

There is no background scheduler: `place_pending` runs at the start of every
API request (and after each new revision), placing every `Pending` revision
that fits at that moment, oldest first, and refreshing the reason and message
of the others.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from ._lifecycle import (
    OVER_LIMIT_MESSAGE,
    RevisionState,
    all_states,
    is_non_preemptible,
)
from ._quotas import Usage
from ._records import Inference, Project, Revision
from ._state import Emulator

__all__ = ["place_pending", "project_usage", "usage_by_project"]

_EPSILON = 1e-9
_DIGITS = 6
_USAGE_KEYS = ("allocated", "allocatedNonPreemptible", "requested")


@dataclasses.dataclass
class _Ledger:
    """GPUs held now: per pool, and per (project, pool) in all and non-preemptible."""

    pools: defaultdict[str, float] = dataclasses.field(
        default_factory=lambda: defaultdict(float)
    )
    projects: defaultdict[tuple[str, str], float] = dataclasses.field(
        default_factory=lambda: defaultdict(float)
    )
    non_preemptible: defaultdict[tuple[str, str], float] = dataclasses.field(
        default_factory=lambda: defaultdict(float)
    )

    def hold(self, project_id: str, revision: Revision) -> None:
        key = (project_id, revision.node_pool)
        self.pools[revision.node_pool] += revision.gpus
        self.projects[key] += revision.gpus
        if is_non_preemptible(revision.spec):
            self.non_preemptible[key] += revision.gpus


@dataclasses.dataclass(frozen=True)
class _Verdict:
    """Why a revision does not fit now (reason None: it fits)."""

    reason: str | None = None
    message: str = ""


def place_pending(emulator: Emulator, now: float) -> None:
    """Place every `Pending` revision that fits at `now`, oldest first."""
    # Cheap test first: this runs before every request.
    stored = emulator.store.all(Revision)
    if all(r.admitted_at is not None or r.dropped_at is not None for r in stored):
        return
    snapshot = list(all_states(emulator, now))
    pending = [
        (inference, state)
        for inference, states in snapshot
        for state in states
        if state.live and state.phase == "Pending"
    ]
    if not pending:
        return
    ledger = _ledger(snapshot)
    pending.sort(key=lambda item: item[1].revision.created_at)
    for inference, state in pending:
        _place_or_explain(emulator, ledger, inference, state, now=now)


def usage_by_project(emulator: Emulator, now: float) -> dict[str, Usage]:
    """GPUs each project requests and holds, per node pool, at `now`."""
    usage: dict[str, Usage] = {}
    for inference, states in all_states(emulator, now):
        project = usage.setdefault(inference.project_id, {})
        for state in states:
            _count(project, state)
    for project in usage.values():
        for pool in project.values():
            for key, value in pool.items():
                pool[key] = round(value, _DIGITS)
    return usage


def project_usage(emulator: Emulator, project: Project, now: float) -> Usage:
    """GPUs per node pool of one project: requested, allocated, non-preemptible.

    `allocated` counts placed revisions (`Creating` to `Running`), whose GPUs
    are taken; `allocatedNonPreemptible` the non-preemptible part of it;
    `requested` adds the revisions still `Pending`.
    """
    return usage_by_project(emulator, now).get(project.id, {})


def _count(usage: Usage, state: RevisionState) -> None:
    if not state.requests_gpus:
        return
    revision = state.revision
    pool = usage.setdefault(revision.node_pool, dict.fromkeys(_USAGE_KEYS, 0.0))
    pool["requested"] += revision.gpus
    if state.holds_gpus:
        pool["allocated"] += revision.gpus
        if is_non_preemptible(revision.spec):
            pool["allocatedNonPreemptible"] += revision.gpus


def _ledger(snapshot: Iterable[tuple[Inference, list[RevisionState]]]) -> _Ledger:
    ledger = _Ledger()
    for inference, states in snapshot:
        for state in states:
            if state.holds_gpus:
                ledger.hold(inference.project_id, state.revision)
    return ledger


def _place_or_explain(
    emulator: Emulator,
    ledger: _Ledger,
    inference: Inference,
    state: RevisionState,
    *,
    now: float,
) -> None:
    revision = state.revision
    project = emulator.store.get(Project, inference.project_id)
    verdict = _verdict(emulator, ledger, project, state)
    if verdict.reason is None:
        revision.place(now)
        ledger.hold(inference.project_id, revision)
    elif (verdict.reason, verdict.message) == (revision.reason, revision.message):
        return
    else:
        revision.reason, revision.message = verdict.reason, verdict.message
    emulator.store.save(revision)


@dataclasses.dataclass(frozen=True)
class _Room:
    """The numbers one placement decision compares, in GPUs."""

    deserved: float
    limit: float | None
    held_non_preemptible: float
    held_by_project: float
    capacity: float
    held_in_pool: float


def _verdict(
    emulator: Emulator, ledger: _Ledger, project: Project | None, state: RevisionState
) -> _Verdict:
    if state.revision.gpus <= 0:
        return _Verdict()
    room = _room(emulator, ledger, project, state.revision.node_pool)
    for check in (_check_deserved, _check_limit, _check_capacity):
        verdict = check(state, project, room)
        if verdict is not None:
            return verdict
    return _Verdict()


def _room(
    emulator: Emulator, ledger: _Ledger, project: Project | None, pool: str
) -> _Room:
    # A workload outlives its project only while it is being deleted, when it
    # asks for nothing; an absent project simply has no quota.
    deserved, limit = _gpu_quota(project, pool)
    key = (project.id if project is not None else "", pool)
    return _Room(
        deserved=deserved,
        limit=limit,
        held_non_preemptible=ledger.non_preemptible[key],
        held_by_project=ledger.projects[key],
        capacity=_capacity(emulator, pool),
        held_in_pool=ledger.pools[pool],
    )


def _fits(need: float, total: float, held: float) -> bool:
    return need <= total - held + _EPSILON


def _check_deserved(
    state: RevisionState, project: Project | None, room: _Room
) -> _Verdict | None:
    revision = state.revision
    if not is_non_preemptible(revision.spec):
        return None
    if _fits(revision.gpus, room.deserved, room.held_non_preemptible):
        return None
    message = _over_quota(state, project, room.deserved, room.held_non_preemptible)
    return _Verdict("NonPreemptibleOverQuota", message)


def _check_limit(
    state: RevisionState, project: Project | None, room: _Room
) -> _Verdict | None:
    if room.limit is None or _fits(
        state.revision.gpus, room.limit, room.held_by_project
    ):
        return None
    return _Verdict(
        "OverLimit", _over_limit(state, project, room.limit, room.held_by_project)
    )


def _check_capacity(
    state: RevisionState, _project: Project | None, room: _Room
) -> _Verdict | None:
    if _fits(state.revision.gpus, room.capacity, room.held_in_pool):
        return None
    return _Verdict("OverLimit", _no_room(state, room.capacity, room.held_in_pool))


def _capacity(emulator: Emulator, pool_name: str) -> float:
    for pool in emulator.node_pools():
        if pool.name == pool_name:
            return pool.gpus
    return 0.0


def _gpu_quota(project: Project | None, pool: str) -> tuple[float, float | None]:
    """The project's deserved GPUs on `pool` and its limit (None: no limit)."""
    for entry in project.resources if project is not None else []:
        if (entry.get("nodePool") or {}).get("name") != pool:
            continue
        gpu = entry.get("gpu") or {}
        deserved = float(gpu.get("deserved") or 0)
        limit = gpu.get("limit")
        return deserved, None if limit is None or limit == -1 else float(limit)
    return 0.0, None


def _asks(state: RevisionState) -> str:
    revision = state.revision
    pods = revision.gang
    return (
        f"revision {state.name} needs {_gpus(revision.gpus)} on node pool"
        f" {revision.node_pool!r} ({pods} pod{'' if pods == 1 else 's'} x"
        f" {_gpus(revision.gpus_per_pod)}, placed together)"
    )


def _gpus(count: float) -> str:
    return f"{count:g} GPU{'' if 0 < count <= 1 else 's'}"


def _beside_old(state: RevisionState) -> str:
    if state.revision.number == 1:
        return ""
    return (
        " During a rolling update the serving revision keeps its GPUs until the"
        " new one runs, so the new revision needs free GPUs for all its replicas."
    )


def _over_quota(
    state: RevisionState, project: Project | None, deserved: float, held: float
) -> str:
    free = max(deserved - held, 0.0)
    return (
        f"Non-preemptible over quota: {_asks(state)}, but project"
        f" {_name(project)!r} has {_gpus(free)} free there for non-preemptible"
        f" work ({deserved:g} deserved minus {held:g} held by its non-preemptible"
        f" workloads). Non-preemptible work may use only the deserved quota."
        f"{_beside_old(state)} Request fewer GPUs or replicas, free GPUs in the"
        " project, raise the project's deserved GPUs on"
        f" {state.revision.node_pool!r}, or make the workload preemptible"
    )


def _over_limit(
    state: RevisionState, project: Project | None, limit: float, held: float
) -> str:
    free = max(limit - held, 0.0)
    return (
        f"Over limit: {_asks(state)}, but project {_name(project)!r} may hold at"
        f" most {_gpus(limit)} there (its GPU limit) and holds {held:g}, so"
        f" {_gpus(free)} free.{_beside_old(state)} Request fewer GPUs or"
        f" replicas, or raise the project's GPU limit on {state.revision.node_pool!r}"
    )


def _no_room(state: RevisionState, capacity: float, held: float) -> str:
    free = max(capacity - held, 0.0)
    return (
        f"{OVER_LIMIT_MESSAGE}: {_asks(state)}; the pool has {free:g} of its"
        f" {_gpus(capacity)} free.{_beside_old(state)} Request fewer GPUs or"
        " replicas, wait for GPUs to be freed, or choose another node pool"
    )


def _name(project: Project | None) -> str:
    return project.name if project is not None else "(deleted)"
