"""The IT admin's console for files: quarantine, release, rescan, delete, storage usage."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from apps.accounts.audit import register_audit_labels
from apps.core.errors import DomainError
from apps.files import selectors, services
from apps.files.audit import (
    FILE_DELETED,
    FILE_QUARANTINED,
    FILE_RELEASED,
    FILES_REENCRYPTED,
    FILES_REENCRYPTION_STARTED,
)
from apps.files.models import Attachment, StoredBlob, UploadSession
from apps.files.scanner import ScannerStatus, scanner_status


def scanner_problem(status: ScannerStatus) -> str:
    """What the admin must know about the virus scanner; empty when it can pass files."""
    if status.trusted:
        return ""
    if not status.reachable:
        return str(
            _(
                "The virus scanner (clamd) cannot be reached: no file can become clean until it "
                'answers. New uploads end as "Scan failed".'
            )
        )
    return str(
        _(
            "The virus scanner does not report exceeded limits: files cannot become clean. "
            "Set AlertExceedsMax yes in clamd.conf and restart clamd; until then every upload "
            'ends as "Scan failed".'
        )
    )


# The audit log (Accounts -> Audit events) shows these codes by their labels.
register_audit_labels(
    {
        FILE_QUARANTINED: _("file quarantined"),
        FILE_RELEASED: _("file released as clean"),
        FILE_DELETED: _("file deleted"),
        FILES_REENCRYPTION_STARTED: _("file re-encryption started"),
        FILES_REENCRYPTED: _("file re-encryption finished"),
    }
)


def human_size(size: int | None) -> str:
    """A byte count as people read it ("3.0 MB"), in the active language."""
    return "" if size is None else str(filesizeformat(size))


class QuarantineFilter(admin.SimpleListFilter):
    title = _("quarantine")
    parameter_name = "quarantine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Infected or unscannable"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(selectors.quarantine_filter())
        return queryset


class DeletedFilter(admin.SimpleListFilter):
    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("no", _("Live")),
            ("yes", _("Deleted, kept until the retention period ends")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = (
        "original_name",
        "uploader",
        "channel",
        "size_display",
        "content_type",
        "status",
        "scan_signature",
        "created_at",
        "deleted_at",
    )
    exclude = ("size",)
    readonly_fields = ("size_display",)
    list_filter = (QuarantineFilter, DeletedFilter, "status", "content_type")
    search_fields = ("original_name", "uploader__username", "blob__sha256")
    list_select_related = ("uploader", "channel")
    raw_id_fields = ("uploader", "blob", "channel", "message", "released_by")
    actions = ["rescan", "release", "soft_delete"]
    change_list_template = "admin/files/attachment/change_list.html"

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, attachment: Attachment) -> str:
        return human_size(attachment.size)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "usage/",
                self.admin_site.admin_view(self.usage_view),
                name="files_attachment_usage",
            ),
            *super().get_urls(),
        ]

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        """Storage per uploader and per channel (the selector checks the user is an org admin)."""
        try:
            usage = selectors.storage_usage(user=request.user)  # type: ignore[arg-type]
        except DomainError:
            raise PermissionDenied from None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Storage usage"),
            "opts": self.model._meta,
            "usage": usage,
            "retention_days": settings.ENCLAVE_FILES_RETENTION_DAYS,
        }
        return TemplateResponse(request, "admin/files/storage_usage.html", context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, headed by the scanner's state when it cannot pass files (the probe)."""
        context = {**(extra_context or {}), "scanner_problem": scanner_problem(scanner_status())}
        return super().changelist_view(request, context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # state changes go through the actions (audited services)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletion is the soft "delete" action; retention purges later

    @admin.action(description=_("Scan again"))
    def rescan(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        for attachment in queryset:
            services.attachment_rescan(
                actor=request.user,  # type: ignore[arg-type]
                attachment_id=attachment.pk,
            )

    @admin.action(description=_("Release as clean (audited)"))
    def release(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        for attachment in queryset:
            services.attachment_release(
                actor=request.user,  # type: ignore[arg-type]
                attachment_id=attachment.pk,
            )

    @admin.action(description=_("Delete (purged after the retention period)"))
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        for attachment in queryset.filter(deleted_at__isnull=True):
            services.attachment_delete(
                actor=request.user,  # type: ignore[arg-type]
                attachment_id=attachment.pk,
            )


@admin.register(StoredBlob)
class StoredBlobAdmin(admin.ModelAdmin):
    list_display = ("sha256", "size_display", "storage_name", "created_at")
    exclude = ("size",)
    readonly_fields = ("size_display",)
    search_fields = ("sha256",)

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, blob: StoredBlob) -> str:
        return human_size(blob.size)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ("original_name", "uploader", "total_size_display", "created_at", "expires_at")
    raw_id_fields = ("uploader", "completed_attachment")

    @admin.display(description=_("size"), ordering="total_size")
    def total_size_display(self, upload: UploadSession) -> str:
        return human_size(upload.total_size)
