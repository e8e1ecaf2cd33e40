"""`access_*` for files: fetch-and-check in one step.

An attachment is readable by whoever may read its message's channel *now* (a member who left a
private channel loses its files), and before it is attached only by its uploader. Everything
else, including an id that does not exist, answers `file_not_found`, so ids cannot be probed.
Only clean files are ever served.
"""

from __future__ import annotations

import uuid

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.permissions import access_channel_read
from apps.core.errors import Forbidden, NotAuthenticated, NotFound
from apps.files.models import Attachment, AttachmentStatus, UploadSession


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def _file_not_found() -> NotFound:
    return NotFound(_("No such file."), code="file_not_found")


def _load(attachment_id: uuid.UUID | str) -> Attachment:
    try:
        key = uuid.UUID(str(attachment_id))
    except ValueError:
        raise _file_not_found() from None
    attachment = (
        Attachment.objects.select_related("blob", "message")
        .filter(pk=key, deleted_at__isnull=True)
        .first()
    )
    if attachment is None:
        raise _file_not_found()
    return attachment


def access_attachment_read(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """An attachment whose existence and status the user may see (any scan status)."""
    _require_active(user)
    attachment = _load(attachment_id)
    if attachment.message_id is None or attachment.channel_id is None:
        if attachment.uploader_id != user.pk:
            raise _file_not_found()
        return attachment
    if attachment.message is not None and attachment.message.deleted_at is not None:
        raise _file_not_found()
    try:
        access_channel_read(user=user, channel_id=attachment.channel_id)
    except NotFound:
        raise _file_not_found() from None
    return attachment


def access_attachment_download(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """An attachment the user may download: readable by them, and found clean by the scanner."""
    attachment = access_attachment_read(user=user, attachment_id=attachment_id)
    if attachment.status != AttachmentStatus.CLEAN:
        raise Forbidden(
            _("This file is not available: it has not passed the virus scan."),
            code="file_not_available",
            details={"status": attachment.status},
        )
    return attachment


def access_attachment_delete(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """An attachment the user may delete: their own upload; organisation admins any file."""
    _require_active(user)
    if user.is_org_admin:
        return _load(attachment_id)
    attachment = access_attachment_read(user=user, attachment_id=attachment_id)
    if attachment.uploader_id != user.pk:
        raise Forbidden(_("Only the uploader can delete this file."), code="not_uploader")
    return attachment


def access_files_admin(*, user: User) -> None:
    """Organisation admins and owners: quarantine, release, rescan, storage usage."""
    _require_active(user)
    if not user.is_org_admin:
        raise Forbidden(_("Only administrators can do this."), code="not_org_admin")


def access_attachment_manage(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """Any live attachment, for an organisation admin."""
    access_files_admin(user=user)
    return _load(attachment_id)


def access_upload_session(*, user: User, session_id: uuid.UUID | str) -> UploadSession:
    """The user's own upload session (others' answer like missing ones)."""
    _require_active(user)
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        key = None
    session = (
        UploadSession.objects.filter(pk=key, uploader=user).first() if key is not None else None
    )
    if session is None:
        raise NotFound(_("No such upload."), code="upload_not_found")
    return session
