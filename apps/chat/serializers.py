"""Input validation and OpenAPI shapes for the chat REST API.

Output bodies are built by the payload builders in `apps.chat.events` (the same shapes the
WebSocket pushes); the output serializers here document them, and a test keeps both in step.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from apps.chat.models import ChannelKind, ChannelRole, NotificationLevel
from apps.chat.services import MAX_EMOJI_LENGTH
from apps.core.api import BoundedIntegerField, CommaSeparatedIdsField
from apps.core.inputs import (
    StrictCharField,
    StrictIntegerField,
    StrictListField,
    StrictUUIDField,
)

# An attachment's status as clients see it: the scan states, or "deleted". A message carries
# its attachments (`apps.chat.attachments.AttachmentPayload`), so chat documents their shape;
# the files API extends it (`apps.files.serializers.AttachmentDetailOut`).
STATUS_CHOICES = ["pending", "clean", "infected", "failed", "deleted"]


class AttachmentOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=STATUS_CHOICES,
        help_text="Only `clean` files can be downloaded; the others show a placeholder.",
    )
    name = serializers.CharField(help_text="Empty unless clean (or you uploaded it).")
    content_type = serializers.CharField(help_text="Sniffed from the content.")
    size = BoundedIntegerField()
    is_image = serializers.BooleanField()
    has_thumbnail = serializers.BooleanField()
    image_width = BoundedIntegerField(allow_null=True)
    image_height = BoundedIntegerField(allow_null=True)


class ReactionOut(serializers.Serializer):
    emoji = serializers.CharField()
    count = BoundedIntegerField()
    user_ids = serializers.ListField(child=BoundedIntegerField())


class PinOut(serializers.Serializer):
    pinned_by_id = BoundedIntegerField(allow_null=True)
    pinned_by_name = serializers.CharField()
    pinned_at = serializers.DateTimeField()


class MessageOut(serializers.Serializer):
    id = BoundedIntegerField()
    channel_id = BoundedIntegerField()
    seq = BoundedIntegerField(help_text="Position in the channel (never changes).")
    version = BoundedIntegerField(help_text="Channel sequence value of the last change.")
    sender_id = BoundedIntegerField()
    sender_name = serializers.CharField()
    client_msg_id = serializers.UUIDField(allow_null=True)
    body = serializers.CharField(help_text="Markdown source; empty once deleted.")
    html = serializers.CharField(help_text="Sanitised HTML rendered by the server.")
    thread_root_id = BoundedIntegerField(allow_null=True)
    reply_count = BoundedIntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    mentions_everyone = serializers.BooleanField()
    mentioned_user_ids = serializers.ListField(child=BoundedIntegerField())
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    reactions = ReactionOut(many=True)
    attachments = AttachmentOut(many=True)
    pinned = PinOut(allow_null=True, help_text="Who pinned it to its channel, and when.")


class ChannelOut(serializers.Serializer):
    id = BoundedIntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()
    topic = serializers.CharField()
    description = serializers.CharField()
    is_archived = serializers.BooleanField()
    is_announcement = serializers.BooleanField(help_text="Only channel administrators post.")
    created_at = serializers.DateTimeField()
    last_seq = BoundedIntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    member_ids = serializers.ListField(child=BoundedIntegerField(), allow_null=True)


class MembershipOut(serializers.Serializer):
    role = serializers.ChoiceField(choices=ChannelRole.choices)
    is_muted = serializers.BooleanField()
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices)
    last_read_seq = BoundedIntegerField()


class ReadOut(serializers.Serializer):
    last_read_seq = BoundedIntegerField(help_text="The read position after the call.")


class ReadPositionOut(serializers.Serializer):
    user_id = BoundedIntegerField()
    last_read_seq = BoundedIntegerField()


class ChannelReceiptsOut(serializers.Serializer):
    channel_id = BoundedIntegerField()
    available = serializers.BooleanField(
        help_text="False when the organisation has read receipts off or the conversation has "
        "more than ENCLAVE_RECEIPTS_MAX_MEMBERS members: then `positions` is empty."
    )
    reason = serializers.ChoiceField(choices=["", "disabled", "too_many_members"])
    positions = ReadPositionOut(
        many=True,
        help_text="The other members' read positions: a message is read by a "
        "member whose last_read_seq is at least the message's seq.",
    )


class ReceiptMemberOut(serializers.Serializer):
    user_id = BoundedIntegerField()
    name = serializers.CharField()


class MessageReceiptsOut(serializers.Serializer):
    message_id = BoundedIntegerField()
    channel_id = BoundedIntegerField()
    seq = BoundedIntegerField()
    read = ReceiptMemberOut(many=True)
    unread = ReceiptMemberOut(many=True)


class ChannelSummaryOut(ChannelOut):
    membership = MembershipOut(allow_null=True)
    unread_count = BoundedIntegerField()
    mention_count = BoundedIntegerField()


class HistoryOut(serializers.Serializer):
    channel_id = BoundedIntegerField()
    last_seq = BoundedIntegerField(help_text="The channel's current sequence value.")
    has_more_before = serializers.BooleanField()
    has_more_after = serializers.BooleanField()
    messages = MessageOut(many=True)


class ThreadOut(serializers.Serializer):
    root = MessageOut()
    replies = MessageOut(many=True)


class MemberOut(serializers.Serializer):
    user_id = BoundedIntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=ChannelRole.choices)
    joined_at = serializers.DateTimeField()


class BrowseChannelOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    topic = serializers.CharField()
    description = serializers.CharField()
    is_archived = serializers.BooleanField()
    member_count = BoundedIntegerField()
    is_member = serializers.BooleanField()


class SendAckOut(serializers.Serializer):
    duplicate = serializers.BooleanField(help_text="True when client_msg_id was seen before.")
    message = MessageOut(allow_null=True, help_text="Null for a command that posted nothing.")
    command = serializers.CharField(
        allow_null=True,
        help_text="The slash command the body ran instead of posting; null for a plain message.",
    )
    ephemeral = serializers.CharField(
        allow_null=True,
        help_text="The command's answer, for the sender only; null when there is none.",
    )


class CommandOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    usage = serializers.CharField()


# --- inputs -------------------------------------------------------------------------------------


class ChannelCreateIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ChannelKind.PUBLIC, ChannelKind.PRIVATE])
    name = serializers.CharField(max_length=80)
    topic = serializers.CharField(max_length=250, required=False, default="", allow_blank=True)
    description = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True
    )
    member_ids = serializers.ListField(
        child=BoundedIntegerField(), required=False, default=list, max_length=1000
    )
    is_announcement = serializers.BooleanField(required=False, default=False)


class ChannelUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    is_announcement = serializers.BooleanField(required=False)


class HistoryQueryIn(serializers.Serializer):
    after_seq = BoundedIntegerField(required=False, min_value=0)
    before_seq = BoundedIntegerField(required=False, min_value=0)
    around = BoundedIntegerField(required=False, min_value=1)
    limit = BoundedIntegerField(required=False, min_value=1)
    roots_only = serializers.BooleanField(required=False, default=False)


class MessageSendIn(serializers.Serializer):
    # One rule for REST and the socket (docs/architecture/realtime.md, "One rule per input"):
    # the client picks client_msg_id, a UUID, on both (the web client always does).
    body = StrictCharField(trim_whitespace=False, allow_blank=True)
    client_msg_id = StrictUUIDField(
        help_text="A UUID the client picks; a resend with the same one returns the original.",
        codes={
            "required": "client_msg_id_required",
            "null": "client_msg_id_required",
            "blank": "client_msg_id_required",
            "invalid": "invalid_client_msg_id",
        },
        error_messages={
            "required": gettext_lazy("client_msg_id is required."),
            "null": gettext_lazy("client_msg_id is required."),
            "blank": gettext_lazy("client_msg_id is required."),
            "invalid": gettext_lazy("client_msg_id must be a UUID."),
        },
    )
    thread_root_id = StrictIntegerField(required=False, allow_null=True)
    attachment_ids = StrictListField(
        child=StrictUUIDField(),
        required=False,
        default=list,
        max_length=50,
        help_text="Your own uploaded, not yet attached files (POST /api/v1/files/).",
    )


class MessageEditIn(serializers.Serializer):
    body = StrictCharField(trim_whitespace=False, allow_blank=True)


_EMOJI_CODES = {"blank": "invalid_emoji", "max_length": "invalid_emoji"}


class ReactionIn(serializers.Serializer):
    emoji = StrictCharField(max_length=MAX_EMOJI_LENGTH, codes=_EMOJI_CODES)


class ReadIn(serializers.Serializer):
    seq = StrictIntegerField(
        min_value=0,
        codes={"min_value": "invalid_seq"},
        error_messages={"min_value": gettext_lazy("seq must be a non-negative integer.")},
    )


class TypingIn(serializers.Serializer):
    thread_root_id = StrictIntegerField(required=False, allow_null=True)


# --- WebSocket frames: the REST input plus the ids a REST URL carries ---------------------------
# apps/chat/consumers.py validates each operation's frame with these (`FrameValidator`).


class MessageSendFrame(MessageSendIn):
    channel_id = StrictIntegerField()


class MessageEditFrame(MessageEditIn):
    message_id = StrictIntegerField()


class MessageDeleteFrame(serializers.Serializer):
    message_id = StrictIntegerField()


class ReactionFrame(ReactionIn):
    message_id = StrictIntegerField()


class ReadFrame(ReadIn):
    channel_id = StrictIntegerField()


class TypingFrame(TypingIn):
    channel_id = StrictIntegerField()


class PresenceSetFrame(serializers.Serializer):
    status = StrictCharField(trim_whitespace=False, allow_blank=True)


class InviteIn(serializers.Serializer):
    user_ids = serializers.ListField(child=BoundedIntegerField(), min_length=1, max_length=1000)


class MemberRoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=ChannelRole.choices)


class MembershipSettingsIn(serializers.Serializer):
    is_muted = serializers.BooleanField(required=False)
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices, required=False)


class DirectOpenIn(serializers.Serializer):
    user_ids = serializers.ListField(child=BoundedIntegerField(), min_length=1, max_length=15)


class PresenceIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away"])
    connection_id = serializers.CharField(max_length=64, required=False, default="rest")


class PresenceQueryIn(serializers.Serializer):
    user_ids = CommaSeparatedIdsField(
        max_items=500, help_text="Comma-separated user ids (the first 500 count)."
    )
