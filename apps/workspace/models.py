"""The workplace around chat: default channels, each person's onboarding (welcome) and saved
messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkspaceSettings(models.Model):
    """Organisation-wide workplace settings: one row (pk=1), read with `workspace_settings()`."""

    # Set once #general was made a default channel (first onboarding or upgrade): from then
    # on the default channels are what the administrators chose, possibly none.
    default_channels_seeded = models.BooleanField(default=False)
    welcome_message = models.TextField(
        _("welcome message"),
        blank=True,
        max_length=4000,
        help_text=_(
            "Markdown sent to each new person by the system. Empty: the built-in welcome, "
            "in the person's language."
        ),
    )
    # The account that sends the welcome ("Enclave", a bot), created on first use.
    system_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("workplace settings")
        verbose_name_plural = _("workplace settings")

    def __str__(self) -> str:
        return str(_("Workplace settings"))


class DefaultChannel(models.Model):
    """A channel every new person joins (invited, signed up or synced from the directory)."""

    channel = models.OneToOneField(
        "chat.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("default channel")
        verbose_name_plural = _("default channels")
        ordering = ["channel__name"]

    def __str__(self) -> str:
        return f"#{self.channel.name}"


class Onboarding(models.Model):
    """A person was onboarded (joined the default channels, got the welcome): at most once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    source = models.CharField(_("source"), max_length=16)
    onboarded_at = models.DateTimeField(_("onboarded"))
    welcome_channel = models.ForeignKey(
        "chat.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("onboarding")
        verbose_name_plural = _("onboardings")

    def __str__(self) -> str:
        return f"{self.user_id} ({self.source})"


class Reminder(models.Model):
    """ "Remind me": at `remind_at` (UTC) the system bot tells `user`, in their DM with it,
    about `message` (if any) and `note`. Delivered once: `delivered_at` is set in the same
    transaction that sends the reminder (`apps.workspace.reminders.reminders_deliver_due`).
    A cancelled reminder is deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    # The message to be reminded of; it may since have been deleted (the delivery says so).
    message = models.ForeignKey(
        "chat.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Whether it was set about a message: still known after the message row is gone.
    about_message = models.BooleanField(default=False)
    note = models.CharField(_("note"), max_length=1000, blank=True)
    remind_at = models.DateTimeField(_("remind at"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        indexes = [
            # The delivery's scan: pending reminders by due time, nothing else.
            models.Index(
                fields=["remind_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="workspace_reminder_due",
            ),
            models.Index(fields=["user", "remind_at"], name="workspace_reminder_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.remind_at:%Y-%m-%d %H:%M}Z"


class SavedMessage(models.Model):
    """A message someone saved for later ("Saved items"): theirs alone, no one else sees it.

    The row outlives the reader's access (they may leave the channel, the message may be
    deleted): the saved list filters by the current read permission when it is read.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="+")
    saved_at = models.DateTimeField()

    class Meta:
        verbose_name = _("saved message")
        verbose_name_plural = _("saved messages")
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="workspace_saved_unique")
        ]
        indexes = [models.Index(fields=["user", "saved_at"], name="workspace_saved_user_time")]

    def __str__(self) -> str:
        return f"{self.message_id} saved by {self.user_id}"


class DigestState(models.Model):
    """What the e-mail digests have covered for one person, so nothing is e-mailed twice.

    `covered_until` is the end of the last window of messages looked at for them: the next
    digest takes only messages created after it. It also moves when a digest was due while
    the person was online (they saw their unread badges; no e-mail for those later).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    covered_until = models.DateTimeField(_("covered until"))
    last_sent_at = models.DateTimeField(_("last digest sent"), null=True, blank=True)
    # The newest message the last digest e-mail included (for the admin and support).
    last_message_id = models.BigIntegerField(_("last message included"), default=0)

    class Meta:
        verbose_name = _("e-mail digest state")
        verbose_name_plural = _("e-mail digest states")

    def __str__(self) -> str:
        return f"{self.user_id} until {self.covered_until:%Y-%m-%d %H:%M}Z"
