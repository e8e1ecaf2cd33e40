from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import Role, Theme
from apps.core.api import BoundedIntegerField


class StatusOut(serializers.Serializer):
    emoji = serializers.CharField()
    text = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class DndOut(serializers.Serializer):
    """Do not disturb as it holds now: notifications are paused, until `until`."""

    active = serializers.BooleanField()
    until = serializers.DateTimeField(allow_null=True)


class DndScheduleOut(serializers.Serializer):
    enabled = serializers.BooleanField()
    days = serializers.ListField(child=BoundedIntegerField(min_value=0, max_value=6))
    start = serializers.CharField(allow_null=True, help_text="HH:MM in the user's time zone")
    end = serializers.CharField(allow_null=True, help_text="HH:MM; not after start: next day")


class NotificationSettingsOut(serializers.Serializer):
    desktop = serializers.BooleanField()
    sound = serializers.BooleanField()
    email_unread = serializers.BooleanField(
        help_text="E-mail about direct messages and mentions left unread"
    )


class NotificationSettingsIn(serializers.Serializer):
    desktop = serializers.BooleanField(required=False)
    sound = serializers.BooleanField(required=False)
    email_unread = serializers.BooleanField(required=False)


class MyStatusOut(serializers.Serializer):
    status = StatusOut(allow_null=True)
    dnd = DndOut()
    dnd_schedule = DndScheduleOut()


class StatusIn(serializers.Serializer):
    emoji = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)
    text = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)
    clear_after = serializers.ChoiceField(
        choices=["30m", "1h", "4h", "today", "week", "never"], required=False, default="never"
    )
    expires_at = serializers.DateTimeField(
        required=False, default=None, allow_null=True, help_text="Overrides clear_after."
    )


class DndScheduleIn(serializers.Serializer):
    enabled = serializers.BooleanField()
    days = serializers.ListField(
        child=BoundedIntegerField(min_value=0, max_value=6), max_length=7, default=list
    )
    start = serializers.TimeField(required=False, default=None, allow_null=True)
    end = serializers.TimeField(required=False, default=None, allow_null=True)


class DndIn(serializers.Serializer):
    """`minutes` or `until` pause notifications from now, `until: null` resumes them; with
    neither, the pause runs on as it is (to change only the schedule)."""

    minutes = BoundedIntegerField(min_value=1, max_value=527040, required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)
    schedule = DndScheduleIn(required=False, help_text="Replaces the weekly schedule if given.")


class UserOut(serializers.Serializer):
    id = BoundedIntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    is_bot = serializers.BooleanField()
    time_zone = serializers.CharField()
    language = serializers.CharField()
    avatar_url = serializers.CharField(allow_null=True)
    status = StatusOut(allow_null=True, help_text="The custom status; null when none or expired.")
    dnd = DndOut()


class UserProfileOut(UserOut):
    """One user's card: directory data (empty for a local account) and their local time."""

    title = serializers.CharField()
    department = serializers.CharField()
    phone = serializers.CharField()
    local_time = serializers.CharField(help_text="Now in the user's time zone, ISO 8601.")


class OrgPermissionsOut(serializers.Serializer):
    """What the organisation settings let the user do (`access_org_action`'s rule)."""

    create_public_channel = serializers.BooleanField()
    create_private_channel = serializers.BooleanField()
    invite = serializers.BooleanField()
    mention_all = serializers.BooleanField()
    create_bot = serializers.BooleanField()


class MeOut(UserOut):
    theme = serializers.ChoiceField(choices=Theme.choices)
    permissions = OrgPermissionsOut()
    dnd_schedule = DndScheduleOut()
    notification_settings = NotificationSettingsOut()


class ProfileIn(serializers.Serializer):
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    language = serializers.ChoiceField(
        choices=[("", ""), *settings.LANGUAGES], required=False, allow_blank=True
    )
    theme = serializers.ChoiceField(choices=Theme.choices, required=False)


class AvatarIn(serializers.Serializer):
    avatar = serializers.ImageField(help_text="PNG, JPEG, GIF or WebP; at most 5 MB and 4096×4096.")


class TokenObtainIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, default="API client")
    otp = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text="A TOTP or recovery code; required for accounts with two-factor authentication.",
    )


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TokenOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="The raw token. Shown once; store it now.")


class SessionOut(serializers.Serializer):
    id = BoundedIntegerField()
    ip_address = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The session this request came with.")


class SessionsEndedOut(serializers.Serializer):
    ended = BoundedIntegerField(help_text="How many other sessions were signed out.")


class InvitationIn(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.CharField(max_length=16, required=False, default=Role.MEMBER)
    channel_ids = serializers.ListField(
        child=BoundedIntegerField(), required=False, default=list, max_length=100
    )


class InvitationOut(serializers.Serializer):
    id = BoundedIntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    channel_ids = serializers.ListField(child=BoundedIntegerField())
    expires_at = serializers.DateTimeField()


class InvitationChannelOut(serializers.Serializer):
    id = BoundedIntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # the API field, not Field.label
