"""Reads of calls: one call as its participants see it, and the ICE servers for a browser."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import TypedDict

from django.conf import settings

from apps.accounts.models import User
from apps.calls import events
from apps.calls.models import (
    CallKind,
    CallParticipant,
    CallSession,
    CallState,
    ParticipantState,
)
from apps.calls.permissions import access_call, access_meeting
from apps.chat.models import Membership


def call_get(*, user: User, call_id: int) -> events.CallPayload:
    """A call the user takes part in (two queries); a meeting of a channel they take part in."""
    if CallSession.objects.filter(pk=call_id, kind=CallKind.SFU).exists():
        call, participants, _me = access_meeting(user=user, call_id=call_id)
        return events.call_payload(call, participants)
    call, participants, _mine = access_call(user=user, call_id=call_id)
    return events.call_payload(call, participants)


def meetings_live(*, user: User) -> list[events.CallPayload]:
    """The meetings going on in the user's channels (the sidebar's "in a call" marks)."""
    calls = list(
        CallSession.objects.filter(
            kind=CallKind.SFU,
            channel_id__in=Membership.objects.filter(user_id=user.pk).values("channel_id"),
        )
        .exclude(state=CallState.ENDED)
        .order_by("pk")
    )
    participants: dict[int, list[CallParticipant]] = {call.pk: [] for call in calls}
    for participant in CallParticipant.objects.filter(call_id__in=list(participants)):
        participants[participant.call_id].append(participant)
    return [events.call_payload(call, participants[call.pk]) for call in calls]


def active_call_counts() -> tuple[int, int]:
    """Calls going on and the people in them (the metrics)."""
    live = CallSession.objects.exclude(state=CallState.ENDED)
    joined = CallParticipant.objects.filter(call__in=live, state=ParticipantState.JOINED).count()
    return live.count(), joined


class IceServer(TypedDict, total=False):
    urls: list[str]
    username: str
    credential: str


class IceServers(TypedDict):
    ice_servers: list[IceServer]
    ttl: int
    ice_transport_policy: str  # all | relay


def turn_credentials(*, user_id: int, secret: str, ttl: int, now: float) -> tuple[str, str]:
    """coturn's TURN REST API credentials (`use-auth-secret`): the username is
    "<expiry unix time>:<user id>", the password base64(HMAC-SHA1(secret, username)). coturn
    checks them with the same shared secret and refuses them after the expiry."""
    username = f"{int(now) + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(*, user: User, now: float | None = None) -> IceServers:
    """What `RTCPeerConnection({iceServers})` needs: the STUN servers, and the TURN servers
    with short-lived credentials of this user (none without ENCLAVE_TURN_SECRET)."""
    servers: list[IceServer] = []
    if settings.ENCLAVE_STUN_URLS:
        servers.append({"urls": list(settings.ENCLAVE_STUN_URLS)})
    ttl = settings.ENCLAVE_TURN_TTL_SECONDS
    if settings.ENCLAVE_TURN_SECRET and settings.ENCLAVE_TURN_URLS:
        username, credential = turn_credentials(
            user_id=user.pk,
            secret=settings.ENCLAVE_TURN_SECRET,
            ttl=ttl,
            now=time.time() if now is None else now,
        )
        servers.append(
            {
                "urls": list(settings.ENCLAVE_TURN_URLS),
                "username": username,
                "credential": credential,
            }
        )
    return {
        "ice_servers": servers,
        "ttl": ttl,
        "ice_transport_policy": settings.ENCLAVE_CALL_ICE_TRANSPORT_POLICY,
    }
