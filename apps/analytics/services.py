"""Summarising a day into the analytics tables (apps.analytics.models).

`day_summarise` reads one UTC day of messages, uploads and help-desk tickets and rewrites that
day's rows; `analytics_refresh` (Celery beat) summarises the days since the last complete one
plus the last `ENCLAVE_ANALYTICS_RECOMPUTE_DAYS` (tickets opened then may since be solved), so
each run reads a few days, never the whole history.

The message table has no index on `created_at`; ids grow with time, so a day is found as an
id range by binary search on the primary key (`_first_message_id_at`, ~30 indexed lookups)
and read by that range.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from apps.analytics.models import ChannelDailyStats, DailyActiveUser, DailyStats, HourlyStats
from apps.chat.models import Message
from apps.files.models import Attachment, StoredBlob
from apps.helpdesk.models import Ticket, TicketState

REPLY_WINDOW = timedelta(days=1)
MAX_BACKFILL_DAYS = 366
_DONE_STATES = (TicketState.SOLVED, TicketState.CLOSED)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _first_message_id_at(moment: datetime) -> int:
    """The smallest message id created at or after `moment` (one past the last id if none)."""
    bounds = Message.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return 0
    low, high = bounds["low"], bounds["high"] + 1
    while low < high:
        middle = (low + high) // 2
        first = (
            Message.objects.filter(pk__gte=middle).order_by("pk").values("pk", "created_at").first()
        )
        if first is None or first["created_at"] >= moment:
            high = middle
        else:
            low = first["pk"] + 1
    return low


@transaction.atomic
def day_summarise(*, day: date) -> DailyStats:
    """Rewrite the summary rows of `day` (UTC) from the messages, files and tickets."""
    start, end = _start(day), _start(day + timedelta(days=1))
    first_id, end_id = _first_message_id_at(start), _first_message_id_at(end)
    rows = (
        Message.objects.filter(pk__gte=first_id, pk__lt=end_id, deleted_at__isnull=True)
        .order_by("channel_id", "pk")
        .values_list("channel_id", "sender_id", "created_at")
    )
    per_user: Counter[int] = Counter()
    per_hour: Counter[int] = Counter()
    per_channel: Counter[int] = Counter()
    channel_senders: defaultdict[int, set[int]] = defaultdict(set)
    reply_count, reply_seconds = 0, 0.0
    previous: tuple[int, int, datetime] | None = None
    for channel_id, sender_id, created_at in rows.iterator(chunk_size=5000):
        per_user[sender_id] += 1
        per_hour[created_at.astimezone(UTC).hour] += 1
        per_channel[channel_id] += 1
        channel_senders[channel_id].add(sender_id)
        if previous is not None and previous[0] == channel_id and previous[1] != sender_id:
            gap = created_at - previous[2]
            if timedelta(0) <= gap <= REPLY_WINDOW:
                reply_count += 1
                reply_seconds += gap.total_seconds()
        previous = (channel_id, sender_id, created_at)

    DailyActiveUser.objects.filter(day=day).delete()
    DailyActiveUser.objects.bulk_create(
        [DailyActiveUser(day=day, user_id=u, messages=n) for u, n in per_user.items()],
        batch_size=2000,
    )
    HourlyStats.objects.filter(day=day).delete()
    HourlyStats.objects.bulk_create(
        [HourlyStats(day=day, hour=h, messages=n) for h, n in per_hour.items()]
    )
    ChannelDailyStats.objects.filter(day=day).delete()
    ChannelDailyStats.objects.bulk_create(
        [
            ChannelDailyStats(day=day, channel_id=c, messages=n, senders=len(channel_senders[c]))
            for c, n in per_channel.items()
        ],
        batch_size=2000,
    )
    weekly = (
        DailyActiveUser.objects.filter(day__gt=day - timedelta(days=7), day__lte=day)
        .values("user_id")
        .distinct()
        .count()
    )
    uploads = Attachment.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        count=Count("pk"), size=Sum("size")
    )
    today = timezone.now().date()
    blobs = (
        StoredBlob.objects.all() if day >= today else StoredBlob.objects.filter(created_at__lt=end)
    )
    opened = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    solved = Ticket.objects.filter(
        solved_at__gte=start, solved_at__lt=end, state__in=_DONE_STATES
    ).values_list("created_at", "solved_at")
    stats, _created = DailyStats.objects.update_or_create(
        day=day,
        defaults={
            "messages": sum(per_user.values()),
            "active_users": len(per_user),
            "weekly_active_users": weekly,
            "active_channels": len(per_channel),
            "reply_count": reply_count,
            "reply_seconds_total": reply_seconds,
            "files_uploaded": uploads["count"] or 0,
            "file_bytes_uploaded": uploads["size"] or 0,
            "storage_bytes": blobs.aggregate(total=Sum("size"))["total"] or 0,
            "tickets_opened": opened.count(),
            "tickets_handed_over": opened.filter(handed_over_at__isnull=False).count(),
            "tickets_deflected": opened.filter(
                handed_over_at__isnull=True, state__in=_DONE_STATES
            ).count(),
            "tickets_solved": len(solved),
            "resolution_seconds_total": sum(
                (solved_at - created_at).total_seconds()
                for created_at, solved_at in solved
                if solved_at is not None
            ),
            "computed_at": timezone.now(),
        },
    )
    return stats


def analytics_refresh(*, now: datetime | None = None) -> list[date]:
    """Summarise the days not yet complete and the last few (see the module docstring)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    recompute = settings.ENCLAVE_ANALYTICS_RECOMPUTE_DAYS
    last = DailyStats.objects.filter(day__lt=today).aggregate(last=Max("day"))["last"]
    if last is None:
        oldest = Message.objects.order_by("pk").values_list("created_at", flat=True).first()
        first_day = oldest.astimezone(UTC).date() if oldest is not None else today
    else:
        first_day = min(last + timedelta(days=1), today - timedelta(days=recompute))
    first_day = max(first_day, today - timedelta(days=MAX_BACKFILL_DAYS))
    days = [first_day + timedelta(days=n) for n in range((today - first_day).days + 1)]
    for day in days:
        day_summarise(day=day)
    return days
