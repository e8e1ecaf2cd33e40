"""Analytics against a data set with known counts: two days of messages, files and help-desk
tickets, summarised by the Celery task's service; the pages and CSV for admins only."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Role
from apps.analytics import services
from apps.analytics.models import ChannelDailyStats, DailyStats, HourlyStats
from apps.analytics.selectors import analytics_report
from apps.chat import services as chat_services
from apps.chat.models import ChannelKind, Message
from apps.files import services as file_services
from apps.files.models import Attachment
from apps.helpdesk.models import HelpDesk, Ticket, TicketState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY1 = date(2026, 3, 2)
DAY2 = date(2026, 3, 3)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def data_set() -> dict[str, Any]:
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    general = chat_services.channel_create(
        creator=alice, kind=ChannelKind.PUBLIC, name="general", member_ids=[bob.pk, carol.pk]
    )
    random = chat_services.channel_create(
        creator=carol, kind=ChannelKind.PUBLIC, name="random", member_ids=[bob.pk]
    )
    plan = [
        (alice, general, at(DAY1, 9, 0)),
        (bob, general, at(DAY1, 9, 10)),  # a reply after 600 s
        (alice, general, at(DAY1, 9, 15)),  # a reply after 300 s
        (carol, random, at(DAY1, 14, 0)),
        (carol, random, at(DAY1, 15, 0)),  # deleted below: never counted
        (bob, random, at(DAY2, 10, 0)),  # a reply to carol, but after more than a day
    ]
    sent = []
    for sender, channel, moment in plan:
        message = chat_services.message_send(
            sender=sender, channel_id=channel.pk, body="hi"
        ).message
        Message.objects.filter(pk=message.pk).update(created_at=moment)
        sent.append(message)
    Message.objects.filter(pk=sent[4].pk).update(deleted_at=at(DAY1, 16))
    attachment = file_services.attachment_upload(
        uploader=alice, source=io.BytesIO(b"x" * 1000), name="a.txt"
    )
    Attachment.objects.filter(pk=attachment.pk).update(created_at=at(DAY1, 11))
    desk = HelpDesk.objects.create(name="IT")
    Ticket.objects.create(  # deflected: solved by the bot within an hour
        helpdesk=desk,
        asker=bob,
        subject="a",
        state=TicketState.SOLVED,
        created_at=at(DAY1, 8),
        updated_at=at(DAY1, 9),
        solved_at=at(DAY1, 9),
    )
    Ticket.objects.create(  # handed over, solved the next day after 26 hours
        helpdesk=desk,
        asker=bob,
        subject="b",
        state=TicketState.CLOSED,
        created_at=at(DAY1, 10),
        updated_at=at(DAY2, 12),
        handed_over_at=at(DAY1, 10),
        solved_at=at(DAY2, 12),
    )
    Ticket.objects.create(  # handed over, still open
        helpdesk=desk,
        asker=carol,
        subject="c",
        state=TicketState.OPEN,
        created_at=at(DAY2, 7),
        updated_at=at(DAY2, 7),
        handed_over_at=at(DAY2, 7),
    )
    return {"general": general, "random": random, "file_size": attachment.size}


def test_days_are_summarised_with_the_known_counts(data_set: dict[str, Any]) -> None:
    days = services.analytics_refresh(now=at(DAY2, 23))

    assert days == [DAY1, DAY2]
    one, two = DailyStats.objects.get(day=DAY1), DailyStats.objects.get(day=DAY2)
    assert (one.messages, one.active_users, one.weekly_active_users, one.active_channels) == (
        4,
        3,
        3,
        2,
    )
    assert (one.reply_count, one.reply_seconds_total) == (2, 900)
    assert (one.files_uploaded, one.file_bytes_uploaded) == (1, data_set["file_size"])
    assert (one.tickets_opened, one.tickets_handed_over, one.tickets_deflected) == (2, 1, 1)
    assert (one.tickets_solved, one.resolution_seconds_total) == (1, 3600)
    assert (two.messages, two.active_users, two.weekly_active_users, two.reply_count) == (
        1,
        1,
        3,
        0,
    )
    assert (two.tickets_opened, two.tickets_handed_over, two.tickets_deflected) == (1, 1, 0)
    assert (two.tickets_solved, two.resolution_seconds_total) == (1, 26 * 3600)
    assert dict(HourlyStats.objects.filter(day=DAY1).values_list("hour", "messages")) == {
        9: 3,
        14: 1,
    }
    assert dict(
        ChannelDailyStats.objects.filter(day=DAY1).values_list("channel_id", "messages")
    ) == {data_set["general"].pk: 3, data_set["random"].pk: 1}


def test_the_report_adds_up_the_period(data_set: dict[str, Any]) -> None:
    services.analytics_refresh(now=at(DAY2, 23))
    admin = UserFactory(role=Role.ADMIN)

    report = analytics_report(user=admin, days=7, today=DAY2)

    assert len(report.days) == 7
    assert (report.messages, report.active_users, report.tickets_opened) == (5, 3, 3)
    assert report.deflection_rate == pytest.approx(1 / 3)
    assert report.average_resolution_seconds == pytest.approx((3600 + 26 * 3600) / 2)
    assert report.average_reply_seconds == pytest.approx(450)
    assert (report.hours[9], report.hours[10], sum(report.hours)) == (3, 1, 5)
    assert [(c.name, c.messages) for c in report.channels] == [("general", 3), ("random", 2)]


def test_a_refresh_reads_only_the_recent_days(data_set: dict[str, Any], settings: Any) -> None:
    settings.ENCLAVE_ANALYTICS_RECOMPUTE_DAYS = 1
    services.analytics_refresh(now=at(DAY2, 23))
    later = DAY2 + timedelta(days=3)

    days = services.analytics_refresh(now=at(later, 1))

    assert days == [DAY2 + timedelta(days=n) for n in range(1, 4)]
    assert DailyStats.objects.get(day=DAY1).messages == 4


def test_a_day_is_found_by_its_message_ids(data_set: dict[str, Any]) -> None:
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))

    assert services._first_message_id_at(at(DAY1, 0)) == ids[0]
    assert services._first_message_id_at(at(DAY1, 9, 5)) == ids[1]
    assert services._first_message_id_at(at(DAY2, 0)) == ids[5]
    assert services._first_message_id_at(at(DAY2 + timedelta(days=1), 0)) == ids[5] + 1


@pytest.mark.parametrize("name", ["analytics", "analytics-csv"])
@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.MEMBER, 403), (Role.GUEST, 403)],
)
def test_only_owner_and_admins_see_analytics(name: str, role: str, status: int) -> None:
    client = Client()
    client.force_login(UserFactory(role=role))

    assert client.get(reverse(name)).status_code == status


def test_anonymous_visitors_are_sent_to_log_in() -> None:
    response = Client().get(reverse("analytics"))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_the_page_draws_svg_charts_and_the_csv_has_a_row_per_day(
    data_set: dict[str, Any],
) -> None:
    services.analytics_refresh(now=at(DAY2, 23))
    client = Client()
    client.force_login(UserFactory(role=Role.ADMIN))

    page = client.get(reverse("analytics"), {"days": "7"}).content.decode()
    export = client.get(reverse("analytics-csv"), {"days": "7"}).content.decode()

    assert page.count('<svg class="analytics-chart"') == 6
    lines = export.strip().splitlines()
    assert lines[0].startswith("day,messages,active_users")
    assert len(lines) == 8
