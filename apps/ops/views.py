"""Operational endpoints of the ops app (thin: the checks live in health.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.ops.health import readiness


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 `{"status": "ready", "checks": {...}}`, else 503 naming what failed."""
    results = readiness()
    failed = [name for name, result in results.items() if result.status == "failed"]
    body: dict[str, object] = {
        "status": "not_ready" if failed else "ready",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
