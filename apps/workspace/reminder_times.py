"""When a reminder is due: the menu's choices and the `/remind` command's text, in the user's
own time zone, answered as an aware UTC datetime.

Pure functions of `now` and a zone name (no database, no clock), so tests pass both in.
Wall-clock times ("tomorrow 9:00", "in 2 days") are computed in the user's zone with zoneinfo
and converted to UTC, so a daylight-saving change between now and then moves nothing: 9:00 is
9:00 on both sides of it. Durations in minutes and hours are elapsed time (20 minutes from now
is 20 minutes from now, whatever the clocks do).

A time that does not exist locally (skipped by a spring-forward change) is read with the offset
before the change (zoneinfo's fold=0), which lands it after the gap: 02:30 becomes 03:30.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

from apps.core.errors import InvalidInput

PRESETS = ("20m", "1h", "3h", "tomorrow", "next_monday")
MORNING = time(9, 0)
# The furthest ahead a reminder may be set.
MAX_AHEAD = timedelta(days=366 * 2)
NOTE_MAX_LENGTH = 1000


def zone_of(name: str) -> ZoneInfo:
    """The user's zone; an unknown name (a stale profile) counts as UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, as UTC (a skipped time lands after the gap)."""
    local = datetime.combine(day, at, tzinfo=zone)
    try:
        return local.astimezone(UTC)
    except OverflowError:  # the first or last hours a datetime can hold (year 1 or 9999)
        raise InvalidInput(
            _("%(value)s is not a date and time.") % {"value": f"{day} {at:%H:%M}"},
            code="reminder_time_invalid",
        ) from None


def preset_time(preset: str, *, now: datetime, time_zone: str) -> datetime:
    """The menu's choices: in 20 minutes, 1 or 3 hours, tomorrow 9:00, next Monday 9:00."""
    zone = zone_of(time_zone)
    today = now.astimezone(zone).date()
    if preset == "20m":
        return now.astimezone(UTC) + timedelta(minutes=20)
    if preset == "1h":
        return now.astimezone(UTC) + timedelta(hours=1)
    if preset == "3h":
        return now.astimezone(UTC) + timedelta(hours=3)
    if preset == "tomorrow":
        return local_at(today + timedelta(days=1), MORNING, zone)
    if preset == "next_monday":
        # Always a Monday to come: on a Monday, the one a week later.
        return local_at(today + timedelta(days=7 - today.weekday()), MORNING, zone)
    raise InvalidInput(
        _("Unknown reminder choice."), code="reminder_preset_unknown", details={"preset": preset}
    )


def check_due_time(when: datetime, *, now: datetime) -> datetime:
    """`when` if it is ahead of `now` and not too far; else a clear error."""
    if when <= now:
        raise InvalidInput(_("That time has already passed."), code="reminder_in_past")
    if when - now > MAX_AHEAD:
        raise InvalidInput(
            _("Reminders can be set at most two years ahead."), code="reminder_too_far"
        )
    return when.astimezone(UTC)


# --- /remind --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedReminder:
    remind_at: datetime  # aware, UTC
    note: str


_UNITS = {
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "分钟": "minutes",
    "分": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "小时": "hours",
    "个小时": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "天": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "周": "weeks",
    "星期": "weeks",
}
_UNIT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_CLOCK = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2})|点(?:(?P<cn_minute>\d{1,2})分?|(?P<half>半))?)"
_WHO = re.compile(r"^(?:me|我)\b\s*|^我\s*", re.IGNORECASE)
# "in 20m", "in 2 days"; Chinese "20分钟后", "2天后".
_IN = re.compile(rf"^in\s+(?P<n>\d{{1,5}})\s*(?P<unit>{_UNIT})(?=\s|$)", re.IGNORECASE)
_IN_ZH = re.compile(rf"^(?P<n>\d{{1,5}})\s*(?P<unit>{_UNIT})(?:之?后|以后)")
# "tomorrow at 9:00", "tomorrow 9:00", "tomorrow"; "明天 9:00", "明天上午9点", "后天".
_DAY = re.compile(
    rf"^(?P<day>tomorrow\b|today\b|明天|后天|今天)\s*(?:at\s+)?(?P<ampm>上午|早上|下午|晚上)?\s*(?:{_CLOCK})?(?=\s|$|[^\d:])",
    re.IGNORECASE,
)
_NEXT_MONDAY = re.compile(
    rf"^(?:next\s+monday|下周一|下星期一)\s*(?:at\s+)?(?:{_CLOCK})?(?=\s|$)", re.IGNORECASE
)
# "at 2026-12-24 18:00", "2026-12-24 18:00", "at 18:00".
_DATE = re.compile(
    r"^(?:at\s+|on\s+)?(?P<date>\d{4}-\d{1,2}-\d{1,2})(?:\s+(?:at\s+)?(?P<clock>\d{1,2}:\d{2}))?(?=\s|$)",
    re.IGNORECASE,
)
_AT_CLOCK = re.compile(rf"^at\s+(?:{_CLOCK})(?=\s|$)", re.IGNORECASE)

USAGE = (
    "/remind me in 20m|1h|2d <text> · /remind me tomorrow at 9:00 <text> · "
    "/remind me at 2026-12-24 18:00 <text>"
)


def _clock(match: re.Match[str], default: time = MORNING) -> time:
    if match.groupdict().get("hour") is None:
        return default
    hour = int(match["hour"])
    minute_text = match.groupdict().get("minute") or match.groupdict().get("cn_minute")
    minute = 30 if match.groupdict().get("half") else int(minute_text or 0)
    ampm = match.groupdict().get("ampm")
    if ampm in ("下午", "晚上") and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        raise InvalidInput(
            _("%(hour)s:%(minute)02d is not a time of day.") % {"hour": hour, "minute": minute},
            code="reminder_time_invalid",
        )
    return time(hour, minute)


def parse_remind(text: str, *, now: datetime, time_zone: str) -> ParsedReminder:
    """Read `/remind`'s arguments: who ("me", optional), when, then what to be reminded of.

    Errors name what went wrong with a code: `reminder_syntax` (no time understood),
    `reminder_time_invalid` (a date or time that does not exist), `reminder_in_past`,
    `reminder_too_far`, `reminder_text_missing`.
    """
    zone = zone_of(time_zone)
    rest = _WHO.sub("", text.strip(), count=1).strip()
    today = now.astimezone(zone).date()
    when: datetime | None = None
    if match := _IN.match(rest) or _IN_ZH.match(rest):
        amount, unit = int(match["n"]), _UNITS[match["unit"].lower()]
        if unit in ("days", "weeks"):
            # Days are calendar days: the same wall-clock time, whatever DST does between.
            local_now = now.astimezone(zone)
            days = amount * (7 if unit == "weeks" else 1)
            if days > MAX_AHEAD.days:
                raise InvalidInput(
                    _("Reminders can be set at most two years ahead."), code="reminder_too_far"
                )
            when = local_at(local_now.date() + timedelta(days=days), local_now.time(), zone)
        else:
            if amount > MAX_AHEAD.days * 24 * 60:
                raise InvalidInput(
                    _("Reminders can be set at most two years ahead."), code="reminder_too_far"
                )
            when = now.astimezone(UTC) + timedelta(**{unit: amount})
    elif match := _DAY.match(rest):
        offset = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2}[match["day"].lower()]
        when = local_at(today + timedelta(days=offset), _clock(match), zone)
    elif match := _NEXT_MONDAY.match(rest):
        when = local_at(today + timedelta(days=7 - today.weekday()), _clock(match), zone)
    elif match := _DATE.match(rest):
        try:
            day = date.fromisoformat("-".join(part.zfill(2) for part in match["date"].split("-")))
            clock = time.fromisoformat(match["clock"].zfill(5)) if match["clock"] else MORNING
        except ValueError:
            raise InvalidInput(
                _("%(value)s is not a date and time.") % {"value": match.group(0).strip()},
                code="reminder_time_invalid",
            ) from None
        when = local_at(day, clock, zone)
    elif match := _AT_CLOCK.match(rest):
        clock = _clock(match)
        when = local_at(today, clock, zone)
        if when <= now:
            when = local_at(today + timedelta(days=1), clock, zone)
    if when is None or match is None:
        raise InvalidInput(
            _("I could not tell when to remind you. Try: %(usage)s") % {"usage": USAGE},
            code="reminder_syntax",
        )
    note = rest[match.end() :].strip()
    if not note:
        raise InvalidInput(
            _("Say what to remind you of: /remind me in 20m check the oven"),
            code="reminder_text_missing",
        )
    if len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(
            _("The reminder text is too long (at most %(max)s characters).")
            % {"max": NOTE_MAX_LENGTH},
            code="reminder_text_too_long",
        )
    return ParsedReminder(remind_at=check_due_time(when, now=now), note=note)
