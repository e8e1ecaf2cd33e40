"""Domain errors with stable machine-readable codes.

Services and `access_*` functions raise these; `apps.core.api.exception_handler` turns them into
HTTP responses and the WebSocket consumer into `error` events, each in one place.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base of every error a client may see. `code` is stable API; `message` is for humans."""

    code: str = "error"
    http_status: int = 400
    default_message: Any = _("The request could not be completed.")

    def __init__(
        self,
        message: Any = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = str(message if message is not None else self.default_message)
        if code is not None:
            self.code = code
        self.details = details or {}
        super().__init__(self.message)

    def with_status(self, http_status: int) -> DomainError:
        self.http_status = http_status
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(DomainError):
    code = "invalid"
    http_status = 400
    default_message = _("The input is not valid.")


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    http_status = 401
    default_message = _("Authentication is required.")


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
    default_message = _("You do not have permission to do this.")


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
    default_message = _("This conflicts with the current state.")


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429
    default_message = _("Too many requests; slow down.")
