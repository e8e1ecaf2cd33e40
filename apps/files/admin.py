"""The IT admin's console for files: quarantine, release, rescan, delete, storage usage."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError
from apps.files import selectors, services
from apps.files.models import Attachment, AttachmentStatus, StoredBlob, UploadSession


class QuarantineFilter(admin.SimpleListFilter):
    title = _("quarantine")
    parameter_name = "quarantine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Infected or unscannable"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(
                status__in=[AttachmentStatus.INFECTED, AttachmentStatus.FAILED],
                deleted_at__isnull=True,
            )
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
        "size",
        "content_type",
        "status",
        "scan_signature",
        "created_at",
        "deleted_at",
    )
    list_filter = (QuarantineFilter, DeletedFilter, "status", "content_type")
    search_fields = ("original_name", "uploader__username", "blob__sha256")
    list_select_related = ("uploader", "channel")
    raw_id_fields = ("uploader", "blob", "channel", "message", "released_by")
    actions = ["rescan", "release", "soft_delete"]
    change_list_template = "admin/files/attachment/change_list.html"

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
    list_display = ("sha256", "size", "storage_name", "created_at")
    search_fields = ("sha256",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ("original_name", "uploader", "total_size", "created_at", "expires_at")
    raw_id_fields = ("uploader", "completed_attachment")
