"""The one exception tree of the `components` package.

    RunaiHFError
     ├── ConfigError        a stack file or component argument breaks a rule
     ├── ConnectionError_   the Run:ai control plane could not be reached or refused us
     ├── ApiError           the control plane answered with an error status
     │    ├── NotFoundError     404
     │    └── ConflictError     409
     └── WorkloadError      an inference did not become ready, or failed

Messages never carry secret values, response bodies beyond the API's own
`message`, or request headers.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ConfigError",
    "ConflictError",
    "ControlPlaneUnreachable",
    "NotFoundError",
    "RunaiHFError",
    "WorkloadError",
]


class RunaiHFError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(RunaiHFError):
    """Input that breaks a rule; `problems` holds one line per broken rule."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = "invalid configuration" if count == 1 else f"{count} config errors"
        super().__init__(heading + ":\n  " + "\n  ".join(self.problems))


class ControlPlaneUnreachable(RunaiHFError):
    """The control plane did not answer, or authentication failed."""


class ApiError(RunaiHFError):
    """The control plane answered a request with an error status."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.api_message = message
        self.retry_after = retry_after
        super().__init__(f"Run:ai API {method} {path} answered {status}: {message}")


class NotFoundError(ApiError):
    """404: the object does not exist (or no longer exists)."""


class ConflictError(ApiError):
    """409: an object with that name already exists in that scope."""


class WorkloadError(RunaiHFError):
    """An inference failed or did not become ready in time."""

    def __init__(
        self, *, name: str, phase: str, phase_message: str, reason: str
    ) -> None:
        self.name = name
        self.phase = phase
        self.phase_message = phase_message
        detail = f" ({phase_message})" if phase_message else ""
        super().__init__(f"inference {name}: {reason}; last phase {phase}{detail}")
