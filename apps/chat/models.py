"""Channels, memberships, messages, reactions and mentions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    PUBLIC = "public", _("Public channel")
    PRIVATE = "private", _("Private channel")
    DIRECT = "direct", _("Direct message")
    GROUP = "group", _("Group direct message")


NAMED_KINDS = (ChannelKind.PUBLIC, ChannelKind.PRIVATE)
DIRECT_KINDS = (ChannelKind.DIRECT, ChannelKind.GROUP)


class Channel(models.Model):
    kind = models.CharField(_("kind"), max_length=10, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=80, blank=True)
    topic = models.CharField(_("topic"), max_length=250, blank=True)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    is_archived = models.BooleanField(_("archived"), default=False)
    # Announcement channels: everyone reads, only channel administrators post.
    is_announcement = models.BooleanField(_("announcement channel"), default=False)
    # Sorted member ids ("3,17") for direct and group channels: one channel per member set.
    dm_key = models.CharField(max_length=2000, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Last value of the channel's change sequence. Every message, edit, deletion and reaction
    # takes the next value in its own transaction; the row lock orders concurrent writers.
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=Q(kind__in=["public", "private"]),
                name="chat_channel_unique_name",
            )
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_direct(self) -> bool:
        return self.kind in DIRECT_KINDS


class ChannelRole(models.TextChoices):
    ADMIN = "admin", _("Channel administrator")
    MEMBER = "member", _("Member")


class NotificationLevel(models.TextChoices):
    DEFAULT = "default", _("Default")
    ALL = "all", _("All messages")
    MENTIONS = "mentions", _("Mentions only")
    NOTHING = "nothing", _("Nothing")


class Membership(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=ChannelRole.choices, default="member")
    is_muted = models.BooleanField(default=False)
    notification_level = models.CharField(
        max_length=10, choices=NotificationLevel.choices, default="default"
    )
    last_read_seq = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["channel", "user"], name="chat_membership_unique")
        ]
        indexes = [models.Index(fields=["user", "channel"])]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.channel_id}"


class Message(models.Model):
    # Every index costs each insert; the three foreign keys need none of their own: the
    # unique (channel, seq), (sender, client_msg_id) and the (thread_root, seq) index start
    # with them (measured: ten indexes on this table made inserts the write path's cost).
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Position in the channel, assigned once at creation from the channel's sequence.
    seq = models.BigIntegerField()
    # Channel sequence value of the last change (creation, edit, deletion, reaction): a client
    # that last saw channel_seq N fetches every message with version > N and converges.
    version = models.BigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="messages_sent",
        db_index=False,
    )
    client_msg_id = models.UUIDField(null=True, blank=True)
    body = models.TextField()
    html = models.TextField()
    thread_root = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="replies",
        db_index=False,
    )
    reply_count = models.IntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    mentions_everyone = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)
    # Soft delete: the row stays as a tombstone (body cleared) so clients converge.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="chat_message_channel_seq"),
            models.UniqueConstraint(
                fields=["sender", "client_msg_id"], name="chat_message_idempotency"
            ),
        ]
        indexes = [
            models.Index(fields=["thread_root", "seq"]),
            models.Index(fields=["channel", "version"]),
            # Unread counts of the channel list: an index-only range scan per membership
            # (channel, seq > last_read_seq, not one's own) on PostgreSQL.
            models.Index(
                fields=["channel", "seq"],
                include=["sender"],
                condition=Q(deleted_at__isnull=True),
                name="chat_message_live_seq",
            ),
            # Unread @all/@everyone messages of the channel list (a small fraction of rows).
            models.Index(
                fields=["channel", "seq"],
                condition=Q(mentions_everyone=True, deleted_at__isnull=True),
                name="chat_message_everyone_seq",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.channel_id}/{self.seq}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions"
    )
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reaction")
        verbose_name_plural = _("reactions")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class Mention(models.Model):
    """A user named in a message with @username (wildcards are `Message.mentions_everyone`)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )

    class Meta:
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="chat_mention_unique")
        ]
        indexes = [models.Index(fields=["user", "message"])]

    def __str__(self) -> str:
        return f"@{self.user_id} in {self.message_id}"


class MessagePin(models.Model):
    """A message pinned to its channel: channel state, every member sees it.

    Pinning and unpinning take the channel's next sequence value and set the message's
    `version` (as a reaction does), so a client catching up with ?after_seq=N sees the
    message's new `pinned` state and the history page cache never serves a stale one.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="pin")
    # Denormalised from the message: the channel's pinned list is one index range scan.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="pins", db_index=False
    )
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    pinned_at = models.DateTimeField()

    class Meta:
        verbose_name = _("pinned message")
        verbose_name_plural = _("pinned messages")
        indexes = [models.Index(fields=["channel", "pinned_at"], name="chat_pin_channel_time")]

    def __str__(self) -> str:
        return f"pin of {self.message_id} in {self.channel_id}"


class MessageRevision(models.Model):
    """An earlier text of an edited message: each edit keeps the text it replaced.

    Read only by the compliance export (apps.governance); clients never see it. A deletion
    takes the revisions with the text, unless the message is under a legal hold (then the
    hidden message keeps both), and retention's purge takes them with the row.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    # When this text was written (the message's creation or the edit before) and replaced.
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField()

    class Meta:
        verbose_name = _("message revision")
        verbose_name_plural = _("message revisions")

    def __str__(self) -> str:
        return f"revision of {self.message_id} replaced at {self.replaced_at:%Y-%m-%d %H:%M:%S}"
