"""The emulator's state: its settings, its database and its clock.

`Emulator.open` prepares a database file: it seeds the cluster, the default
department and the node pools on first start, and keeps the generated client
secret and token-signing key so that a restart on the same file behaves like
the same control plane.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sqlite3
import uuid
from pathlib import Path

from ._clock import PROGRESS_DEADLINE_SECONDS, Clock
from ._errors import ApiError, StartupError, bad_request, not_found
from ._records import Department, NodePool, Project
from ._store import Store

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLUSTER_ID",
    "DEFAULT_DEPARTMENT_ID",
    "CLUSTER_NAME",
    "TENANT_ID",
    "Emulator",
    "Settings",
    "StartupError",
]

DEFAULT_CLUSTER_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "cluster.runai-emulator.local"))
"""The cluster id a fresh database gets unless `--cluster-id` says otherwise."""

DEFAULT_DEPARTMENT_ID = str(
    uuid.uuid5(uuid.NAMESPACE_DNS, "department.runai-emulator.local")
)
"""The id of the seeded department `default`, the parent of projects by default.

A UUID because the document types a project's `parent.id` as one; databases
seeded before departments could be created keep their department `1`.
"""

DEFAULT_CLIENT_ID = "emulator-admin"
"""The client id `POST /api/v1/token` accepts unless `--client-id` says otherwise."""

CLUSTER_NAME = "emulator"
TENANT_ID = 1001
SECRET_ENV = "RUNAI_CLIENT_SECRET"

_SEED_POOLS = (("1", "default", 8.0, True), ("2", "a100", 16.0, False))
_SEED_DEPARTMENT_NAME = "default"
_LEGACY_DEPARTMENT_ID = "1"
_DEFAULT_DEPARTMENT_KEY = "default_department_id"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one run of the emulator was started with, after defaults."""

    cluster_id: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    token_ttl: int
    signing_key: bytes = dataclasses.field(repr=False)


class Emulator:
    """Settings, store and clock, plus the lookups every handler needs."""

    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        *,
        speed: float = 1.0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        cluster_id: str | None = None,
        token_ttl: int = 3600,
        progress_deadline: float = PROGRESS_DEADLINE_SECONDS,
    ) -> Emulator:
        """Open (and on first use, seed) a database file."""
        clock = Clock(speed, progress_deadline=progress_deadline)
        if token_ttl < 1:
            raise ValueError(f"token_ttl must be >= 1 second, got {token_ttl!r}")
        if not client_id.strip():
            raise ValueError(
                "client id is empty; give the id clients send as clientID"
                f" (default {DEFAULT_CLIENT_ID!r})"
            )
        store = Store(db_path)
        try:
            with store.transaction():
                settings = Settings(
                    cluster_id=_cluster_id(store, cluster_id),
                    client_id=client_id,
                    client_secret=_client_secret(store, client_secret),
                    token_ttl=token_ttl,
                    signing_key=_signing_key(store),
                )
                emulator = cls(store, settings, clock)
                emulator._seed()
        except sqlite3.Error as error:
            store.close()
            raise StartupError(
                f"database {store.path} is not an emulator database ({error});"
                " point --db at a new file or at one this emulator wrote"
            ) from None
        except BaseException:
            store.close()
            raise
        return emulator

    def close(self) -> None:
        """Close the database."""
        self.store.close()

    def node_pools(self) -> list[NodePool]:
        """The seeded node pools, default first."""
        return self.store.all(NodePool)

    def node_pool_named(self, field: str, name: str) -> NodePool:
        """The node pool called `name`, or a 400 naming `field`."""
        for pool in self.node_pools():
            if pool.name == name:
                return pool
        raise bad_request(
            f"{field}: there is no node pool named {name!r}; known node pools: "
            + ", ".join(pool.name for pool in self.node_pools())
        )

    def department(self, department_id: str) -> Department | None:
        """The department with that id, or None."""
        return self.store.get(Department, department_id)

    def default_department_id(self) -> str:
        """The seeded department's id: the parent of projects without `parentId`."""
        return self.store.setting(_DEFAULT_DEPARTMENT_KEY) or _LEGACY_DEPARTMENT_ID

    def project(self, project_id: str) -> Project:
        """The project with that id, or 404."""
        project = self.store.get(Project, project_id)
        if project is None:
            raise not_found("project", project_id)
        return project

    def check_cluster(self, field: str, cluster_id: str | None) -> None:
        """Raise 400 naming `field` unless `cluster_id` is this emulator's cluster."""
        if cluster_id is not None and cluster_id != self.settings.cluster_id:
            raise bad_request(
                f"{field}: {cluster_id!r} is not a cluster of this control plane;"
                f" the only cluster is {self.settings.cluster_id!r}"
                " (GET /api/v1/clusters)"
            )

    def project_for(self, field: str, project_id: object) -> Project:
        """The project a request body names, or a 400 naming `field`."""
        try:
            return self.project(str(project_id))
        except ApiError:
            raise bad_request(
                f"{field}: there is no project with id {project_id!r};"
                " GET /api/v1/org-unit/projects lists the projects"
            ) from None

    def _seed(self) -> None:
        if self.store.setting("seeded_at") is not None:
            return
        now = self.clock.now()
        self.store.set_setting("seeded_at", str(now))
        self.store.set_setting(_DEFAULT_DEPARTMENT_KEY, DEFAULT_DEPARTMENT_ID)
        self.store.save(Department(DEFAULT_DEPARTMENT_ID, _SEED_DEPARTMENT_NAME, now))
        for pool_id, name, gpus, is_default in _SEED_POOLS:
            self.store.save(NodePool(pool_id, name, gpus, is_default, now))


def _cluster_id(store: Store, requested: str | None) -> str:
    stored = store.setting("cluster_id")
    if stored is None:
        chosen = requested or DEFAULT_CLUSTER_ID
        _check_uuid(chosen)
        store.set_setting("cluster_id", chosen)
        return chosen
    if requested is not None and requested != stored:
        raise StartupError(
            f"the database {store.path} belongs to cluster {stored}, not"
            f" {requested}; start without --cluster-id, pass --cluster-id {stored},"
            " or use a new --db file"
        )
    return stored


def _check_uuid(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise StartupError(
            f"cluster id {value!r} is not a UUID; Run:ai cluster ids are UUIDs"
        ) from None


def _client_secret(store: Store, explicit: str | None) -> str:
    if explicit:
        return explicit
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env
    stored = store.setting("client_secret")
    if stored is None:
        stored = secrets.token_urlsafe(24)
        store.set_setting("client_secret", stored)
    return stored


def _signing_key(store: Store) -> bytes:
    stored = store.setting("signing_key")
    if stored is None:
        stored = secrets.token_hex(32)
        store.set_setting("signing_key", stored)
    return bytes.fromhex(stored)
