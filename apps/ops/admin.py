"""The IT admin's view of backups and restore drills (read-only records of every run) and the
feature flags of gray release (managed here, every change audited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from apps.accounts.audit import register_audit_labels
from apps.accounts.models import Role
from apps.core.features import FLAGS
from apps.ops.flags import services as flag_services
from apps.ops.models import BackupRun, FeatureFlag, RestoreDrill

# The audit log (Accounts -> Audit events) shows these codes by their labels.
register_audit_labels(
    {
        flag_services.FLAG_CREATED: _("feature flag created"),
        flag_services.FLAG_CHANGED: _("feature flag changed"),
        flag_services.FLAG_DELETED: _("feature flag deleted"),
    }
)


def is_owner_or_admin(request: HttpRequest) -> bool:
    """The organisation's owner or an administrator (the staff roles), still active."""
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and (user.is_superuser or getattr(user, "is_org_admin", False))
    )


class OpsRecordAdmin(admin.ModelAdmin):
    """Seen by the owner and administrators (the staff roles), never added, changed or deleted.

    Administrators are staff without Django model permissions (apps/accounts/services.py maps
    roles to is_staff / is_superuser), so viewing follows the organisation role here.
    """

    def _may_view(self, request: HttpRequest) -> bool:
        return is_owner_or_admin(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BackupRun)
class BackupRunAdmin(OpsRecordAdmin):
    list_display = (
        "started_at",
        "status",
        "trigger",
        "duration",
        "size",
        "table_count",
        "row_count",
        "file_count",
        "name",
        "error",
    )
    list_filter = ("status", "trigger")
    search_fields = ("name", "error")
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in BackupRun._meta.fields]

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, run: BackupRun) -> str:
        return _format_duration(run.duration_seconds)

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, run: BackupRun) -> str:
        return str(filesizeformat(run.size_bytes))


@admin.register(RestoreDrill)
class RestoreDrillAdmin(OpsRecordAdmin):
    list_display = (
        "started_at",
        "status",
        "trigger",
        "duration",
        "backup_name",
        "tables_checked",
        "rows_checked",
        "files_checked",
        "error",
    )
    list_filter = ("status", "trigger")
    search_fields = ("backup_name", "error")
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in RestoreDrill._meta.fields]

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, drill: RestoreDrill) -> str:
        return _format_duration(drill.duration_seconds)


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{rest:02d}"
    return f"{minutes}:{rest:02d}"


class FeatureFlagForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        label=_("roles"),
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Activate this flag for everyone with one of these organisation roles."),
    )

    class Meta:
        model = FeatureFlag
        fields = ("name", "note", "everyone", "percent", "roles", "groups", "users")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # A new flag is one the product reads (a typo would gate nothing), and not one
            # that exists already.
            taken = set(FeatureFlag.objects.values_list("name", flat=True))
            self.fields["name"] = forms.ChoiceField(
                label=_("name"),
                choices=[("", "---------")]
                + [
                    (name, f"{name}: {description}")
                    for name, description in sorted(FLAGS.items())
                    if name not in taken
                ],
                help_text=_("The feature whose gray release this flag controls."),
            )


@admin.register(FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin):
    """Gray release: the owner and administrators create flags and widen them step by step.

    Every change goes through `apps.ops.flags.services` (validated, audited with before and
    after, and dropped from the cache after the commit). Like the records above, access
    follows the organisation role (administrators hold no Django model permissions).
    """

    form = FeatureFlagForm
    list_display = ("name", "feature", "everyone", "percent", "role_list", "note", "modified")
    list_filter = ("everyone",)
    search_fields = ("name", "note")
    filter_horizontal = ("groups", "users")
    actions = ["enable_for_everyone", "disable_for_everyone", "follow_rules", "delete_flags"]
    fieldsets = (
        (None, {"fields": ("name", "note")}),
        (
            _("Who gets it"),
            {
                "fields": ("everyone", "percent", "roles", "groups", "users"),
                "description": _(
                    "Everyone = Yes turns the feature on for all, No off for all (whatever "
                    "else is set); Unknown leaves it to the percentage, roles, groups and users."
                ),
            },
        ),
    )

    def _may_manage(self, request: HttpRequest) -> bool:
        return is_owner_or_admin(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # delete_flags deletes one by one, audited
        return actions

    @admin.display(description=_("feature"))
    def feature(self, flag: FeatureFlag) -> str:
        description = FLAGS.get(flag.name)
        return str(description or _("(no feature reads this flag)"))

    @admin.display(description=_("roles"))
    def role_list(self, flag: FeatureFlag) -> str:
        labels = dict(Role.choices)
        return ", ".join(str(labels.get(role, role)) for role in flag.roles)

    def save_model(self, request: HttpRequest, obj: FeatureFlag, form: Any, change: bool) -> None:
        """Saved in `save_related`, together with its users and groups, by one service call."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        flag_services.feature_flag_save(
            actor=request.user,  # type: ignore[arg-type]
            flag=form.instance,
            users=form.cleaned_data["users"],
            groups=form.cleaned_data["groups"],
        )

    def delete_model(self, request: HttpRequest, obj: FeatureFlag) -> None:
        flag_services.feature_flag_delete(actor=request.user, flag=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FeatureFlag]) -> None:
        for flag in queryset:
            self.delete_model(request, flag)

    def _set_everyone(self, request: HttpRequest, queryset: Any, everyone: bool | None) -> None:
        for flag in queryset:
            flag_services.feature_flag_set_everyone(
                actor=request.user,  # type: ignore[arg-type]
                flag=flag,
                everyone=everyone,
            )

    @admin.action(description=_("Turn on for everyone"))
    def enable_for_everyone(self, request: HttpRequest, queryset: QuerySet[FeatureFlag]) -> None:
        self._set_everyone(request, queryset, True)

    @admin.action(description=_("Turn off for everyone"))
    def disable_for_everyone(self, request: HttpRequest, queryset: QuerySet[FeatureFlag]) -> None:
        self._set_everyone(request, queryset, False)

    @admin.action(description=_("Follow the percentage, roles, groups and users again"))
    def follow_rules(self, request: HttpRequest, queryset: QuerySet[FeatureFlag]) -> None:
        self._set_everyone(request, queryset, None)

    @admin.action(description=_("Delete selected flags (their features turn off)"))
    def delete_flags(self, request: HttpRequest, queryset: QuerySet[FeatureFlag]) -> None:
        self.delete_queryset(request, queryset)
