"""Reads: the retention that applies to a channel, what is held, and their public shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.chat.models import Message
from apps.governance.models import LegalHold, RetentionPolicy

ORGANISATION = "organisation"
CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class EffectiveRetention:
    """The policy in force for a channel: `days` None keeps forever; `source` says whose."""

    days: int | None
    source: str


def org_retention_days() -> int | None:
    """The organisation's policy: days, or None to keep forever (the default)."""
    policy = RetentionPolicy.objects.filter(channel__isnull=True).first()
    return policy.days if policy is not None else None


def retention_for_channel(*, channel_id: int) -> EffectiveRetention:
    """The channel's own policy when it has one, else the organisation's (two queries at most)."""
    own = RetentionPolicy.objects.filter(channel_id=channel_id).first()
    if own is not None:
        return EffectiveRetention(days=own.days, source=CHANNEL)
    return EffectiveRetention(days=org_retention_days(), source=ORGANISATION)


def retention_by_channel(*, channel_ids: list[int]) -> dict[int, int | None]:
    """The days in force for each channel (None: forever), in two queries."""
    org_days = org_retention_days()
    own = dict(
        RetentionPolicy.objects.filter(channel_id__in=channel_ids).values_list("channel_id", "days")
    )
    return {pk: own.get(pk, org_days) for pk in channel_ids}


def retention_summary(days: int | None) -> str:
    """What members read in the channel's details."""
    if days is None:
        return _("Messages are kept forever.")
    return ngettext(
        "Messages older than %(days)s day are deleted.",
        "Messages older than %(days)s days are deleted.",
        days,
    ) % {"days": days}


class ChannelRetentionOut(TypedDict):
    channel_id: int
    days: int | None
    source: str
    summary: str


def channel_retention_payload(*, channel_id: int) -> ChannelRetentionOut:
    effective = retention_for_channel(channel_id=channel_id)
    return {
        "channel_id": channel_id,
        "days": effective.days,
        "source": effective.source,
        "summary": retention_summary(effective.days),
    }


class OrgRetentionOut(TypedDict):
    days: int | None
    summary: str


def org_retention_payload() -> OrgRetentionOut:
    days = org_retention_days()
    return {"days": days, "summary": retention_summary(days)}


# --- legal holds ---------------------------------------------------------------------------------


def _active_holds() -> Q:
    return Q(legalhold__released_at__isnull=True)


def held_channel_ids() -> set[int]:
    """Channels under an active legal hold (one query)."""
    through = LegalHold.channels.through
    return set(
        through.objects.filter(_active_holds()).values_list("channel_id", flat=True).distinct()
    )


def held_user_ids() -> set[int]:
    """Users under an active legal hold (one query)."""
    through = LegalHold.users.through
    return set(through.objects.filter(_active_holds()).values_list("user_id", flat=True).distinct())


def message_is_held(message: Message) -> bool:
    """Whether an active hold covers the message's channel or its sender (one query).

    Registered with chat (`apps.chat.holds`): a deletion of a held message only hides it.
    """
    return LegalHold.objects.filter(
        Q(channels__id=message.channel_id) | Q(users__id=message.sender_id),
        released_at__isnull=True,
    ).exists()


class LegalHoldOut(TypedDict):
    id: int
    name: str
    reason: str
    user_ids: list[int]
    channel_ids: list[int]
    created_by_id: int | None
    created_at: str
    released_at: str | None


def legal_hold_payload(hold: LegalHold) -> LegalHoldOut:
    """The public shape of a hold (its users and channels prefetched)."""
    return {
        "id": hold.pk,
        "name": hold.name,
        "reason": hold.reason,
        "user_ids": sorted(user.pk for user in hold.users.all()),
        "channel_ids": sorted(channel.pk for channel in hold.channels.all()),
        "created_by_id": hold.created_by_id,
        "created_at": hold.created_at.isoformat(),
        "released_at": hold.released_at.isoformat() if hold.released_at else None,
    }


def legal_holds_list() -> list[LegalHoldOut]:
    """Every hold, newest first (three queries)."""
    holds = LegalHold.objects.prefetch_related("users", "channels")
    return [legal_hold_payload(hold) for hold in holds]
