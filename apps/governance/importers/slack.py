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
import io
import json
import re
import uuid
import zipfile
import zoneinfo
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.chat import services as chat
from apps.chat.markdown import emoji_for_shortcode
from apps.chat.models import ChannelKind, Message
from apps.core.errors import Forbidden, InvalidInput
from apps.files.services import attachment_upload
from apps.governance.audit import WORKSPACE_IMPORTED

# Idempotency keys of imported messages: uuid5(NAMESPACE, "slack:<conversation>:<ts>").
NAMESPACE = uuid.UUID("6f1d3f0e-6a52-4a0e-9a55-2f6a3c6b7e10")
# What Slack marks with a subtype but is a message here too.
MESSAGE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
USERNAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class SlackExportInvalid(InvalidInput):
    code = "slack_export_invalid"


@dataclass
class SlackImportResult:
    people_created: int = 0
    people_matched: int = 0
    channels: int = 0
    direct_conversations: int = 0
    messages: int = 0
    messages_already_there: int = 0
    notices_skipped: int = 0
    files: int = 0
    files_missing: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def message_key(conversation_id: str, ts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"slack:{conversation_id}:{ts}")


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
        self.result = SlackImportResult()
        self.people: dict[str, User] = {}
        self.channel_names: dict[str, str] = {}

    # --- people -------------------------------------------------------------------------------

    def import_people(self) -> None:
        for person in self.export.json("users.json"):
            slack_id = person.get("id")
            if not slack_id:
                continue
            profile = person.get("profile") or {}
            email = (profile.get("email") or "").strip()
            existing = None
            if email:
                existing = User.objects.filter(email__iexact=email).first()
            if existing is None and person.get("name"):
                existing = User.objects.filter(username__iexact=person["name"]).first()
            if existing is not None:
                self.people[slack_id] = existing
                self.result.people_matched += 1
                continue
            self.people[slack_id] = self._make_person(person, profile, email)
            self.result.people_created += 1

    def _make_person(self, person: dict[str, Any], profile: dict[str, Any], email: str) -> User:
        base = USERNAME_CHARS.sub("", person.get("name") or "")[:140] or f"slack-{person['id']}"
        username, n = base, 1
        while User.objects.filter(username__iexact=username).exists():
            n += 1
            username = f"{base}-{n}"
        zone = person.get("tz") or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = "UTC"
        user = user_create(
            username=username,
            password=None,
            email=email,
            display_name=(
                profile.get("display_name")
                or profile.get("real_name")
                or person.get("real_name")
                or ""
            )[:150],
            time_zone=zone,
            is_bot=bool(person.get("is_bot")),
        )
        if person.get("deleted"):
            User.objects.filter(pk=user.pk).update(is_active=False)
            user.is_active = False
        return user

    # --- conversations ------------------------------------------------------------------------

    def import_conversations(self) -> None:
        channels = [(c, ChannelKind.PUBLIC) for c in self.export.json("channels.json", [])]
        channels += [(c, ChannelKind.PRIVATE) for c in self.export.json("groups.json", [])]
        for slack_channel, _kind in channels:
            self.channel_names[slack_channel["id"]] = slack_channel.get("name", "")
        for slack_channel, kind in channels:
            members = [self.people[m] for m in slack_channel.get("members", []) if m in self.people]
            channel = chat.channel_import(
                kind=kind,
                name=slack_channel.get("name") or slack_channel["id"],
                creator=self.people.get(slack_channel.get("creator", "")),
                members=[m for m in members if m.is_active],
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
        # What an earlier run imported is skipped before its files are uploaded again.
        known = set(
            Message.objects.filter(channel_id=channel_id, client_msg_id__isnull=False).values_list(
                "client_msg_id", flat=True
            )
        )
        items: list[chat.ImportedMessage] = []
        for day in self.export.days(folder):
            for message in sorted(day, key=lambda m: float(m.get("ts", 0))):
                if "ts" in message and message_key(conversation_id, message["ts"]) in known:
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
            attachment_ids.append(self._upload(sender, name, data))
        if missing:
            self.result.files_missing += len(missing)
            note = "\n".join(f"_(file not in the export: {name})_" for name in missing)
            body = f"{body}\n\n{note}" if body else note
        if not body and not attachment_ids:
            self.result.notices_skipped += 1
            return None
        thread_ts = message.get("thread_ts")
        edited = message.get("edited") or {}
        return chat.ImportedMessage(
            key=message_key(conversation_id, message["ts"]),
            sender=sender,
            body=body,
            created_at=_time(message["ts"]),
            edited_at=_time(edited["ts"]) if edited.get("ts") else None,
            thread_root_key=(
                message_key(conversation_id, thread_ts)
                if thread_ts and thread_ts != message["ts"]
                else None
            ),
            reactions=[
                (
                    self.emoji(reaction.get("name", "")),
                    [self.people[u].pk for u in reaction.get("users", []) if u in self.people],
                )
                for reaction in message.get("reactions") or []
                if reaction.get("name")
            ],
            attachment_ids=attachment_ids,
        )

    def _upload(self, sender: User, name: str, data: bytes) -> object:
        attachment = attachment_upload(uploader=sender, source=io.BytesIO(data), name=name)
        self.result.files += 1
        return attachment.pk

    @staticmethod
    def emoji(name: str) -> str:
        name = name.split("::", 1)[0]  # "thumbsup::skin-tone-2"
        return emoji_for_shortcode(name) or f":{name}:"

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


def slack_import(*, source: IO[bytes], actor: User) -> SlackImportResult:
    """Import the Slack export in `source` (a ZIP file) as `actor`, an owner or administrator."""
    if not actor.is_active or not actor.is_org_admin:
        raise Forbidden(_("Only the owner and administrators import workspaces."))
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as error:
        raise SlackExportInvalid(_("This is not a ZIP file.")) from error
    with archive:
        importer = SlackImporter(_Export(archive), actor)
        with transaction.atomic():
            importer.import_people()
        importer.import_conversations()
    audit_record(
        action=WORKSPACE_IMPORTED,
        actor=actor,
        metadata={"source": "slack", **importer.result.as_dict()},
    )
    return importer.result
