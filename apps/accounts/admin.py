"""The IT admin's console for accounts. Actions go through services (same events, same rules)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_action_label, audit_record
from apps.accounts.models import (
    APIToken,
    AuditEvent,
    DirectoryProfile,
    DirectorySyncRun,
    Invitation,
    OrganizationSettings,
    Role,
    User,
    UserSession,
)
from apps.accounts.roles import may_manage_user, roles_assignable_by
from apps.accounts.signals import user_onboarded
from apps.core.errors import DomainError


class SourceFilter(admin.SimpleListFilter):
    title = _("source")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("directory", _("Directory (LDAP/AD)")), ("local", _("Local"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "directory":
            return queryset.filter(directory_profile__isnull=False)
        if self.value() == "local":
            return queryset.filter(directory_profile__isnull=True)
        return queryset


class DirectoryProfileInline(admin.StackedInline):
    model = DirectoryProfile
    can_delete = False
    extra = 0
    max_num = 0
    readonly_fields = (
        "dn",
        "directory_id",
        "phone",
        "department",
        "title",
        "deactivated_by_sync",
        "synced_at",
    )
    verbose_name_plural = _("directory (read-only: changed in the directory)")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "display_name",
        "email",
        "role",
        "is_active",
        "source",
        "two_factor",
        "is_bot",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        from django.db.models import Exists, OuterRef
        from django_otp.plugins.otp_totp.models import TOTPDevice

        return (
            super()
            .get_queryset(request)
            .annotate(
                has_directory=Exists(DirectoryProfile.objects.filter(user=OuterRef("pk"))),
                has_two_factor=Exists(
                    TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
                ),
            )
        )

    @admin.display(description=_("source"), ordering="has_directory")
    def source(self, user: User) -> str:
        return str(_("directory") if getattr(user, "has_directory", False) else _("local"))

    @admin.display(description=_("2FA"), boolean=True, ordering="has_two_factor")
    def two_factor(self, user: User) -> bool:
        return bool(getattr(user, "has_two_factor", False))

    list_filter = ("role", "is_active", SourceFilter, "is_bot", "is_staff")
    search_fields = (
        "username",
        "display_name",
        "first_name",
        "last_name",
        "email",
        "directory_profile__department",
    )
    inlines = [DirectoryProfileInline]
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (
            _("Profile"),
            {
                "fields": (
                    "display_name",
                    "first_name",
                    "last_name",
                    "email",
                    "avatar",
                    "time_zone",
                    "language",
                )
            },
        ),
        (_("Role and status"), {"fields": ("role", "is_bot", "is_active", "is_staff")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    actions = [
        "deactivate_users",
        "reactivate_users",
        "unlock_users",
        "reset_two_factor",
        "sign_out_everywhere",
    ]

    # Who may change whom (apps/accounts/roles.py): the owner everyone, an administrator
    # members, guests and their own profile. The services check it again.

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or may_manage_user(actor=request.user, target=obj)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or (
            obj.pk != request.user.pk and may_manage_user(actor=request.user, target=obj)  # type: ignore[arg-type]
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Staff follows the role (services.user_set_role); nobody edits their own role or
        # status here (the owner could otherwise leave the organisation without one).
        readonly = [*super().get_readonly_fields(request, obj), "is_staff"]
        if obj is not None and obj.pk == request.user.pk:
            readonly += ["role", "is_active"]
        return readonly

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role":
            assignable = roles_assignable_by(request.user)  # type: ignore[arg-type]
            kwargs["choices"] = [
                (value, label) for value, label in Role.choices if value in assignable
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Role and active-status edits go through the services (audit log, sockets closed)."""
        if not change:
            super().save_model(request, obj, form, change)
            if not obj.is_bot:
                user_onboarded.send(sender=User, user=obj, source="admin", channel_ids=[])
            return
        stored = User.objects.get(pk=obj.pk)
        new_role, new_active = obj.role, obj.is_active
        obj.role, obj.is_active = stored.role, stored.is_active
        obj.is_staff, obj.is_superuser = stored.is_staff, stored.is_superuser
        super().save_model(request, obj, form, change)
        actor: User = request.user  # type: ignore[assignment]
        try:
            if new_role != stored.role:
                services.user_set_role(user=obj, role=new_role, actor=actor)
            if stored.is_active and not new_active:
                services.user_deactivate(user=obj, actor=actor)
            elif new_active and not stored.is_active:
                services.user_reactivate(user=obj, actor=actor)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)

    def _for_each(
        self,
        request: HttpRequest,
        users: QuerySet[User],
        change: Callable[[User], object],
    ) -> int:
        """Apply `change` to each user the actor may manage; say which were skipped."""
        done = 0
        refused: list[str] = []
        for user in users:
            try:
                change(user)
            except DomainError:
                refused.append(user.get_username())
            else:
                done += 1
        if refused:
            self.message_user(
                request,
                _(
                    "Not changed (only the owner manages the owner and administrators, and "
                    "nobody deactivates themself): %(users)s"
                )
                % {"users": ", ".join(refused)},
                messages.WARNING,
            )
        return done

    @admin.action(description=_("Deactivate (ends sessions, tokens and sockets)"))
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        count = self._for_each(
            request,
            queryset.filter(is_active=True),
            lambda user: services.user_deactivate(user=user, actor=actor),
        )
        self.message_user(
            request,
            ngettext("%(n)d user deactivated.", "%(n)d users deactivated.", count) % {"n": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Unlock (clear failed sign-in attempts)"))
    def unlock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        if self._for_each(
            request, queryset, lambda user: services.user_unlock(user=user, actor=actor)
        ):
            self.message_user(request, _("The selected accounts are unlocked."), messages.SUCCESS)

    @admin.action(description=_("Reset two-factor authentication (lost phone)"))
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        from apps.accounts.two_factor import two_factor_reset

        actor: User = request.user  # type: ignore[assignment]
        if self._for_each(request, queryset, lambda user: two_factor_reset(user=user, actor=actor)):
            self.message_user(
                request,
                _("Two-factor authentication was reset for the selected users."),
                messages.SUCCESS,
            )

    @admin.action(description=_("Sign out of every session"))
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        if self._for_each(
            request, queryset, lambda user: services.user_sessions_end(user=user, actor=actor)
        ):
            self.message_user(request, _("The selected users were signed out."), messages.SUCCESS)

    @admin.action(description=_("Reactivate"))
    def reactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        self._for_each(
            request,
            queryset.filter(is_active=False),
            lambda user: services.user_reactivate(user=user, actor=actor),
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by administrators, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(APIToken)
class APITokenAdmin(ReadOnlyAdmin):
    """Tokens are created by their users; revoking one here closes its sockets at once."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    actions = ["revoke_tokens"]

    @admin.action(description=_("Revoke (closes the sockets it opened)"))
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[APIToken]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        for token in queryset.filter(revoked_at__isnull=True).select_related("user"):
            try:
                services.api_token_revoke(user=token.user, token_id=token.pk, actor=actor)
            except DomainError as error:
                self.message_user(request, f"{token.prefix}: {error.message}", messages.ERROR)


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    """Signed-in browser sessions; Users -> "Sign out of every session" ends them."""

    list_display = ("user", "ip_address", "user_agent", "created_at")
    search_fields = ("user__username", "ip_address")
    list_select_related = ("user",)


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = (
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "ip_address",
    "user_agent",
    "metadata",
)


class AuditActionFilter(admin.SimpleListFilter):
    """The recorded codes by their translated labels (`auth.login` -> "log-in")."""

    title = _("action")
    parameter_name = "action__exact"  # what the plain field filter used: old links still work

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        codes = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
        return sorted(((code, audit_action_label(code)) for code in codes), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor_label",
        "action_display",
        "target_type",
        "target_label",
        "ip_address",
    )
    list_filter = (AuditActionFilter, "target_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor_label", "target_label", "target_id", "ip_address", "action")
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    show_full_result_count = False
    fields = (
        "created_at",
        "actor_id",
        "actor_label",
        "action_display",
        "target_type",
        "target_id",
        "target_label",
        "ip_address",
        "user_agent",
        "metadata",
    )
    readonly_fields = fields

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, event: AuditEvent) -> str:
        """The translated label; the CSV export keeps the stable code."""
        return audit_action_label(event.action)

    @admin.action(description=_("Export selected events as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="enclave-audit-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for event in queryset.order_by("created_at", "id").iterator():
            writer.writerow([_csv_cell(getattr(event, column)) for column in CSV_COLUMNS])
            count += 1
        audit_record(
            action=AuditAction.AUDIT_EXPORTED,
            actor=request.user,
            target_type="auditevent",
            metadata={"rows": count},
        )
        return response


@admin.register(DirectorySyncRun)
class DirectorySyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "ok",
        "refused",
        "created",
        "updated",
        "deactivated",
        "reactivated",
        "error",
    )
    list_filter = ("ok", "refused")
    change_list_template = "admin/accounts/directorysyncrun/change_list.html"

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="accounts_directorysyncrun_sync_now",
            ),
            *super().get_urls(),
        ]

    def sync_now_view(self, request: HttpRequest) -> HttpResponse:
        """ "Sync directory now": the same service as the scheduled task; shows what changed."""
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponseNotAllowed, HttpResponseRedirect
        from django.urls import reverse

        from apps.accounts.ldap_sync import directory_sync
        from apps.core.errors import DomainError

        user = request.user
        if not getattr(user, "is_org_admin", False):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        audit_record(action=AuditAction.DIRECTORY_SYNC_REQUESTED, actor=user)
        try:
            result = directory_sync()
        except DomainError as error:
            self.message_user(
                request,
                _("Directory sync failed: %(error)s") % {"error": error.message},
                messages.ERROR,
            )
        else:
            lines = result.lines()
            self.message_user(
                request,
                ngettext(
                    "Directory sync finished: %(count)d change.",
                    "Directory sync finished: %(count)d changes.",
                    len(lines),
                )
                % {"count": len(lines)},
                messages.SUCCESS,
            )
            for line in lines[:50]:
                self.message_user(request, line, messages.INFO)
        return HttpResponseRedirect(reverse("admin:accounts_directorysyncrun_changelist"))

    readonly_fields = (
        "started_at",
        "finished_at",
        "ok",
        "refused",
        "error",
        "created",
        "updated",
        "deactivated",
        "reactivated",
        "changes",
    )


class OrganizationSettingsForm(forms.ModelForm):
    class Meta:
        model = OrganizationSettings
        fields = services.ORGANIZATION_RULES

    def clean_signup_allowed_domains(self) -> str:
        value: str = self.cleaned_data["signup_allowed_domains"]
        invalid = services.signup_domains_invalid(value)
        if invalid:
            raise forms.ValidationError(
                _("Not domain names (one per line, like example.com): %(entries)s"),
                params={"entries": ", ".join(invalid[:10])},
                code="invalid_domain",
            )
        return value


@admin.register(OrganizationSettings)
class OrganizationSettingsAdmin(admin.ModelAdmin):
    """The one row of organisation rules; changes are audited."""

    form = OrganizationSettingsForm

    list_display = (
        "__str__",
        "public_channel_creators",
        "private_channel_creators",
        "channel_inviters",
        "mention_all_senders",
        "bot_creators",
        "read_receipts_enabled",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not OrganizationSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: OrganizationSettings, form: Any, change: bool
    ) -> None:
        services.organization_settings_update(
            actor=request.user,  # type: ignore[arg-type]
            changes={name: form.cleaned_data[name] for name in form.changed_data},
        )


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Sent invitations; new ones are sent from the invitations page (one or a CSV file)."""

    list_display = ("email", "role", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("role", ("accepted_at", admin.EmptyFieldListFilter), "revoked_at")
    search_fields = ("email",)
    list_select_related = ("invited_by",)
    actions = ["revoke"]

    @admin.action(description=_("Revoke (the link stops working)"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        from apps.accounts.invitations import invitation_revoke

        for invitation in queryset:
            invitation_revoke(actor=request.user, invitation=invitation)  # type: ignore[arg-type]
