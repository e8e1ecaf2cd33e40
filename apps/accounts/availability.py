"""Custom status and do-not-disturb as they hold at a moment: pure functions, no queries.

Whether a status has expired and whether notifications are paused are computed when read, from
the stored row and the time, so a status vanishes and a scheduled pause begins without anything
having to run at that moment. Schedules are read in the user's time zone, so "weekdays 19:00 to
08:00" follows the user's clock through daylight-saving changes.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import TypedDict

from apps.accounts.models import User, UserStatus

# The feature flag (gray release) of custom statuses, do-not-disturb and notification settings.
FLAG = "status_dnd"

# How long a status lasts when set with a preset duration ("clear after").
CLEAR_AFTER = ("30m", "1h", "4h", "today", "week", "never")


class StatusPayload(TypedDict):
    emoji: str
    text: str
    expires_at: str | None


class DndPayload(TypedDict):
    """What others see of a user's do-not-disturb: whether it holds now and until when."""

    active: bool
    until: str | None


class DndScheduleOut(TypedDict):
    enabled: bool
    days: list[int]
    start: str | None
    end: str | None


def user_zone(user: User) -> zoneinfo.ZoneInfo:
    """The user's time zone; UTC when the stored name is unknown to this system."""
    try:
        return zoneinfo.ZoneInfo(user.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _at(day: date, moment: time, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone)


def status_expiry(*, clear_after: str, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """When a status set at `now` with `clear_after` clears: "today" is the user's midnight,
    "week" the end of the user's Sunday; None for "never"."""
    if clear_after == "30m":
        return now + timedelta(minutes=30)
    if clear_after == "1h":
        return now + timedelta(hours=1)
    if clear_after == "4h":
        return now + timedelta(hours=4)
    local = now.astimezone(zone).date()
    if clear_after == "today":
        return _at(local + timedelta(days=1), time(0), zone)
    if clear_after == "week":
        return _at(local + timedelta(days=7 - local.weekday()), time(0), zone)
    return None


def status_current(row: UserStatus | None, *, now: datetime) -> StatusPayload | None:
    """The status as others see it now: None when there is none or it has expired."""
    if row is None or not (row.emoji or row.text):
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return {
        "emoji": row.emoji,
        "text": row.text,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def schedule_window_end(
    *, days: list[int], start: time, end: time, now: datetime, zone: zoneinfo.ZoneInfo
) -> datetime | None:
    """The end of the scheduled pause `now` falls in, or None when it falls in none.

    A window starts on each listed weekday at `start`; it ends the same day at `end`, or the
    next day when `end` is not after `start` (19:00 to 08:00 crosses midnight). So Friday's
    window holds until Saturday 08:00 though Saturday is not listed.
    """
    if start == end:
        return None
    local = now.astimezone(zone)
    crosses_midnight = end < start
    # Only a window opened today or, crossing midnight, yesterday can hold now.
    for offset in (0, 1) if crosses_midnight else (0,):
        day = local.date() - timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = _at(day, start, zone)
        closes = _at(day + timedelta(days=1) if crosses_midnight else day, end, zone)
        if opens <= local < closes:
            return closes
    return None


def dnd_current(row: UserStatus | None, *, zone: zoneinfo.ZoneInfo, now: datetime) -> DndPayload:
    """Whether the user's notifications are paused now, by hand or by the schedule, and until
    when (the later end when both hold)."""
    ends: list[datetime] = []
    if row is not None:
        if row.dnd_until is not None and row.dnd_until > now:
            ends.append(row.dnd_until)
        if row.dnd_schedule_enabled and row.dnd_start is not None and row.dnd_end is not None:
            window_end = schedule_window_end(
                days=list(row.dnd_days or []),
                start=row.dnd_start,
                end=row.dnd_end,
                now=now,
                zone=zone,
            )
            if window_end is not None:
                ends.append(window_end)
    if not ends:
        return {"active": False, "until": None}
    return {"active": True, "until": max(ends).isoformat()}


def dnd_schedule(row: UserStatus | None) -> DndScheduleOut:
    """The user's weekly schedule as they set it (only they see it)."""
    if row is None:
        return {"enabled": False, "days": [], "start": None, "end": None}
    return {
        "enabled": row.dnd_schedule_enabled,
        "days": sorted(row.dnd_days or []),
        "start": row.dnd_start.strftime("%H:%M") if row.dnd_start else None,
        "end": row.dnd_end.strftime("%H:%M") if row.dnd_end else None,
    }


def user_status_row(user: User) -> UserStatus | None:
    """The user's status row if it exists (loaded by `select_related("custom_status")`)."""
    try:
        return user.custom_status
    except UserStatus.DoesNotExist:
        return None
