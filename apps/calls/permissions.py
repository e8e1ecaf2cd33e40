"""`access_*` for calls: fetch-and-check in one step, shared by REST and WebSocket.

A call is visible to its participants only; to anyone else it answers `call_not_found`, like
a call that does not exist. Starting a call follows chat's rules for posting in the channel
(members only, guests only where chat lets them be), and only direct messages have calls yet.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.calls.models import CallKind, CallParticipant, CallSession
from apps.chat.models import Channel, ChannelKind
from apps.chat.permissions import access_channel_participate, access_channel_post
from apps.core.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound


def call_not_found() -> NotFound:
    return NotFound(_("No such call."), code="call_not_found")


def access_call_start(*, user: User, channel_id: int) -> Channel:
    """A direct message the user may post in (chat's rules), where a call can start."""
    channel, _membership = access_channel_post(user=user, channel_id=channel_id)
    if channel.kind != ChannelKind.DIRECT:
        raise InvalidInput(
            _("Calls are available in direct messages only."), code="not_direct_channel"
        )
    return channel


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def access_call(
    *, user: User, call_id: int, lock: bool = False
) -> tuple[CallSession, list[CallParticipant], CallParticipant]:
    """The call, all its participants and the user's own participation, if they take part.

    `lock`: the call row is locked (SELECT ... FOR UPDATE) until the caller's transaction
    ends; every change to a call and its participants takes this lock first, so they happen
    one at a time (two accepts, an accept racing a cancel).
    """
    _require_active(user)
    calls = CallSession.objects.filter(pk=call_id)
    if lock:
        calls = calls.select_for_update()
    call = calls.first()
    if call is None:
        raise call_not_found()
    participants = list(CallParticipant.objects.filter(call_id=call.pk))
    mine = next((p for p in participants if p.user_id == user.pk), None)
    if mine is None:
        raise call_not_found()
    return call, participants, mine


def access_meeting_start(*, user: User, channel_id: int) -> Channel:
    """A channel or group direct message the user may post in, where a meeting can start."""
    channel, _membership = access_channel_post(user=user, channel_id=channel_id)
    if channel.kind == ChannelKind.DIRECT:
        raise InvalidInput(
            _("A direct message has calls, not meetings."), code="direct_channel_meeting"
        )
    return channel


def access_meeting(
    *, user: User, call_id: int, lock: bool = False
) -> tuple[CallSession, list[CallParticipant], CallParticipant | None]:
    """A meeting (a call of kind sfu) of a channel the user takes part in, all its participants
    and the user's own participation (None before they first join).

    Anyone else, a member removed from the channel included, gets `call_not_found`: they learn
    nothing of the meeting, get no token and no event.
    """
    _require_active(user)
    calls = CallSession.objects.filter(pk=call_id, kind=CallKind.SFU)
    if lock:
        calls = calls.select_for_update()
    call = calls.first()
    if call is None:
        raise call_not_found()
    try:
        access_channel_participate(user=user, channel_id=call.channel_id)
    except (NotFound, Forbidden):
        raise call_not_found() from None
    participants = list(CallParticipant.objects.filter(call_id=call.pk))
    mine = next((p for p in participants if p.user_id == user.pk), None)
    return call, participants, mine


def require_host(call: CallSession, user: User) -> None:
    if call.host_id != user.pk:
        raise Forbidden(_("Only the host can do this."), code="not_host")
