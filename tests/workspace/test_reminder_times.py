"""When a reminder is due: the menu's presets and `/remind`'s text, in the user's zone, across
daylight-saving changes (pure functions of `now` and the zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.core.errors import InvalidInput
from apps.workspace.reminder_times import parse_remind, preset_time

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
SHANGHAI = "Asia/Shanghai"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


# --- presets --------------------------------------------------------------------------------------


def test_minutes_and_hours_are_elapsed_time() -> None:
    now = utc(2026, 3, 2, 10, 0)
    assert preset_time("20m", now=now, time_zone=BERLIN) == utc(2026, 3, 2, 10, 20)
    assert preset_time("1h", now=now, time_zone=BERLIN) == utc(2026, 3, 2, 11, 0)
    assert preset_time("3h", now=now, time_zone=BERLIN) == utc(2026, 3, 2, 13, 0)


def test_tomorrow_is_nine_in_my_zone_not_in_utc() -> None:
    # 23:30 in Shanghai is 15:30 UTC: "tomorrow" is the Shanghai tomorrow.
    now = local(SHANGHAI, 2026, 5, 4, 23, 30)
    assert preset_time("tomorrow", now=now, time_zone=SHANGHAI) == utc(2026, 5, 5, 1, 0)


def test_tomorrow_nine_across_the_autumn_change_in_new_york() -> None:
    # 2026-11-01 at 2:00 EDT clocks go back to 1:00 EST: 9:00 the day after is 14:00 UTC, not 13:00.
    now = local(NEW_YORK, 2026, 10, 31, 20, 0)
    due = preset_time("tomorrow", now=now, time_zone=NEW_YORK)
    assert due == utc(2026, 11, 1, 14, 0)
    assert due.astimezone(ZoneInfo(NEW_YORK)).hour == 9


def test_tomorrow_nine_across_the_autumn_change_in_berlin() -> None:
    now = local(BERLIN, 2026, 10, 24, 22, 0)  # CEST (UTC+2); the 25th is CET (UTC+1)
    assert preset_time("tomorrow", now=now, time_zone=BERLIN) == utc(2026, 10, 25, 8, 0)


def test_next_monday_is_always_ahead() -> None:
    monday = local(BERLIN, 2026, 10, 19, 8, 0)
    sunday = local(BERLIN, 2026, 10, 25, 8, 0)
    # From a Monday, the Monday a week later; from Sunday the 25th (after the change), the 26th.
    assert preset_time("next_monday", now=monday, time_zone=BERLIN) == utc(2026, 10, 26, 8, 0)
    assert preset_time("next_monday", now=sunday, time_zone=BERLIN) == utc(2026, 10, 26, 8, 0)


def test_unknown_zone_counts_as_utc() -> None:
    now = utc(2026, 1, 1, 12, 0)
    assert preset_time("tomorrow", now=now, time_zone="Mars/Olympus") == utc(2026, 1, 2, 9, 0)


def test_unknown_preset_is_refused_with_a_code() -> None:
    with pytest.raises(InvalidInput) as caught:
        preset_time("someday", now=utc(2026, 1, 1), time_zone="UTC")
    assert caught.value.code == "reminder_preset_unknown"


# --- /remind --------------------------------------------------------------------------------------


NOW = utc(2026, 12, 7, 12, 0)


@pytest.mark.parametrize(
    ("text", "due", "note"),
    [
        ("me in 20m check the oven", NOW + timedelta(minutes=20), "check the oven"),
        ("me in 1h call Bob", NOW + timedelta(hours=1), "call Bob"),
        ("me in 2 hours stretch", NOW + timedelta(hours=2), "stretch"),
        ("me in 2d renew badge", NOW + timedelta(days=2), "renew badge"),
        ("in 1w review", NOW + timedelta(weeks=1), "review"),
        ("me tomorrow at 9:00 standup notes", utc(2026, 12, 8, 9, 0), "standup notes"),
        ("me tomorrow 14:30 dentist", utc(2026, 12, 8, 14, 30), "dentist"),
        ("me tomorrow water plants", utc(2026, 12, 8, 9, 0), "water plants"),
        ("me at 2026-12-24 18:00 presents", utc(2026, 12, 24, 18, 0), "presents"),
        ("me at 2027-1-5 report", utc(2027, 1, 5, 9, 0), "report"),
        ("me at 18:00 leave", utc(2026, 12, 7, 18, 0), "leave"),
        ("me at 8:00 early", utc(2026, 12, 8, 8, 0), "early"),
        ("me next monday at 10:00 plan", utc(2026, 12, 14, 10, 0), "plan"),
    ],
)
def test_remind_understands(text: str, due: datetime, note: str) -> None:
    parsed = parse_remind(text, now=NOW, time_zone="UTC")
    assert (parsed.remind_at, parsed.note) == (due, note)


@pytest.mark.parametrize(
    ("text", "due", "note"),
    [
        ("明天 9:00 开会", local(SHANGHAI, 2026, 12, 8, 9, 0), "开会"),
        ("我 明天上午9点 交报告", local(SHANGHAI, 2026, 12, 8, 9, 0), "交报告"),
        ("后天下午3点半 打电话", local(SHANGHAI, 2026, 12, 9, 15, 30), "打电话"),
        ("20分钟后 关火", NOW + timedelta(minutes=20), "关火"),
        ("2小时后 喝水", NOW + timedelta(hours=2), "喝水"),
        ("下周一 9:00 周会", local(SHANGHAI, 2026, 12, 14, 9, 0), "周会"),
    ],
)
def test_remind_understands_chinese(text: str, due: datetime, note: str) -> None:
    parsed = parse_remind(text, now=NOW, time_zone=SHANGHAI)
    assert (parsed.remind_at, parsed.note) == (due, note)


def test_remind_in_days_keeps_the_wall_clock_across_dst() -> None:
    # Saturday 31 Oct 10:00 EDT; two days later it is Monday 10:00 EST: 25 hours more in UTC.
    now = local(NEW_YORK, 2026, 10, 31, 10, 0)
    parsed = parse_remind("me in 2d pay rent", now=now, time_zone=NEW_YORK)
    assert parsed.remind_at == utc(2026, 11, 2, 15, 0)
    assert parsed.remind_at - now == timedelta(hours=49)


def test_remind_in_hours_is_elapsed_across_dst() -> None:
    now = local(NEW_YORK, 2026, 11, 1, 0, 30)  # EDT; at 2:00 clocks go back
    parsed = parse_remind("me in 3h sleep", now=now, time_zone=NEW_YORK)
    assert parsed.remind_at - now == timedelta(hours=3)
    assert parsed.remind_at.astimezone(ZoneInfo(NEW_YORK)).hour == 2  # 2:30 EST, wall-clock


def test_remind_at_a_date_on_the_berlin_change_day() -> None:
    parsed = parse_remind("me at 2026-10-25 12:00 lunch", now=utc(2026, 10, 20), time_zone=BERLIN)
    assert parsed.remind_at == utc(2026, 10, 25, 11, 0)  # CET, UTC+1


def test_remind_at_a_skipped_time_lands_after_the_gap() -> None:
    # 2026-03-08 2:30 does not exist in New York (2:00 EST jumps to 3:00 EDT).
    parsed = parse_remind("me at 2026-03-08 02:30 odd", now=utc(2026, 3, 1), time_zone=NEW_YORK)
    assert parsed.remind_at == local(NEW_YORK, 2026, 3, 8, 3, 30)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "reminder_syntax"),
        ("me", "reminder_syntax"),
        ("me sometime soon do it", "reminder_syntax"),
        ("me in 20m", "reminder_text_missing"),
        ("me at 2026-02-30 10:00 nope", "reminder_time_invalid"),
        ("me tomorrow at 25:00 nope", "reminder_time_invalid"),
        ("me at 2020-01-01 10:00 late", "reminder_in_past"),
        ("me at 2099-01-01 10:00 far", "reminder_too_far"),
        ("me in 5000d far", "reminder_too_far"),
        ("me in 20m " + "x" * 1001, "reminder_text_too_long"),
    ],
)
def test_remind_refuses_with_a_code(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_remind(text, now=NOW, time_zone="UTC")
    assert caught.value.code == code


@pytest.mark.parametrize("text", ["me at 9999-12-31 23:59 x", "me at 0001-01-01 00:00 x"])
def test_the_ends_of_the_calendar_are_refused_not_a_crash(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_remind(text, now=NOW, time_zone=NEW_YORK if "9999" in text else BERLIN)
    assert caught.value.code in ("reminder_time_invalid", "reminder_in_past", "reminder_too_far")
