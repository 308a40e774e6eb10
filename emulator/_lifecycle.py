"""How inferences live: revision phases, rolling updates, deadlines, failures.

Phases are derived from stored facts, never stored. A revision is `Pending`
until the scheduler places it (`_placement`: GPU quota and node-pool
capacity), then `Creating`, `Initializing` and `Running` on the clock
(`_clock`). It fails in place when its image cannot be pulled (any tag
`does-not-exist`) or, for the first revision of a workload, when it is not
ready within its initialization timeout. A later revision, the product of a
rolling update, is removed when it is not `Running` within the progress
deadline of its submission. A revision ends (gets `deletedAt`) when a newer one
starts running, when a newer update supersedes it before it ran, at that
progress deadline, or when its workload is deleted.

The workload is `Running` while one of its revisions serves; otherwise it shows
its newest live revision's phase (or, with none live, its newest revision's);
after a DELETE it is `Deleting` for a moment and then gone.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence

from ._clock import CREATING_SECONDS, DELETING_SECONDS, INITIALIZING_SECONDS, Clock
from ._records import Inference, Json, Project, Revision
from ._state import Emulator

__all__ = [
    "DEFAULT_PRIORITY_CLASS",
    "GPU_MEMORY_BYTES",
    "MISSING_IMAGE_TAG",
    "OVER_LIMIT_MESSAGE",
    "RevisionState",
    "WorkloadState",
    "all_states",
    "gang_size",
    "gpus_per_pod",
    "is_non_preemptible",
    "node_pool_name",
    "pod_count",
    "revision_name",
    "revision_states",
    "revisions_by_workload",
    "workload_state",
]

OVER_LIMIT_MESSAGE = "Not enough resources in the requested nodepool"
"""How Run:ai words a node pool without room; pool-capacity messages start so."""

GPU_MEMORY_BYTES = 80 * 2**30
"""The memory of one GPU in every emulated node pool (A100/H100 80 GB class).

A `gpuMemoryRequest` counts as that share of one device, at most all of it."""

MISSING_IMAGE_TAG = "does-not-exist"
"""An image with this tag fails to pull, for tests of failed rollouts."""

HOLDING_PHASES = frozenset({"Creating", "Initializing", "Running"})
"""A live revision in these phases holds its GPUs (placed, not failed)."""

DEFAULT_PRIORITY_CLASS = "very-high"
"""The priority Run:ai gives an inference whose spec names none."""

_NON_PREEMPTIBLE_PRIORITIES = frozenset({"very-high", "high"})
_INITIALIZING_MESSAGE = "Pulling the image and starting the server"
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
    name: str
    phase: str
    since: float
    ended_at: float | None = None
    message: str = ""
    reason: str | None = None

    @property
    def live(self) -> bool:
        """Not yet deleted."""
        return self.ended_at is None

    @property
    def holds_gpus(self) -> bool:
        """Placed, not failed and not ended: its GPUs are taken."""
        return self.live and self.phase in HOLDING_PHASES

    @property
    def requests_gpus(self) -> bool:
        """Holding GPUs or waiting for them."""
        return self.holds_gpus or (self.live and self.phase == "Pending")


@dataclasses.dataclass(frozen=True)
class WorkloadState:
    """A workload's phase at one moment."""

    phase: str
    since: float
    message: str = ""
    reason: str | None = None
    serving: RevisionState | None = None
    newest: RevisionState | None = None
    allocated: float = 0.0
    gone: bool = False


@dataclasses.dataclass(frozen=True)
class _Course:
    """When a revision's events happen; None for events that never come."""

    name: str
    limit: float
    placed_at: float | None = None
    initializing_at: float | None = None
    running_at: float | None = None
    failed_at: float | None = None
    failure: str = ""
    removed_at: float | None = None


@dataclasses.dataclass(frozen=True)
class _End:
    at: float
    phase: str
    message: str


def pod_count(spec: Json) -> int:
    """`autoscaling.minReplicas`, default 1 (0 means scale to zero)."""
    replicas = (spec.get("autoscaling") or {}).get("minReplicas")
    return 1 if replicas is None else int(replicas)


def gang_size(spec: Json) -> int:
    """Pods placed together when a revision starts: min replicas, at least 1.

    Even a scale-to-zero revision starts one pod, so it needs one pod's GPUs.
    """
    return max(pod_count(spec), 1)


def gpus_per_pod(spec: Json) -> float:
    """GPUs one pod asks for: whole devices, a portion, or a memory share."""
    compute = spec.get("compute") or {}
    devices = compute.get("gpuDevicesRequest")
    share = compute.get("gpuPortionRequest")
    if share is None and compute.get("gpuMemoryRequest"):
        share = min(1.0, _bytes(str(compute["gpuMemoryRequest"])) / GPU_MEMORY_BYTES)
    if share is not None:
        return float(devices or 1) * float(share)
    return float(devices or 0)


def is_non_preemptible(spec: Json) -> bool:
    """`preemptibility`, else what Run:ai derives from the priority class."""
    preemptibility = spec.get("preemptibility")
    if preemptibility is not None:
        return bool(preemptibility == "non-preemptible")
    priority = spec.get("priorityClass") or DEFAULT_PRIORITY_CLASS
    return priority in _NON_PREEMPTIBLE_PRIORITIES


def node_pool_name(spec: Json, project: Project) -> str:
    """The pool a revision runs on: the spec's first, the project's, or default."""
    pools = spec.get("nodePools") or project.default_node_pools or ["default"]
    return str(pools[0])


def revision_name(inference: Inference, revision: Revision) -> str:
    """`<workload>-0000n`, as Knative names revisions."""
    return f"{inference.name}-{revision.number:05d}"


def revisions_by_workload(emulator: Emulator) -> dict[str, list[Revision]]:
    """Every stored revision, grouped by workload and ordered by number."""
    grouped: dict[str, list[Revision]] = {}
    for revision in emulator.store.all(Revision):
        grouped.setdefault(revision.workload_id, []).append(revision)
    for revisions in grouped.values():
        revisions.sort(key=lambda revision: revision.number)
    return grouped


def all_states(
    emulator: Emulator, now: float
) -> Iterator[tuple[Inference, list[RevisionState]]]:
    """Every workload with its revisions' states at `now`."""
    grouped = revisions_by_workload(emulator)
    for inference in emulator.store.all(Inference):
        revisions = grouped.get(inference.id, [])
        yield (
            inference,
            revision_states(inference, revisions, clock=emulator.clock, now=now),
        )


def revision_states(
    inference: Inference, revisions: Sequence[Revision], *, clock: Clock, now: float
) -> list[RevisionState]:
    """The phase of each revision at `now`, oldest first."""
    courses = [_course(r, revision_name(inference, r), clock) for r in revisions]
    takeovers = [
        _takeover_at(inference, r, c) for r, c in zip(revisions, courses, strict=True)
    ]
    ends = [
        _end(inference, revisions, courses, takeovers, index)
        for index in range(len(revisions))
    ]
    states = []
    for index, revision in enumerate(revisions):
        end = _removal(ends, index, courses, takeovers, revision)
        states.append(_state_at(revision, courses[index], end, now=now))
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
    if not states:
        return WorkloadState("Unknown", inference.created_at)

    live = [state for state in states if state.live]
    allocated = sum(state.revision.gpus for state in live if state.holds_gpus)
    serving = next((s for s in reversed(live) if s.phase == "Running"), None)
    newest = states[-1]
    if serving is None:
        shown = live[-1] if live else newest
        return WorkloadState(
            shown.phase,
            shown.since,
            message=shown.message,
            reason=shown.reason,
            newest=shown,
            allocated=allocated,
        )
    # During a rolling update the old revision keeps serving: still Running,
    # with the update's progress (or failure) in the message.
    update = newest is not serving
    return WorkloadState(
        "Running",
        serving.since,
        message=_update_message(newest, serving) if update else "",
        reason=newest.reason if update and newest.phase == "Pending" else None,
        serving=serving,
        newest=newest,
        allocated=allocated,
    )


def _course(revision: Revision, name: str, clock: Clock) -> _Course:
    limit, anchor = _deadline(revision, clock)
    course = _placed_course(revision, name, limit, clock)
    if anchor is None:
        return course
    deadline_at = clock.after(anchor, limit)
    if course.running_at is not None and course.running_at < deadline_at:
        return course
    if revision.number > 1:
        return dataclasses.replace(course, running_at=None, removed_at=deadline_at)
    if course.failed_at is not None and course.failed_at <= deadline_at:
        return course
    failure = _timeout_failure(name, limit)
    return dataclasses.replace(
        course, running_at=None, failed_at=deadline_at, failure=failure
    )


def _placed_course(
    revision: Revision, name: str, limit: float, clock: Clock
) -> _Course:
    """The stages after placement, before any deadline is applied."""
    placed = revision.admitted_at
    if placed is None:
        return _Course(name, limit)
    initializing_at = clock.after(placed, CREATING_SECONDS)
    if _image_missing(revision.spec):
        # The pull fails once the pods are created: the end of `Creating`.
        failure = _pull_failure(revision)
        return _Course(
            name,
            limit,
            placed,
            initializing_at,
            failed_at=initializing_at,
            failure=failure,
        )
    running_at = clock.after(initializing_at, INITIALIZING_SECONDS)
    return _Course(name, limit, placed, initializing_at, running_at)


def _deadline(revision: Revision, clock: Clock) -> tuple[float, float | None]:
    """The time limit in emulated seconds, and the moment it counts from.

    An update (revision 2 on) has the progress deadline from its submission,
    waiting for GPUs included, as a Knative rollout does. The first revision
    has its initialization timeout (else the progress deadline) from when it
    was placed: a new workload that does not fit stays `Pending`, as Run:ai
    keeps it, instead of failing.
    """
    if revision.number > 1:
        return clock.progress_deadline, revision.created_at
    serving = revision.spec.get("servingConfiguration") or {}
    timeout = serving.get("initializationTimeoutSeconds")
    limit = float(timeout) if timeout else clock.progress_deadline
    return limit, revision.admitted_at


def _takeover_at(
    inference: Inference, revision: Revision, course: _Course
) -> float | None:
    """When the revision starts serving, if it does before anything ends it."""
    if course.running_at is None:
        return None
    stops = (revision.dropped_at, inference.delete_requested_at)
    if any(stop is not None and stop <= course.running_at for stop in stops):
        return None
    return course.running_at


def _end(
    inference: Inference,
    revisions: Sequence[Revision],
    courses: list[_Course],
    takeovers: list[float | None],
    index: int,
) -> _End | None:
    """The first event that ends revision `index`, other than its deadline."""
    revision = revisions[index]
    newer = [course.name for course in courses[index + 1 :]]
    ends = []
    if revision.dropped_at is not None:
        successor = newer[0] if newer else "a newer revision"
        message = (
            f"Superseded by {successor} before it ran: only the latest update"
            " takes effect"
        )
        ends.append(_End(revision.dropped_at, "Stopped", message))
    if inference.delete_requested_at is not None:
        deleted = "The workload was deleted"
        ends.append(_End(inference.delete_requested_at, "Stopped", deleted))
    for later, name in zip(takeovers[index + 1 :], newer, strict=True):
        if later is not None:
            ends.append(_End(later, "Stopped", f"Replaced by {name}, which now serves"))
            break
    return min(ends, key=lambda end: end.at) if ends else None


def _removal(
    ends: list[_End | None],
    index: int,
    courses: list[_Course],
    takeovers: list[float | None],
    revision: Revision,
) -> _End | None:
    """The end of revision `index`, its progress deadline included."""
    end, course = ends[index], courses[index]
    removed_at = course.removed_at
    if removed_at is None or (end is not None and end.at <= removed_at):
        return end
    served = _older_serving_at(ends, takeovers, index, removed_at)
    message = _deadline_message(revision, course, removed_at, served=served)
    return _End(removed_at, "Failed", message)


def _older_serving_at(
    ends: list[_End | None], takeovers: list[float | None], index: int, moment: float
) -> bool:
    """Whether a revision older than `index` was serving at `moment`."""
    for older in range(index):
        started, end = takeovers[older], ends[older]
        if started is not None and started <= moment:
            if end is None or end.at > moment:
                return True
    return False


def _state_at(
    revision: Revision, course: _Course, end: _End | None, *, now: float
) -> RevisionState:
    name = course.name
    if end is not None and now >= end.at:
        return _ended_state(revision, course, end)
    if course.placed_at is None or course.initializing_at is None:
        return RevisionState(
            revision,
            name,
            "Pending",
            revision.created_at,
            message=revision.message or OVER_LIMIT_MESSAGE,
            reason=revision.reason,
        )
    if course.failed_at is not None and now >= course.failed_at:
        return RevisionState(
            revision, name, "Failed", course.failed_at, message=course.failure
        )
    if course.running_at is not None and now >= course.running_at:
        return RevisionState(revision, name, "Running", course.running_at)
    if now < course.initializing_at:
        return RevisionState(revision, name, "Creating", course.placed_at)
    return RevisionState(
        revision,
        name,
        "Initializing",
        course.initializing_at,
        message=_INITIALIZING_MESSAGE,
    )


def _ended_state(revision: Revision, course: _Course, end: _End) -> RevisionState:
    # A revision that failed before it ended keeps showing why it failed.
    failed = course.failed_at is not None and course.failed_at <= end.at
    phase, message = ("Failed", course.failure) if failed else (end.phase, end.message)
    return RevisionState(revision, course.name, phase, end.at, end.at, message=message)


def _update_message(newest: RevisionState, serving: RevisionState) -> str:
    if newest.phase == "Pending":
        return f"Rolling update pending: {newest.message}"
    if newest.phase == "Failed":
        return f"Rolling update failed: {newest.message}"
    return (
        f"Rolling update in progress: {newest.name} is {newest.phase};"
        f" {serving.name} serves until it runs"
    )


def _deadline_message(
    revision: Revision, course: _Course, removed_at: float, *, served: bool
) -> str:
    keeps = (
        "the previous revision keeps serving"
        if served
        else "no earlier revision was serving"
    )
    return (
        f"revision {course.name} did not become ready within {course.limit:g} s;"
        f" {keeps}. The rollout was stopped at the progress deadline and the new"
        f" revision's replicas were removed; it was still"
        f" {_phase_before(revision, course, removed_at)}. Fix that and submit the"
        " update again, or raise the progress deadline"
    )


def _phase_before(revision: Revision, course: _Course, moment: float) -> str:
    """The phase a revision was in just before `moment`, for the deadline message."""
    placed, initializing = course.placed_at, course.initializing_at
    if placed is None or initializing is None or placed >= moment:
        return f"Pending ({revision.message or OVER_LIMIT_MESSAGE})"
    return "Creating" if moment <= initializing else "Initializing"


def _timeout_failure(name: str, limit: float) -> str:
    return (
        f"revision {name} did not become ready within {limit:g} s of being"
        " scheduled (servingConfiguration.initializationTimeoutSeconds, else the"
        " progress deadline); raise the timeout if the model needs longer to load"
    )


def _pull_failure(revision: Revision) -> str:
    image = revision.spec.get("image")
    rest = (
        "the previous revision keeps serving"
        if revision.number > 1
        else "the workload cannot start"
    )
    return (
        f'Failed to pull image "{image}": not found; the registry has no such'
        f" tag, so {rest}. Correct spec.image (a PATCH rolls out a new revision)"
    )


def _image_missing(spec: Json) -> bool:
    """True when the image's tag is `MISSING_IMAGE_TAG`."""
    image = str(spec.get("image") or "").split("@", 1)[0]
    name, _, tag = image.rpartition(":")
    # A colon before the last slash belongs to a registry port, not a tag.
    return bool(name) and "/" not in tag and tag == MISSING_IMAGE_TAG


def _bytes(quantity: str) -> float:
    match = _QUANTITY.match(quantity)
    if match is None or match["unit"] not in _UNITS:
        return float(GPU_MEMORY_BYTES)
    try:
        return float(match["number"]) * _UNITS[match["unit"]]
    except ValueError:
        return float(GPU_MEMORY_BYTES)
