"""The analytics pages in the admin console: /admin/analytics/ (charts) and its CSV export.

The owner and administrators only: anonymous visitors go to the log-in page, everyone else
gets 403. The figures come from the summary tables (apps.analytics.selectors)."""

from __future__ import annotations

import csv
import io

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from apps.analytics import charts
from apps.analytics.selectors import Report, analytics_report, csv_rows
from apps.core.errors import DomainError

PERIODS = (7, 30, 90, 365)


def _report(request: HttpRequest) -> Report | HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("accounts:login"))
    try:
        days = int(request.GET.get("days", "30"))
    except ValueError:
        days = 30
    try:
        return analytics_report(user=request.user, days=days)
    except DomainError:
        raise PermissionDenied from None


@never_cache
def analytics_view(request: HttpRequest) -> HttpResponse:
    report = _report(request)
    if isinstance(report, HttpResponse):
        return report
    labels = [day.day.strftime("%m-%d") for day in report.days]
    every = max(1, len(labels) // 15)

    def chart(title: str, values: list[float], chart_labels: list[str] = labels) -> str:
        step = every if chart_labels is labels else 1
        return charts.bar_chart(title=title, labels=chart_labels, values=values, label_every=step)

    context = {
        **admin.site.each_context(request),
        "title": _("Analytics"),
        "report": report,
        "periods": PERIODS,
        "days": len(report.days),
        "charts": [
            (
                _("Messages per day"),
                chart(_("Messages per day"), [d.messages for d in report.days]),
            ),
            (
                _("Daily active users"),
                chart(_("Daily active users"), [d.active_users for d in report.days]),
            ),
            (
                _("Weekly active users (7 days up to each day)"),
                chart(_("Weekly active users"), [d.weekly_active_users for d in report.days]),
            ),
            (
                _("Busiest hours (UTC)"),
                chart(
                    _("Messages per hour of day"), list(report.hours), [f"{h}" for h in range(24)]
                ),
            ),
            (
                _("Files uploaded per day"),
                chart(_("Files uploaded per day"), [d.files_uploaded for d in report.days]),
            ),
            (
                _("Help-desk tickets per day"),
                chart(_("Help-desk tickets per day"), [d.tickets_opened for d in report.days]),
            ),
        ],
        "deflection_percent": (
            round(report.deflection_rate * 100, 1) if report.deflection_rate is not None else None
        ),
        "reply_minutes": _minutes(report.average_reply_seconds),
        "resolution_minutes": _minutes(report.average_resolution_seconds),
        "storage_mib": round(report.storage_bytes / (1024 * 1024), 1),
        "last_computed": max((d.computed_at for d in report.days if d.pk), default=None),
    }
    return TemplateResponse(request, "admin/analytics/report.html", context)


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


@never_cache
def analytics_csv_view(request: HttpRequest) -> HttpResponse:
    report = _report(request)
    if isinstance(report, HttpResponse):
        return report
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(report))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"enclave-analytics-{report.first_day}-{report.last_day}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
