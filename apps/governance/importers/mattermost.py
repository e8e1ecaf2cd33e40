"""Import a Mattermost bulk export (`mmctl export create`, or the JSONL of Mattermost's bulk
import format): people, public and private channels, direct and group messages, posts with
their replies and reactions, and the attachments the export holds.

`manage.py import_mattermost EXPORT --actor <admin>` runs it, where EXPORT is the ZIP (one
`*.jsonl` file and the attachments under the paths its posts name) or the `.jsonl` file alone.
Idempotent like the Slack importer (apps/governance/importers/slack.py), with the same rules
for people, channels, history (nothing pushed or notified, arrives read) and files. Mattermost's
Markdown is Enclave's; a mention of someone matched to an account with another username is
rewritten to that username. Teams are not a notion here: the channels of every team arrive in
the one organisation (a name taken by another team's channel gets the team's name after it).
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import services as chat
from apps.chat.models import ChannelKind
from apps.core.errors import InvalidInput
from apps.governance.importers.common import (
    ImportResult,
    Person,
    check_importer,
    emoji,
    imported_keys,
    message_key,
    note_missing_files,
    person_account,
    record_import,
    upload,
)

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.-]+)")


class MattermostExportInvalid(InvalidInput):
    code = "mattermost_export_invalid"


def _time(milliseconds: Any) -> datetime:
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


@dataclass
class _Conversation:
    channel_id: int
    conversation: str  # the key's part naming it
    posts: list[dict[str, Any]] = field(default_factory=list)


class MattermostImporter:
    def __init__(self, lines: list[dict[str, Any]], files: dict[str, bytes]) -> None:
        self.lines = lines
        self.files = files
        self.result = ImportResult()
        self.people: dict[str, User] = {}
        self.renamed: dict[str, str] = {}  # Mattermost username -> the account's, when they differ
        self.channels: dict[tuple[str, str], _Conversation] = {}
        self.direct: dict[tuple[str, ...], _Conversation] = {}

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [line[kind] for line in self.lines if line.get("type") == kind and kind in line]

    def import_people(self) -> None:
        for user in self.of_type("user"):
            username = user.get("username") or ""
            if not username:
                continue
            name = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
            account = person_account(
                Person(
                    username=username,
                    email=(user.get("email") or "").strip(),
                    display_name=user.get("nickname") or name,
                    is_bot=bool(user.get("is_bot")),
                    deactivated=bool(user.get("delete_at")),
                ),
                self.result,
            )
            self.people[username] = account
            if account.username != username:
                self.renamed[username.lower()] = account.username

    def import_channels(self) -> None:
        members: dict[tuple[str, str], list[tuple[User, bool]]] = {}
        for user in self.of_type("user"):
            account = self.people.get(user.get("username") or "")
            if account is None:
                continue
            for team in user.get("teams") or []:
                for channel in team.get("channels") or []:
                    admin = "channel_admin" in (channel.get("roles") or "")
                    key = (team.get("name", ""), channel.get("name", ""))
                    members.setdefault(key, []).append((account, admin))
        taken: set[str] = set()
        for channel in self.of_type("channel"):
            key = (channel.get("team", ""), channel.get("name", ""))
            name = channel.get("display_name") or channel.get("name") or ""
            if name.lower() in taken:
                name = f"{name} ({channel.get('team', '')})"
            taken.add(name.lower())
            people = [(u, a) for u, a in members.get(key, []) if u.is_active]
            admins = [u for u, admin in people if admin]
            created = chat.channel_import(
                kind=ChannelKind.PRIVATE if channel.get("type") == "P" else ChannelKind.PUBLIC,
                name=name,
                creator=admins[0] if admins else None,
                members=[u for u, _admin in people],
                admins=admins,
                topic=channel.get("header") or "",
                description=channel.get("purpose") or "",
                is_archived=bool(channel.get("deleted_at")),
            )
            self.result.channels += 1
            self.channels[key] = _Conversation(created.pk, f"{key[0]}:{key[1]}")
        for direct in self.of_type("direct_channel"):
            self._direct(direct.get("members") or [])

    def _direct(self, usernames: list[str]) -> _Conversation | None:
        key = tuple(sorted(usernames))
        if key in self.direct:
            return self.direct[key]
        active = [self.people[u] for u in key if u in self.people and self.people[u].is_active]
        if len(active) < 2:
            self.result.problems.append(f"{','.join(key)}: fewer than two active members")
            return None
        channel = chat.dm_open(user=active[0], user_ids=[p.pk for p in active[1:]])
        self.result.direct_conversations += 1
        self.direct[key] = _Conversation(channel.pk, "dm:" + ",".join(key))
        return self.direct[key]

    def import_posts(self) -> None:
        for post in self.of_type("post"):
            conversation = self.channels.get((post.get("team", ""), post.get("channel", "")))
            if conversation is None:
                self.result.problems.append(f"a post in unknown channel {post.get('channel')}")
                continue
            conversation.posts.append(post)
        for post in self.of_type("direct_post"):
            conversation = self._direct(post.get("channel_members") or [])
            if conversation is not None:
                conversation.posts.append(post)
        for conversation in [*self.channels.values(), *self.direct.values()]:
            self._write(conversation)

    def _write(self, conversation: _Conversation) -> None:
        known = imported_keys(conversation.channel_id)
        items: list[chat.ImportedMessage] = []
        for post in sorted(conversation.posts, key=lambda p: int(p.get("create_at", 0))):
            root_key = self._add(items, known, conversation, post, None)
            replies = sorted(post.get("replies") or [], key=lambda r: int(r.get("create_at", 0)))
            for reply in replies:
                self._add(items, known, conversation, reply, root_key)
        items.sort(key=lambda item: item.created_at)
        written = chat.messages_import(channel_id=conversation.channel_id, messages=items)
        self.result.messages += written
        self.result.messages_already_there += len(items) - written

    def _add(
        self,
        items: list[chat.ImportedMessage],
        known: set[uuid.UUID | None],
        conversation: _Conversation,
        post: dict[str, Any],
        root_key: uuid.UUID | None,
    ) -> uuid.UUID:
        """Add the post's message to `items` unless an earlier run imported it; its key."""
        thread = [root_key] if root_key is not None else []
        key = message_key(
            "mattermost",
            conversation.conversation,
            *thread,
            post.get("user"),
            post.get("create_at"),
        )
        if key in known:
            self.result.messages_already_there += 1
        else:
            item = self._item(post, key, root_key)
            if item is not None:
                items.append(item)
        return key

    def _item(
        self, post: dict[str, Any], key: uuid.UUID, root_key: uuid.UUID | None
    ) -> chat.ImportedMessage | None:
        """The message of a post or reply; None when it is not one (no known author, or no
        text and no file). A reply whose thread did not arrive stands on its own."""
        sender = self.people.get(post.get("user") or "")
        if sender is None or "create_at" not in post:
            self.result.notices_skipped += 1
            return None
        body = MENTION.sub(
            lambda m: "@" + self.renamed.get(m.group(1).lower(), m.group(1)),
            post.get("message") or "",
        ).strip()
        attachment_ids: list[object] = []
        missing: list[str] = []
        for attachment in post.get("attachments") or []:
            path = str(PurePosixPath(attachment.get("path") or ""))
            data = self.files.get(path)
            if data is None:
                missing.append(PurePosixPath(path).name or path)
                continue
            attachment_ids.append(upload(sender, PurePosixPath(path).name, data, self.result))
        body = note_missing_files(body, missing, self.result)
        if not body and not attachment_ids:
            self.result.notices_skipped += 1
            return None
        return chat.ImportedMessage(
            key=key,
            sender=sender,
            body=body,
            created_at=_time(post["create_at"]),
            edited_at=_time(post["edit_at"]) if post.get("edit_at") else None,
            thread_root_key=root_key,
            reactions=self._reactions(post),
            attachment_ids=attachment_ids,
        )

    def _reactions(self, post: dict[str, Any]) -> list[tuple[str, list[int]]]:
        by_emoji: dict[str, list[int]] = {}
        for reaction in post.get("reactions") or []:
            user = self.people.get(reaction.get("user") or "")
            if user is not None and reaction.get("emoji_name"):
                by_emoji.setdefault(emoji(reaction["emoji_name"]), []).append(user.pk)
        return list(by_emoji.items())


def _read(source: IO[bytes]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The export's lines and its files (by path) from a ZIP, or the lines of a JSONL file."""
    head = source.read(4)
    source.seek(0)
    files: dict[str, bytes] = {}
    if head.startswith(b"PK"):
        try:
            archive = zipfile.ZipFile(source)
        except zipfile.BadZipFile as error:
            raise MattermostExportInvalid(_("This is not a ZIP file.")) from error
        with archive:
            names = [n for n in archive.namelist() if n.endswith(".jsonl")]
            if len(names) != 1:
                raise MattermostExportInvalid(
                    _("The ZIP file must hold one .jsonl file (Mattermost's bulk export).")
                )
            text = archive.read(names[0])
            base = PurePosixPath(names[0]).parent
            for name in archive.namelist():
                if not name.endswith((".jsonl", "/")):
                    path = PurePosixPath(name)
                    files[str(path)] = archive.read(name)
                    if base != PurePosixPath("."):
                        files[str(path.relative_to(base))] = files[str(path)]
    else:
        text = source.read()
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise MattermostExportInvalid(
                _("Line %(number)d is not valid JSON.") % {"number": number}
            ) from None
    if not lines or lines[0].get("type") != "version":
        raise MattermostExportInvalid(_("A Mattermost bulk export starts with its version line."))
    return lines, files


def mattermost_import(*, source: IO[bytes], actor: User) -> ImportResult:
    """Import the Mattermost export in `source` as `actor`, an owner or administrator."""
    check_importer(actor)
    lines, files = _read(source)
    importer = MattermostImporter(lines, files)
    with transaction.atomic():
        importer.import_people()
    importer.import_channels()
    importer.import_posts()
    record_import(actor=actor, source="mattermost", result=importer.result)
    return importer.result
