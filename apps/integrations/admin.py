"""The IT admin's console for integrations: trusted hosts, bots (deactivate), webhooks
(revoke), custom slash commands, and outgoing deliveries (what failed and why)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.audit import register_audit_labels
from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.integrations import services, snapshot
from apps.integrations.models import (
    Bot,
    CustomCommand,
    IncomingWebhook,
    IntegrationSettings,
    LinkPreview,
    OutgoingDelivery,
    OutgoingWebhook,
)

register_audit_labels(
    {
        "integrations.settings_changed": _("integration settings changed"),
        "integrations.bot_created": _("bot created"),
        "integrations.bot_changed": _("bot changed"),
        "integrations.bot_deactivated": _("bot deactivated"),
        "integrations.bot_token_created": _("bot token created"),
        "integrations.bot_token_revoked": _("bot token revoked"),
        "integrations.incoming_webhook_created": _("incoming webhook created"),
        "integrations.incoming_webhook_revoked": _("incoming webhook revoked"),
        "integrations.outgoing_webhook_created": _("outgoing webhook created"),
        "integrations.outgoing_webhook_revoked": _("outgoing webhook revoked"),
        "integrations.command_created": _("slash command created"),
        "integrations.command_deleted": _("slash command deleted"),
    }
)


@admin.register(IntegrationSettings)
class IntegrationSettingsAdmin(admin.ModelAdmin):
    fields = ("egress_allowed_hosts", "link_preview_hosts", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not IntegrationSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: IntegrationSettings, form: object, change: bool
    ) -> None:
        obj.pk = 1
        super().save_model(request, obj, form, change)
        snapshot.forget_cached_settings()


def _run(request: HttpRequest, modeladmin: admin.ModelAdmin, action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except DomainError as error:
        modeladmin.message_user(request, error.message, level=messages.ERROR)


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ("user", "owner", "description", "endpoint_url", "created_at", "deactivated_at")
    list_filter = ("deactivated_at",)
    search_fields = ("user__username", "owner__username", "description")
    readonly_fields = ("user", "owner", "signing_secret", "created_at", "deactivated_at")
    fields = (
        "user",
        "owner",
        "description",
        "endpoint_url",
        "signing_secret",
        "created_at",
        "deactivated_at",
    )
    actions = ["deactivate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bots are created in the app (Settings -> Bots) or by the REST API

    @admin.action(description=_("Deactivate (revokes every token)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        for bot in queryset:
            _run(
                request,
                self,
                lambda bot=bot: services.bot_deactivate(actor=actor, bot_id=bot.pk),
            )


@admin.register(IncomingWebhook)
class IncomingWebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "bot", "channel", "token_prefix", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = (
        "bot",
        "channel",
        "token_prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    exclude = ("token_digest",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[IncomingWebhook]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        for hook in queryset:
            _run(
                request,
                self,
                lambda hook=hook: services.incoming_webhook_revoke(actor=actor, webhook_id=hook.pk),
            )


@admin.register(OutgoingWebhook)
class OutgoingWebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "bot", "channel", "url", "trigger_words", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("bot", "channel", "signing_secret", "created_by", "created_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[OutgoingWebhook]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        for hook in queryset:
            _run(
                request,
                self,
                lambda hook=hook: services.outgoing_webhook_revoke(actor=actor, webhook_id=hook.pk),
            )


@admin.register(OutgoingDelivery)
class OutgoingDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "webhook",
        "message",
        "state",
        "attempts",
        "last_error",
        "created_at",
        "finished_at",
    )
    list_filter = ("state",)
    readonly_fields = (
        "webhook",
        "message",
        "state",
        "attempts",
        "last_error",
        "created_at",
        "finished_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CustomCommand)
class CustomCommandAdmin(admin.ModelAdmin):
    list_display = ("__str__", "description", "url", "bot", "is_active")
    list_filter = ("is_active",)
    readonly_fields = ("signing_secret", "created_by", "created_at")

    def save_model(
        self, request: HttpRequest, obj: CustomCommand, form: object, change: bool
    ) -> None:
        if not change:
            from apps.integrations import signing

            obj.signing_secret = signing.new_secret()
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(LinkPreview)
class LinkPreviewAdmin(admin.ModelAdmin):
    list_display = ("url", "title", "message", "created_at", "removed_at")
    readonly_fields = (
        "message",
        "url",
        "title",
        "description",
        "image_url",
        "site_name",
        "created_at",
    )
