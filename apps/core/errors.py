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


class Unavailable(DomainError):
    """The database could not be reached (down, restarting, no pooled connection in time): the
    same request will succeed once it is back. Clients retry (sends are idempotent)."""

    code = "unavailable"
    http_status = 503
    default_message = _("The server cannot reach its database right now; try again shortly.")
    retry_after_seconds = 1


def database_unavailable(error: BaseException) -> bool:
    """True when `error`, or an exception it was raised from, says the database is out of
    reach rather than that the request or the code is wrong.

    `OperationalError` is what PostgreSQL's drivers raise for a lost or refused connection, a
    server starting up or shutting down, and a pool that had no connection within its timeout;
    Django wraps it in its own class, a raw psycopg call does not. (It also covers deadlocks and
    serialization failures, which a retry resolves as well.)
    """
    from django.db import InterfaceError, OperationalError

    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a base requirement
        driver_errors: tuple[type[BaseException], ...] = ()
    else:
        driver_errors = (psycopg.OperationalError, psycopg.InterfaceError)
    seen: BaseException | None = error
    for _depth in range(5):
        if seen is None:
            break
        if isinstance(seen, (OperationalError, InterfaceError, *driver_errors)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
