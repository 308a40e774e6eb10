"""SQLite persistence: settings, id sequences and one JSON document per record.

One connection serves the whole process; an `RLock` serialises its use, and each
API call runs inside `transaction()`, so a uniqueness check and the insert that
follows it are atomic. `BEGIN IMMEDIATE` also guards against a second process
opened on the same file.

Records are written with finite numbers only (request bodies with NaN or
Infinity are refused), but a database written by an older emulator may hold
them; reading turns each into null, so no stored value can break an answer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ._errors import StartupError
from ._records import Record

__all__ = ["Store"]

R = TypeVar("R", bound=Record)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


class Store:
    """Typed access to the emulator's database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = _connect(self.path)

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and one SQLite transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def setting(self, key: str) -> str | None:
        """A stored setting, or None."""
        row = self._one("SELECT value FROM settings WHERE key = ?", key)
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting, replacing any previous value."""
        self._run(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    def next_id(self, sequence: str) -> int:
        """The next number of a sequence, starting at 1."""
        with self.transaction():
            row = self._one("SELECT value FROM sequences WHERE name = ?", sequence)
            value = 1 if row is None else int(str(row[0])) + 1
            self._run(
                "INSERT INTO sequences (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                sequence,
                value,
            )
        return value

    def save(self, record: Record) -> None:
        """Insert or replace a record; a replaced record keeps its list position."""
        self._run(
            "INSERT INTO records (kind, id, body) VALUES (?, ?, ?)"
            " ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
            record.kind,
            record.id,
            json.dumps(record.to_json(), sort_keys=True, allow_nan=False),
        )

    def get(self, cls: type[R], record_id: str) -> R | None:
        """The record of that class and id, or None."""
        row = self._one(
            "SELECT body FROM records WHERE kind = ? AND id = ?", cls.kind, record_id
        )
        return None if row is None else cls(**_decode(str(row[0])))

    def all(self, cls: type[R]) -> list[R]:
        """Every record of a class, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM records WHERE kind = ? ORDER BY rowid", (cls.kind,)
            ).fetchall()
        return [cls(**_decode(body)) for (body,) in rows]

    def remove(self, cls: type[Record], record_id: str) -> None:
        """Delete a record if it exists."""
        self._run("DELETE FROM records WHERE kind = ? AND id = ?", cls.kind, record_id)

    def _one(self, sql: str, *args: object) -> tuple[object, ...] | None:
        with self._lock:
            row: tuple[object, ...] | None = self._db.execute(sql, args).fetchone()
        return row

    def _run(self, sql: str, *args: object) -> None:
        with self._lock:
            self._db.execute(sql, args)


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise StartupError(
            f"database {path} is a directory; give a file path, such as"
            f" {path / 'runai-emulator.db'}"
        )
    if not path.parent.is_dir():
        raise StartupError(
            f"database {path}: the directory {path.parent} does not exist;"
            " create it first or choose a --db path in an existing directory"
        )
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as error:
        raise StartupError(f"database {path}: cannot open it ({error})") from None
    try:
        db.executescript(_SCHEMA)
    except sqlite3.Error as error:
        db.close()
        raise StartupError(
            f"database {path} is not an emulator database ({error}); point --db at"
            " a new file or at one this emulator wrote"
        ) from None
    return db


def _decode(body: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body, parse_constant=_non_finite)
    return document


def _non_finite(_token: str) -> None:
    # Called for NaN, Infinity and -Infinity, which only older databases hold.
    return None
