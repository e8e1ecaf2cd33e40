"""The workplace in the admin console: default channels and the welcome message."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.models import User
from apps.chat.models import NAMED_KINDS, Channel
from apps.core.errors import DomainError
from apps.workspace import services
from apps.workspace.models import DefaultChannel, DigestState, WorkspaceSettings


@admin.register(WorkspaceSettings)
class WorkspaceSettingsAdmin(admin.ModelAdmin):
    fields = ["welcome_message"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not WorkspaceSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DefaultChannel)
class DefaultChannelAdmin(admin.ModelAdmin):
    """Add or remove default channels; changes go through `default_channels_set` (audited)."""

    list_display = ["channel", "added_at"]
    fields = ["channel"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DefaultChannel]:
        return super().get_queryset(request).select_related("channel")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "channel":
            kwargs["queryset"] = Channel.objects.filter(
                kind__in=NAMED_KINDS, is_archived=False
            ).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _set(self, request: HttpRequest, channel_ids: list[int]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        try:
            services.default_channels_set(actor=actor, channel_ids=channel_ids)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)

    def save_model(
        self, request: HttpRequest, obj: DefaultChannel, form: Any, change: bool
    ) -> None:
        current = [c.pk for c in services.default_channels_ensure()]
        self._set(request, [*current, obj.channel_id])
        saved = DefaultChannel.objects.filter(channel_id=obj.channel_id).first()
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: DefaultChannel) -> None:
        current = [c.pk for c in services.default_channels_ensure()]
        self._set(request, [pk for pk in current if pk != obj.channel_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DefaultChannel]) -> None:
        removed = set(queryset.values_list("channel_id", flat=True))
        current = [c.pk for c in services.default_channels_ensure()]
        self._set(request, [pk for pk in current if pk not in removed])


@admin.register(DigestState)
class DigestStateAdmin(admin.ModelAdmin):
    """What each person's e-mail digests covered (read only: support answers "why did I get,
    or not get, this e-mail?"). Written only by `apps.workspace.digests`."""

    list_display = ["user", "last_sent_at", "last_message_id", "covered_until"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    ordering = ["-last_sent_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
