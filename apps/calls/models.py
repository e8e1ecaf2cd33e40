"""Call sessions and their participants.

A call belongs to a chat channel (today a direct message) and has participants, not just a
caller and a callee: group meetings through an SFU (`kind` = sfu) are a later step on the same
tables. The state machine lives in `apps.calls.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CallKind(models.TextChoices):
    P2P = "p2p", _("Peer to peer")
    SFU = "sfu", _("Through the media server")


class CallMedia(models.TextChoices):
    AUDIO = "audio", _("Voice")
    VIDEO = "video", _("Video")


class CallMode(models.TextChoices):
    # Everyone publishes (a meeting), or only the stage does and the others watch (a classroom).
    MEETING = "meeting", _("Meeting")
    CLASSROOM = "classroom", _("Live classroom")


class ParticipantRole(models.TextChoices):
    HOST = "host", _("Host")
    PRESENTER = "presenter", _("Presenter")  # on stage: publishes audio and video
    LISTENER = "listener", _("Listener")  # a classroom's audience: subscribes only


class CallState(models.TextChoices):
    RINGING = "ringing", _("Ringing")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")


class EndReason(models.TextChoices):
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")
    BUSY = "busy", _("Busy")
    MISSED = "missed", _("Missed")
    ENDED = "ended", _("Ended")
    FAILED = "failed", _("Failed")


class ParticipantState(models.TextChoices):
    RINGING = "ringing", _("Ringing")
    JOINED = "joined", _("Joined")
    LEFT = "left", _("Left")
    DECLINED = "declined", _("Declined")
    MISSED = "missed", _("Missed")
    BUSY = "busy", _("Busy")


# A participant in one of these states is in the call (being rung, or talking): a user is in at
# most one such call at a time, which the database holds (`calls_participant_one_live_call`).
ENGAGED_STATES = (ParticipantState.RINGING, ParticipantState.JOINED)


class CallSession(models.Model):
    channel = models.ForeignKey(
        "chat.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=CallKind.choices, default=CallKind.P2P)
    media = models.CharField(
        _("media"), max_length=8, choices=CallMedia.choices, default=CallMedia.AUDIO
    )
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("initiator"),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=CallState.choices, default=CallState.RINGING
    )
    end_reason = models.CharField(
        _("end reason"), max_length=10, choices=EndReason.choices, blank=True
    )
    started_at = models.DateTimeField(_("started at"))
    # Until when the callee's phone rings; then the call is missed (services.calls_expire).
    ring_deadline = models.DateTimeField(_("rings until"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # Meetings (kind sfu) only: who runs it, how, and its Janus VideoRoom. The room's pin is
    # handed to joined participants only; its secret (destroy, kick) never leaves the server.
    mode = models.CharField(
        _("mode"), max_length=10, choices=CallMode.choices, default=CallMode.MEETING
    )
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("host"),
    )
    janus_room = models.BigIntegerField(_("media server room"), null=True, blank=True)
    janus_pin = models.CharField(max_length=64, blank=True)
    janus_secret = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        indexes = [
            models.Index(fields=["channel", "started_at"]),
            # The sweep's scan: only calls that are not over (a small fraction of the rows).
            models.Index(
                fields=["state", "ring_deadline"],
                condition=~Q(state="ended"),
                name="calls_session_live",
            ),
        ]
        constraints = [
            # A channel has at most one meeting going on: a second "start" joins it.
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(kind="sfu") & ~Q(state="ended"),
                name="calls_one_live_meeting_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"call #{self.pk} in {self.channel_id} ({self.state})"


class CallParticipant(models.Model):
    call = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=ParticipantState.choices)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life of the participant's client while joined (`call.heartbeat`): a call
    # whose participant went silent (a closed or crashed tab) is ended by the sweep.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Meetings only: the role, a raised hand, and the Janus token and publisher id issued at
    # join (the token is added to Janus' stored tokens and removed when the participant leaves).
    role = models.CharField(
        max_length=10, choices=ParticipantRole.choices, default=ParticipantRole.PRESENTER
    )
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    janus_token = models.CharField(max_length=64, blank=True)
    feed_id = models.BigIntegerField(null=True, blank=True)
    # The publisher id of the participant's screen share (a second publisher in the room).
    screen_feed_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("call participant")
        verbose_name_plural = _("call participants")
        constraints = [
            models.UniqueConstraint(fields=["call", "user"], name="calls_participant_unique"),
            # Busy, held by the database: two calls that ring the same person at the same
            # moment cannot both get them (the second insert fails and that call is `busy`).
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(state__in=["ringing", "joined"]),
                name="calls_participant_one_live_call",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in call {self.call_id} ({self.state})"
