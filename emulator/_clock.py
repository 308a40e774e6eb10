"""Emulated time: how long each lifecycle stage lasts, scaled by `--speed`.

Nothing runs in the background. Objects store the wall-clock time of the events
that matter (created, updated, deletion requested) and every read derives the
current phase from those timestamps, so a phase is the same whichever request
asks first, and a restart resumes each object where its clock says it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = [
    "ASSET_SYNC_SECONDS",
    "CREATING_SECONDS",
    "DELETING_SECONDS",
    "INITIALIZING_SECONDS",
    "PROGRESS_DEADLINE_SECONDS",
    "PROJECT_CREATING_SECONDS",
    "Clock",
    "iso",
]

CREATING_SECONDS = 1.0
"""An inference revision stays `Creating` this long (emulated seconds)."""

INITIALIZING_SECONDS = 3.0
"""Then `Initializing` this long before it is `Running`."""

DELETING_SECONDS = 1.0
"""A deleted inference shows `Deleting` this long, then answers 404."""

ASSET_SYNC_SECONDS = 1.0
"""A credential or data source reports `Creating` this long, then no issues."""

PROJECT_CREATING_SECONDS = 0.5
"""A new project is `Creating` this long, then `Ready`."""

PROGRESS_DEADLINE_SECONDS = 600.0
"""How long a rolling update may take before it is stopped (Knative's default
`progress-deadline`); `--progress-deadline` changes it."""


class Clock:
    """Wall-clock time plus a speed factor that shortens every stage.

    With `speed=100` an inference is `Running` 40 ms after its creation instead
    of 4 s; tests use that to keep a full deploy in tens of milliseconds.
    `progress_deadline` is in emulated seconds too, so it shrinks with `speed`.
    """

    def __init__(
        self,
        speed: float = 1.0,
        source: Callable[[], float] = time.time,
        *,
        progress_deadline: float = PROGRESS_DEADLINE_SECONDS,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(
                f"speed must be a finite number > 0, got {speed!r}; 1 is real time"
            )
        if not (math.isfinite(progress_deadline) and progress_deadline > 0):
            raise ValueError(
                "progress deadline must be a finite number of seconds > 0, got"
                f" {progress_deadline!r}; the default is"
                f" {PROGRESS_DEADLINE_SECONDS:g} (Knative's progress-deadline)"
            )
        self.speed = speed
        self.progress_deadline = progress_deadline
        self._source = source

    def now(self) -> float:
        """Seconds since the epoch."""
        return self._source()

    def after(self, start: float, seconds: float) -> float:
        """The wall-clock time at which a stage of `seconds` started at `start` ends."""
        return start + seconds / self.speed


def iso(timestamp: float) -> str:
    """RFC 3339 UTC with milliseconds, such as `2025-01-31T12:00:00.000Z`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
