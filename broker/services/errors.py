"""Errors that services raise for a person to read."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule was broken; the message says what, in words a user can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    """The acting user may not do this."""


class Conflict(ServiceError):
    """The object changed under the user (e.g. capacity taken meanwhile)."""
