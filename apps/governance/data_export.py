"""A user's copy of their own data ("Download my data"; the PIPL/GDPR right of access).

`data_export_request` records the request (at most one in progress per user, a partial unique
constraint) and enqueues `apps.governance.tasks.build_data_export` on commit; the task calls
`data_export_build`, which writes one ZIP into the "enclave_files" storage:

- `profile.json`: account and directory fields, settings, status, notification settings, API
  tokens (names and dates, never a secret or its digest), signed-in sessions;
- `messages.json`: every message they sent that is not deleted, with its channel's name, the
  current text (edits included) and its files; the reactions they gave;
- `memberships.json`: the channels they belong to;
- `files/`: the stored bytes of the files they uploaded that were scanned clean;
- `README.txt`: what the files are, in their language.

Only what the user wrote or is about them: no other person's message is ever read into it.
The ZIP may be downloaded by the requester alone until `expires_at`
(ENCLAVE_DATA_EXPORT_TTL_HOURS), then `data_exports_purge_expired` deletes it.

Behind the `data_export` flag (gray release, REST only: the routes answer 404
`feature_disabled` without it) until an administrator turns it on for everyone.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import IO, Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.audit import audit_record
from apps.accounts.models import APIToken, DirectoryProfile, User, UserSession
from apps.chat.models import DIRECT_KINDS, Channel, Membership, Message, Reaction
from apps.core.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from apps.core.events import Audience, publish_on_commit
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import files_storage, iter_stored, open_stored, save_stored
from apps.governance import stalled
from apps.governance.audit import DATA_EXPORT_DOWNLOADED, DATA_EXPORT_REQUESTED
from apps.governance.events import DataExportPayload, DataExportReadyEvent
from apps.governance.models import DATA_EXPORT_IN_PROGRESS, DataExport, DataExportStatus

logger = logging.getLogger(__name__)

FLAG = "data_export"

# How many exports the list shows (older ones are expired and empty anyway).
LIST_LIMIT = 20


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def data_export_payload(export: DataExport, *, now: datetime | None = None) -> DataExportPayload:
    """What the REST API and the push say about one export."""
    now = now or timezone.now()
    status = export.status
    if status == DataExportStatus.READY and export.expires_at and export.expires_at <= now:
        status = DataExportStatus.EXPIRED
    return {
        "id": export.pk,
        "status": str(status),
        "created_at": _iso(export.created_at) or "",
        "finished_at": _iso(export.finished_at),
        "expires_at": _iso(export.expires_at),
        "size": export.size,
        "download_url": (
            reverse("governance_api:my-data-export-download", kwargs={"export_id": export.pk})
            if status == DataExportStatus.READY
            else None
        ),
    }


# --- reads ---------------------------------------------------------------------------------------


def data_exports_of(*, user: User) -> list[DataExportPayload]:
    """The user's own exports, newest first (one query)."""
    _require_active(user)
    now = timezone.now()
    rows = DataExport.objects.filter(user=user).order_by("-created_at", "-id")[:LIST_LIMIT]
    return [data_export_payload(export, now=now) for export in rows]


def access_data_export(*, user: User, export_id: int) -> DataExport:
    """One of the user's own exports; anybody else's answers like one that does not exist."""
    _require_active(user)
    export = DataExport.objects.filter(pk=export_id, user=user).first()
    if export is None:
        raise NotFound(_("No such data export."), code="data_export_not_found")
    return export


def access_data_export_download(*, user: User, export_id: int) -> DataExport:
    """A ready, unexpired export of the user's own."""
    export = access_data_export(user=user, export_id=export_id)
    if export.status == DataExportStatus.EXPIRED or (
        export.expires_at is not None and export.expires_at <= timezone.now()
    ):
        raise NotFound(
            _("This data export has expired; ask for a new one."), code="data_export_expired"
        ).with_status(410)
    if export.status != DataExportStatus.READY or not export.storage_name:
        raise Conflict(_("This data export is not ready yet."), code="data_export_not_ready")
    return export


# --- writes --------------------------------------------------------------------------------------


def data_export_request(*, user: User) -> DataExport:
    """Ask for a copy of one's own data; the ZIP is built by a task after commit. Audited.

    Raises Conflict `data_export_in_progress` while an earlier request is still being built.
    """
    _require_active(user)
    in_progress = Conflict(
        _("Your previous data export is still being prepared."), code="data_export_in_progress"
    )
    if DataExport.objects.filter(user=user, status__in=DATA_EXPORT_IN_PROGRESS).exists():
        raise in_progress
    try:
        # The partial unique constraint settles two requests that race past the check.
        with transaction.atomic():
            export = DataExport.objects.create(user=user)
            audit_record(action=DATA_EXPORT_REQUESTED, actor=user, target=user)
            data_export_enqueue(export_id=export.pk)
    except IntegrityError:
        raise in_progress from None
    return export


def data_export_enqueue(*, export_id: int) -> None:
    """Build the export in a Celery task once the current transaction commits."""
    from apps.governance.tasks import build_data_export

    transaction.on_commit(lambda: build_data_export.delay(export_id))


def data_export_downloaded(*, user: User, export: DataExport) -> None:
    """Record that the requester downloaded their export. Audited."""
    audit_record(
        action=DATA_EXPORT_DOWNLOADED,
        actor=user,
        target=user,
        metadata={"export_id": export.pk, "size": export.size},
    )


def _dump(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _profile(user: User) -> dict[str, Any]:
    directory = DirectoryProfile.objects.filter(user=user).first()
    status = getattr(user, "custom_status", None)
    notifications = getattr(user, "notification_settings", None)
    return {
        "account": {
            "id": user.pk,
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "display_name": user.display_name,
            "email": user.email,
            "role": user.role,
            "is_active": user.is_active,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "avatar": bool(user.avatar),
        },
        "directory": (
            {
                "phone": directory.phone,
                "department": directory.department,
                "title": directory.title,
                "synced_at": _iso(directory.synced_at),
            }
            if directory is not None
            else None
        ),
        "settings": {"language": user.language, "time_zone": user.time_zone, "theme": user.theme},
        "status": (
            {
                "emoji": status.emoji,
                "text": status.text,
                "expires_at": _iso(status.expires_at),
                "dnd_until": _iso(status.dnd_until),
                "dnd_schedule_enabled": status.dnd_schedule_enabled,
                "dnd_days": status.dnd_days,
                "dnd_start": status.dnd_start.isoformat() if status.dnd_start else None,
                "dnd_end": status.dnd_end.isoformat() if status.dnd_end else None,
            }
            if status is not None
            else None
        ),
        "notification_settings": (
            {
                "desktop": notifications.desktop,
                "sound": notifications.sound,
                "email_unread": notifications.email_unread,
            }
            if notifications is not None
            else None
        ),
        # Names and dates only: the digest (and so the token) never leaves the server.
        "api_tokens": [
            {
                "name": token.name,
                "created_at": _iso(token.created_at),
                "last_used_at": _iso(token.last_used_at),
                "expires_at": _iso(token.expires_at),
                "revoked_at": _iso(token.revoked_at),
            }
            for token in APIToken.objects.filter(user=user).order_by("created_at", "pk")
        ],
        "sessions": [
            {
                "created_at": _iso(session.created_at),
                "ip_address": session.ip_address,
                "user_agent": session.user_agent,
            }
            for session in UserSession.objects.filter(user=user).order_by("created_at", "pk")
        ],
    }


def _channel_names(channel_ids: set[int]) -> dict[int, str]:
    """Channels by name; a DM by its members' usernames (who it was with is the user's own)."""
    channels = Channel.objects.filter(pk__in=channel_ids).prefetch_related("memberships__user")
    names: dict[int, str] = {}
    for channel in channels:
        if channel.kind in DIRECT_KINDS:
            people = sorted(m.user.username for m in channel.memberships.all())
            names[channel.pk] = channel.name or ", ".join(people)
        else:
            names[channel.pk] = channel.name
    return names


def _messages(user: User) -> dict[str, Any]:
    messages = list(
        Message.objects.filter(sender=user, deleted_at__isnull=True)
        .order_by("created_at", "pk")
        .values("pk", "channel_id", "seq", "thread_root_id", "body", "created_at", "edited_at")
    )
    reactions = list(
        Reaction.objects.filter(user=user)
        .order_by("created_at", "pk")
        .values("message_id", "message__channel_id", "emoji", "created_at")
    )
    files: dict[int, list[str]] = {}
    for attachment_id, message_id in Attachment.objects.filter(
        message_id__in=[m["pk"] for m in messages], deleted_at__isnull=True
    ).values_list("pk", "message_id"):
        files.setdefault(message_id, []).append(str(attachment_id))
    names = _channel_names(
        {m["channel_id"] for m in messages} | {r["message__channel_id"] for r in reactions}
    )
    return {
        "messages": [
            {
                "id": m["pk"],
                "channel_id": m["channel_id"],
                "channel": names.get(m["channel_id"], ""),
                "seq": m["seq"],
                "thread_root_id": m["thread_root_id"],
                "created_at": _iso(m["created_at"]),
                "edited_at": _iso(m["edited_at"]),
                "text": m["body"],
                "files": files.get(m["pk"], []),
            }
            for m in messages
        ],
        "reactions_given": [
            {
                "message_id": r["message_id"],
                "channel_id": r["message__channel_id"],
                "channel": names.get(r["message__channel_id"], ""),
                "emoji": r["emoji"],
                "created_at": _iso(r["created_at"]),
            }
            for r in reactions
        ],
    }


def _memberships(user: User) -> list[dict[str, Any]]:
    rows = Membership.objects.filter(user=user).select_related("channel").order_by("joined_at")
    names = _channel_names({m.channel_id for m in rows})
    return [
        {
            "channel_id": m.channel_id,
            "channel": names.get(m.channel_id, ""),
            "kind": m.channel.kind,
            "role": m.role,
            "muted": m.is_muted,
            "notification_level": m.notification_level,
            "joined_at": _iso(m.joined_at),
        }
        for m in rows
    ]


_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


def _file_entry(attachment: Attachment) -> str:
    name = _UNSAFE_NAME.sub("_", attachment.original_name).strip(" .") or "file"
    return f"files/{attachment.pk}-{name[:120]}"


def _readme(user: User, *, now: datetime) -> str:
    with translation.override(user.language or settings.LANGUAGE_CODE):
        lines = [
            _("Your data from %(site)s") % {"site": "Enclave"},
            _("Prepared for %(username)s on %(date)s (UTC).")
            % {"username": user.username, "date": now.strftime("%Y-%m-%d %H:%M")},
            "",
            _(
                "profile.json: your account, settings, status, notification settings, the names "
                "and dates of your API tokens (never the tokens) and your signed-in sessions."
            ),
            _(
                "messages.json: every message you wrote that is not deleted, with its channel "
                "and its current text, and the reactions you gave."
            ),
            _("memberships.json: the channels you belong to."),
            _("files/: the files you uploaded that passed the virus scan."),
            "",
            _("Times are in UTC (ISO 8601). Keep this file safe: it holds personal data."),
        ]
    return "\n".join(lines) + "\n"


def _write_zip(user: User, handle: IO[bytes], *, now: datetime, beat: Callable[[], None]) -> None:
    attachments = list(
        Attachment.objects.filter(
            uploader=user, status=AttachmentStatus.CLEAN, deleted_at__isnull=True
        )
        .select_related("blob")
        .order_by("created_at", "pk")
    )
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(user, now=now))
        archive.writestr("profile.json", _dump(_profile(user)))
        archive.writestr("messages.json", _dump(_messages(user)))
        archive.writestr("memberships.json", _dump(_memberships(user)))
        for attachment in attachments:
            with archive.open(_file_entry(attachment), "w", force_zip64=True) as entry:
                for block in iter_stored(attachment.blob.storage_name):
                    entry.write(block)
                    beat()


def data_export_build(*, export_id: int) -> DataExport | None:
    """Build the ZIP of a pending export (the task's work), mark it ready and push
    `data_export.ready` to the user's own tabs. A failure marks it failed (the user may ask
    again). None when the export is gone or was already taken."""
    claimed = DataExport.objects.filter(pk=export_id, status=DataExportStatus.PENDING).update(
        status=DataExportStatus.RUNNING, **stalled.claim_fields()
    )
    if not claimed:
        return None
    export = DataExport.objects.select_related("user").get(pk=export_id)
    user = export.user
    now = timezone.now()
    name = f"exports/{user.pk}/{export.pk}-{now:%Y%m%d%H%M%S}.zip"
    try:
        with tempfile.TemporaryFile() as handle:
            _write_zip(user, handle, now=now, beat=stalled.Heartbeat(DataExport, export.pk))
            size = handle.tell()
            handle.seek(0)
            stored = save_stored(name, handle)
    except Exception as error:
        logger.exception("data export %s failed", export_id)
        DataExport.objects.filter(pk=export_id).update(
            status=DataExportStatus.FAILED, finished_at=timezone.now(), error=str(error)[:500]
        )
        export.refresh_from_db()
        return export
    with transaction.atomic():
        export.status = DataExportStatus.READY
        export.storage_name = stored
        export.size = size
        export.finished_at = timezone.now()
        export.expires_at = export.finished_at + timedelta(
            hours=settings.ENCLAVE_DATA_EXPORT_TTL_HOURS
        )
        export.save(update_fields=["status", "storage_name", "size", "finished_at", "expires_at"])
        event: DataExportReadyEvent = {
            "type": "data_export.ready",
            "export": data_export_payload(export),
        }
        publish_on_commit(event, to=Audience.users([user.pk]))
    return export


def data_export_open(*, export: DataExport) -> IO[bytes]:
    """The stored ZIP, opened for reading (the caller streams and closes it)."""
    return cast(IO[bytes], open_stored(export.storage_name))


def data_exports_purge_expired(*, now: datetime | None = None) -> int:
    """Delete the ZIPs of expired exports (the rows stay, marked expired). Returns how many."""
    now = now or timezone.now()
    storage = files_storage()
    purged = 0
    for export in DataExport.objects.filter(
        status=DataExportStatus.READY, expires_at__lte=now
    ).only("pk", "storage_name"):
        if export.storage_name:
            storage.delete(export.storage_name)
        DataExport.objects.filter(pk=export.pk).update(
            status=DataExportStatus.EXPIRED, storage_name=""
        )
        purged += 1
    return purged


def data_exports_remove_for_user(*, user: User) -> int:
    """Delete every export of `user` with its ZIP (erasure). Caller holds a transaction; the
    files go after commit."""
    names = list(
        DataExport.objects.filter(user=user)
        .exclude(storage_name="")
        .values_list("storage_name", flat=True)
    )
    deleted, _by_model = DataExport.objects.filter(user=user).delete()
    storage = files_storage()

    def delete_files() -> None:
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete_files)
    return deleted
