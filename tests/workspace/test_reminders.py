"""Reminders: setting them (REST, the menu's presets, `/remind`), listing and cancelling mine,
and their delivery by the system bot in my DM with it, once, with a `reminder.due` push."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat import services as chat
from apps.chat.models import Channel, Message
from apps.core.errors import InvalidInput, NotFound
from apps.ops.models import FeatureFlag
from apps.workspace import reminders
from apps.workspace.models import Reminder
from apps.workspace.permissions import REMINDERS_FLAG
from apps.workspace.services import system_user
from tests.factories import UserFactory
from tests.ws import check_frame

pytestmark = pytest.mark.django_db

# A fixed clock: Monday 7 December 2026, 12:00 UTC.
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def reminders_flag(db: None) -> None:
    FeatureFlag.objects.create(name=REMINDERS_FLAG, everyone=True)
    cache.clear()  # flags are cached with their members


@pytest.fixture
def clock() -> Iterator[mock.MagicMock]:
    """`timezone.now()` frozen at NOW (move it with `clock.return_value = ...`)."""
    with mock.patch("django.utils.timezone.now", return_value=NOW) as now:
        yield now


@pytest.fixture
def me() -> User:
    return UserFactory(username="me", time_zone="Europe/Berlin")


@pytest.fixture
def room(me: User) -> Channel:
    owner = UserFactory(username="owner")
    return chat.channel_create(creator=owner, kind="private", name="room", member_ids=[me.pk])


def said(channel: Channel, body: str = "the quarterly numbers") -> Message:
    sender = channel.memberships.exclude(user__username="me").first().user  # type: ignore[union-attr]
    return chat.message_send(sender=sender, channel_id=channel.pk, body=body).message


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def the_bot() -> User:
    with transaction.atomic():  # system_user() locks the settings row
        return system_user()


def bot_messages(user: User) -> list[Message]:
    bot = the_bot()
    return list(Message.objects.filter(sender=bot, channel__memberships__user=user).order_by("pk"))


# --- setting --------------------------------------------------------------------------------------


def test_preset_tomorrow_is_nine_in_my_zone(me: User, room: Channel, clock: Any) -> None:
    payload = reminders.reminder_create(user=me, message_id=said(room).pk, preset="tomorrow")
    # Berlin is UTC+1 in December: 9:00 there is 8:00 UTC, stored as such.
    assert Reminder.objects.get().remind_at == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    assert payload["message"]["excerpt"] == "the quarterly numbers"  # type: ignore[index]
    assert payload["message_unavailable"] is False


def test_a_chosen_wall_clock_time_is_read_in_my_zone(me: User, clock: Any) -> None:
    reminders.reminder_create(user=me, note="carols", remind_at="2026-12-24T18:00")
    assert Reminder.objects.get().remind_at == datetime(2026, 12, 24, 17, 0, tzinfo=UTC)


def test_an_explicit_offset_wins_over_my_zone(me: User, clock: Any) -> None:
    reminders.reminder_create(user=me, note="x", remind_at="2026-12-24T18:00:00Z")
    assert Reminder.objects.get().remind_at == datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


def test_a_time_in_the_past_is_refused(me: User, clock: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        reminders.reminder_create(user=me, note="x", remind_at="2026-12-07T12:00:00Z")
    assert caught.value.code == "reminder_in_past"


def test_no_time_is_refused(me: User, clock: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        reminders.reminder_create(user=me, note="x")
    assert caught.value.code == "reminder_time_missing"


def test_a_message_i_cannot_read_is_refused_as_not_found(me: User, clock: Any) -> None:
    other = UserFactory(username="other")
    secret = chat.channel_create(creator=other, kind="private", name="secret", member_ids=[])
    message = chat.message_send(sender=other, channel_id=secret.pk, body="hush").message
    with pytest.raises(NotFound) as caught:
        reminders.reminder_create(user=me, message_id=message.pk, preset="1h")
    assert caught.value.code == "message_not_found"
    assert not Reminder.objects.exists()


def test_too_many_pending_reminders_are_refused(me: User, clock: Any) -> None:
    Reminder.objects.bulk_create(
        Reminder(user=me, note="n", remind_at=NOW + timedelta(hours=1))
        for _ in range(reminders.MAX_PENDING)
    )
    with pytest.raises(InvalidInput) as caught:
        reminders.reminder_create(user=me, note="one more", preset="1h")
    assert caught.value.code == "too_many_reminders"


def test_without_the_flag_reminders_are_refused(me: User) -> None:
    FeatureFlag.objects.filter(name=REMINDERS_FLAG).delete()
    cache.clear()
    response = client_for(me).get(reverse("workspace_api:reminders"))
    assert response.status_code == 404
    assert response.json()["code"] == "feature_disabled"


# --- listing and cancelling -----------------------------------------------------------------------


def test_pending_lists_mine_soonest_first_in_two_queries(
    me: User, room: Channel, clock: Any, django_assert_num_queries: Any
) -> None:
    later = reminders.reminder_create(user=me, note="later", preset="3h")
    sooner = reminders.reminder_create(user=me, message_id=said(room).pk, preset="20m")
    reminders.reminder_create(user=UserFactory(), note="not mine", preset="1h")
    reminders.reminder_create(user=me, message_id=said(room, "second").pk, preset="1h")
    me.refresh_from_db()
    with django_assert_num_queries(2):  # the reminders, my memberships (the flag is cached)
        pending = reminders.reminders_pending(user=me)
    assert [p["id"] for p in pending][0::2] == [sooner["id"], later["id"]]
    assert len(pending) == 3


def test_a_message_i_can_no_longer_read_is_not_shown(me: User, room: Channel, clock: Any) -> None:
    reminders.reminder_create(user=me, message_id=said(room, "top secret").pk, preset="1h")
    chat.channel_leave(user=me, channel_id=room.pk)
    (payload,) = reminders.reminders_pending(user=me)
    assert payload["message"] is None
    assert payload["message_unavailable"] is True
    assert "top secret" not in str(payload)


@pytest.mark.django_db(transaction=True)
def test_cancel_deletes_and_tells_my_tabs(
    me: User, clock: Any, captured_events: list[dict[str, Any]]
) -> None:
    payload = reminders.reminder_create(user=me, note="x", preset="1h")
    reminders.reminder_cancel(user=me, reminder_id=payload["id"])
    assert not Reminder.objects.exists()
    assert [(e["type"], e["topics"]) for e in captured_events] == [
        ("reminder.created", [f"user.{me.pk}"]),
        ("reminder.cancelled", [f"user.{me.pk}"]),
    ]
    for event in captured_events:
        check_frame({k: v for k, v in event.items() if k != "topics"})


def test_someone_elses_reminder_cannot_be_cancelled(me: User, clock: Any) -> None:
    theirs = reminders.reminder_create(user=UserFactory(), note="x", preset="1h")
    with pytest.raises(NotFound) as caught:
        reminders.reminder_cancel(user=me, reminder_id=theirs["id"])
    assert caught.value.code == "reminder_not_found"
    assert Reminder.objects.count() == 1


# --- REST -----------------------------------------------------------------------------------------


def test_rest_create_list_and_cancel(me: User, room: Channel, clock: Any) -> None:
    client = client_for(me)
    url = reverse("workspace_api:reminders")
    created = client.post(
        url, {"message_id": said(room).pk, "preset": "next_monday"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["remind_at"] == "2026-12-14T08:00:00+00:00"
    assert [r["id"] for r in client.get(url).json()] == [created.json()["id"]]
    gone = client.delete(
        reverse("workspace_api:reminder", kwargs={"reminder_id": created.json()["id"]})
    )
    assert gone.status_code == 204
    assert client.get(url).json() == []


def test_rest_refuses_an_unknown_preset_with_a_code(me: User) -> None:
    response = client_for(me).post(
        reverse("workspace_api:reminders"), {"note": "x", "preset": "later"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_rest_refuses_a_garbled_time_with_a_code(me: User) -> None:
    response = client_for(me).post(
        reverse("workspace_api:reminders"), {"note": "x", "remind_at": "soon"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "reminder_time_invalid"


def test_rest_cancel_of_someone_elses_is_404(me: User, clock: Any) -> None:
    theirs = reminders.reminder_create(user=UserFactory(), note="x", preset="1h")
    response = client_for(me).delete(
        reverse("workspace_api:reminder", kwargs={"reminder_id": theirs["id"]})
    )
    assert response.status_code == 404
    assert response.json()["code"] == "reminder_not_found"


def test_rest_refuses_anonymous() -> None:
    response = APIClient().get(reverse("workspace_api:reminders"))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- /remind --------------------------------------------------------------------------------------


def _send(user: User, channel: Channel, body: str) -> Any:
    return client_for(user).post(
        reverse("chat_api:messages", kwargs={"channel_id": channel.pk}),
        {"body": body, "client_msg_id": str(uuid.uuid4())},
        format="json",
    )


def test_remind_command_sets_a_reminder_and_posts_nothing(
    me: User, room: Channel, clock: Any
) -> None:
    before = Message.objects.count()
    response = _send(me, room, "/remind me tomorrow at 9:00 send the slides")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["command"] == "remind"
    assert "2026-12-08 09:00 (Europe/Berlin)" in body["ephemeral"]
    reminder = Reminder.objects.get()
    assert (reminder.note, reminder.remind_at) == (
        "send the slides",
        datetime(2026, 12, 8, 8, 0, tzinfo=UTC),
    )
    assert Message.objects.count() == before


def test_remind_command_explains_what_it_cannot_parse(me: User, room: Channel) -> None:
    response = _send(me, room, "/remind me whenever feed the cat")
    assert response.status_code == 400
    assert response.json()["code"] == "reminder_syntax"
    assert not Reminder.objects.exists()


def test_remind_command_is_plain_text_without_the_flag(me: User, room: Channel) -> None:
    FeatureFlag.objects.filter(name=REMINDERS_FLAG).delete()
    cache.clear()
    response = _send(me, room, "/remind me in 20m tea")
    assert response.status_code == 201
    assert not Reminder.objects.exists()


# --- delivery -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_due_reminder_arrives_once_from_the_system_bot_with_a_push(
    me: User, room: Channel, clock: Any, captured_events: list[dict[str, Any]]
) -> None:
    message = said(room)
    payload = reminders.reminder_create(user=me, message_id=message.pk, preset="20m")
    assert reminders.reminders_deliver_due() == 0  # not yet due

    clock.return_value = NOW + timedelta(minutes=21)
    assert reminders.reminders_deliver_due() == 1
    assert reminders.reminders_deliver_due() == 0  # delivered once

    (dm_message,) = bot_messages(me)
    assert dm_message.channel.kind == "direct"
    assert f"/c/{room.pk}/?m={message.pk}" in dm_message.body
    assert Reminder.objects.get().delivered_at == NOW + timedelta(minutes=21)
    (due,) = [e for e in captured_events if e["type"] == "reminder.due"]
    assert due["topics"] == [f"user.{me.pk}"]
    assert due["reminder"]["id"] == payload["id"]
    assert (due["dm_channel_id"], due["dm_message_id"]) == (dm_message.channel_id, dm_message.pk)
    check_frame({k: v for k, v in due.items() if k != "topics"})
    assert reminders.reminders_pending(user=me) == []


def test_reminder_about_a_message_i_can_no_longer_read_leaks_nothing(
    me: User, room: Channel, clock: Any
) -> None:
    reminders.reminder_create(user=me, message_id=said(room, "merger with ACME").pk, preset="1h")
    chat.channel_leave(user=me, channel_id=room.pk)
    clock.return_value = NOW + timedelta(hours=2)
    reminders.reminders_deliver_due()
    (dm_message,) = bot_messages(me)
    assert "ACME" not in dm_message.body
    assert f"/c/{room.pk}/" not in dm_message.body
    assert "no longer see" in dm_message.body


def test_reminder_of_a_deleted_message_leaks_nothing(me: User, room: Channel, clock: Any) -> None:
    message = said(room, "typo'd secret")
    reminders.reminder_create(user=me, message_id=message.pk, preset="1h")
    chat.message_delete(user=message.sender, message_id=message.pk)
    clock.return_value = NOW + timedelta(hours=2)
    reminders.reminders_deliver_due()
    (dm_message,) = bot_messages(me)
    assert "secret" not in dm_message.body
    assert "no longer see" in dm_message.body


def test_delivery_goes_in_small_batches_until_none_is_due(me: User, clock: Any) -> None:
    for n in range(5):
        reminders.reminder_create(user=me, note=f"n{n}", preset="20m")
    clock.return_value = NOW + timedelta(hours=1)
    assert reminders.reminders_deliver_due(batch_size=2) == 5
    assert [m.body.split("** ")[-1] for m in bot_messages(me)] == ["n0", "n1", "n2", "n3", "n4"]


def test_a_deactivated_person_is_skipped_and_not_retried(me: User, clock: Any) -> None:
    reminders.reminder_create(user=me, note="x", preset="20m")
    User.objects.filter(pk=me.pk).update(is_active=False)
    clock.return_value = NOW + timedelta(hours=1)
    reminders.reminders_deliver_due()
    assert Reminder.objects.get().delivered_at is not None
    assert bot_messages(me) == []


def test_the_beat_task_delivers(me: User, clock: Any) -> None:
    from apps.workspace.tasks import deliver_due_reminders

    reminders.reminder_create(user=me, note="x", preset="20m")
    clock.return_value = NOW + timedelta(hours=1)
    assert deliver_due_reminders.apply().get() == 1


def test_the_beat_schedules_the_task() -> None:
    from django.conf import settings

    assert (
        settings.CELERY_BEAT_SCHEDULE["workspace-reminders"]["task"]
        == "apps.workspace.tasks.deliver_due_reminders"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_each_reminder_exactly_once(me: User) -> None:
    assert connection.vendor == "postgresql"
    others = [UserFactory(username=f"p{n}", role=Role.MEMBER) for n in range(3)]
    due = datetime.now(UTC) - timedelta(minutes=1)
    people = [me, *others]
    Reminder.objects.bulk_create(
        Reminder(user=people[n % len(people)], note=f"r{n}", remind_at=due) for n in range(40)
    )
    the_bot()  # created up front, as a running installation has it
    start = threading.Barrier(4)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            counts.append(reminders.reminders_deliver_due(batch_size=3))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(counts) == 40
    assert not Reminder.objects.filter(delivered_at__isnull=True).exists()
    bodies = [m.body for person in people for m in bot_messages(person)]
    assert len(bodies) == 40
    assert len(set(bodies)) == 40


def test_a_message_gone_for_good_is_still_said_to_be_unavailable(
    me: User, room: Channel, clock: Any
) -> None:
    message = said(room, "purged later")
    reminders.reminder_create(user=me, message_id=message.pk, note="follow up", preset="1h")
    Message.objects.filter(pk=message.pk).delete()
    (payload,) = reminders.reminders_pending(user=me)
    assert (payload["message"], payload["message_unavailable"]) == (None, True)
    clock.return_value = NOW + timedelta(hours=2)
    reminders.reminders_deliver_due()
    (dm_message,) = bot_messages(me)
    assert "purged" not in dm_message.body
    assert "no longer see" in dm_message.body


def test_a_note_without_a_message_is_not_unavailable(me: User, clock: Any) -> None:
    payload = reminders.reminder_create(user=me, note="stand up", preset="1h")
    assert (payload["message"], payload["message_unavailable"]) == (None, False)


@pytest.mark.parametrize("value", ["9999-12-31T23:59", "0001-01-01T00:00", "2026-13-01T10:00"])
def test_rest_refuses_impossible_times_with_a_code(me: User, value: str) -> None:
    me.time_zone = "America/New_York" if value.startswith("9999") else "Europe/Berlin"
    me.save(update_fields=["time_zone"])
    response = client_for(me).post(
        reverse("workspace_api:reminders"), {"note": "x", "remind_at": value}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "reminder_time_invalid"
