"""The whole organisation's people, channels and history as one ZIP in Mattermost's bulk format
(`manage.py export_organization OUT.zip`), which `manage.py import_mattermost` reads back into
another Enclave (a move to new hardware, a merger, a staging copy) and Mattermost itself imports.

What it holds: every account (username, e-mail, display name, deactivated or not); the public
and private channels with their topic, description, archived state, members and channel
administrators; direct and group messages; every message that is not deleted, with its time,
edit time, thread, reactions (by emoji name) and clean files (under `data/<file id>/<name>`).
What it does not: passwords and tokens, organisation settings, feature flags, audit records,
read positions, pins, saved items and reminders, edit history (the compliance export has it),
files still being scanned or infected. Written by streaming: no channel's history is held in
memory at once, and files are copied block by block.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import emoji as emoji_data

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.chat.models import DIRECT_KINDS, Channel, ChannelKind, ChannelRole, Membership, Message
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import iter_stored
from apps.governance.audit import ORGANIZATION_EXPORTED
from apps.governance.importers.common import check_importer

TEAM = "enclave"
# Messages read from the database at a time.
CHUNK = 2000


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def emoji_name(value: str) -> str:
    """ "thumbsup" for 👍 (the name Mattermost and the importers know); a ":custom:" as is."""
    if value.startswith(":") and value.endswith(":"):
        return value.strip(":")
    name = emoji_data.demojize(value, language="alias")
    return name.strip(":") if name.startswith(":") and name.endswith(":") else value


class _Writer:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.counts = {"people": 0, "channels": 0, "direct": 0, "messages": 0, "files": 0}

    def lines(self) -> Iterator[dict[str, Any]]:
        yield {"type": "version", "version": 1}
        yield {"type": "team", "team": {"name": TEAM, "display_name": "Enclave", "type": "I"}}
        channels = list(
            Channel.objects.filter(kind__in=[ChannelKind.PUBLIC, ChannelKind.PRIVATE]).order_by(
                "pk"
            )
        )
        for channel in channels:
            self.counts["channels"] += 1
            yield {
                "type": "channel",
                "channel": {
                    "team": TEAM,
                    "name": f"c{channel.pk}",
                    "display_name": channel.name,
                    "type": "P" if channel.kind == ChannelKind.PRIVATE else "O",
                    "header": channel.topic,
                    "purpose": channel.description,
                    **({"deleted_at": _ms(channel.created_at)} if channel.is_archived else {}),
                },
            }
        memberships: dict[int, list[dict[str, str]]] = {}
        for user_id, channel_id, role in Membership.objects.filter(
            channel__kind__in=[ChannelKind.PUBLIC, ChannelKind.PRIVATE]
        ).values_list("user_id", "channel_id", "role"):
            roles = "channel_admin channel_user" if role == ChannelRole.ADMIN else "channel_user"
            memberships.setdefault(user_id, []).append({"name": f"c{channel_id}", "roles": roles})
        for user in User.objects.order_by("pk").iterator(chunk_size=CHUNK):
            self.counts["people"] += 1
            yield {
                "type": "user",
                "user": {
                    "username": user.username,
                    "email": user.email,
                    "nickname": user.display_name,
                    "is_bot": user.is_bot,
                    **({"delete_at": _ms(user.date_joined) or 1} if not user.is_active else {}),
                    "teams": [{"name": TEAM, "channels": memberships.get(user.pk, [])}],
                },
            }
        for channel in channels:
            for post in self.posts(channel):
                yield {"type": "post", "post": {"team": TEAM, "channel": f"c{channel.pk}", **post}}
        for channel in Channel.objects.filter(kind__in=DIRECT_KINDS).order_by("pk"):
            members = sorted(channel.memberships.values_list("user__username", flat=True))
            if len(members) < 2:
                continue
            self.counts["direct"] += 1
            yield {"type": "direct_channel", "direct_channel": {"members": members}}
            for post in self.posts(channel):
                yield {"type": "direct_post", "direct_post": {"channel_members": members, **post}}

    def posts(self, channel: Channel) -> Iterator[dict[str, Any]]:
        """The channel's messages as posts (each thread's replies inside its first message)."""
        messages = (
            Message.objects.filter(channel=channel, deleted_at__isnull=True)
            .select_related("sender")
            .prefetch_related("reactions__user")
            .order_by("seq")
        )
        replies: dict[int, list[dict[str, Any]]] = {}
        roots: list[tuple[int, dict[str, Any]]] = []
        for message in messages.iterator(chunk_size=CHUNK):
            post = self.post(message)
            if message.thread_root_id is None:
                roots.append((message.pk, post))
            else:
                replies.setdefault(message.thread_root_id, []).append(post)
        for pk, post in roots:
            if pk in replies:
                post["replies"] = replies.pop(pk)
            yield post
        for orphans in replies.values():  # a reply whose first message was deleted
            yield from orphans

    def post(self, message: Message) -> dict[str, Any]:
        self.counts["messages"] += 1
        post: dict[str, Any] = {
            "user": message.sender.username,
            "message": message.body,
            "create_at": _ms(message.created_at),
        }
        if message.edited_at is not None:
            post["edit_at"] = _ms(message.edited_at)
        reactions = [
            {
                "user": r.user.username,
                "emoji_name": emoji_name(r.emoji),
                "create_at": _ms(r.created_at),
            }
            for r in message.reactions.all()
        ]
        if reactions:
            post["reactions"] = reactions
        files = []
        for attachment in Attachment.objects.filter(
            message=message, status=AttachmentStatus.CLEAN, deleted_at__isnull=True
        ).select_related("blob"):
            path = f"data/{attachment.pk}/{attachment.original_name}"
            with self.archive.open(path, "w", force_zip64=True) as out:
                for block in iter_stored(attachment.blob.storage_name):
                    out.write(block)
            self.counts["files"] += 1
            files.append({"path": path})
        if files:
            post["attachments"] = files
        return post


def organization_export(*, target: IO[bytes], actor: User) -> dict[str, int]:
    """Write the organisation into `target` (a ZIP file) as `actor`, an owner or administrator;
    what it holds is counted and audited."""
    check_importer(actor)
    with (
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        tempfile.TemporaryFile() as jsonl,
    ):
        # The files go into the ZIP as their posts are written; the lines wait in a temporary
        # file (a ZIP takes one entry at a time) and go in last.
        writer = _Writer(archive)
        for line in writer.lines():
            jsonl.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        jsonl.seek(0)
        with archive.open("import.jsonl", "w", force_zip64=True) as entry:
            shutil.copyfileobj(jsonl, entry)
    audit_record(action=ORGANIZATION_EXPORTED, actor=actor, metadata=writer.counts)
    return writer.counts
