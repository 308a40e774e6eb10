"""What the emulator keeps about each object, one dataclass per kind.

Records hold facts (names, requested specs, event times), never derived state:
phases, quota usage and URLs are computed from them on every read. Each record
is stored as one JSON document, so adding a field with a default keeps old
database files readable.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

__all__ = [
    "Asset",
    "Department",
    "Inference",
    "Json",
    "NodePool",
    "Project",
    "Record",
    "Revision",
]

Json = dict[str, Any]


@dataclasses.dataclass
class Record:
    """A stored object: `kind` names its table row type, `id` is its key."""

    kind: ClassVar[str]
    id: str

    def to_json(self) -> Json:
        """The record as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class NodePool(Record):
    """A seeded node pool; `gpus` is its capacity, which the API never shows."""

    kind: ClassVar[str] = "node_pool"
    name: str
    gpus: float
    is_default: bool
    created_at: float


@dataclasses.dataclass
class Department(Record):
    """A department: the seeded one, or one made by `POST .../departments`.

    `resources` None marks the seeded department, whose quota per node pool is
    the pool's whole capacity; databases written before departments could be
    created hold only `id`, `name` and `created_at`, which the defaults fill.
    """

    kind: ClassVar[str] = "department"
    name: str
    created_at: float
    description: str = ""
    resources: list[Json] | None = None
    scheduling_rules: Json | None = None
    default_node_pools: list[str] | None = None
    node_types: Json | None = None
    updated_at: float | None = None
    created_by: str = "system"


@dataclasses.dataclass
class Project(Record):
    """A project as created or last replaced by PUT."""

    kind: ClassVar[str] = "project"
    name: str
    cluster_id: str
    parent_id: str
    namespace: str
    requested_namespace: str | None
    description: str
    resources: list[Json]
    scheduling_rules: Json | None
    default_node_pools: list[str] | None
    node_types: Json | None
    enforce_runai_scheduler: bool
    created_at: float
    updated_at: float
    created_by: str


@dataclasses.dataclass
class Asset(Record):
    """A credential or data source.

    `meta` and `spec` are the request's, filled with defaults; for a generic
    secret `spec.keyValuePairs` keeps only the keys, never the values.
    """

    kind: ClassVar[str] = "asset"
    asset_kind: str
    meta: Json
    spec: Json
    cluster_name: str
    key_id: int
    created_at: float
    updated_at: float
    created_by: str
    update_count: int = 0
    password_sha256: str | None = None


@dataclasses.dataclass
class Inference(Record):
    """An inference workload; `spec` is the latest submitted spec.

    The project's name, namespace and department are copied in at creation so
    a workload still renders while it is `Deleting` after its project went.
    """

    kind: ClassVar[str] = "inference"
    name: str
    requested_name: str
    project_id: str
    project_name: str
    namespace: str
    department_id: str
    department_name: str
    cluster_id: str
    spec: Json
    created_at: float
    updated_at: float
    created_by: str
    delete_requested_at: float | None = None


@dataclasses.dataclass
class Revision(Record):
    """One revision of an inference: the spec it runs and when it got its GPUs.

    `admitted_at` is when the scheduler placed the whole revision (all its
    pods at once, see `_placement`); until then it is `Pending`, and `reason`
    and `message` say why it does not fit yet. `dropped_at` is set when a
    newer update replaced it before it ever ran. `admitted` mirrors
    `admitted_at is not None`: files written before revisions could wait for
    GPUs hold only that flag, and an admitted one got its GPUs when it was made.
    """

    kind: ClassVar[str] = "revision"
    workload_id: str
    number: int
    spec: Json
    node_pool: str
    pods: int
    gpus_per_pod: float
    admitted: bool
    reason: str | None
    created_at: float
    dropped_at: float | None = None
    admitted_at: float | None = None
    message: str = ""

    def __post_init__(self) -> None:
        # A database written before non-finite numbers were refused may hold a
        # NaN GPU share, which the store reads back as null: count no GPUs.
        if self.gpus_per_pod is None:
            self.gpus_per_pod = 0.0
        if self.admitted and self.admitted_at is None:
            self.admitted_at = self.created_at

    @property
    def gang(self) -> int:
        """Pods started and placed together: min replicas, at least one."""
        return max(self.pods, 1)

    @property
    def gpus(self) -> float:
        """GPUs the whole revision needs: its gang times a pod's GPUs."""
        return self.gang * self.gpus_per_pod

    def place(self, now: float) -> None:
        """Record that the scheduler gave the revision its GPUs at `now`."""
        self.admitted = True
        self.admitted_at = now
        self.reason = None
        self.message = ""
