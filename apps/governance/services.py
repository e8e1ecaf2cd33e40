"""Writes: retention policies, legal holds, and the retention run that deletes old messages.

Retention deletes for good (a hard purge, unlike a user's deletion, which leaves a tombstone):
the rows, their reactions and mentions, and their files with the stored bytes. It works in
short transactions of at most `batch_size` messages of one channel each
(`apps.chat.services.messages_purge`), so senders to the channel wait at most one batch.
Held messages are never selected: every message of a held channel, and every message a held
user sent, whatever the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.files import services as file_services
from apps.governance import selectors
from apps.governance.audit import (
    COMPLIANCE_OFFICER_GRANTED,
    COMPLIANCE_OFFICER_REVOKED,
    LEGAL_HOLD_CREATED,
    LEGAL_HOLD_RELEASED,
    RETENTION_APPLIED,
    RETENTION_POLICY_CHANGED,
)
from apps.governance.models import LegalHold, RetentionPolicy
from apps.governance.permissions import (
    access_channel_retention_manage,
    access_legal_hold_manage,
    access_retention_manage,
)

MAX_RETENTION_DAYS = 36500


def _checked_days(days: int | None) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            _("The number of days must be between 1 and %(max)s.") % {"max": MAX_RETENTION_DAYS},
            code="invalid_retention_days",
        )
    return days


@transaction.atomic
def retention_set_org(*, actor: User, days: int | None) -> RetentionPolicy:
    """Set the organisation's retention: delete messages older than `days`, or keep forever
    (None). Audited."""
    access_retention_manage(user=actor)
    days = _checked_days(days)
    policy, _created = RetentionPolicy.objects.select_for_update().get_or_create(
        channel=None, defaults={"days": None}
    )
    before = policy.days
    policy.days = days
    policy.updated_by = actor
    policy.save(update_fields=["days", "updated_by", "updated_at"])
    if before != days:
        audit_record(
            action=RETENTION_POLICY_CHANGED,
            actor=actor,
            target_type="organisation",
            target_id="organisation",
            target_label=str(_("Organisation")),
            metadata={"scope": selectors.ORGANISATION, "before": before, "after": days},
        )
    return policy


@transaction.atomic
def retention_set_channel(
    *, actor: User, channel_id: int, inherit: bool, days: int | None = None
) -> selectors.EffectiveRetention:
    """Give a channel its own retention (`days`, None = keep forever), or let it follow the
    organisation's again (`inherit`). Audited."""
    channel = access_channel_retention_manage(user=actor, channel_id=channel_id)
    days = None if inherit else _checked_days(days)
    current = RetentionPolicy.objects.select_for_update().filter(channel=channel).first()
    before = "inherit" if current is None else current.days
    if inherit:
        if current is not None:
            current.delete()
    elif current is None:
        RetentionPolicy.objects.create(channel=channel, days=days, updated_by=actor)
    else:
        current.days = days
        current.updated_by = actor
        current.save(update_fields=["days", "updated_by", "updated_at"])
    after = "inherit" if inherit else days
    if before != after:
        audit_record(
            action=RETENTION_POLICY_CHANGED,
            actor=actor,
            target=channel,
            metadata={"scope": selectors.CHANNEL, "before": before, "after": after},
        )
    return selectors.retention_for_channel(channel_id=channel.pk)


@transaction.atomic
def legal_hold_create(
    *, actor: User, name: str, reason: str, user_ids: list[int], channel_ids: list[int]
) -> LegalHold:
    """Place a hold on users (their messages everywhere) and channels (all their messages).
    Audited."""
    access_legal_hold_manage(user=actor)
    name, reason = name.strip(), reason.strip()
    if not name or not reason:
        raise InvalidInput(_("A legal hold needs a name and a reason."), code="invalid_legal_hold")
    user_ids = sorted(set(user_ids))
    channel_ids = sorted(set(channel_ids))
    users = list(User.objects.filter(pk__in=user_ids))
    channels = list(Channel.objects.filter(pk__in=channel_ids))
    unknown_users = sorted(set(user_ids) - {u.pk for u in users})
    unknown_channels = sorted(set(channel_ids) - {c.pk for c in channels})
    if unknown_users or unknown_channels:
        raise InvalidInput(
            _("Some of the users or channels do not exist."),
            code="invalid_legal_hold_target",
            details={"user_ids": unknown_users, "channel_ids": unknown_channels},
        )
    hold = LegalHold.objects.create(name=name[:200], reason=reason, created_by=actor)
    hold.users.set(users)
    hold.channels.set(channels)
    audit_record(
        action=LEGAL_HOLD_CREATED,
        actor=actor,
        target=hold,
        metadata={"reason": reason, "user_ids": user_ids, "channel_ids": channel_ids},
    )
    return hold


@transaction.atomic
def legal_hold_release(*, actor: User, hold_id: int) -> LegalHold:
    """Release a hold: its messages fall under retention and deletion again. Audited."""
    access_legal_hold_manage(user=actor)
    hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFound(_("No such legal hold."), code="legal_hold_not_found")
    if hold.released_at is not None:
        raise Conflict(_("This legal hold was already released."), code="legal_hold_released")
    hold.released_at = timezone.now()
    hold.released_by = actor
    hold.save(update_fields=["released_at", "released_by"])
    audit_record(action=LEGAL_HOLD_RELEASED, actor=actor, target=hold)
    return hold


# --- the retention run ---------------------------------------------------------------------------


@dataclass
class RetentionRun:
    """What one run deleted: messages per channel id, files, and whether work is left."""

    deleted_by_channel: dict[int, int] = field(default_factory=dict)
    files_deleted: int = 0
    batches: int = 0
    finished: bool = True

    @property
    def messages_deleted(self) -> int:
        return sum(self.deleted_by_channel.values())


_tombstone_with_replies = Q(deleted_at__isnull=False) & Exists(
    Message.objects.filter(thread_root_id=OuterRef("pk"))
)


def _purge_batch(*, channel_id: int, message_ids: list[int]) -> tuple[int, int]:
    """One short transaction: the messages' files, then the messages. The stored bytes go
    after the commit (a rolled-back batch keeps them). Returns (messages, files)."""
    with transaction.atomic():
        files, blob_ids = file_services.attachments_remove_for_messages(message_ids=message_ids)
        purged = chat_services.messages_purge(channel_id=channel_id, message_ids=message_ids)
    file_services.blobs_purge_unused(blob_ids=blob_ids)
    return purged.deleted, files


def retention_apply(
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    now: datetime | None = None,
) -> RetentionRun:
    """Delete the messages (and files) older than their channel's retention, except held ones.

    At most `batch_size` messages a transaction and `max_batches` transactions a run
    (ENCLAVE_RETENTION_BATCH_SIZE, ENCLAVE_RETENTION_MAX_BATCHES); what is left waits for the
    next run (`finished` False). Audited when it deleted anything, with counts per channel.
    """
    batch_size = batch_size or settings.ENCLAVE_RETENTION_BATCH_SIZE
    max_batches = max_batches or settings.ENCLAVE_RETENTION_MAX_BATCHES
    now = now or timezone.now()
    run = RetentionRun()
    held_channels = selectors.held_channel_ids()
    held_users = selectors.held_user_ids()
    channel_ids = sorted(set(Channel.objects.values_list("pk", flat=True)) - held_channels)
    for channel_id, days in selectors.retention_by_channel(channel_ids=channel_ids).items():
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        # The cursor moves on past thread roots kept as tombstones and messages the purge
        # leaves, so every batch makes progress.
        after_seq = 0
        while True:
            rows = list(
                Message.objects.filter(
                    channel_id=channel_id, seq__gt=after_seq, created_at__lt=cutoff
                )
                .exclude(sender_id__in=held_users)
                # A tombstone that still carries replies stays until they are gone: selecting
                # it would cost every run a batch that changes nothing.
                .exclude(_tombstone_with_replies)
                .order_by("seq")
                .values_list("pk", "seq")[:batch_size]
            )
            if not rows:
                break
            if run.batches >= max_batches:
                run.finished = False  # work is left: the next run goes on
                break
            after_seq = rows[-1][1]
            deleted, files = _purge_batch(
                channel_id=channel_id, message_ids=[pk for pk, _seq in rows]
            )
            run.batches += 1
            run.files_deleted += files
            if deleted:
                run.deleted_by_channel[channel_id] = (
                    run.deleted_by_channel.get(channel_id, 0) + deleted
                )
        if not run.finished:
            break
    if run.messages_deleted or run.files_deleted:
        audit_record(
            action=RETENTION_APPLIED,
            target_type="organisation",
            target_id="retention",
            target_label=str(_("Retention")),
            metadata={
                "messages": run.messages_deleted,
                "files": run.files_deleted,
                "by_channel": {str(pk): n for pk, n in sorted(run.deleted_by_channel.items())},
                "finished": run.finished,
            },
        )
    return run


# --- compliance officers -------------------------------------------------------------------------


@transaction.atomic
def compliance_officer_set(*, user: User, granted: bool, actor: User | None = None) -> bool:
    """Give `user` the legal-hold permission, or take it away (`manage.py compliance_officer`;
    the operator at the shell is the actor, recorded as the system). Audited when it changes."""
    from django.contrib.auth.models import Permission

    permission = Permission.objects.get(
        content_type__app_label="governance", codename="manage_legal_hold"
    )
    holds_it = user.user_permissions.filter(pk=permission.pk).exists()
    if holds_it == granted:
        return False
    if granted:
        user.user_permissions.add(permission)
    else:
        user.user_permissions.remove(permission)
    audit_record(
        action=COMPLIANCE_OFFICER_GRANTED if granted else COMPLIANCE_OFFICER_REVOKED,
        actor=actor,
        target=user,
    )
    return True
