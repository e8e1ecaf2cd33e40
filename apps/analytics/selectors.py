"""Reads of analytics: a period's figures, from the summary tables only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.analytics.models import ChannelDailyStats, DailyActiveUser, DailyStats, HourlyStats
from apps.chat.models import Channel
from apps.core.errors import Forbidden, NotAuthenticated

MAX_DAYS = 366
TOP_CHANNELS = 10


def access_analytics(*, user: User) -> None:
    """The owner and administrators only."""
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active or not user.is_org_admin:
        raise Forbidden(_("Only administrators see analytics."), code="not_org_admin")


@dataclass(frozen=True)
class ChannelActivity:
    channel_id: int
    name: str
    messages: int
    senders: int


@dataclass(frozen=True)
class Report:
    first_day: date
    last_day: date
    days: list[DailyStats]  # one per day of the period, zeros where nothing was summarised
    hours: list[int]  # messages per hour of day (UTC), 24 values
    channels: list[ChannelActivity]
    active_users: int  # distinct people who posted in the period
    messages: int
    average_reply_seconds: float | None
    tickets_opened: int
    tickets_handed_over: int
    deflection_rate: float | None
    average_resolution_seconds: float | None
    storage_bytes: int


def analytics_report(*, user: User, days: int = 30, today: date | None = None) -> Report:
    """The last `days` days (today included) as the summary tables hold them."""
    access_analytics(user=user)
    days = max(1, min(days, MAX_DAYS))
    last_day = today or timezone.now().date()
    first_day = last_day - timedelta(days=days - 1)
    stored = {s.day: s for s in DailyStats.objects.filter(day__gte=first_day, day__lte=last_day)}
    series = [
        stored.get(day) or DailyStats(day=day, computed_at=timezone.now())
        for day in (first_day + timedelta(days=n) for n in range(days))
    ]
    in_period = {"day__gte": first_day, "day__lte": last_day}
    hours = [0] * 24
    for hour, count in (
        HourlyStats.objects.filter(**in_period)
        .values("hour")
        .annotate(total=Sum("messages"))
        .values_list("hour", "total")
    ):
        hours[hour] = count
    top = list(
        ChannelDailyStats.objects.filter(**in_period)
        .values("channel_id")
        .annotate(total=Sum("messages"), senders=Sum("senders"))
        .order_by("-total", "channel_id")[:TOP_CHANNELS]
    )
    names = dict(
        Channel.objects.filter(pk__in=[row["channel_id"] for row in top]).values_list("pk", "name")
    )
    replies = sum(s.reply_count for s in series)
    opened = sum(s.tickets_opened for s in series)
    solved = sum(s.tickets_solved for s in series)
    return Report(
        first_day=first_day,
        last_day=last_day,
        days=series,
        hours=hours,
        channels=[
            ChannelActivity(
                channel_id=row["channel_id"],
                name=names.get(row["channel_id"]) or _("(direct message)"),
                messages=row["total"],
                senders=row["senders"],
            )
            for row in top
        ],
        active_users=DailyActiveUser.objects.filter(**in_period)
        .values("user_id")
        .distinct()
        .count(),
        messages=sum(s.messages for s in series),
        average_reply_seconds=(
            sum(s.reply_seconds_total for s in series) / replies if replies else None
        ),
        tickets_opened=opened,
        tickets_handed_over=sum(s.tickets_handed_over for s in series),
        deflection_rate=sum(s.tickets_deflected for s in series) / opened if opened else None,
        average_resolution_seconds=(
            sum(s.resolution_seconds_total for s in series) / solved if solved else None
        ),
        storage_bytes=series[-1].storage_bytes if series else 0,
    )


CSV_COLUMNS = (
    "day",
    "messages",
    "active_users",
    "weekly_active_users",
    "active_channels",
    "reply_count",
    "reply_seconds_total",
    "files_uploaded",
    "file_bytes_uploaded",
    "storage_bytes",
    "tickets_opened",
    "tickets_handed_over",
    "tickets_deflected",
    "tickets_solved",
    "resolution_seconds_total",
)


def csv_rows(report: Report) -> list[list[str]]:
    return [list(CSV_COLUMNS)] + [
        [str(getattr(stats, column)) for column in CSV_COLUMNS] for stats in report.days
    ]
