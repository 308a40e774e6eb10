"""The one error type the handlers raise, rendered as the API's `Error` body.

Every failure the emulator reports leaves as `{"code": <status>, "message": ...}`,
the `Error` schema of the OpenAPI document. Messages state the rule, the field
and what would be accepted, and never carry a secret value. `StartupError` is
the one error of starting up: the CLI prints its message as one line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "StartupError", "bad_request", "conflict", "not_found"]


class ApiError(Exception):
    """An HTTP error status with a message for the API client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """The `Error` body: `code` and `message`."""
        return {"code": self.status, "message": self.message}


class StartupError(RuntimeError):
    """The database or the start options are unusable; the message says the fix."""


def bad_request(message: str) -> ApiError:
    """400: the request body or a query parameter breaks a rule."""
    return ApiError(400, message)


def not_found(what: str, identifier: str) -> ApiError:
    """404: no live object of that kind has that id."""
    return ApiError(404, f"{what} {identifier!r} was not found")


def conflict(message: str) -> ApiError:
    """409: an object with that name already exists where names must be unique."""
    return ApiError(409, message)
