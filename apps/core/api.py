"""REST plumbing shared by every app: one error format, pagination helpers."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DomainError, Unavailable, database_unavailable

logger = logging.getLogger(__name__)

# What the database stores as an integer (PostgreSQL bigint, SQLite INTEGER): ids, seqs and
# counts outside it cannot be looked up or written, and would fail as a server error.
DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1


class BoundedIntegerField(serializers.IntegerField):
    """The REST API's integer: DRF's, within the database's range unless narrowed further.

    Use it for every integer a serializer takes (tests/core/test_api_probes.py holds every
    serializer to it), so that out-of-range input is a 400 naming the field.
    """

    def __init__(self, **kwargs: Any) -> None:
        max_value = kwargs.get("max_value")
        min_value = kwargs.get("min_value")
        kwargs["max_value"] = DB_INT_MAX if max_value is None else min(max_value, DB_INT_MAX)
        kwargs["min_value"] = DB_INT_MIN if min_value is None else max(min_value, DB_INT_MIN)
        super().__init__(**kwargs)


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every error as `{"code", "message", "details"}` with the right HTTP status."""
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    if database_unavailable(exc):
        logger.warning("Database unavailable: answered 503", exc_info=exc)
        unavailable = Unavailable()
        return Response(
            unavailable.as_dict(),
            status=unavailable.http_status,
            headers={"Retry-After": str(unavailable.retry_after_seconds)},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = "error"
    for exc_class, exc_code in _DRF_CODES.items():
        if isinstance(exc, exc_class):
            code = exc_code
            break
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "code": code,
            "message": _("The input is not valid."),
            "details": flatten_errors(response.data),
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        body = {"code": code, "message": str(detail), "details": {}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED and not response.has_header(
        "WWW-Authenticate"
    ):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response.data = body
    return response


class CommaSeparatedIdsField(serializers.CharField):
    """A query parameter `1,2,3` as a list of ids, each a BoundedIntegerField (at least 1);
    only the first `max_items` are kept."""

    def __init__(self, *, max_items: int, **kwargs: Any) -> None:
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[int]:  # type: ignore[override]
        text = super().to_internal_value(data)
        item = BoundedIntegerField(min_value=1)
        ids: list[int] = []
        errors: dict[str, Any] = {}
        parts = [part.strip() for part in text.split(",") if part.strip()][: self.max_items]
        for index, part in enumerate(parts):
            try:
                ids.append(item.run_validation(part))
            except exceptions.ValidationError as error:
                errors[str(index)] = error.detail
        if errors:
            raise exceptions.ValidationError(errors)
        return ids


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's validation errors as `{"field": ["message", ...]}`, nested ones under dotted paths.

    A list field's item errors arrive keyed by the item's index (`{"ids": {1: [...]}}`), a
    nested list of objects as a list of dicts: `{"ids.1": [...]}`, `{"items.2.n": [...]}`.
    Every key is a string and every message plain text, whatever the renderer.
    """
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and not any(isinstance(item, dict | list) for item in detail):
        if detail:
            flat[prefix or "non_field_errors"] = [str(message) for message in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
            elif value:
                flat.setdefault(prefix or "non_field_errors", []).append(str(value))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


class CreatedCursorPagination(CursorPagination):
    """Opaque-cursor pagination for plain lists (members, public channels)."""

    page_size = 100
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = "-id"


def validated(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    """Validate request input with a DRF serializer; errors become `invalid` (HTTP 400).

    `is_valid` on a new instance deep-copies and binds the serializer's declared fields for
    every request (the search's four fields: 63 µs, against 10 µs so, on a 2-core VM).
    Validation keeps no state on a serializer, and ours for input take neither an instance
    nor a context, so one bound serializer per class validates every request in every
    thread; the errors are the same `ValidationError` detail `is_valid` would raise. A
    mutable default must therefore be a callable (`default=list`), built per request.
    """
    return dict(_bound(serializer_class).run_validation(data))


_BOUND: dict[type[Any], Any] = {}


def _bound(serializer_class: type[Any]) -> Any:
    serializer = _BOUND.get(serializer_class)
    if serializer is None:
        serializer = serializer_class()
        _ = serializer.fields  # bound now, not on first use by two threads at once
        _BOUND[serializer_class] = serializer
    return serializer
