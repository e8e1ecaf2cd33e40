"""Operational endpoints, and the API's answers for paths and requests no view takes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import csrf
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from apps.core.queries import database_ping


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers."""
    database_ping()
    return JsonResponse({"status": "ok"})


# Exempt: it changes nothing, and a POST to an unknown API URL must get the API's 404, not
# Django's HTML CSRF page (API clients send no CSRF token; with a token they get DRF's check).
@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown API URLs (and ids that are not ids) answer in the API's error format, with any
    method, instead of an HTML page."""
    return JsonResponse(
        {"code": "not_found", "message": _("No such API endpoint."), "details": {}}, status=404
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: under /api/ the API's JSON error shape, elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "code": "csrf_failed",
                "message": _(
                    "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken."
                ),
                "details": {},
            },
            status=403,
        )
    return csrf.csrf_failure(request, reason=reason)


def read_only_api_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the schema and the API docs: any method but GET/HEAD answers the API's JSON 405
    (their own views answer in YAML or HTML)."""

    @csrf_exempt
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            refused = exceptions.MethodNotAllowed(request.method or "")  # DRF's text, translated
            response = JsonResponse(
                {"code": "method_not_allowed", "message": str(refused.detail), "details": {}},
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return guarded
