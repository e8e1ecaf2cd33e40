"""Operational endpoints."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown API URLs answer in the API's error format, not with an HTML page."""
    from django.utils.translation import gettext as _

    return JsonResponse(
        {"code": "not_found", "message": _("No such API endpoint."), "details": {}}, status=404
    )
