"""Writes of calls: the state machine, signalling relay, and the sweep of calls nobody ends.

States: `ringing` → `active` (accepted) → `ended`, or `ringing` → `ended` (declined, cancelled,
missed when nobody answered in ENCLAVE_CALL_RING_SECONDS, busy when the callee is in another
call). Every change locks the call row first (`access_call(lock=True)`), so two accepts, or an
accept and a cancel, happen one after the other and the second sees the first's outcome. That
a person is in at most one live call is held by the database (a partial unique index on
participants), which makes "busy" race-free too.

Events go to the participants' user topics only, after commit. When a call ends, a call record
is posted in its direct message (sent by the caller), so both sides see "Missed call" or
"Call ended · 3:25" in the conversation, on every device and in the history.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.calls import events, janus
from apps.calls.models import (
    ENGAGED_STATES,
    CallKind,
    CallMedia,
    CallMode,
    CallParticipant,
    CallSession,
    CallState,
    EndReason,
    ParticipantRole,
    ParticipantState,
)
from apps.calls.permissions import (
    access_call,
    access_call_start,
    access_meeting,
    access_meeting_start,
    require_host,
)
from apps.chat import services as chat_services
from apps.chat.models import Membership
from apps.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit

logger = logging.getLogger(__name__)

# What a `call.signal` payload may carry: a session description or an ICE candidate.
_SDP_TYPES = frozenset({"offer", "answer", "pranswer", "rollback"})
_CANDIDATE_FIELDS: dict[str, type] = {
    "candidate": str,
    "sdpMid": str,
    "sdpMLineIndex": int,
    "usernameFragment": str,
}

Change = Callable[
    [CallSession, list[CallParticipant], CallParticipant, datetime], CallSession | DomainError
]


def _publish(kind: str, call: CallSession, participants: list[CallParticipant]) -> None:
    publish_on_commit(
        {"type": kind, "call": events.call_payload(call, participants)},
        to=Audience.users(p.user_id for p in participants),
    )


def _locked(user: User, call_id: int, change: Change) -> CallSession:
    """Run `change(call, participants, mine, now)` holding the call's row lock.

    A refusal that `change` returns (a DomainError) is raised after the transaction
    committed: what `change` found due on its way (an expired ring) is stored all the same.
    """
    with transaction.atomic():
        call, participants, mine = access_call(user=user, call_id=call_id, lock=True)
        now = timezone.now()
        if _ring_expired(call, now):
            _end(call, participants, reason=EndReason.MISSED, now=now)
        outcome = change(call, participants, mine, now)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _ring_expired(call: CallSession, now: datetime) -> bool:
    return call.state == CallState.RINGING and now >= call.ring_deadline


def _call_ended(call: CallSession) -> Conflict:
    return Conflict(
        _("This call has ended."), code="call_ended", details={"end_reason": call.end_reason}
    )


def _already_answered() -> Conflict:
    return Conflict(_("This call was already answered."), code="call_already_answered")


@transaction.atomic
def call_start(*, user: User, channel_id: int, media: str = CallMedia.AUDIO) -> CallSession:
    """Ring the other person of a direct message.

    Refused when the caller is already in a call (`already_in_call`). When the callee is, the
    call is stored as ended `busy` (the caller's client says so, the DM records it).
    """
    if media not in CallMedia.values:
        raise InvalidInput(_("media must be audio or video."), code="invalid_media")
    channel = access_call_start(user=user, channel_id=channel_id)
    callee = (
        User.objects.filter(
            is_active=True,
            pk__in=Membership.objects.filter(channel_id=channel.pk).values("user_id"),
        )
        .exclude(pk=user.pk)
        .first()
    )
    if callee is None:
        raise Conflict(_("Nobody can take this call."), code="callee_unavailable")
    now = timezone.now()
    _end_stale_calls_of([user.pk, callee.pk], now=now)
    call = CallSession.objects.create(
        channel=channel,
        initiator=user,
        media=media,
        started_at=now,
        ring_deadline=now + timedelta(seconds=settings.ENCLAVE_CALL_RING_SECONDS),
    )
    caller = CallParticipant(
        call=call, user=user, state=ParticipantState.JOINED, joined_at=now, last_seen_at=now
    )
    try:
        with transaction.atomic():
            caller.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            _("You are already in a call."), code="already_in_call"
        ) from None  # the whole start rolls back
    ringing = CallParticipant(call=call, user=callee, state=ParticipantState.RINGING)
    try:
        with transaction.atomic():
            ringing.save(force_insert=True)
    except IntegrityError:
        ringing.state = ParticipantState.BUSY
        ringing.pk = None
        ringing.save(force_insert=True)
        _end(call, [caller, ringing], reason=EndReason.BUSY, now=now)
        return call
    _publish("call.ringing", call, [caller, ringing])
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from apps.calls.tasks import expire_ringing_call

        # A moment after the deadline; the beat sweep catches any this misses.
        countdown = settings.ENCLAVE_CALL_RING_SECONDS + 1
        transaction.on_commit(
            lambda: expire_ringing_call.apply_async((call.pk,), countdown=countdown)
        )
    return call


def call_accept(*, user: User, call_id: int) -> CallSession:
    """The callee answers a ringing call: it becomes active. Only one accept wins."""

    def accept(
        call: CallSession, participants: list[CallParticipant], mine: CallParticipant, now: datetime
    ) -> CallSession | DomainError:
        if call.state == CallState.ENDED:
            return _call_ended(call)
        if mine.user_id == call.initiator_id:
            return Forbidden(_("Only the person called can answer."), code="not_callee")
        if call.state != CallState.RINGING or mine.state != ParticipantState.RINGING:
            return _already_answered()
        call.state, call.answered_at = CallState.ACTIVE, now
        call.save(update_fields=["state", "answered_at"])
        mine.state, mine.joined_at, mine.last_seen_at = ParticipantState.JOINED, now, now
        mine.save(update_fields=["state", "joined_at", "last_seen_at"])
        _publish("call.accepted", call, participants)
        return call

    return _locked(user, call_id, accept)


def call_decline(*, user: User, call_id: int) -> CallSession:
    """The callee refuses a ringing call: it ends `declined`."""

    def decline(
        call: CallSession, participants: list[CallParticipant], mine: CallParticipant, now: datetime
    ) -> CallSession | DomainError:
        if call.state == CallState.ENDED:
            return _call_ended(call)
        if mine.user_id == call.initiator_id:
            return Forbidden(_("Only the person called can decline."), code="not_callee")
        if call.state != CallState.RINGING:
            return _already_answered()
        _end(call, participants, reason=EndReason.DECLINED, now=now)
        return call

    return _locked(user, call_id, decline)


def call_cancel(*, user: User, call_id: int) -> CallSession:
    """The caller gives up before an answer: `cancelled`, or `missed` once it rang its time."""

    def cancel(
        call: CallSession, participants: list[CallParticipant], mine: CallParticipant, now: datetime
    ) -> CallSession | DomainError:
        if call.state == CallState.ENDED:
            # Rung its time just now (found due by _locked): the caller's give-up is a miss.
            expired_now = call.end_reason == EndReason.MISSED and call.ended_at == now
            return call if expired_now and mine.user_id == call.initiator_id else _call_ended(call)
        if mine.user_id != call.initiator_id:
            return Forbidden(_("Only the caller can cancel a call."), code="not_initiator")
        if call.state != CallState.RINGING:
            return _already_answered()
        _end(call, participants, reason=EndReason.CANCELLED, now=now)
        return call

    return _locked(user, call_id, cancel)


def call_hangup(*, user: User, call_id: int) -> CallSession:
    """Leave the call, whatever its state: an active call ends for both (1:1); a ringing one
    is cancelled by the caller or declined by the callee; an ended one stays as it is. In a
    meeting, the participant leaves and the others stay (the last one out ends it)."""
    if CallSession.objects.filter(pk=call_id, kind=CallKind.SFU).exists():
        return meeting_leave(user=user, call_id=call_id)

    def hangup(
        call: CallSession, participants: list[CallParticipant], mine: CallParticipant, now: datetime
    ) -> CallSession | DomainError:
        if call.state == CallState.RINGING:
            reason = (
                EndReason.CANCELLED if mine.user_id == call.initiator_id else EndReason.DECLINED
            )
            _end(call, participants, reason=reason, now=now)
        elif call.state == CallState.ACTIVE:
            _end(call, participants, reason=EndReason.ENDED, now=now)
        return call

    return _locked(user, call_id, hangup)


def call_heartbeat(*, user: User, call_id: int) -> CallSession:
    """The participant's client is still in the call (sent every ~15 s while it is)."""

    def beat(
        call: CallSession, participants: list[CallParticipant], mine: CallParticipant, now: datetime
    ) -> CallSession | DomainError:
        if call.state == CallState.ENDED:
            return _call_ended(call)
        if mine.state == ParticipantState.JOINED:
            mine.last_seen_at = now
            mine.save(update_fields=["last_seen_at"])
        return call

    return _locked(user, call_id, beat)


def call_signal(*, user: User, call_id: int, to_user_id: int, payload: object) -> None:
    """Relay WebRTC signalling (`payload`: `sdp` or `candidate`) to another participant of an
    active call, and to nobody else. Nothing is stored; the push leaves at once."""
    signal = _clean_signal(payload)
    call, participants, mine = access_call(user=user, call_id=call_id)
    if call.kind == CallKind.SFU:
        raise InvalidInput(
            _("A meeting's media goes through the media server, not this relay."),
            code="meeting_no_relay",
        )
    if call.state != CallState.ACTIVE or mine.state != ParticipantState.JOINED:
        raise Conflict(_("This call is not in progress."), code="call_not_active")
    target = next((p for p in participants if p.user_id == to_user_id), None)
    if target is None or target.user_id == user.pk or target.state != ParticipantState.JOINED:
        raise NotFound(
            _("That person is not in this call."),
            code="not_call_participant",
            details={"to_user_id": to_user_id},
        )
    publish_on_commit(
        {"type": "call.signal", "call_id": call.pk, "from_user_id": user.pk, "payload": signal},
        to=Audience.users([to_user_id]),
    )


def _clean_signal(payload: object) -> events.SignalPayload:
    """The payload as the event's schema has it, or `invalid_signal`: only the fields of a
    session description or an ICE candidate are relayed, with their types checked."""
    invalid = InvalidInput(
        _("payload must hold an sdp (type and sdp) or an ICE candidate."), code="invalid_signal"
    )
    if not isinstance(payload, dict) or len(payload) != 1:
        raise invalid
    if "sdp" in payload:
        sdp = payload["sdp"]
        if (
            not isinstance(sdp, dict)
            or set(sdp) - {"type", "sdp"}
            or sdp.get("type") not in _SDP_TYPES
            or not isinstance(sdp.get("sdp", ""), str)
        ):
            raise invalid
        return {"sdp": {"type": sdp["type"], "sdp": sdp.get("sdp", "")}}
    if "candidate" not in payload:
        raise invalid
    candidate = payload["candidate"]
    if candidate is None:  # the end of candidates
        return {"candidate": None}
    if not isinstance(candidate, dict) or set(candidate) - set(_CANDIDATE_FIELDS):
        raise invalid
    for key, value in candidate.items():
        if value is not None and not isinstance(value, _CANDIDATE_FIELDS[key]):
            raise invalid
        if key == "candidate" and value is None:
            raise invalid
    if isinstance(candidate.get("sdpMLineIndex"), bool):
        raise invalid
    return {"candidate": cast(events.IceCandidate, dict(candidate))}


# --- ending ----------------------------------------------------------------------------------


def _end(
    call: CallSession, participants: list[CallParticipant], *, reason: str, now: datetime
) -> None:
    """End a call the caller holds the row lock of (or just created): every participant leaves,
    `call.ended` goes to them all, and the call record is posted in the channel."""
    call.state, call.end_reason, call.ended_at = CallState.ENDED, reason, now
    call.save(update_fields=["state", "end_reason", "ended_at"])
    if call.kind == CallKind.SFU:
        _release_room_on_commit(call, participants)
    for participant in participants:
        if participant.state == ParticipantState.JOINED:
            participant.state, participant.left_at = ParticipantState.LEFT, now
        elif participant.state == ParticipantState.RINGING:
            participant.state = (
                ParticipantState.DECLINED
                if reason == EndReason.DECLINED
                else ParticipantState.MISSED
            )
            participant.left_at = now
        else:
            continue
        participant.save(update_fields=["state", "left_at"])
    if call.kind == CallKind.SFU:
        _publish_meeting(call, participants)
    else:
        _publish("call.ended", call, participants)
    _post_call_record(call, participants)


def _release_room_on_commit(call: CallSession, participants: list[CallParticipant]) -> None:
    """After commit: every token of the meeting is revoked and its Janus room destroyed (the
    media of everyone in it stops)."""
    tokens = [p.janus_token for p in participants if p.state == ParticipantState.JOINED]
    room, secret = call.janus_room, call.janus_secret

    def release() -> None:
        if not janus.configured():
            return
        try:
            for token in tokens:
                janus.token_remove(token)
            if room is not None:
                janus.room_destroy(room=room, secret=secret)
        except janus.JanusError as error:
            logger.warning("janus release of room %s: %s", room, error)

    transaction.on_commit(release)


def _duration(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}:{minutes:02d}:{seconds % 60:02d}" if hours else f"{minutes}:{seconds % 60:02d}"


def meeting_record_text(call: CallSession, participants: list[CallParticipant]) -> str:
    """The line posted when a meeting ends: its duration and who took part."""
    seconds = int(((call.ended_at or call.started_at) - call.started_at).total_seconds())
    people = sorted(
        {p.user_id for p in participants if p.joined_at is not None},
    )
    names = ", ".join(u.name for u in User.objects.filter(pk__in=people).order_by("pk"))
    text = (
        _("Live classroom ended · %(duration)s · %(count)s took part: %(names)s")
        if call.mode == CallMode.CLASSROOM
        else _("Meeting ended · %(duration)s · %(count)s took part: %(names)s")
    )
    return "📞 " + text % {"duration": _duration(seconds), "count": len(people), "names": names}


def call_record_text(call: CallSession) -> str:
    """The line posted in the conversation when a call ends (in the caller's language)."""
    video = call.media == CallMedia.VIDEO
    if call.end_reason == EndReason.ENDED and call.answered_at and call.ended_at:
        seconds = int((call.ended_at - call.answered_at).total_seconds())
        duration = _duration(seconds)
        text = _("Video call ended · %(duration)s") if video else _("Call ended · %(duration)s")
        return "📞 " + text % {"duration": duration}
    texts: dict[str, str] = {
        EndReason.MISSED: _("Missed video call") if video else _("Missed call"),
        EndReason.CANCELLED: _("Cancelled video call") if video else _("Cancelled call"),
        EndReason.DECLINED: _("Declined video call") if video else _("Declined call"),
        EndReason.BUSY: _("Call not answered: busy"),
        EndReason.FAILED: _("Call lost: connection interrupted"),
    }
    return "📞 " + texts.get(call.end_reason, _("Call ended"))


def _post_call_record(call: CallSession, participants: list[CallParticipant]) -> None:
    initiator = User.objects.get(pk=call.initiator_id)
    with translation.override(initiator.language or settings.LANGUAGE_CODE):
        body = (
            meeting_record_text(call, participants)
            if call.kind == CallKind.SFU
            else call_record_text(call)
        )
    try:
        chat_services.message_send(
            sender=initiator,
            channel_id=call.channel_id,
            body=body,
            client_msg_id=events.record_key(call.pk),
        )
    except DomainError as error:
        # The caller can no longer post there (deactivated): the call ends all the same.
        logger.info("no record of call %s in its channel: %s", call.pk, error.code)


def _live_calls_due(now: datetime, *, user_ids: Iterable[int] | None = None) -> list[int]:
    """Ids of calls that should have ended: rung past their deadline, or active with a
    participant whose client has not been heard of for ENCLAVE_CALL_STALE_SECONDS."""
    silent_since = now - timedelta(seconds=settings.ENCLAVE_CALL_STALE_SECONDS)
    due = CallSession.objects.filter(
        Q(state=CallState.RINGING, ring_deadline__lte=now)
        | Q(
            state=CallState.ACTIVE,
            participants__state=ParticipantState.JOINED,
            participants__last_seen_at__lt=silent_since,
        )
    )
    if user_ids is not None:
        due = due.filter(
            pk__in=CallParticipant.objects.filter(
                user_id__in=list(user_ids), state__in=ENGAGED_STATES
            ).values("call_id")
        )
    return sorted(set(due.values_list("pk", flat=True)))


def _end_if_due(call_id: int, *, now: datetime) -> bool:
    """End one call if it is (still) due, under its row lock. Caller is in a transaction."""
    call = CallSession.objects.select_for_update().filter(pk=call_id).first()
    if call is None or call.state == CallState.ENDED:
        return False
    participants = list(CallParticipant.objects.filter(call_id=call.pk))
    if _ring_expired(call, now):
        _end(call, participants, reason=EndReason.MISSED, now=now)
        return True
    silent_since = now - timedelta(seconds=settings.ENCLAVE_CALL_STALE_SECONDS)
    if call.kind == CallKind.SFU:
        # A meeting loses its silent participants one by one; the last one out ends it.
        silent = [
            p
            for p in participants
            if p.state == ParticipantState.JOINED
            and (p.last_seen_at is None or p.last_seen_at < silent_since)
        ]
        for participant in silent:
            if call.state != CallState.ENDED:
                _drop(call, participants, participant, now)
        return call.state == CallState.ENDED
    if call.state == CallState.ACTIVE and any(
        p.state == ParticipantState.JOINED
        and (p.last_seen_at is None or p.last_seen_at < silent_since)
        for p in participants
    ):
        _end(call, participants, reason=EndReason.FAILED, now=now)
        return True
    return False


def _end_stale_calls_of(user_ids: list[int], *, now: datetime) -> None:
    """Before ringing: end the calls of these people that are over in all but the database (a
    ring nobody swept yet, a tab that closed mid-call), so they do not look busy."""
    for call_id in _live_calls_due(now, user_ids=user_ids):  # in id order: no deadlock
        _end_if_due(call_id, now=now)


def call_expire(*, call_id: int) -> bool:
    """End a ringing call as `missed` if its ring time is over (the countdown task)."""
    with transaction.atomic():
        return _end_if_due(call_id, now=timezone.now())


def calls_sweep() -> int:
    """End every call that is due (beat, every ENCLAVE_CALL_SWEEP_SECONDS): rings nobody
    answered and calls whose participant went silent. One transaction per call."""
    ended = 0
    for call_id in _live_calls_due(timezone.now()):
        with transaction.atomic():
            ended += _end_if_due(call_id, now=timezone.now())
    return ended


# --- meetings (kind sfu, through Janus) ---------------------------------------------------------


def _meetings_available() -> None:
    if not janus.configured():
        raise Conflict(
            _("Meetings are not set up on this server (no media server)."),
            code="meetings_unavailable",
        )


def _janus_failed(error: janus.JanusError) -> Conflict:
    logger.warning("janus: %s", error)
    return Conflict(_("The media server is not reachable."), code="media_server_unavailable")


def _random_id() -> int:
    return secrets.randbelow(2**52 - 1) + 1  # fits a JavaScript number


def _opaque_id(participant: CallParticipant) -> str:
    return f"enclave-{participant.call_id}-{participant.feed_id}"


def meeting_start(
    *,
    user: User,
    channel_id: int,
    media: str = CallMedia.VIDEO,
    mode: str = CallMode.MEETING,
) -> events.MeetingJoin:
    """Start a meeting (or live classroom) in a channel or group DM and join it as its host.

    When one is already going on in the channel, this joins it instead. The Janus room is
    created here, server to server; its secret never leaves the server.
    """
    if media not in CallMedia.values:
        raise InvalidInput(_("media must be audio or video."), code="invalid_media")
    if mode not in CallMode.values:
        raise InvalidInput(_("mode must be meeting or classroom."), code="invalid_mode")
    channel = access_meeting_start(user=user, channel_id=channel_id)
    _meetings_available()
    live = _live_meeting_id(channel.pk)
    if live is not None:
        return meeting_join(user=user, call_id=live)
    now = timezone.now()
    try:
        with transaction.atomic():
            call = CallSession.objects.create(
                channel=channel,
                kind=CallKind.SFU,
                mode=mode,
                media=media,
                initiator=user,
                host=user,
                state=CallState.ACTIVE,
                started_at=now,
                ring_deadline=now,
                answered_at=now,
                janus_room=_random_id(),
                janus_pin=secrets.token_urlsafe(12),
                janus_secret=secrets.token_urlsafe(24),
            )
            janus.room_create(
                room=call.janus_room or 0,
                pin=call.janus_pin,
                secret=call.janus_secret,
                description=f"enclave call {call.pk}",
                publishers=settings.ENCLAVE_MEETING_MAX_PUBLISHERS,
            )
    except IntegrityError:
        live = _live_meeting_id(channel.pk)  # started by someone else a moment ago
        if live is None:
            raise
        return meeting_join(user=user, call_id=live)
    except janus.JanusError as error:
        raise _janus_failed(error) from None
    _post_meeting_started(call)
    return meeting_join(user=user, call_id=call.pk)


def _live_meeting_id(channel_id: int) -> int | None:
    return (
        CallSession.objects.filter(channel_id=channel_id, kind=CallKind.SFU)
        .exclude(state=CallState.ENDED)
        .values_list("pk", flat=True)
        .first()
    )


def _publish_meeting(call: CallSession, participants: list[CallParticipant]) -> None:
    kind = "call.ended" if call.state == CallState.ENDED else "call.updated"
    publish_on_commit(
        {"type": kind, "call": events.call_payload(call, participants)},
        to=Audience.channel(call.channel_id),
    )


def _meeting_locked(
    user: User, call_id: int
) -> tuple[CallSession, list[CallParticipant], CallParticipant | None]:
    call, participants, mine = access_meeting(user=user, call_id=call_id, lock=True)
    if call.state == CallState.ENDED:
        raise _call_ended(call)
    return call, participants, mine


def _janus_access(call: CallSession, participant: CallParticipant) -> events.JanusAccess:
    return {
        "url": settings.ENCLAVE_JANUS_PUBLIC_URL,
        "token": participant.janus_token,
        "room": call.janus_room or 0,
        "pin": call.janus_pin,
        "feed_id": participant.feed_id or 0,
        "screen_feed_id": participant.screen_feed_id or 0,
        "opaque_id": _opaque_id(participant),
        "publish": participant.role != ParticipantRole.LISTENER,
        "reconnect_seconds": settings.ENCLAVE_MEETING_RECONNECT_SECONDS,
    }


def meeting_join(*, user: User, call_id: int) -> events.MeetingJoin:
    """Join a meeting of a channel one takes part in: a fresh Janus token (the previous one of
    this person, from another tab or before a reload, is revoked) and a publisher id."""
    access_meeting(user=user, call_id=call_id)
    _meetings_available()
    now = timezone.now()
    _end_stale_calls_of([user.pk], now=now)
    with transaction.atomic():
        call, participants, mine = _meeting_locked(user, call_id)
        if mine is None:
            mine = CallParticipant(call=call, user=user, state=ParticipantState.LEFT)
            participants.append(mine)
        stale = (mine.janus_token, _opaque_id(mine)) if mine.janus_token else None
        if mine.user_id == call.host_id:
            mine.role = ParticipantRole.HOST
        elif mine.state != ParticipantState.JOINED:
            mine.role = (
                ParticipantRole.LISTENER
                if call.mode == CallMode.CLASSROOM
                else ParticipantRole.PRESENTER
            )
            mine.hand_raised_at = None
        mine.state, mine.joined_at, mine.last_seen_at = ParticipantState.JOINED, now, now
        mine.left_at = None
        mine.janus_token, mine.feed_id = secrets.token_urlsafe(24), _random_id()
        mine.screen_feed_id = _random_id()
        try:
            with transaction.atomic():
                mine.save()
        except IntegrityError:
            raise Conflict(_("You are already in a call."), code="already_in_call") from None
        try:
            janus.token_add(mine.janus_token)
        except janus.JanusError as error:
            raise _janus_failed(error) from None
        if stale is not None:
            _release_on_commit(call, token=stale[0], opaque_id=stale[1], feed_ids=())
        _publish_meeting(call, participants)
        return {"call": events.call_payload(call, participants), "janus": _janus_access(call, mine)}


def _release_on_commit(
    call: CallSession, *, token: str, opaque_id: str, feed_ids: Iterable[int | None]
) -> None:
    """After commit: revoke a participant's Janus token, kick their publisher, and destroy
    their Janus sessions, so their media stops at once (errors are logged, not raised: the
    token is gone from Enclave either way and Janus times the sessions out)."""
    room, secret = call.janus_room or 0, call.janus_secret
    kicked = [feed_id for feed_id in feed_ids if feed_id is not None]

    def release() -> None:
        if not janus.configured():
            return
        try:
            janus.token_remove(token)
            for feed_id in kicked:
                janus.room_kick(room=room, secret=secret, feed_id=feed_id)
            janus.sessions_drop(opaque_id=opaque_id)
        except janus.JanusError as error:
            logger.warning("janus release of %s: %s", opaque_id, error)

    transaction.on_commit(release)


def _drop(
    call: CallSession, participants: list[CallParticipant], who: CallParticipant, now: datetime
) -> None:
    """`who` leaves the meeting (under the call's lock); the last one out ends it."""
    if who.state != ParticipantState.JOINED:
        return
    _release_on_commit(
        call,
        token=who.janus_token,
        opaque_id=_opaque_id(who),
        feed_ids=(who.feed_id, who.screen_feed_id),
    )
    who.state, who.left_at, who.hand_raised_at = ParticipantState.LEFT, now, None
    who.save(update_fields=["state", "left_at", "hand_raised_at"])
    if any(p.state == ParticipantState.JOINED for p in participants):
        _publish_meeting(call, participants)
    else:
        _end(call, participants, reason=EndReason.ENDED, now=now)


def meeting_leave(*, user: User, call_id: int) -> CallSession:
    with transaction.atomic():
        call, participants, mine = access_meeting(user=user, call_id=call_id, lock=True)
        if mine is not None and call.state != CallState.ENDED:
            _drop(call, participants, mine, timezone.now())
        return call


def _joined(participants: list[CallParticipant], user_id: int) -> CallParticipant:
    target = next((p for p in participants if p.user_id == user_id), None)
    if target is None or target.state != ParticipantState.JOINED:
        raise NotFound(
            _("That person is not in this call."),
            code="not_call_participant",
            details={"user_id": user_id},
        )
    return target


def meeting_remove(*, user: User, call_id: int, user_id: int) -> CallSession:
    """The host takes someone out of the meeting: their token is revoked, their media stops."""
    with transaction.atomic():
        call, participants, _mine = _meeting_locked(user, call_id)
        require_host(call, user)
        if user_id == user.pk:
            raise InvalidInput(_("The host leaves, not removes themself."), code="remove_self")
        target = _joined(participants, user_id)
        _drop(call, participants, target, timezone.now())
        publish_on_commit(
            {"type": "call.removed", "call_id": call.pk}, to=Audience.users([user_id])
        )
        return call


def meeting_end(*, user: User, call_id: int) -> CallSession:
    """The host ends the meeting for everyone."""
    with transaction.atomic():
        call, participants, _mine = _meeting_locked(user, call_id)
        require_host(call, user)
        _end(call, participants, reason=EndReason.ENDED, now=timezone.now())
        return call


def meeting_mute_all(*, user: User, call_id: int) -> None:
    """The host mutes every other participant's microphone (their clients turn it off;
    each may unmute themself afterwards)."""
    with transaction.atomic():
        call, participants, _mine = _meeting_locked(user, call_id)
        require_host(call, user)
        others = [
            p.user_id
            for p in participants
            if p.state == ParticipantState.JOINED and p.user_id != user.pk
        ]
        publish_on_commit(
            {"type": "call.muted", "call_id": call.pk, "by_user_id": user.pk},
            to=Audience.users(others),
        )


def meeting_hand(*, user: User, call_id: int, raised: bool) -> CallSession:
    """Raise or lower one's hand."""
    with transaction.atomic():
        call, participants, mine = _meeting_locked(user, call_id)
        if mine is None or mine.state != ParticipantState.JOINED:
            raise Conflict(_("You are not in this call."), code="not_in_call")
        mine.hand_raised_at = timezone.now() if raised else None
        mine.save(update_fields=["hand_raised_at"])
        _publish_meeting(call, participants)
        return call


def meeting_stage(*, user: User, call_id: int, user_id: int, on_stage: bool) -> CallSession:
    """The host brings a listener of a classroom onto the stage (they publish) or back."""
    with transaction.atomic():
        call, participants, _mine = _meeting_locked(user, call_id)
        require_host(call, user)
        target = _joined(participants, user_id)
        if target.role == ParticipantRole.HOST:
            raise InvalidInput(_("The host is always on stage."), code="host_on_stage")
        stage = [
            p
            for p in participants
            if p.state == ParticipantState.JOINED and p.role != ParticipantRole.LISTENER
        ]
        full = len(stage) >= settings.ENCLAVE_MEETING_MAX_PUBLISHERS
        if on_stage and target.role == ParticipantRole.LISTENER and full:
            raise Conflict(_("The stage is full."), code="stage_full")
        was_on_stage = target.role != ParticipantRole.LISTENER
        target.role = ParticipantRole.PRESENTER if on_stage else ParticipantRole.LISTENER
        target.hand_raised_at = None
        target.save(update_fields=["role", "hand_raised_at"])
        if was_on_stage and not on_stage:
            _unpublish_on_commit(call, target)
        _publish_meeting(call, participants)
        return call


def _unpublish_on_commit(call: CallSession, participant: CallParticipant) -> None:
    """After commit: a participant sent back to the audience stops publishing even if their
    browser does not (their publishers are kicked; their subscriptions stay)."""
    room, secret = call.janus_room or 0, call.janus_secret
    feed_ids = [f for f in (participant.feed_id, participant.screen_feed_id) if f is not None]

    def unpublish() -> None:
        if not janus.configured():
            return
        for feed_id in feed_ids:
            try:
                janus.room_kick(room=room, secret=secret, feed_id=feed_id)
            except janus.JanusError as error:
                logger.info("janus kick of %s: %s", feed_id, error)

    transaction.on_commit(unpublish)


def meeting_drop_user(*, user_id: int, channel_id: int | None = None) -> int:
    """Take a person out of their meetings (of one channel, or all of them): they were removed
    from the channel or deactivated. Their 1:1 calls end too when the account is gone."""
    calls = CallParticipant.objects.filter(user_id=user_id, state__in=ENGAGED_STATES)
    if channel_id is not None:
        calls = calls.filter(call__channel_id=channel_id)
    dropped = 0
    for call_id in sorted(set(calls.values_list("call_id", flat=True))):
        with transaction.atomic():
            call = CallSession.objects.select_for_update().filter(pk=call_id).first()
            if call is None or call.state == CallState.ENDED:
                continue
            participants = list(CallParticipant.objects.filter(call_id=call.pk))
            mine = next(p for p in participants if p.user_id == user_id)
            now = timezone.now()
            if call.kind == CallKind.SFU:
                _drop(call, participants, mine, now)
                publish_on_commit(
                    {"type": "call.removed", "call_id": call.pk}, to=Audience.users([user_id])
                )
            else:
                _end(call, participants, reason=EndReason.ENDED, now=now)
            dropped += 1
    return dropped


def _post_meeting_started(call: CallSession) -> None:
    initiator = User.objects.get(pk=call.initiator_id)
    with translation.override(initiator.language or settings.LANGUAGE_CODE):
        body = "📞 " + (
            _("Live classroom started") if call.mode == CallMode.CLASSROOM else _("Meeting started")
        )
    try:
        chat_services.message_send(
            sender=initiator,
            channel_id=call.channel_id,
            body=body,
            client_msg_id=events.started_message_key(call.pk),
        )
    except DomainError as error:
        logger.info("no start record of call %s: %s", call.pk, error.code)
