"""Errors a person can act on. Services raise these; handlers turn them into status + message."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule said no. `code` is stable for clients; the message is Chinese, for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class BadInput(ServiceError):
    status = 400
    code = "invalid_input"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class TooMany(ServiceError):
    status = 429
    code = "too_many_requests"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"
