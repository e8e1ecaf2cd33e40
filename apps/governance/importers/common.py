"""What the importers (Slack, Mattermost) share: finding or making the people of another system,
the counts a run reports, and emoji by name."""

from __future__ import annotations

import io
import re
import uuid
import zoneinfo
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.chat.markdown import emoji_for_shortcode
from apps.chat.models import Message
from apps.core.errors import Forbidden
from apps.files.services import attachment_upload
from apps.governance.audit import WORKSPACE_IMPORTED

# Idempotency keys of imported messages: uuid5(NAMESPACE, "<source>:<the source's own ids>").
NAMESPACE = uuid.UUID("6f1d3f0e-6a52-4a0e-9a55-2f6a3c6b7e10")
USERNAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def message_key(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(part) for part in parts))


@dataclass
class ImportResult:
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


@dataclass(frozen=True)
class Person:
    """Someone as the other system knows them."""

    username: str
    email: str = ""
    display_name: str = ""
    time_zone: str = ""
    is_bot: bool = False
    deactivated: bool = False


def person_account(person: Person, result: ImportResult) -> User:
    """The account of `person`: an existing one with that e-mail, else that username; else a new
    local account without a password (inactive when they were deactivated there)."""
    existing = None
    if person.email:
        existing = User.objects.filter(email__iexact=person.email).first()
    if existing is None and person.username:
        existing = User.objects.filter(username__iexact=person.username).first()
    if existing is not None:
        result.people_matched += 1
        return existing
    base = USERNAME_CHARS.sub("", person.username)[:140] or "imported"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}-{n}"
    zone = person.time_zone or "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = "UTC"
    user = user_create(
        username=username,
        password=None,
        email=person.email,
        display_name=person.display_name[:150],
        time_zone=zone,
        is_bot=person.is_bot,
    )
    if person.deactivated:
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
    result.people_created += 1
    return user


def emoji(name: str) -> str:
    """An emoji by its name ("thumbsup", "+1", "thumbsup::skin-tone-2"); a custom one as
    ":name:"."""
    name = name.strip(":").split("::", 1)[0]
    return emoji_for_shortcode(name) or f":{name}:"


def check_importer(actor: User) -> None:
    if not actor.is_active or not actor.is_org_admin:
        raise Forbidden(_("Only the owner and administrators import workspaces."))


def imported_keys(channel_id: int) -> set[uuid.UUID | None]:
    """The keys of the channel's messages (what an earlier run imported: skipped before their
    files are uploaded again)."""
    return set(
        Message.objects.filter(channel_id=channel_id, client_msg_id__isnull=False).values_list(
            "client_msg_id", flat=True
        )
    )


def upload(sender: User, name: str, data: bytes, result: ImportResult) -> object:
    """A file of the export as `sender`'s upload (scanned after commit like any other)."""
    attachment = attachment_upload(uploader=sender, source=io.BytesIO(data), name=name)
    result.files += 1
    return attachment.pk


def note_missing_files(body: str, missing: list[str], result: ImportResult) -> str:
    """The message's text with a line for each of its files the export does not hold."""
    if not missing:
        return body
    result.files_missing += len(missing)
    note = "\n".join(f"_(file not in the export: {name})_" for name in missing)
    return f"{body}\n\n{note}" if body else note


def record_import(*, actor: User, source: str, result: ImportResult) -> None:
    audit_record(
        action=WORKSPACE_IMPORTED, actor=actor, metadata={"source": source, **result.as_dict()}
    )
