"""A conversation's history brought over from another system (the Slack and Mattermost importers
in apps.governance.importers): written as it was, not sent again.

Each message keeps its author, its time, its thread and its reactions; its text goes through the
same Markdown and mention rendering as a sent one. Nothing is published and nobody is notified:
it is history, and the members' read positions move past it (nobody starts with ten thousand
unread messages). The import appends after whatever the channel holds, oldest first, and is
idempotent: each message carries a key (its client_msg_id, derived by the importer from the
source's own ids), and a key already stored is skipped, so an interrupted import is run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F

from apps.accounts.models import User
from apps.chat.attachments import attachment_store
from apps.chat.markdown import render_message
from apps.chat.models import (
    Channel,
    ChannelKind,
    ChannelRole,
    Membership,
    Mention,
    Message,
    Reaction,
)
from apps.chat.services._common import _add_members, _clean_name, _resolve_usernames

# Messages written per transaction: a big channel is imported in steps that each commit.
IMPORT_CHUNK = 500


@dataclass(frozen=True)
class ImportedMessage:
    key: uuid.UUID
    sender: User
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    # The key of the thread's first message (imported earlier in the same or a previous call).
    thread_root_key: uuid.UUID | None = None
    # (emoji, the ids of the users who reacted with it)
    reactions: Sequence[tuple[str, Sequence[int]]] = ()
    # Uploaded files of the sender's, not yet attached (apps.files).
    attachment_ids: Sequence[object] = field(default_factory=tuple)


@transaction.atomic
def channel_import(
    *,
    kind: str,
    name: str,
    creator: User | None,
    members: Sequence[User],
    admins: Sequence[User] = (),
    topic: str = "",
    description: str = "",
    is_archived: bool = False,
) -> Channel:
    """The channel of that name and kind (public or private), made if there is none, with
    `members` in it, `admins` among them as channel administrators. The organisation's
    rules on who may create channels are the importing administrator's business, and nobody who
    was not a member in the source is added (the administrator included)."""
    name = _clean_name(name)
    channel = Channel.objects.filter(kind=kind, name__iexact=name).first()
    if channel is None:
        if kind not in (ChannelKind.PUBLIC, ChannelKind.PRIVATE):
            raise ValueError(kind)
        channel = Channel.objects.create(
            kind=kind,
            name=name,
            topic=topic.strip()[:250],
            description=description.strip()[:2000],
            created_by=creator,
            is_archived=is_archived,
        )
    admin_ids = {user.pk for user in admins}
    _add_members(channel, [u for u in members if u.pk in admin_ids], role=ChannelRole.ADMIN)
    _add_members(channel, [u for u in members if u.pk not in admin_ids], role=ChannelRole.MEMBER)
    return channel


def messages_import(*, channel_id: int, messages: Sequence[ImportedMessage]) -> int:
    """Write `messages` (oldest first) into the channel; returns how many were new."""
    written = 0
    for start in range(0, len(messages), IMPORT_CHUNK):
        written += _import_chunk(channel_id, messages[start : start + IMPORT_CHUNK])
    return written


@transaction.atomic
def _import_chunk(channel_id: int, chunk: Sequence[ImportedMessage]) -> int:
    channel = Channel.objects.select_for_update().get(pk=channel_id)
    known = set(
        Message.objects.filter(
            channel_id=channel_id, client_msg_id__in=[m.key for m in chunk]
        ).values_list("client_msg_id", flat=True)
    )
    new = [m for m in chunk if m.key not in known]
    if not new:
        return 0
    roots: dict[uuid.UUID | None, int] = dict(
        Message.objects.filter(
            channel_id=channel_id,
            client_msg_id__in={m.thread_root_key for m in new if m.thread_root_key},
        ).values_list("client_msg_id", "pk")
    )
    before = channel.last_seq
    rows: list[Message] = []
    mentions: list[tuple[int, set[int]]] = []
    for offset, item in enumerate(new, start=1):
        rendered = render_message(item.body, resolve_usernames=_resolve_usernames)
        seq = before + offset
        rows.append(
            Message(
                channel_id=channel_id,
                seq=seq,
                version=seq,
                sender=item.sender,
                client_msg_id=item.key,
                body=item.body,
                html=rendered.html,
                mentions_everyone=rendered.mentions_everyone,
                created_at=item.created_at,
                edited_at=item.edited_at,
            )
        )
        mentions.append((offset - 1, set(rendered.mentioned_user_ids)))
    # One at a time: a reply needs its root's id, which may be in this very chunk.
    for row, item in zip(rows, new, strict=True):
        if item.thread_root_key is not None:
            row.thread_root_id = roots.get(item.thread_root_key)
        row.save(force_insert=True)
        roots[item.key] = row.pk
    Mention.objects.bulk_create(
        [Mention(message=rows[i], user_id=uid) for i, ids in mentions for uid in sorted(ids)]
    )
    Reaction.objects.bulk_create(
        [
            Reaction(message=row, user_id=user_id, emoji=emoji)
            for row, item in zip(rows, new, strict=True)
            for emoji, user_ids in item.reactions
            for user_id in dict.fromkeys(user_ids)
        ],
        ignore_conflicts=True,
    )
    store = attachment_store()
    for row, item in zip(rows, new, strict=True):
        if item.attachment_ids:
            claimed = store.claim_for_message(
                sender=item.sender, attachment_ids=item.attachment_ids
            )
            store.link_to_message(attachments=claimed, message_id=row.pk)
    for row in rows:
        if row.thread_root_id is not None:
            Message.objects.filter(pk=row.thread_root_id).update(
                reply_count=F("reply_count") + 1, last_reply_at=row.created_at
            )
    last = before + len(rows)
    newest = max(row.created_at for row in rows)
    if channel.last_message_at is not None:
        newest = max(newest, channel.last_message_at)
    Channel.objects.filter(pk=channel_id).update(last_seq=last, last_message_at=newest)
    # History is read: whoever had read everything before has read it too.
    Membership.objects.filter(channel_id=channel_id, last_read_seq__gte=before).update(
        last_read_seq=last
    )
    return len(rows)
