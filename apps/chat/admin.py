"""The IT admin's console for channels and messages."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, Membership, Message
from apps.core.errors import DomainError


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "is_muted", "notification_level", "last_read_seq")
    readonly_fields = ("last_read_seq",)
    raw_id_fields = ("user",)


class ChannelActionForm(ActionForm):
    new_owner = forms.CharField(label=_("New owner (username)"), required=False, max_length=150)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "topic", "is_archived", "last_seq", "last_message_at")
    list_filter = ("kind", "is_archived")
    search_fields = ("name", "topic")
    readonly_fields = ("dm_key", "last_seq", "last_message_at", "created_at", "created_by")
    inlines = [MembershipInline]
    actions = ["archive", "unarchive", "change_owner"]
    action_form = ChannelActionForm

    @admin.action(description=_("Archive (read-only)"))
    def archive(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset.exclude(kind__in=["direct", "group"]):
            services.channel_set_archived(
                actor=request.user,  # type: ignore[arg-type]
                channel_id=channel.pk,
                archived=True,
            )

    @admin.action(description=_("Unarchive"))
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset.exclude(kind__in=["direct", "group"]):
            services.channel_set_archived(
                actor=request.user,  # type: ignore[arg-type]
                channel_id=channel.pk,
                archived=False,
            )

    @admin.action(description=_("Change owner (make the user below channel admin)"))
    def change_owner(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        username = request.POST.get("new_owner", "").strip()
        owner = User.objects.filter(username__iexact=username).first() if username else None
        if owner is None:
            self.message_user(request, _("Give the username of the new owner."), messages.ERROR)
            return
        for channel in queryset:
            try:
                services.channel_change_owner(
                    actor=request.user,  # type: ignore[arg-type]
                    channel_id=channel.pk,
                    user_id=owner.pk,
                )
            except DomainError as error:
                self.message_user(request, f"{channel}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(user)s now owns %(channel)s.") % {"user": owner, "channel": channel},
                    messages.SUCCESS,
                )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "seq", "sender", "created_at", "deleted_at")
    list_filter = ("deleted_at",)
    search_fields = ("body",)
    raw_id_fields = ("channel", "sender", "thread_root")
    list_select_related = ("channel", "sender")
    readonly_fields = ("seq", "version", "client_msg_id", "html", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are sent through the services, never typed into the admin

    # Read-only: an edit or a deletion here would bypass the services, so no sequence number,
    # no version, no re-rendered HTML, no push to clients and no audit entry. Owners and admins
    # read messages here; senders edit and delete their own in the app.
    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False
