from __future__ import annotations

from rest_framework import serializers

from apps.chat.serializers import MessageOut
from apps.core.api import BoundedIntegerField


class DefaultChannelOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


class DefaultChannelsIn(serializers.Serializer):
    channel_ids = serializers.ListField(child=BoundedIntegerField(), max_length=50)


class InboxItemOut(serializers.Serializer):
    reason = serializers.ChoiceField(choices=["direct", "mention", "reply"])
    message = serializers.DictField(help_text="A message, as in the channel history.")


class InboxChannelOut(serializers.Serializer):
    id = BoundedIntegerField()
    last_seq = BoundedIntegerField()
    last_read_seq = BoundedIntegerField()


class InboxOut(serializers.Serializer):
    items = InboxItemOut(many=True)
    channels = InboxChannelOut(many=True)


class MarkedReadOut(serializers.Serializer):
    channel_id = BoundedIntegerField()
    last_read_seq = BoundedIntegerField()


class ReminderIn(serializers.Serializer):
    message_id = BoundedIntegerField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    preset = serializers.ChoiceField(
        choices=["20m", "1h", "3h", "tomorrow", "next_monday"],
        required=False,
        allow_null=True,
        default=None,
        help_text="In 20 minutes, 1 or 3 hours, tomorrow 9:00 or next Monday 9:00 (my zone).",
    )
    remind_at = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=40,
        help_text="ISO 8601; without an offset, a wall-clock time in my profile's zone.",
    )


class ReminderMessageOut(serializers.Serializer):
    id = BoundedIntegerField()
    channel_id = BoundedIntegerField()
    excerpt = serializers.CharField()


class ReminderOut(serializers.Serializer):
    id = BoundedIntegerField()
    remind_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    note = serializers.CharField()
    message = ReminderMessageOut(allow_null=True)
    message_unavailable = serializers.BooleanField()


class SavedItemOut(serializers.Serializer):
    saved_at = serializers.DateTimeField()
    channel_id = BoundedIntegerField()
    channel_name = serializers.CharField(help_text="Empty for direct messages.")
    message = MessageOut()


class SavedIn(serializers.Serializer):
    message_id = BoundedIntegerField(min_value=1)


class SavedStateOut(serializers.Serializer):
    message_id = BoundedIntegerField()
    saved_at = serializers.DateTimeField(allow_null=True, help_text="None: not saved.")
