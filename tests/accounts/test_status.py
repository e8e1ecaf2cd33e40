"""Custom status, do-not-disturb and notification settings: the services, the rules computed at
read time (expiry, schedules across midnight and time zones), REST and the pushes."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import availability, services
from apps.accounts.models import User, UserStatus
from apps.core.errors import InvalidInput
from apps.core.events import presence_topic, user_topic
from apps.ops.models import FeatureFlag
from tests.factories import UserFactory

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
STATUS_URL = "/api/v1/users/me/status/"
DND_URL = "/api/v1/users/me/dnd/"
SETTINGS_URL = "/api/v1/users/me/notification-settings/"


@pytest.fixture
def status_flag(db: None) -> None:
    FeatureFlag.objects.create(name=availability.FLAG, everyone=True)
    cache.clear()  # flags are cached with their members


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def schedule_row(*, days: list[int], start: time, end: time) -> UserStatus:
    return UserStatus(dnd_schedule_enabled=True, dnd_days=days, dnd_start=start, dnd_end=end)


# --- read-time rules ------------------------------------------------------------------------------


def test_status_with_no_expiry_holds() -> None:
    row = UserStatus(emoji="🤒", text="Out sick")
    assert availability.status_current(row, now=datetime(2030, 1, 1, tzinfo=UTC)) == {
        "emoji": "🤒",
        "text": "Out sick",
        "expires_at": None,
    }


def test_expired_status_vanishes_when_read() -> None:
    ends = datetime(2030, 1, 1, 12, tzinfo=UTC)
    row = UserStatus(emoji="📅", text="In a meeting", expires_at=ends)
    assert availability.status_current(row, now=ends - timedelta(seconds=1)) is not None
    assert availability.status_current(row, now=ends) is None


def test_clear_after_today_ends_at_the_users_midnight() -> None:
    now = datetime(2030, 1, 1, 20, tzinfo=UTC)  # 04:00 on the 2nd in Shanghai
    expiry = availability.status_expiry(clear_after="today", now=now, zone=SHANGHAI)
    assert expiry == datetime(2030, 1, 3, 0, tzinfo=SHANGHAI)


def test_clear_after_week_ends_after_the_users_sunday() -> None:
    now = datetime(2030, 1, 2, 9, tzinfo=NEW_YORK)  # a Wednesday
    expiry = availability.status_expiry(clear_after="week", now=now, zone=NEW_YORK)
    assert expiry == datetime(2030, 1, 7, 0, tzinfo=NEW_YORK)  # Monday 00:00


def test_schedule_across_midnight_holds_into_the_next_day() -> None:
    # Weekdays 19:00-08:00: Friday's evening pause lasts until Saturday 08:00.
    row = schedule_row(days=[0, 1, 2, 3, 4], start=time(19), end=time(8))
    saturday_early = datetime(2030, 1, 5, 7, 30, tzinfo=SHANGHAI)
    state = availability.dnd_current(row, zone=SHANGHAI, now=saturday_early)
    assert state["active"] is True
    assert state["until"] == datetime(2030, 1, 5, 8, tzinfo=SHANGHAI).isoformat()


def test_schedule_does_not_hold_in_the_day_or_on_unlisted_days() -> None:
    row = schedule_row(days=[0, 1, 2, 3, 4], start=time(19), end=time(8))
    wednesday_noon = datetime(2030, 1, 2, 12, tzinfo=SHANGHAI)
    saturday_night = datetime(2030, 1, 5, 22, tzinfo=SHANGHAI)
    monday_early = datetime(2030, 1, 7, 7, tzinfo=SHANGHAI)  # Sunday is not listed
    for moment in (wednesday_noon, saturday_night, monday_early):
        assert availability.dnd_current(row, zone=SHANGHAI, now=moment)["active"] is False


def test_schedule_is_read_in_the_users_time_zone() -> None:
    # 12:00 UTC is 20:00 in Shanghai (paused) and 07:00 in New York (also paused, from the
    # evening before), but 12:00 in UTC itself (not paused).
    row = schedule_row(days=[0, 1, 2, 3, 4], start=time(19), end=time(8))
    now = datetime(2030, 1, 2, 12, tzinfo=UTC)  # a Wednesday
    assert availability.dnd_current(row, zone=SHANGHAI, now=now)["active"] is True
    assert availability.dnd_current(row, zone=NEW_YORK, now=now)["active"] is True
    assert availability.dnd_current(row, zone=zoneinfo.ZoneInfo("UTC"), now=now)["active"] is False


def test_schedule_within_one_day() -> None:
    row = schedule_row(days=[2], start=time(12), end=time(13))
    wednesday = datetime(2030, 1, 2, 12, 30, tzinfo=UTC)
    assert availability.dnd_current(row, zone=zoneinfo.ZoneInfo("UTC"), now=wednesday) == {
        "active": True,
        "until": datetime(2030, 1, 2, 13, tzinfo=UTC).isoformat(),
    }


def test_manual_pause_ends_by_itself() -> None:
    until = datetime(2030, 1, 1, 12, tzinfo=UTC)
    row = UserStatus(dnd_until=until)
    zone = zoneinfo.ZoneInfo("UTC")
    assert availability.dnd_current(row, zone=zone, now=until - timedelta(minutes=1))["active"]
    assert availability.dnd_current(row, zone=zone, now=until) == {"active": False, "until": None}


# --- services -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_status_set_with_duration_clears_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserFactory()
    monkeypatch.setattr(timezone, "now", lambda: datetime(2030, 1, 1, 9, tzinfo=UTC))
    row = services.user_status_set(user=user, emoji="🚌", text="Commuting", clear_after="30m")
    assert row.expires_at == datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
    fresh = User.objects.select_related("custom_status").get(pk=user.pk)
    later = datetime(2030, 1, 1, 9, 31, tzinfo=UTC)
    assert availability.status_current(fresh.custom_status, now=later) is None


@pytest.mark.django_db
def test_status_clear_after_today_follows_the_users_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory(time_zone="Asia/Shanghai")
    monkeypatch.setattr(timezone, "now", lambda: datetime(2030, 1, 1, 20, tzinfo=UTC))
    row = services.user_status_set(user=user, emoji="🏠", text="WFH", clear_after="today")
    assert row.expires_at == datetime(2030, 1, 3, 0, tzinfo=SHANGHAI)


@pytest.mark.django_db
def test_status_text_is_limited_and_not_empty() -> None:
    user = UserFactory()
    with pytest.raises(InvalidInput) as empty:
        services.user_status_set(user=user, emoji=" ", text="  ")
    assert empty.value.code == "status_empty"
    with pytest.raises(InvalidInput) as long:
        services.user_status_set(user=user, emoji="🏖", text="x" * 81)
    assert long.value.code == "status_too_long"


@pytest.mark.django_db
def test_dnd_schedule_needs_days_and_distinct_times() -> None:
    user = UserFactory()
    with pytest.raises(InvalidInput) as refused:
        services.user_dnd_set(
            user=user,
            until=None,
            schedule_enabled=True,
            schedule_days=[],
            schedule_start=time(19),
            schedule_end=time(8),
        )
    assert refused.value.code == "invalid_dnd_schedule"


# --- REST -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_others_see_the_status_and_pause_in_the_directory(status_flag: None) -> None:
    alice, bob = UserFactory(), UserFactory()
    client_for(alice).put(
        STATUS_URL, {"emoji": "📅", "text": "开会中", "clear_after": "1h"}, format="json"
    )
    client_for(alice).put(DND_URL, {"minutes": 60}, format="json")

    seen = client_for(bob).get(f"/api/v1/users/{alice.pk}/").json()

    assert seen["status"]["text"] == "开会中"
    assert seen["dnd"]["active"] is True
    assert "dnd_schedule" not in seen  # the schedule is the user's own business


@pytest.mark.django_db
def test_directory_list_reads_statuses_without_a_query_per_user(status_flag: None) -> None:
    viewer = UserFactory()
    for index in range(3):
        services.user_status_set(user=UserFactory(), emoji="🤒", text=f"Out sick {index}")
    client = client_for(viewer)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/users/")
    services.user_status_set(user=UserFactory(), emoji="🏖", text="On holiday")
    with CaptureQueriesContext(connection) as more:
        listing = client.get("/api/v1/users/").json()
    assert len(more) == len(few)
    assert sum(1 for user in listing["results"] if user["status"]) == 4


@pytest.mark.django_db
def test_rest_dnd_sets_the_schedule_and_resumes(status_flag: None) -> None:
    user = UserFactory(time_zone="Asia/Shanghai")
    client = client_for(user)
    body = {
        "minutes": 30,
        "schedule": {"enabled": True, "days": [0, 1, 2, 3, 4], "start": "19:00", "end": "08:00"},
    }
    answer = client.put(DND_URL, body, format="json").json()
    assert answer["dnd"]["active"] is True
    assert answer["dnd_schedule"] == {
        "enabled": True,
        "days": [0, 1, 2, 3, 4],
        "start": "19:00",
        "end": "08:00",
    }
    resumed = client.put(DND_URL, {"until": None}, format="json").json()
    assert resumed["dnd_schedule"]["enabled"] is True  # kept: not in the body
    me = client.get("/api/v1/users/me/").json()
    assert me["dnd_schedule"]["start"] == "19:00"


@pytest.mark.django_db
def test_rest_refuses_a_pause_in_the_past(status_flag: None) -> None:
    client = client_for(UserFactory())
    gone = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    answer = client.put(DND_URL, {"until": gone}, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "dnd_until_past"


@pytest.mark.django_db
def test_rest_refuses_an_unknown_duration(status_flag: None) -> None:
    answer = client_for(UserFactory()).put(
        STATUS_URL, {"text": "Away", "clear_after": "fortnight"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid"


@pytest.mark.django_db
def test_anonymous_cannot_set_a_status(status_flag: None) -> None:
    answer = APIClient().put(STATUS_URL, {"text": "Hi"}, format="json")
    assert answer.status_code == 401
    assert answer.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_notification_settings_are_stored_server_side(status_flag: None) -> None:
    user = UserFactory()
    client = client_for(user)
    assert client.get(SETTINGS_URL).json() == {"desktop": True, "sound": True, "email_unread": True}
    client.patch(SETTINGS_URL, {"sound": False, "email_unread": False}, format="json")
    assert client_for(user).get(SETTINGS_URL).json() == {
        "desktop": True,
        "sound": False,
        "email_unread": False,
    }
    assert client.get("/api/v1/users/me/").json()["notification_settings"]["sound"] is False


# --- pushes ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_status_change_is_pushed_to_presence_watchers(
    captured_events: list[dict[str, Any]],
) -> None:
    user = UserFactory()
    services.user_status_set(user=user, emoji="🏖", text="On holiday", clear_after="week")
    services.user_status_clear(user=user)

    pushes = [event for event in captured_events if event["type"] == "user.status"]
    assert [event["topics"] for event in pushes] == [[presence_topic(user.pk)]] * 2
    assert pushes[0]["status"]["text"] == "On holiday"
    assert pushes[1]["status"] is None


@pytest.mark.django_db(transaction=True)
def test_dnd_change_is_pushed(captured_events: list[dict[str, Any]]) -> None:
    user = UserFactory()
    services.user_dnd_set(user=user, until=datetime.now(UTC) + timedelta(hours=1))
    (push,) = [event for event in captured_events if event["type"] == "user.status"]
    assert push["dnd"]["active"] is True
    assert push["user_id"] == user.pk


@pytest.mark.django_db(transaction=True)
def test_notification_settings_go_to_the_users_own_tabs_only(
    captured_events: list[dict[str, Any]],
) -> None:
    user = UserFactory()
    services.notification_settings_update(user=user, desktop=False)
    (push,) = captured_events
    assert push["topics"] == [user_topic(user.pk)]
    assert push["settings"] == {"desktop": False, "sound": True, "email_unread": True}


@pytest.mark.django_db(transaction=True)
def test_refused_status_pushes_nothing(captured_events: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidInput):
        services.user_status_set(user=UserFactory(), emoji="", text="")
    assert captured_events == []


@pytest.mark.django_db
def test_saving_only_the_schedule_keeps_a_pause_set_by_hand(status_flag: None) -> None:
    user = UserFactory()
    client = client_for(user)
    client.put(DND_URL, {"minutes": 90}, format="json")
    schedule = {"enabled": True, "days": [5, 6], "start": "00:00", "end": "23:59"}
    answer = client.put(DND_URL, {"schedule": schedule}, format="json").json()
    assert answer["dnd"]["active"] is True
    assert UserStatus.objects.get(user=user).dnd_until is not None


@pytest.mark.django_db
def test_the_routes_need_the_feature_flag() -> None:
    cache.clear()
    client = client_for(UserFactory())
    for answer in (
        client.put(STATUS_URL, {"text": "Hi"}, format="json"),
        client.put(DND_URL, {"minutes": 30}, format="json"),
        client.get(SETTINGS_URL),
    ):
        assert answer.status_code == 404
        assert answer.json()["code"] == "feature_disabled"
