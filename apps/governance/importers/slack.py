"""Import a Slack workspace export (the ZIP from Slack's "Export data"): people, public and
private channels, direct and group messages, their messages with threads and reactions, and the
files when the export holds them.

`manage.py import_slack export.zip --actor <admin>` runs it; it is idempotent (run it again
after an interruption, or later with a newer export: what is there is skipped).

- **People** (`users.json`) are matched to existing accounts by e-mail, then by username;
  the others are made as local accounts without a password (they sign in through the
  directory, or an administrator sends a password reset). Deactivated Slack accounts are
  made inactive; bots become bot accounts.
- **Channels** (`channels.json` public, `groups.json` private) keep their name, topic,
  purpose (as the description), members and archived state; one of the same name and kind
  receives the history. Direct messages (`dms.json`) and group messages (`mpims.json`) open
  between the same people.
- **Messages** (one folder per conversation, one JSON file per day) keep author, time, edits'
  time, threads and reactions; Slack's markup becomes Markdown: `<@U1>` the person's
  @username, `<#C1|name>` #name, `<!here>`/`<!channel>`/`<!everyone>` @all, links, *bold*
  and ~strike~. Joins, leaves, topic changes and other system notices are not messages here
  and are counted, not imported. Nothing is pushed and nobody is notified.
- **Files**: Slack's export lists files by their Slack URLs only. Tools that download them
  (e.g. slack-advanced-exporter) put each at `__uploads/<file id>/<name>` in the ZIP: those
  are uploaded (and scanned) as the author's files. A file missing from the export is named
  in its message ("file not in the export: name").
"""

from __future__ import annotations

import html
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
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

# What Slack marks with a subtype but is a message here too.
MESSAGE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


class SlackExportInvalid(InvalidInput):
    code = "slack_export_invalid"


def slack_key(conversation_id: str, ts: str) -> uuid.UUID:
    return message_key("slack", conversation_id, ts)


def _time(ts: str | float) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=UTC)


class _Export:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = set(archive.namelist())

    def json(self, name: str, default: Any = None) -> Any:
        if name not in self.names:
            if default is not None:
                return default
            raise SlackExportInvalid(
                _("The export has no %(name)s: is this a Slack export?") % {"name": name}
            )
        try:
            return json.loads(self.archive.read(name).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise SlackExportInvalid(
                _("%(name)s is not valid JSON.") % {"name": name}, details={"error": str(error)}
            ) from error

    def days(self, folder: str) -> Iterator[list[dict[str, Any]]]:
        for name in sorted(n for n in self.names if PurePosixPath(n).parent.name == folder):
            if name.endswith(".json"):
                day = self.json(name, default=[])
                if isinstance(day, list):
                    yield day

    def upload(self, file: dict[str, Any]) -> tuple[str, bytes] | None:
        prefix = f"__uploads/{file.get('id')}/"
        for name in self.names:
            if name.startswith(prefix) and not name.endswith("/"):
                return PurePosixPath(name).name, self.archive.read(name)
        return None


class SlackImporter:
    def __init__(self, export: _Export, actor: User) -> None:
        self.export = export
        self.actor = actor
        self.result = ImportResult()
        self.people: dict[str, User] = {}
        self.channel_names: dict[str, str] = {}

    # --- people -------------------------------------------------------------------------------

    def import_people(self) -> None:
        for person in self.export.json("users.json"):
            if not person.get("id"):
                continue
            profile = person.get("profile") or {}
            self.people[person["id"]] = person_account(
                Person(
                    username=person.get("name") or f"slack-{person['id']}",
                    email=(profile.get("email") or "").strip(),
                    display_name=profile.get("display_name")
                    or profile.get("real_name")
                    or person.get("real_name")
                    or "",
                    time_zone=person.get("tz") or "",
                    is_bot=bool(person.get("is_bot")),
                    deactivated=bool(person.get("deleted")),
                ),
                self.result,
            )

    # --- conversations ------------------------------------------------------------------------

    def import_conversations(self) -> None:
        channels = [(c, ChannelKind.PUBLIC) for c in self.export.json("channels.json", [])]
        channels += [(c, ChannelKind.PRIVATE) for c in self.export.json("groups.json", [])]
        for slack_channel, _kind in channels:
            self.channel_names[slack_channel["id"]] = slack_channel.get("name", "")
        for slack_channel, kind in channels:
            members = [self.people[m] for m in slack_channel.get("members", []) if m in self.people]
            creator = self.people.get(slack_channel.get("creator", ""))
            channel = chat.channel_import(
                kind=kind,
                name=slack_channel.get("name") or slack_channel["id"],
                creator=creator,
                members=[m for m in members if m.is_active],
                admins=[creator] if creator is not None else [],
                topic=(slack_channel.get("topic") or {}).get("value", ""),
                description=(slack_channel.get("purpose") or {}).get("value", ""),
                is_archived=bool(slack_channel.get("is_archived")),
            )
            self.result.channels += 1
            folder = slack_channel.get("name") or slack_channel["id"]
            self.import_messages(slack_channel["id"], folder, channel.pk)
        for dm_list in ("dms.json", "mpims.json"):
            for conversation in self.export.json(dm_list, []):
                people = [
                    self.people[m] for m in conversation.get("members", []) if m in self.people
                ]
                active = [p for p in people if p.is_active]
                if len(active) < 2:
                    self.result.problems.append(
                        f"{conversation.get('id')}: fewer than two active members, not imported"
                    )
                    continue
                channel = chat.dm_open(user=active[0], user_ids=[p.pk for p in active[1:]])
                self.result.direct_conversations += 1
                folder = conversation.get("name") or conversation["id"]
                if not any(PurePosixPath(n).parent.name == folder for n in self.export.names):
                    folder = conversation["id"]
                self.import_messages(conversation["id"], folder, channel.pk)

    # --- messages -----------------------------------------------------------------------------

    def import_messages(self, conversation_id: str, folder: str, channel_id: int) -> None:
        known = imported_keys(channel_id)
        items: list[chat.ImportedMessage] = []
        for day in self.export.days(folder):
            for message in sorted(day, key=lambda m: float(m.get("ts", 0))):
                if "ts" in message and slack_key(conversation_id, message["ts"]) in known:
                    self.result.messages_already_there += 1
                    continue
                item = self._message(conversation_id, message)
                if item is not None:
                    items.append(item)
        written = chat.messages_import(channel_id=channel_id, messages=items)
        self.result.messages += written
        self.result.messages_already_there += len(items) - written

    def _message(
        self, conversation_id: str, message: dict[str, Any]
    ) -> chat.ImportedMessage | None:
        if message.get("type") != "message" or message.get("subtype") not in MESSAGE_SUBTYPES:
            self.result.notices_skipped += 1
            return None
        sender = self.people.get(message.get("user", ""))
        if sender is None or "ts" not in message:
            self.result.notices_skipped += 1
            return None
        body = self.markdown(message.get("text", ""))
        attachment_ids: list[object] = []
        missing: list[str] = []
        for file in message.get("files") or []:
            found = self.export.upload(file)
            if found is None:
                missing.append(str(file.get("name") or file.get("title") or file.get("id")))
                continue
            name, data = found
            attachment_ids.append(upload(sender, name, data, self.result))
        body = note_missing_files(body, missing, self.result)
        if not body and not attachment_ids:
            self.result.notices_skipped += 1
            return None
        thread_ts = message.get("thread_ts")
        edited = message.get("edited") or {}
        return chat.ImportedMessage(
            key=slack_key(conversation_id, message["ts"]),
            sender=sender,
            body=body,
            created_at=_time(message["ts"]),
            edited_at=_time(edited["ts"]) if edited.get("ts") else None,
            thread_root_key=(
                slack_key(conversation_id, thread_ts)
                if thread_ts and thread_ts != message["ts"]
                else None
            ),
            reactions=[
                (
                    emoji(reaction.get("name", "")),
                    [self.people[u].pk for u in reaction.get("users", []) if u in self.people],
                )
                for reaction in message.get("reactions") or []
                if reaction.get("name")
            ],
            attachment_ids=attachment_ids,
        )

    def markdown(self, text: str) -> str:
        """Slack's markup as Markdown (see the module's docstring)."""

        def token(match: re.Match[str]) -> str:
            inner = match.group(1)
            target, _, label = inner.partition("|")
            if target.startswith("@"):
                person = self.people.get(target[1:])
                return f"@{person.username}" if person else f"@{label or target[1:]}"
            if target.startswith("#"):
                return f"#{label or self.channel_names.get(target[1:], target[1:])}"
            if target.startswith("!"):
                word = target[1:].split("^")[0]
                return "@all" if word in ("here", "channel", "everyone") else (label or word)
            if target.startswith("mailto:"):
                return label or target[7:]
            return f"[{label}]({target})" if label and label != target else target

        # Bold and strike outside code: Slack's *x* and ~x~, Markdown's **x** and ~~x~~.
        parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.DOTALL)
        for index in range(0, len(parts), 2):
            part = re.sub(r"<([^<>\n]+)>", token, parts[index])
            part = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"**\1**", part)
            part = re.sub(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])", r"~~\1~~", part)
            parts[index] = part
        return html.unescape("".join(parts)).strip()


def slack_import(*, source: IO[bytes], actor: User) -> ImportResult:
    """Import the Slack export in `source` (a ZIP file) as `actor`, an owner or administrator."""
    check_importer(actor)
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as error:
        raise SlackExportInvalid(_("This is not a ZIP file.")) from error
    with archive:
        importer = SlackImporter(_Export(archive), actor)
        with transaction.atomic():
            importer.import_people()
        importer.import_conversations()
    record_import(actor=actor, source="slack", result=importer.result)
    return importer.result
