"""The IT admin's overview page in the admin console (/admin/overview/): the state of the
installation on one page. The figures come from `apps.ops.selectors.ops_overview`."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from apps.core.errors import DomainError
from apps.ops.selectors import ops_overview

COMPONENT_LABELS = {
    "database": _("Database"),
    "migrations": _("Database migrations"),
    "redis": _("Redis"),
    "clamd": _("Virus scanner (clamd)"),
    "celery": _("Background workers (Celery)"),
}
STATUS_LABELS = {
    "ok": _("OK"),
    "failed": _("Failed"),
    "not_applicable": _("Not used"),
    "running": _("Running"),
    "refused": _("Refused by the safety limit"),
}
GRAFANA_LABELS = {
    "enclave": _("Enclave dashboards"),
    "alerts": _("Alerts"),
}


@never_cache
def overview_view(request: HttpRequest) -> HttpResponse:
    """Owner and administrators; anonymous visitors go to the log-in page, everyone else gets
    403 (the admin's own views send signed-in members to its log-in page, which refuses them)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("accounts:login"))
    try:
        overview = ops_overview(user=request.user)
    except DomainError:
        raise PermissionDenied from None
    sync = overview.directory_sync
    context = {
        **admin.site.each_context(request),
        "title": _("Overview"),
        "overview": overview,
        "components": [
            {
                "name": component.name,
                "label": COMPONENT_LABELS.get(component.name, component.name),
                "status": component.status,
                "status_label": STATUS_LABELS.get(component.status, component.status),
                "reason": component.reason,
            }
            for component in overview.components or ()
        ],
        "sync_outcome_label": (
            STATUS_LABELS.get(sync.last_run.outcome, sync.last_run.outcome)
            if sync is not None and sync.last_run is not None
            else ""
        ),
        "grafana_links": [
            (GRAFANA_LABELS.get(key, key), url) for key, url in overview.grafana_links
        ],
    }
    return TemplateResponse(request, "admin/ops/overview.html", context)
