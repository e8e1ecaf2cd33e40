"""Input validation and OpenAPI shapes for the chat REST API.

Output bodies are built by the payload builders in `apps.chat.events` (the same shapes the
WebSocket pushes); the output serializers here document them, and a test keeps both in step.
"""

from __future__ import annotations

from rest_framework import serializers

from apps.chat.models import ChannelKind, ChannelRole, NotificationLevel
from apps.files.serializers import AttachmentOut


class ReactionOut(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    user_ids = serializers.ListField(child=serializers.IntegerField())


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    channel_id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="Position in the channel (never changes).")
    version = serializers.IntegerField(help_text="Channel sequence value of the last change.")
    sender_id = serializers.IntegerField()
    sender_name = serializers.CharField()
    client_msg_id = serializers.UUIDField(allow_null=True)
    body = serializers.CharField(help_text="Markdown source; empty once deleted.")
    html = serializers.CharField(help_text="Sanitised HTML rendered by the server.")
    thread_root_id = serializers.IntegerField(allow_null=True)
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    mentions_everyone = serializers.BooleanField()
    mentioned_user_ids = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    reactions = ReactionOut(many=True)
    attachments = AttachmentOut(many=True)


class ChannelOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()
    topic = serializers.CharField()
    description = serializers.CharField()
    is_archived = serializers.BooleanField()
    is_announcement = serializers.BooleanField(help_text="Only channel administrators post.")
    created_at = serializers.DateTimeField()
    last_seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    member_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class MembershipOut(serializers.Serializer):
    role = serializers.ChoiceField(choices=ChannelRole.choices)
    is_muted = serializers.BooleanField()
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices)
    last_read_seq = serializers.IntegerField()


class ReadOut(serializers.Serializer):
    last_read_seq = serializers.IntegerField(help_text="The read position after the call.")


class ChannelSummaryOut(ChannelOut):
    membership = MembershipOut(allow_null=True)
    unread_count = serializers.IntegerField()
    mention_count = serializers.IntegerField()


class HistoryOut(serializers.Serializer):
    channel_id = serializers.IntegerField()
    last_seq = serializers.IntegerField(help_text="The channel's current sequence value.")
    has_more_before = serializers.BooleanField()
    has_more_after = serializers.BooleanField()
    messages = MessageOut(many=True)


class ThreadOut(serializers.Serializer):
    root = MessageOut()
    replies = MessageOut(many=True)


class MemberOut(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=ChannelRole.choices)
    joined_at = serializers.DateTimeField()


class BrowseChannelOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    topic = serializers.CharField()
    description = serializers.CharField()
    is_archived = serializers.BooleanField()
    member_count = serializers.IntegerField()
    is_member = serializers.BooleanField()


class SendAckOut(serializers.Serializer):
    duplicate = serializers.BooleanField(help_text="True when client_msg_id was seen before.")
    message = MessageOut()


# --- inputs -------------------------------------------------------------------------------------


class ChannelCreateIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ChannelKind.PUBLIC, ChannelKind.PRIVATE])
    name = serializers.CharField(max_length=80)
    topic = serializers.CharField(max_length=250, required=False, default="", allow_blank=True)
    description = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True
    )
    member_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=1000
    )
    is_announcement = serializers.BooleanField(required=False, default=False)


class ChannelUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    is_announcement = serializers.BooleanField(required=False)


class HistoryQueryIn(serializers.Serializer):
    after_seq = serializers.IntegerField(required=False, min_value=0)
    before_seq = serializers.IntegerField(required=False, min_value=0)
    around = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(required=False, min_value=1)
    roots_only = serializers.BooleanField(required=False, default=False)


class MessageSendIn(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)
    client_msg_id = serializers.UUIDField(required=False, allow_null=True)
    thread_root_id = serializers.IntegerField(required=False, allow_null=True)
    attachment_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=50,
        help_text="Your own uploaded, not yet attached files (POST /api/v1/files/).",
    )


class MessageEditIn(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class ReactionIn(serializers.Serializer):
    emoji = serializers.CharField(max_length=64)


class ReadIn(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


class TypingIn(serializers.Serializer):
    thread_root_id = serializers.IntegerField(required=False, allow_null=True)


class InviteIn(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(), min_length=1, max_length=1000
    )


class MemberRoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=ChannelRole.choices)


class MembershipSettingsIn(serializers.Serializer):
    is_muted = serializers.BooleanField(required=False)
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices, required=False)


class DirectOpenIn(serializers.Serializer):
    user_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=15)


class PresenceIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away"])
    connection_id = serializers.CharField(max_length=64, required=False, default="rest")


class PresenceQueryIn(serializers.Serializer):
    user_ids = serializers.CharField(help_text="Comma-separated user ids (at most 500).")
