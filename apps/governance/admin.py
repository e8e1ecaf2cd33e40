"""The admin console's retention policies (administrators) and legal holds (compliance
officers and the owner). Every change goes through the services: audited, checked again."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin import UserAdmin
from apps.accounts.audit import register_audit_labels
from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.governance import services
from apps.governance.audit import (
    COMPLIANCE_OFFICER_GRANTED,
    COMPLIANCE_OFFICER_REVOKED,
    DATA_EXPORT_DOWNLOADED,
    DATA_EXPORT_REQUESTED,
    LEGAL_HOLD_CREATED,
    LEGAL_HOLD_RELEASED,
    ORGANIZATION_EXPORTED,
    PERSONAL_DATA_ERASED,
    RETENTION_APPLIED,
    RETENTION_POLICY_CHANGED,
    WORKSPACE_IMPORTED,
)
from apps.governance.erasure import personal_data_erase
from apps.governance.models import LegalHold, RetentionPolicy
from apps.governance.permissions import may_manage_legal_holds

register_audit_labels(
    {
        RETENTION_POLICY_CHANGED: _("retention policy changed"),
        WORKSPACE_IMPORTED: _("workspace imported"),
        ORGANIZATION_EXPORTED: _("organisation exported"),
        RETENTION_APPLIED: _("retention applied"),
        LEGAL_HOLD_CREATED: _("legal hold placed"),
        LEGAL_HOLD_RELEASED: _("legal hold released"),
        COMPLIANCE_OFFICER_GRANTED: _("compliance officer appointed"),
        COMPLIANCE_OFFICER_REVOKED: _("compliance officer removed"),
        DATA_EXPORT_REQUESTED: _("personal data export requested"),
        DATA_EXPORT_DOWNLOADED: _("personal data export downloaded"),
        PERSONAL_DATA_ERASED: _("personal data erased"),
    }
)


def _actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "channel", "days", "updated_by", "updated_at")
    fields = ("channel", "days")
    raw_id_fields = ("channel",)
    list_select_related = ("channel", "updated_by")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A policy stays the policy of its channel (or of the organisation).
        return ("channel",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            if obj.channel_id is None:
                saved = services.retention_set_org(actor=_actor(request), days=obj.days)
            else:
                services.retention_set_channel(
                    actor=_actor(request), channel_id=obj.channel_id, inherit=False, days=obj.days
                )
                saved = RetentionPolicy.objects.get(channel_id=obj.channel_id)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Deleting a channel's policy lets it follow the organisation's; the organisation's
        goes back to keeping forever."""
        if obj.channel_id is None:
            services.retention_set_org(actor=_actor(request), days=None)
            RetentionPolicy.objects.filter(pk=obj.pk).delete()
        else:
            services.retention_set_channel(
                actor=_actor(request), channel_id=obj.channel_id, inherit=True
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for policy in queryset:
            self.delete_model(request, policy)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at", "released_at")
    list_filter = ("released_at",)
    search_fields = ("name", "reason")
    fields = ("name", "reason", "users", "channels")
    filter_horizontal = ("users", "channels")
    actions = ["release_holds"]

    # Only compliance officers and the owner, whatever the role's model permissions say.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_manage_legal_holds(user=_actor(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_manage_legal_holds(user=_actor(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_manage_legal_holds(user=_actor(request))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A placed hold does not change: it is released (the action) and a new one placed.
        return obj is None and may_manage_legal_holds(user=_actor(request))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # holds are released, never deleted: the record stays

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("name", "reason", "users", "channels", "created_by", "created_at", "released_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.fields
        return self.get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        hold = services.legal_hold_create(
            actor=_actor(request),
            name=form.cleaned_data["name"],
            reason=form.cleaned_data["reason"],
            user_ids=[user.pk for user in form.cleaned_data["users"]],
            channel_ids=[channel.pk for channel in form.cleaned_data["channels"]],
        )
        obj.pk = hold.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The service set the users and channels already."""

    @admin.action(description=_("Release the selected legal holds"))
    def release_holds(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> None:
        released = 0
        for hold in queryset.filter(released_at__isnull=True):
            try:
                services.legal_hold_release(actor=_actor(request), hold_id=hold.pk)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
                continue
            released += 1
        self.message_user(request, _("Released: %(count)s") % {"count": released})


# The compliance export's admin page lives with its feature (autodiscovery imports only us).
from apps.governance.compliance_export import admin as _compliance_export_admin  # noqa: E402, F401

# --- erasure of a departed employee's personal data: actions on the users' list --------------


def _erase(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[User],
    *,
    delete_messages: bool,
    action: str,
) -> HttpResponse | None:
    """Ask for confirmation, then erase each selected user through the service (which checks
    the administrator may manage them, and the legal holds)."""
    users = list(queryset.order_by("username"))
    if request.POST.get("confirmed") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Erase personal data"),
            "opts": modeladmin.model._meta,
            "users": users,
            "delete_messages": delete_messages,
            "action": action,
        }
        return TemplateResponse(request, "admin/governance/erase_confirm.html", context)
    erased = 0
    for user in users:
        try:
            personal_data_erase(
                actor=_actor(request), user_id=user.pk, delete_messages=delete_messages
            )
        except DomainError as error:
            modeladmin.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
            continue
        erased += 1
    modeladmin.message_user(request, _("Personal data erased: %(count)s") % {"count": erased})
    return None


@admin.action(description=_("Erase personal data (keep their messages)"))
def erase_personal_data(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    return _erase(
        modeladmin, request, queryset, delete_messages=False, action="erase_personal_data"
    )


@admin.action(description=_("Erase personal data and delete their messages"))
def erase_personal_data_and_messages(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    return _erase(
        modeladmin,
        request,
        queryset,
        delete_messages=True,
        action="erase_personal_data_and_messages",
    )


# Accounts cannot import us (docs/architecture/README.md): governance adds its actions to the
# users' list of the admin console.
UserAdmin.actions = [*UserAdmin.actions, erase_personal_data, erase_personal_data_and_messages]
