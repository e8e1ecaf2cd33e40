"""Writes on messages one at a time: send (the REST path), edit, delete, attachments changed.

Hot path: `message_send` costs a fixed number of queries whatever the channel size: no
per-member work happens on send."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import OrganizationSettings, User
from apps.accounts.permissions import OrgAction, access_org_action, may_do
from apps.chat import events
from apps.chat.attachments import attachment_store
from apps.chat.holds import message_is_held
from apps.chat.hooks import notify_new_message
from apps.chat.markdown import RenderedMessage, render_message
from apps.chat.message_hooks import message_created
from apps.chat.models import (
    Membership,
    Mention,
    Message,
    MessagePin,
    MessageRevision,
    Reaction,
)
from apps.chat.permissions import access_channel_post, access_message_delete, access_message_edit
from apps.chat.services._common import (
    SendResult,
    _clean_body,
    _message_payload_fresh,
    _next_channel_seq,
    _resolve_usernames,
)
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit
from apps.core.metrics import MESSAGES_SENT
from apps.core.runtime.sqlrows import plain_instance

# --- messages -----------------------------------------------------------------------------------


def _parse_client_msg_id(client_msg_id: object) -> uuid.UUID | None:
    if client_msg_id is None or client_msg_id == "":
        return None
    if isinstance(client_msg_id, uuid.UUID):
        return client_msg_id
    try:
        return uuid.UUID(str(client_msg_id))
    except ValueError:
        raise InvalidInput(
            _("client_msg_id must be a UUID."), code="invalid_client_msg_id"
        ) from None


def message_send(
    *,
    sender: User,
    channel_id: int,
    body: str,
    client_msg_id: object = None,
    thread_root_id: int | None = None,
    attachment_ids: Sequence[object] = (),
) -> SendResult:
    """Store a message and publish it after commit. Idempotent on (sender, client_msg_id).

    A resend with a known client_msg_id returns the stored message (`created=False`) and
    publishes nothing, so the client can retry blindly until it gets an ack.
    `attachment_ids` names the sender's own uploaded, unattached files; with files the text
    may be empty. `messages_send_batch` is the same for many messages in one transaction.
    """
    msg_uuid = _parse_client_msg_id(client_msg_id)
    if msg_uuid is not None:
        existing = _existing_send(sender=sender, client_msg_id=msg_uuid, channel_id=channel_id)
        if existing is not None:
            return SendResult(existing, created=False)
    body = _send_body(body, attachment_ids=attachment_ids)
    channel, membership = access_channel_post(user=sender, channel_id=channel_id)
    root: Message | None = None
    if thread_root_id is not None:
        root = (
            Message.objects.filter(pk=thread_root_id, channel_id=channel.pk)
            .only("id", "thread_root_id", "deleted_at")
            .first()
        )
        if root is None or root.deleted_at is not None:
            raise NotFound(_("No such thread."), code="thread_not_found")
        if root.thread_root_id is not None:  # replies to replies join the same thread
            root = Message.objects.only("id", "thread_root_id").get(pk=root.thread_root_id)
    rendered = render_message(body, resolve_usernames=_resolve_usernames)
    _check_mention_all(sender=sender, rendered=rendered)
    now = timezone.now()
    try:
        with transaction.atomic():
            attachments = (
                attachment_store().claim_for_message(sender=sender, attachment_ids=attachment_ids)
                if attachment_ids
                else []
            )
            seq = _next_channel_seq(channel_id=channel.pk, now=now, new_message=True)
            message = _new_message(
                sender=sender,
                channel_id=channel.pk,
                seq=seq,
                client_msg_id=msg_uuid,
                body=body,
                rendered=rendered,
                thread_root=root,
                now=now,
            )
            message.save(force_insert=True)
            if rendered.mentioned_user_ids:
                Mention.objects.bulk_create(_mentions_of(message, rendered))
            if attachments:
                attachment_store().link_to_message(attachments=attachments, message_id=message.pk)
            root_payload: events.ThreadRootPayload | None = None
            if root is not None:
                # The root changed too (its reply count): it shares this change's version so
                # a client catching up with ?after_seq=N receives it (see channel_history).
                Message.objects.filter(pk=root.pk).update(
                    reply_count=F("reply_count") + 1, last_reply_at=now, version=seq
                )
                root.refresh_from_db(fields=["reply_count"])
                root_payload = {
                    "id": root.pk,
                    "reply_count": root.reply_count,
                    "last_reply_at": now.isoformat(),
                }
            # The sender has read what they wrote.
            Membership.objects.filter(pk=membership.pk, last_read_seq__lt=seq).update(
                last_read_seq=seq
            )
            _publish_message_new(
                message,
                sender=sender,
                rendered=rendered,
                attachments=attachments,
                thread_root=root_payload,
            )
            notify_new_message(
                message, mentioned_user_ids=rendered.mentioned_user_ids, dm_key=channel.dm_key
            )
    except IntegrityError:
        if msg_uuid is not None:
            existing = _existing_send(sender=sender, client_msg_id=msg_uuid, channel_id=channel_id)
            if existing is not None:
                return SendResult(existing, created=False)
        raise
    MESSAGES_SENT.inc()
    return SendResult(message, created=True)


def _existing_send(*, sender: User, client_msg_id: uuid.UUID, channel_id: int) -> Message | None:
    existing = (
        Message.objects.select_related("sender")
        .filter(sender=sender, client_msg_id=client_msg_id)
        .first()
    )
    if existing is not None:
        _refuse_reuse_elsewhere(used_in=existing.channel_id, channel_id=channel_id)
    return existing


def _refuse_reuse_elsewhere(*, used_in: int, channel_id: int) -> None:
    """A client_msg_id already used by this sender belongs to the channel it was used in."""
    if used_in != channel_id:
        raise Conflict(
            _("This client_msg_id was already used in another channel."),
            code="client_msg_id_reused",
        )


def _send_body(body: object, *, attachment_ids: Sequence[object]) -> str:
    """The text to store: cleaned, or empty when attached files carry the message."""
    if attachment_ids and isinstance(body, str) and not body.strip():
        return ""
    return _clean_body(body)


def _check_mention_all(
    *, sender: User, rendered: RenderedMessage, org: OrganizationSettings | None = None
) -> None:
    """@all/@everyone/@channel need the organisation's permission.

    `org` is the settings row read once for a whole batch: a sender it allows is not checked
    again, a refusal is re-checked (and raised) by `access_org_action` itself.
    """
    if not rendered.mentions_everyone:
        return
    if org is None or not may_do(user=sender, action=OrgAction.MENTION_ALL, settings=org):
        access_org_action(user=sender, action=OrgAction.MENTION_ALL)


def _new_message(
    *,
    sender: User,
    channel_id: int,
    seq: int,
    client_msg_id: uuid.UUID | None,
    body: str,
    rendered: RenderedMessage,
    thread_root: Message | None,
    now: datetime,
    stored_as: tuple[int, str] | None = None,
) -> Message:
    """A new message; `seq` was taken from the channel in the caller's transaction. Unsaved,
    unless `stored_as`: the id of the row the caller inserted (the batch statement) and the
    database alias it is in.
    `plain_instance`: Model.__init__ and its two signals were 4 % of a busy server."""
    values: dict[str, Any] = {
        "channel_id": channel_id,
        "seq": seq,
        "version": seq,
        "client_msg_id": client_msg_id,
        "body": body,
        "html": rendered.html,
        "mentions_everyone": rendered.mentions_everyone,
        "created_at": now,
    }
    saved_on = None
    if stored_as is not None:
        values["id"], saved_on = stored_as
    message = plain_instance(
        Message, values, related={"sender": sender, "thread_root": thread_root}, saved_on=saved_on
    )
    return cast(Message, message)


def _mentions_of(message: Message, rendered: RenderedMessage) -> list[Mention]:
    return [Mention(message=message, user_id=uid) for uid in rendered.mentioned_user_ids]


def _publish_message_new(
    message: Message,
    *,
    sender: User,
    rendered: RenderedMessage,
    attachments: Sequence[Any] = (),
    thread_root: events.ThreadRootPayload | None = None,
) -> None:
    """Publish `message.new` for a message created in the current transaction (after commit)."""
    event: dict[str, object] = {
        "type": "message.new",
        "channel_id": message.channel_id,
        "channel_seq": message.seq,
        "message": events.message_payload(
            message,
            sender=sender,
            mentioned_user_ids=rendered.mentioned_user_ids,
            attachments=attachments,
        ),
    }
    if thread_root is not None:
        event["thread_root"] = thread_root
    publish_on_commit(
        event,
        to=Audience.channel(message.channel_id),
        # The message's trail in the logs: frame, batch, publication, deliveries.
        correlation_id=str(message.client_msg_id) if message.client_msg_id else None,
    )
    message_created(message)


@transaction.atomic
def message_edit(*, user: User, message_id: int, body: str) -> Message:
    """Replace a message's text (author only); mentions are re-parsed."""
    message = access_message_edit(user=user, message_id=message_id)
    body = _clean_body(body)
    if body == message.body:
        return message
    rendered = render_message(body, resolve_usernames=_resolve_usernames)
    if rendered.mentions_everyone and not message.mentions_everyone:
        access_org_action(user=user, action=OrgAction.MENTION_ALL)
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    now = timezone.now()
    # The replaced text stays for the compliance export (`MessageRevision`).
    MessageRevision.objects.create(
        message=message,
        body=message.body,
        written_at=message.edited_at or message.created_at,
        replaced_at=now,
    )
    message.body = body
    message.html = rendered.html
    message.mentions_everyone = rendered.mentions_everyone
    message.edited_at = now
    message.version = seq
    message.save(update_fields=["body", "html", "mentions_everyone", "edited_at", "version"])
    Mention.objects.filter(message=message).delete()
    Mention.objects.bulk_create(
        [Mention(message=message, user_id=uid) for uid in rendered.mentioned_user_ids]
    )
    publish_on_commit(
        {
            "type": "message.updated",
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message": _message_payload_fresh(message),
        },
        to=Audience.channel(message.channel_id),
    )
    return message


@transaction.atomic
def message_delete(*, user: User, message_id: int) -> Message:
    """Soft-delete a message: the tombstone keeps id and seq, the text and reactions go.

    A message under a legal hold (`apps.chat.holds`) is only hidden: clients see the same
    tombstone, but its text, reactions and files stay in the database for a compliance export.
    """
    message = access_message_delete(user=user, message_id=message_id)
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    message.deleted_at = timezone.now()
    message.version = seq
    # A deleted message is no longer pinned: it leaves the channel's pinned list with it.
    MessagePin.objects.filter(message=message).delete()
    if message_is_held(message):
        message.save(update_fields=["deleted_at", "version"])
        Mention.objects.filter(message=message).delete()
    else:
        message.body = ""
        message.html = ""
        message.save(update_fields=["deleted_at", "version", "body", "html"])
        MessageRevision.objects.filter(message=message).delete()
        Reaction.objects.filter(message=message).delete()
        Mention.objects.filter(message=message).delete()
        attachment_store().delete_for_message(message_id=message.pk)
    event: dict[str, object] = {
        "type": "message.deleted",
        "channel_id": message.channel_id,
        "channel_seq": seq,
        "message": events.message_payload(message),
    }
    if message.thread_root_id is not None:
        # As in message_send: the root's reply count changed in this change of the channel.
        Message.objects.filter(pk=message.thread_root_id, reply_count__gt=0).update(
            reply_count=F("reply_count") - 1, version=seq
        )
        root = Message.objects.only("id", "reply_count", "last_reply_at").get(
            pk=message.thread_root_id
        )
        event["thread_root"] = {
            "id": root.pk,
            "reply_count": root.reply_count,
            "last_reply_at": events.iso(root.last_reply_at),
        }
    publish_on_commit(event, to=Audience.channel(message.channel_id))
    return message


@transaction.atomic
def message_attachments_changed(*, message_id: int) -> None:
    """A file of the message changed state (scanned, released, deleted): new version, pushed.

    Called by apps.files.services; like an edit it takes the channel's next sequence value, so
    a client catching up with ?after_seq=N sees the attachment's new state.
    """
    message = Message.objects.select_related("sender").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None:
        return
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Message.objects.filter(pk=message.pk).update(version=seq)
    message.version = seq
    publish_on_commit(
        {
            "type": "message.updated",
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message": _message_payload_fresh(message),
        },
        to=Audience.channel(message.channel_id),
    )


@dataclass(frozen=True, slots=True)
class MessagesPurged:
    """What `messages_purge` did: rows deleted (replies removed with their root included) and
    thread roots kept as tombstones because replies outside the purge still hang on them."""

    deleted: int
    tombstoned: int


@transaction.atomic
def messages_sender_changed(*, sender_id: int) -> int:
    """The sender's name changed where the history shows it (their personal data was erased):
    every channel they wrote in takes its next `seq`, and their messages that version, so no
    history page cached under the old `last_seq` (`HistoryPageCache`) is served again with
    the old name, in any process, and clients that sync by version read them again.

    Publishes nothing (one push per message would flood the channels); an open client sees
    the gap in `seq` at the next push and fetches. Locks the channels in id order. Returns how
    many channels changed.
    """
    channel_ids = sorted(
        set(Message.objects.filter(sender_id=sender_id).values_list("channel_id", flat=True))
    )
    now = timezone.now()
    for channel_id in channel_ids:
        seq = _next_channel_seq(channel_id=channel_id, now=now, new_message=False)
        Message.objects.filter(channel_id=channel_id, sender_id=sender_id).update(version=seq)
    return len(channel_ids)


@transaction.atomic
def messages_purge(*, channel_id: int, message_ids: Sequence[int]) -> MessagesPurged:
    """Delete messages of one channel for good (retention): rows, reactions and mentions.

    The caller chose the ids (and removed their files first); this keeps the channel
    consistent: a thread root whose replies are not all purged becomes a tombstone, as a
    deletion makes it, and the reply counts of roots that stay are recounted. The change takes
    the channel's next sequence value, first, so the cached history pages
    (`selectors.history_pages`, keyed by `last_seq`) stop showing the purged rows and so that
    concurrent senders wait for this short transaction instead of deadlocking with it on the
    rows it deletes. Nothing is pushed: clients drop purged messages when they next load the
    history (docs/operations.md, "Retention and legal hold").
    """
    ids = set(message_ids)
    if not ids:
        return MessagesPurged(deleted=0, tombstoned=0)
    now = timezone.now()
    seq = _next_channel_seq(channel_id=channel_id, now=now, new_message=False)
    in_channel = Message.objects.filter(channel_id=channel_id)
    kept_roots = set(
        in_channel.filter(thread_root_id__in=ids)
        .exclude(pk__in=ids)
        .values_list("thread_root_id", flat=True)
    )
    purged = ids - kept_roots
    roots_to_recount = set(
        in_channel.filter(pk__in=purged, thread_root__isnull=False)
        .exclude(thread_root_id__in=purged)
        .values_list("thread_root_id", flat=True)
    )
    tombstoned = 0
    if kept_roots:
        Reaction.objects.filter(message_id__in=kept_roots).delete()
        Mention.objects.filter(message_id__in=kept_roots).delete()
        MessagePin.objects.filter(message_id__in=kept_roots).delete()
        MessageRevision.objects.filter(message_id__in=kept_roots).delete()
        tombstoned = in_channel.filter(pk__in=kept_roots).update(
            body="", html="", deleted_at=Coalesce(F("deleted_at"), Value(now)), version=seq
        )
    _total, by_model = in_channel.filter(pk__in=purged).delete()
    for root_id in roots_to_recount:
        replies = Message.objects.filter(thread_root_id=root_id, deleted_at__isnull=True)
        Message.objects.filter(pk=root_id).update(reply_count=replies.count(), version=seq)
    return MessagesPurged(deleted=by_model.get(Message._meta.label, 0), tombstoned=tombstoned)
