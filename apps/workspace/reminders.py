"""Reminders: "remind me about this message" and `/remind`, delivered by the system bot.

Times are stored in UTC and computed in the user's own zone (`User.time_zone`,
`apps.workspace.reminder_times`). A Celery beat task (`apps.workspace.tasks`) calls
`reminders_deliver_due` every few seconds; it claims due reminders in small batches and sends
each one, once, as a message from the system bot in the person's DM with it (the welcome's
sender, `services.system_user`), plus a `reminder.due` push for a desktop notification.

Exactly once: a reminder is claimed by `UPDATE ... WHERE delivered_at IS NULL` in the same
transaction (a savepoint per reminder) as its DM, so a failed send leaves it pending and two
workers never both send it. On PostgreSQL the batch is also picked with
`FOR UPDATE SKIP LOCKED`, so concurrent workers take different reminders instead of waiting.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Membership
from apps.chat.permissions import access_message_read
from apps.chat.services import dm_open, message_send
from apps.core.errors import DomainError, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit
from apps.core.features import access_feature
from apps.workspace import reminder_times
from apps.workspace.events import (
    ReminderCancelledEvent,
    ReminderCreatedEvent,
    ReminderDueEvent,
    ReminderPayload,
)
from apps.workspace.models import Reminder, WorkspaceSettings
from apps.workspace.permissions import REMINDERS_FLAG as FLAG
from apps.workspace.permissions import access_reminder
from apps.workspace.services import system_user

logger = logging.getLogger(__name__)

# Pending reminders one person may have at once.
MAX_PENDING = 100
EXCERPT_LENGTH = 140
# Due reminders claimed per transaction, and transactions per run of the beat task: a run
# delivers at most BATCH_SIZE * MAX_BATCHES and the next run goes on.
BATCH_SIZE = 50
MAX_BATCHES = 20
# client_msg_id of a reminder's DM derives from the reminder: a resend cannot duplicate it.
_DM_NAMESPACE = uuid.UUID("6f3c2a1e-51d2-4c55-9a53-2f7f5f3c9e10")


# --- reads ---------------------------------------------------------------------------------------


def _readable_channel_ids(user: User, channels: Sequence[Channel]) -> set[int]:
    """Which of `channels` `user` may read (chat's `access_channel_read` rule, in one query)."""
    if not channels:
        return set()
    member_of = set(
        Membership.objects.filter(user=user, channel_id__in=[c.pk for c in channels]).values_list(
            "channel_id", flat=True
        )
    )
    return {
        c.pk
        for c in channels
        if c.pk in member_of or (c.kind == ChannelKind.PUBLIC and not user.is_guest)
    }


def reminder_payloads(*, user: User, reminders: Sequence[Reminder]) -> list[ReminderPayload]:
    """Payloads of `user`'s reminders; the message only while they may still read it.

    Callers load the reminders with `select_related("message__channel")`; one query more.
    """
    channels = {r.message.channel_id: r.message.channel for r in reminders if r.message}
    readable = _readable_channel_ids(user, list(channels.values()))
    out: list[ReminderPayload] = []
    for reminder in reminders:
        message = reminder.message
        visible = (
            message is not None
            and message.deleted_at is None
            and message.channel_id in readable
            and user.is_active
        )
        out.append(
            {
                "id": reminder.pk,
                "remind_at": reminder.remind_at.isoformat(),
                "created_at": reminder.created_at.isoformat(),
                "note": reminder.note,
                "message": (
                    {
                        "id": message.pk,
                        "channel_id": message.channel_id,
                        "excerpt": message.body[:EXCERPT_LENGTH],
                    }
                    if visible and message is not None
                    else None
                ),
                # Also when the message row is gone for good (SET_NULL).
                "message_unavailable": not visible and reminder.about_message,
            }
        )
    return out


def reminders_pending(*, user: User) -> list[ReminderPayload]:
    """My reminders still to come, soonest first. Two queries whatever their number."""
    access_feature(user=user, name=FLAG)
    reminders = list(
        Reminder.objects.filter(user=user, delivered_at__isnull=True)
        .select_related("message__channel")
        .order_by("remind_at", "pk")
    )
    return reminder_payloads(user=user, reminders=reminders)


# --- writes --------------------------------------------------------------------------------------


def _publish_created(reminder: Reminder) -> ReminderPayload:
    reminder = Reminder.objects.select_related("message__channel").get(pk=reminder.pk)
    (payload,) = reminder_payloads(user=reminder.user, reminders=[reminder])
    event: ReminderCreatedEvent = {"type": "reminder.created", "reminder": payload}
    publish_on_commit(event, to=Audience.users([reminder.user_id]))
    return payload


def _due_time(*, user: User, now: datetime, preset: str | None, remind_at: str | None) -> datetime:
    if preset and remind_at:
        raise InvalidInput(
            _("Choose a preset or a time, not both."), code="reminder_time_ambiguous"
        )
    if preset:
        when = reminder_times.preset_time(preset, now=now, time_zone=user.time_zone)
    elif remind_at:
        try:
            parsed = datetime.fromisoformat(remind_at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                _("%(value)s is not a date and time.") % {"value": remind_at[:40]},
                code="reminder_time_invalid",
            ) from None
        if timezone.is_naive(parsed):
            # A wall-clock time as typed: in the zone of the person's profile.
            zone = reminder_times.zone_of(user.time_zone)
            when = reminder_times.local_at(parsed.date(), parsed.time(), zone)
        else:
            when = parsed
    else:
        raise InvalidInput(_("Say when to remind you."), code="reminder_time_missing")
    return reminder_times.check_due_time(when, now=now)


@transaction.atomic
def reminder_create(
    *,
    user: User,
    message_id: int | None = None,
    note: str = "",
    preset: str | None = None,
    remind_at: str | None = None,
) -> ReminderPayload:
    """Set a reminder for `user` about a message they may read and/or a note.

    When: `preset` (`reminder_times.PRESETS`: 20m, 1h, 3h, tomorrow 9:00, next Monday 9:00, in
    the user's zone) or `remind_at` (ISO 8601; without an offset, a wall-clock time in the
    user's zone). Tells the user's tabs (`reminder.created`).
    """
    access_feature(user=user, name=FLAG)
    now = timezone.now()
    when = _due_time(user=user, now=now, preset=preset, remind_at=remind_at)
    note = note.strip()
    if len(note) > reminder_times.NOTE_MAX_LENGTH:
        raise InvalidInput(
            _("The reminder text is too long (at most %(max)s characters).")
            % {"max": reminder_times.NOTE_MAX_LENGTH},
            code="reminder_text_too_long",
        )
    message = None
    if message_id is not None:
        message, _membership = access_message_read(user=user, message_id=message_id)
        if message.deleted_at is not None:
            raise NotFound(_("No such message."), code="message_not_found")
    elif not note:
        raise InvalidInput(_("Say what to remind you of."), code="reminder_text_missing")
    # The user's row is the lock that keeps two concurrent creations under the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if Reminder.objects.filter(user=user, delivered_at__isnull=True).count() >= MAX_PENDING:
        raise InvalidInput(
            _("You have too many pending reminders (at most %(max)s).") % {"max": MAX_PENDING},
            code="too_many_reminders",
        )
    reminder = Reminder.objects.create(
        user=user, message=message, about_message=message is not None, note=note, remind_at=when
    )
    return _publish_created(reminder)


@transaction.atomic
def reminder_cancel(*, user: User, reminder_id: int) -> None:
    """Cancel (delete) one of my pending reminders; my tabs are told (`reminder.cancelled`)."""
    reminder = access_reminder(user=user, reminder_id=reminder_id)
    reminder.delete()
    event: ReminderCancelledEvent = {"type": "reminder.cancelled", "id": reminder_id}
    publish_on_commit(event, to=Audience.users([user.pk]))


# --- delivery ------------------------------------------------------------------------------------


def reminder_text(*, reminder: Reminder, payload: ReminderPayload) -> str:
    """The system bot's message, in the person's language. Nothing of a message they can no
    longer read: only that there was one."""
    user = reminder.user
    with translation.override(user.language or translation.get_language()):
        lines = []
        if reminder.note:
            lines.append(_("⏰ **Reminder:** %(note)s") % {"note": reminder.note})
        else:
            lines.append(_("⏰ **Reminder**"))
        message = payload["message"]
        if message is not None:
            url = (
                f"{settings.ENCLAVE_PUBLIC_URL.rstrip('/')}/c/{message['channel_id']}/"
                f"?m={message['id']}"
            )
            lines.append(_("About [this message](%(url)s).") % {"url": url})
        elif payload["message_unavailable"]:
            lines.append(_("It was about a message you can no longer see."))
        return "\n\n".join(lines)


def _deliver_one(reminder: Reminder, *, sender: User) -> None:
    """Send one claimed reminder (caller holds its savepoint) and publish `reminder.due`."""
    user = reminder.user
    (payload,) = reminder_payloads(user=user, reminders=[reminder])
    dm_channel_id = dm_message_id = None
    if user.is_active:
        dm = dm_open(user=sender, user_ids=[user.pk])
        sent = message_send(
            sender=sender,
            channel_id=dm.pk,
            body=reminder_text(reminder=reminder, payload=payload),
            client_msg_id=uuid.uuid5(_DM_NAMESPACE, str(reminder.pk)),
        )
        dm_channel_id, dm_message_id = dm.pk, sent.message.pk
    event: ReminderDueEvent = {
        "type": "reminder.due",
        "reminder": payload,
        "dm_channel_id": dm_channel_id,
        "dm_message_id": dm_message_id,
    }
    publish_on_commit(event, to=Audience.users([user.pk]))


def _sender() -> User:
    """The system bot. Read without the settings row's lock once it exists, so concurrent
    workers' batches do not queue behind each other."""
    settings_row = WorkspaceSettings.objects.select_related("system_user").filter(pk=1).first()
    bot = settings_row.system_user if settings_row is not None else None
    if bot is not None and bot.is_active:
        return bot
    return system_user()


@transaction.atomic
def _deliver_batch(*, now: datetime, batch_size: int) -> tuple[int, int]:
    """Claim and send up to `batch_size` due reminders: (picked, delivered)."""
    due = Reminder.objects.filter(delivered_at__isnull=True, remind_at__lte=now).order_by(
        "remind_at", "pk"
    )
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    ids = list(due.values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0, 0
    sender = _sender()
    delivered = 0
    reminders = (
        Reminder.objects.filter(pk__in=ids)
        .select_related("user", "message__channel")
        .order_by("remind_at", "pk")
    )
    for reminder in reminders:
        try:
            with transaction.atomic():
                claimed = Reminder.objects.filter(pk=reminder.pk, delivered_at__isnull=True).update(
                    delivered_at=now
                )
                if claimed != 1:
                    continue  # another worker's (a database without SKIP LOCKED)
                _deliver_one(reminder, sender=sender)
        except DomainError as error:
            # The person cannot be written to (e.g. deactivated meanwhile): nothing to retry.
            logger.info("reminder %s not sent: %s", reminder.pk, error.code)
            Reminder.objects.filter(pk=reminder.pk, delivered_at__isnull=True).update(
                delivered_at=now
            )
        except Exception:
            # Left pending (the savepoint rolled the claim back): the next run retries it.
            logger.exception("reminder %s failed; left pending", reminder.pk)
            continue
        delivered += 1
    return len(ids), delivered


def reminders_deliver_due(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES
) -> int:
    """Deliver every reminder due at `now` (default: the clock), in transactions of
    `batch_size`; returns how many were delivered. Safe to run on several workers at once."""
    now = now or timezone.now()
    total = 0
    for _batch in range(max_batches):
        picked, delivered = _deliver_batch(now=now, batch_size=batch_size)
        total += delivered
        if picked < batch_size:
            break
    return total
