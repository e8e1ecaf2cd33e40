"""Daily summary tables: what the analytics pages read, so a page view never scans messages.

`apps.analytics.services.day_summarise` (run by Celery beat) rewrites one day's rows at a time.
"""

from __future__ import annotations

from django.db import models


class DailyStats(models.Model):
    day = models.DateField(unique=True)
    messages = models.PositiveIntegerField(default=0)
    active_users = models.PositiveIntegerField(default=0)
    # People who posted in the 7 days ending with `day`.
    weekly_active_users = models.PositiveIntegerField(default=0)
    active_channels = models.PositiveIntegerField(default=0)
    # Replies: a message answering another person's in the same channel within a day.
    reply_count = models.PositiveIntegerField(default=0)
    reply_seconds_total = models.FloatField(default=0)
    files_uploaded = models.PositiveIntegerField(default=0)
    file_bytes_uploaded = models.BigIntegerField(default=0)
    # Bytes of all stored files (deduplicated) at the end of the day, or now for today.
    storage_bytes = models.BigIntegerField(default=0)
    tickets_opened = models.PositiveIntegerField(default=0)
    tickets_handed_over = models.PositiveIntegerField(default=0)
    # Of the tickets opened that day: solved or closed without ever going to a person.
    tickets_deflected = models.PositiveIntegerField(default=0)
    tickets_solved = models.PositiveIntegerField(default=0)
    resolution_seconds_total = models.FloatField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return str(self.day)


class DailyActiveUser(models.Model):
    """Who posted on a day: weekly active users are counted from these rows."""

    day = models.DateField()
    user_id = models.BigIntegerField()
    messages = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user_id"], name="analytics_dau_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}"


class ChannelDailyStats(models.Model):
    day = models.DateField()
    channel_id = models.BigIntegerField()
    messages = models.PositiveIntegerField()
    senders = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel_id"], name="analytics_channel_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id}"


class HourlyStats(models.Model):
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()  # 0-23, UTC
    messages = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "hour"], name="analytics_hour_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.hour}h"
