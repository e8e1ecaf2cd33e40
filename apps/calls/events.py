"""Push schemas of calls: one TypedDict per event type, and the payload builders.

A 1:1 call's events go to its participants' own user topics (`Audience.users`), never to the
channel. A meeting (kind sfu) belongs to its channel: its changes (`call.updated`, `call.ended`)
go to the channel's members, who may all join it; a removed participant hears `call.removed` on
their own topic, and `call.muted` goes to the joined participants only. Nothing of a meeting's
Janus room (pin, tokens) is in an event: only `MeetingJoin`, the answer to the joiner, has it.
The REST views answer the same `CallPayload`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal, TypedDict

from apps.calls.models import (
    CallKind,
    CallParticipant,
    CallSession,
    ParticipantRole,
    ParticipantState,
)


class ParticipantPayload(TypedDict):
    user_id: int
    state: str  # ringing | joined | left | declined | missed | busy
    joined_at: str | None
    left_at: str | None
    role: str  # host | presenter | listener (meetings; presenter in 1:1 calls)
    hand_raised_at: str | None
    # Meetings: the Janus publisher ids this participant may publish with now (joined and on
    # stage), else null. Browsers subscribe to these ids only, never by a publisher's `display`,
    # which its browser chooses: a listener who publishes anyway, or a `display` naming
    # somebody else, is watched by nobody.
    camera_feed_id: int | None
    screen_feed_id: int | None


class CallPayload(TypedDict):
    id: int
    channel_id: int
    kind: str  # p2p | sfu
    media: str  # audio | video
    state: str  # ringing | active | ended
    end_reason: str | None  # declined | cancelled | busy | missed | ended | failed
    initiator_id: int
    started_at: str
    ring_deadline: str
    answered_at: str | None
    ended_at: str | None
    mode: str  # meeting | classroom
    # Meetings: the client_msg_id of the "meeting started" message in the channel (clients put
    # a Join button on it while the meeting goes on); null for 1:1 calls.
    started_message_key: str | None
    host_id: int | None
    participants: list[ParticipantPayload]


class CallEvent(TypedDict):
    """`call.ringing` (a new call: the callee's tabs ring), `call.accepted`, `call.ended`, and
    `call.updated` (a meeting started, someone joined, left, raised a hand, went on stage)."""

    type: Literal["call.ringing", "call.accepted", "call.ended", "call.updated"]
    call: CallPayload


class CallMutedEvent(TypedDict):
    """The host muted everyone: each participant's client turns its microphone off."""

    type: Literal["call.muted"]
    call_id: int
    by_user_id: int


class CallRemovedEvent(TypedDict):
    """You were taken out of the meeting (by its host, or by leaving the channel)."""

    type: Literal["call.removed"]
    call_id: int


class JanusAccess(TypedDict):
    """What the joining browser needs to reach the meeting's room in Janus."""

    url: str  # Janus' WebSocket (ENCLAVE_JANUS_PUBLIC_URL)
    token: str  # this participant's, removed when they leave
    room: int
    pin: str
    feed_id: int  # the publisher id to join with
    screen_feed_id: int  # the publisher id of a screen share
    opaque_id: str  # to attach every handle with (the server drops them by it)
    publish: bool  # False: a classroom listener, who only subscribes
    reconnect_seconds: int  # how long to retry after losing Janus before leaving


class MeetingJoin(TypedDict):
    call: CallPayload
    janus: JanusAccess


class SessionDescription(TypedDict):
    type: str  # offer | answer | pranswer | rollback
    sdp: str


class IceCandidate(TypedDict, total=False):
    """The browser's RTCIceCandidateInit (`candidate.toJSON()`)."""

    candidate: str
    sdpMid: str | None
    sdpMLineIndex: int | None
    usernameFragment: str | None


class SignalPayload(TypedDict, total=False):
    """Exactly one of the two: `sdp`, or `candidate` (null: the end of candidates)."""

    sdp: SessionDescription
    candidate: IceCandidate | None


class CallSignalEvent(TypedDict):
    """WebRTC signalling relayed from one participant to another: `payload` holds `sdp` (an
    offer or answer, also for renegotiation) or `candidate` (an ICE candidate), as the sending
    browser produced it. Only the tab that holds the call acts on it."""

    type: Literal["call.signal"]
    call_id: int
    from_user_id: int
    payload: SignalPayload


# The client_msg_ids of the messages a call posts in its channel are derived from its id, so a
# record is posted once however often the code that posts it runs.
RECORD_NAMESPACE = uuid.UUID("4f6b1c0e-9a57-4e0f-8a53-6b1d2f0c7a11")


def record_key(call_id: int) -> uuid.UUID:
    """The client_msg_id of a call's record (who took part, how long)."""
    return uuid.uuid5(RECORD_NAMESPACE, str(call_id))


def started_message_key(call_id: int) -> uuid.UUID:
    """The client_msg_id of a meeting's "meeting started" message."""
    return uuid.uuid5(RECORD_NAMESPACE, f"{call_id}:started")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def participant_payload(participant: CallParticipant) -> ParticipantPayload:
    # Only someone joined and on stage may publish: only their publisher ids are listed.
    publishing = (
        participant.state == ParticipantState.JOINED
        and participant.role != ParticipantRole.LISTENER
        and participant.feed_id is not None
    )
    return {
        "user_id": participant.user_id,
        "state": participant.state,
        "joined_at": _iso(participant.joined_at),
        "left_at": _iso(participant.left_at),
        "role": participant.role,
        "hand_raised_at": _iso(participant.hand_raised_at),
        "camera_feed_id": participant.feed_id if publishing else None,
        "screen_feed_id": participant.screen_feed_id if publishing else None,
    }


def call_payload(call: CallSession, participants: Iterable[CallParticipant]) -> CallPayload:
    return {
        "id": call.pk,
        "channel_id": call.channel_id,
        "kind": call.kind,
        "media": call.media,
        "state": call.state,
        "end_reason": call.end_reason or None,
        "initiator_id": call.initiator_id,
        "started_at": call.started_at.isoformat(),
        "ring_deadline": call.ring_deadline.isoformat(),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "mode": call.mode,
        "started_message_key": str(started_message_key(call.pk))
        if call.kind == CallKind.SFU
        else None,
        "host_id": call.host_id,
        "participants": [
            participant_payload(p) for p in sorted(participants, key=lambda p: p.user_id)
        ],
    }


EVENT_SCHEMAS: dict[str, type] = {
    "call.ringing": CallEvent,
    "call.accepted": CallEvent,
    "call.ended": CallEvent,
    "call.signal": CallSignalEvent,
    "call.updated": CallEvent,
    "call.muted": CallMutedEvent,
    "call.removed": CallRemovedEvent,
}
