"""The admin console's compliance exports: a list with a download link, for export officers
and the owner only (imported by `apps/governance/admin.py`). Exports are requested over REST
(`POST /api/v1/governance/exports/`); the list shows them all, with their state."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.audit import register_audit_labels
from apps.accounts.models import User
from apps.core.errors import DomainError, Forbidden, NotFound
from apps.governance.compliance_export import services
from apps.governance.compliance_export.api import export_zip_response
from apps.governance.compliance_export.audit import (
    COMPLIANCE_EXPORT_DOWNLOADED,
    COMPLIANCE_EXPORT_REQUESTED,
    COMPLIANCE_EXPORTER_GRANTED,
    COMPLIANCE_EXPORTER_REVOKED,
)
from apps.governance.compliance_export.models import ComplianceExport, ComplianceExportStatus
from apps.governance.compliance_export.permissions import (
    access_compliance_export_download,
    may_export_compliance,
)

register_audit_labels(
    {
        COMPLIANCE_EXPORT_REQUESTED: _("compliance export requested"),
        COMPLIANCE_EXPORT_DOWNLOADED: _("compliance export downloaded"),
        COMPLIANCE_EXPORTER_GRANTED: _("compliance export permission granted"),
        COMPLIANCE_EXPORTER_REVOKED: _("compliance export permission removed"),
    }
)


def _actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@admin.register(ComplianceExport)
class ComplianceExportAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "requested_by",
        "requested_at",
        "scope",
        "status",
        "message_count",
        "file_count",
        "expires_at",
        "download",
    )
    list_filter = ("status",)
    list_select_related = ("requested_by",)
    readonly_fields = (
        "requested_by",
        "requested_at",
        "user_ids",
        "channel_ids",
        "start",
        "end",
        "status",
        "message_count",
        "file_count",
        "size",
        "finished_at",
        "expires_at",
        "error",
        "download",
    )
    fields = readonly_fields

    # Only export officers and the owner, whatever the role's model permissions say.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_export_compliance(user=_actor(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_export_compliance(user=_actor(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requested over REST, where the scope is checked

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of who exported what stays; the ZIP expires by itself

    @admin.display(description=_("scope"))
    def scope(self, obj: ComplianceExport) -> str:
        users = ", ".join(map(str, obj.user_ids)) or _("all")
        channels = ", ".join(map(str, obj.channel_ids)) or _("all")
        return str(
            _("users: %(users)s; channels: %(channels)s; %(start)s – %(end)s")
            % {
                "users": users,
                "channels": channels,
                "start": f"{obj.start:%Y-%m-%d %H:%M}",
                "end": f"{obj.end:%Y-%m-%d %H:%M}",
            }
        )

    @admin.display(description=_("download"))
    def download(self, obj: ComplianceExport) -> str:
        if obj.status != ComplianceExportStatus.READY:
            return "—"
        url = reverse("admin:governance_complianceexport_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download ZIP"))

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<id:export_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="governance_complianceexport_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, export_id: int) -> HttpResponseBase:
        """The ZIP, after the same check as REST; audited."""
        try:
            export = access_compliance_export_download(user=_actor(request), export_id=export_id)
        except Forbidden as error:
            raise PermissionDenied(error.message) from error
        except NotFound as error:
            raise Http404(error.message) from error
        except DomainError as error:
            self.message_user(request, error.message, level="error")
            raise Http404(error.message) from error
        services.compliance_export_downloaded(actor=_actor(request), export=export)
        return export_zip_response(export)
