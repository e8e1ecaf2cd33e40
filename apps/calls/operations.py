"""The `call.*` WebSocket operations, registered with the chat consumer (`/ws/`) by
`CallsConfig.ready()`. Like chat's own operations each runs in the consumer's worker thread,
takes the frame, calls one service and returns the ack's extra fields; a DomainError becomes
an `error` event. Every one needs the `calls` feature flag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.calls import events, services
from apps.calls.models import CallParticipant, CallSession
from apps.core.api import DB_INT_MAX, DB_INT_MIN
from apps.core.errors import InvalidInput
from apps.core.features import access_feature

FLAG = "calls"


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    in_range = isinstance(value, int) and DB_INT_MIN <= value <= DB_INT_MAX
    if isinstance(value, bool) or not in_range:
        raise InvalidInput(
            _("%(field)s must be an integer.") % {"field": key},
            code="invalid_field",
            details={"field": key},
        )
    return int(value)  # type: ignore[arg-type]


def _ack(call: CallSession) -> dict[str, Any]:
    participants = list(CallParticipant.objects.filter(call_id=call.pk))
    return {"call": events.call_payload(call, participants)}


def op_call_start(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    media = frame.get("media", "audio")
    if not isinstance(media, str):
        raise InvalidInput(_("media must be audio or video."), code="invalid_media")
    return _ack(services.call_start(user=user, channel_id=_int(frame, "channel_id"), media=media))


def _on_call(
    service: Callable[..., CallSession],
) -> Callable[[User, dict[str, Any]], dict[str, Any]]:
    def operation(user: User, frame: dict[str, Any]) -> dict[str, Any]:
        access_feature(user=user, name=FLAG)
        return _ack(service(user=user, call_id=_int(frame, "call_id")))

    return operation


def op_call_heartbeat(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    services.call_heartbeat(user=user, call_id=_int(frame, "call_id"))
    return {}


def op_call_signal(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    services.call_signal(
        user=user,
        call_id=_int(frame, "call_id"),
        to_user_id=_int(frame, "to_user_id"),
        payload=frame.get("payload"),
    )
    return {}


def _bool(frame: dict[str, Any], key: str) -> bool:
    value = frame.get(key)
    if not isinstance(value, bool):
        raise InvalidInput(
            _("%(field)s must be true or false.") % {"field": key},
            code="invalid_field",
            details={"field": key},
        )
    return value


def _str(frame: dict[str, Any], key: str, default: str) -> str:
    value = frame.get(key, default)
    if not isinstance(value, str):
        raise InvalidInput(
            _("%(field)s must be a string.") % {"field": key},
            code="invalid_field",
            details={"field": key},
        )
    return value


def op_meeting_start(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    return dict(
        services.meeting_start(
            user=user,
            channel_id=_int(frame, "channel_id"),
            media=_str(frame, "media", "video"),
            mode=_str(frame, "mode", "meeting"),
        )
    )


def op_meeting_join(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    return dict(services.meeting_join(user=user, call_id=_int(frame, "call_id")))


def op_meeting_remove(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    call = services.meeting_remove(
        user=user, call_id=_int(frame, "call_id"), user_id=_int(frame, "user_id")
    )
    return _ack(call)


def op_meeting_mute_all(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    services.meeting_mute_all(user=user, call_id=_int(frame, "call_id"))
    return {}


def op_meeting_hand(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    call = services.meeting_hand(
        user=user, call_id=_int(frame, "call_id"), raised=_bool(frame, "raised")
    )
    return _ack(call)


def op_meeting_stage(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    access_feature(user=user, name=FLAG)
    call = services.meeting_stage(
        user=user,
        call_id=_int(frame, "call_id"),
        user_id=_int(frame, "user_id"),
        on_stage=_bool(frame, "on_stage"),
    )
    return _ack(call)


OPERATIONS: dict[str, Callable[[User, dict[str, Any]], dict[str, Any]]] = {
    "call.start": op_call_start,
    "call.accept": _on_call(services.call_accept),
    "call.decline": _on_call(services.call_decline),
    "call.cancel": _on_call(services.call_cancel),
    "call.hangup": _on_call(services.call_hangup),
    "call.heartbeat": op_call_heartbeat,
    "call.signal": op_call_signal,
    # Meetings and live classrooms (through Janus); leaving is `call.hangup`.
    "call.meeting_start": op_meeting_start,
    "call.join": op_meeting_join,
    "call.remove": op_meeting_remove,
    "call.end": _on_call(services.meeting_end),
    "call.mute_all": op_meeting_mute_all,
    "call.hand": op_meeting_hand,
    "call.stage": op_meeting_stage,
}
