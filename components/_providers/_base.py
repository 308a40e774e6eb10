"""What every Run:ai provider shares: connection, client, checks, waiting."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    ConfigureRequest,
    DiffResult,
    ResourceProvider,
)

from .._client import ConnectionSettings, RunaiClient
from .._values import normalize
from ..errors import NotFoundError, RunaiHFError

__all__ = [
    "AssetProvider",
    "RunaiProvider",
    "auto_name",
    "changed",
    "diff_result",
    "dns_failure",
    "is_auto_name_of",
    "matches_digest",
    "name_replaces",
    "required",
    "secret_digest",
]

logger = logging.getLogger("runai_hf")

T = TypeVar("T")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DIGEST_ROUNDS = 100_000


def diff_result(
    changes: object, replaces: list[str], *, delete_first: bool = True
) -> DiffResult:
    """Run:ai keeps names unique, so a pinned name must be freed before reuse;
    an auto-named object can be created beside the old one (no downtime)."""
    return DiffResult(
        changes=bool(changes),
        replaces=replaces,
        delete_before_replace=bool(replaces) and delete_first,
    )


_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_SUFFIX_LENGTH = 5


def auto_name(olds: Mapping[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    """Fill `name`: the pinned one, the one already in use, or logical + suffix.

    Pulumi's auto-naming: a name is chosen once and kept on every later run
    (the engine hands `check` the old inputs), and the engine calls `check`
    again without them when it replaces the object, so a replacement gets a
    fresh name and can be created before the old object is deleted. A name
    the user pins (`name` given) is kept, and replacing it must delete first.
    """
    if news.get("name"):
        return {**news, "namePinned": True}
    logical = str(news.get("logicalName") or "")
    kept = olds.get("name")
    if kept and olds.get("logicalName") == logical and not olds.get("namePinned"):
        return {**news, "name": kept, "namePinned": False}
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    return {**news, "name": f"{_stem(logical)}-{suffix}", "namePinned": False}


def _stem(logical: str) -> str:
    return logical[: 63 - _SUFFIX_LENGTH - 1].rstrip("-")


def is_auto_name_of(logical: str, name: str) -> bool:
    """Whether `auto_name` could have given `name` to the logical name."""
    stem = f"{_stem(logical)}-"
    suffix = name.removeprefix(stem)
    return (
        name.startswith(stem)
        and len(suffix) == _SUFFIX_LENGTH
        and all(c in _SUFFIX_ALPHABET for c in suffix)
    )


def name_replaces(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """`["name"]` when the physical name changes; a state without one never does."""
    if olds.get("name") and news.get("name") and olds["name"] != news["name"]:
        return ["name"]
    return []


def secret_digest(value: str, salt: str | None = None) -> str:
    """A salted, slow one-way fingerprint of a secret, so rotation shows as a change.

    Stored in outputs instead of the secret; PBKDF2 with a random salt keeps a
    guessable value (a placeholder token) from being confirmed cheaply.
    """
    salt = salt or secrets.token_hex(8)
    derived = hashlib.pbkdf2_hmac(
        "sha256", value.encode(), salt.encode(), _DIGEST_ROUNDS
    )
    return f"pbkdf2-sha256${_DIGEST_ROUNDS}${salt}${derived.hex()}"


def matches_digest(value: str, digest: object) -> bool:
    """Whether `value` is the secret `digest` was made from."""
    if not isinstance(digest, str) or not digest.startswith("pbkdf2-sha256$"):
        return False
    _, _, salt, _ = digest.split("$", 3)
    return hmac.compare_digest(secret_digest(value, salt), digest)


def dns_failure(props: Mapping[str, Any], key: str) -> list[CheckFailure]:
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


def moved(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """["project"] when the object now belongs to another project of the stack.

    The project id says the same once known, but a preview may not know it
    yet; the name is known. State written before objects carried the name
    has none, and then only the id decides.
    """
    old = olds.get("project")
    return ["project"] if old is not None and old != news.get("project") else []


def required(props: Mapping[str, Any], *keys: str) -> list[CheckFailure]:
    return [
        CheckFailure(key, f"{key} is required")
        for key in keys
        if props.get(key) in (None, "")
    ]


def changed(
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


class RunaiProvider(ResourceProvider):
    """The connection, a client per call, and polling with backoff.

    The engine pickles a provider into the `__provider` input and unpickles it
    in the provider process, so providers keep nothing on `self` but what
    `configure` hands them there, and never pickle that.
    """

    serialize_as_secret_always = False
    poll_initial: ClassVar[float] = 1.0
    poll_ceiling: ClassVar[float] = 10.0

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


class AssetProvider(RunaiProvider):
    """Assets answer 202 and sync to the cluster; wait for their status."""

    path: str

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
        """POST the asset, then wait until the cluster has it.

        Should the wait fail, the asset is deleted again: the engine records
        nothing for a failed create, and a credential left behind would keep
        its secret in Run:ai with nothing to ever remove it.
        """
        with self.client() as client:
            asset_id = str(client.post(self.path, body)["meta"]["id"])
            try:
                asset = self.wait_synced(client, asset_id, label)
            except Exception:
                self._remove_after_failure(client, f"{self.path}/{asset_id}", label)
                raise
        logger.debug("%s: created", label)
        return asset_id, asset

    def _remove_after_failure(self, client: RunaiClient, path: str, label: str) -> None:
        try:
            client.delete(path)
        except NotFoundError:
            return
        except RunaiHFError as error:
            logger.error(
                "%s: the failed create left %s in Run:ai and deleting it failed "
                "too (%s); delete it there",
                label,
                path,
                error,
            )
            return
        logger.info("%s: removed after the failed create", label)

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
