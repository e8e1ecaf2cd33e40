"""The `call.*` WebSocket operations through the real ASGI application: registered with the
chat consumer by apps.calls, signalling relayed to the other participant and nobody else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.chat.consumers import OPERATIONS
from apps.ops.models import FeatureFlag
from tests.calls.conftest import Pair
from tests.factories import UserFactory
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]
OFFER = {"sdp": {"type": "offer", "sdp": "v=0\r\n"}}


def test_calls_registers_its_operations_with_the_chat_consumer() -> None:
    assert {
        "call.start",
        "call.accept",
        "call.decline",
        "call.cancel",
        "call.hangup",
        "call.heartbeat",
        "call.signal",
    } <= set(OPERATIONS)


async def start_and_accept(alice: WsClient, bob: WsClient, pair: Pair) -> int:
    ack = await alice.request("call.start", channel_id=pair.dm.pk, media="video")
    assert ack["type"] == "ack", ack
    call_id = ack["call"]["id"]
    ringing = await bob.event("call.ringing")
    assert ringing["call"]["id"] == call_id
    assert ringing["call"]["initiator_id"] == pair.alice.pk
    accepted = await bob.request("call.accept", call_id=call_id)
    assert (accepted["type"], accepted["call"]["state"]) == ("ack", "active"), accepted
    assert (await alice.event("call.accepted"))["call"]["id"] == call_id
    return int(call_id)


async def test_signalling_reaches_the_other_participant_only(
    pair: Pair, ws_connect: Connect
) -> None:
    carol = await database_sync_to_async(UserFactory)(username="carol")
    alice, bob, outsider = (
        await ws_connect(pair.alice),
        await ws_connect(pair.bob),
        await ws_connect(carol),
    )
    call_id = await start_and_accept(alice, bob, pair)

    ack = await alice.request("call.signal", call_id=call_id, to_user_id=pair.bob.pk, payload=OFFER)
    answer = {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}
    back = await bob.request(
        "call.signal", call_id=call_id, to_user_id=pair.alice.pk, payload=answer
    )

    assert ack["type"] == back["type"] == "ack"
    signal = await bob.event("call.signal")
    assert signal == {
        "v": 1,
        "type": "call.signal",
        "call_id": call_id,
        "from_user_id": pair.alice.pk,
        "payload": OFFER,
    }
    assert (await alice.event("call.signal"))["payload"] == answer
    await outsider.assert_nothing("call.signal")

    await alice.request("call.hangup", call_id=call_id)
    assert (await bob.event("call.ended"))["call"]["end_reason"] == "ended"


async def test_an_outsider_cannot_signal_into_a_call(pair: Pair, ws_connect: Connect) -> None:
    carol = await database_sync_to_async(UserFactory)(username="carol")
    alice, bob, outsider = (
        await ws_connect(pair.alice),
        await ws_connect(pair.bob),
        await ws_connect(carol),
    )
    call_id = await start_and_accept(alice, bob, pair)

    refused = await outsider.request(
        "call.signal", call_id=call_id, to_user_id=pair.bob.pk, payload=OFFER
    )
    hangup = await outsider.request("call.hangup", call_id=call_id)

    assert (refused["type"], refused["code"]) == ("error", "call_not_found")
    assert (hangup["type"], hangup["code"]) == ("error", "call_not_found")
    await bob.assert_nothing("call.signal")
    await bob.assert_nothing("call.ended")


async def test_a_participant_cannot_signal_someone_outside_the_call(
    pair: Pair, ws_connect: Connect
) -> None:
    carol = await database_sync_to_async(UserFactory)(username="carol")
    alice, bob, outsider = (
        await ws_connect(pair.alice),
        await ws_connect(pair.bob),
        await ws_connect(carol),
    )
    call_id = await start_and_accept(alice, bob, pair)

    refused = await alice.request(
        "call.signal", call_id=call_id, to_user_id=carol.pk, payload=OFFER
    )

    assert (refused["type"], refused["code"]) == ("error", "not_call_participant")
    await outsider.assert_nothing("call.signal")


async def test_no_signalling_before_the_call_is_answered(pair: Pair, ws_connect: Connect) -> None:
    alice, bob = await ws_connect(pair.alice), await ws_connect(pair.bob)
    ack = await alice.request("call.start", channel_id=pair.dm.pk)

    refused = await alice.request(
        "call.signal", call_id=ack["call"]["id"], to_user_id=pair.bob.pk, payload=OFFER
    )

    assert (refused["type"], refused["code"]) == ("error", "call_not_active")
    await bob.assert_nothing("call.signal")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"sdp": "v=0"},
        {"sdp": {"type": "bogus", "sdp": ""}},
        {"sdp": {"type": "offer", "sdp": "", "extra": 1}},
        {"candidate": {"candidate": 5}},
        {"candidate": {"candidate": "c", "script": "x"}},
        {"sdp": {"type": "offer", "sdp": ""}, "candidate": None},
    ],
)
async def test_a_malformed_signal_is_refused(pair: Pair, ws_connect: Connect, payload: Any) -> None:
    alice, bob = await ws_connect(pair.alice), await ws_connect(pair.bob)
    call_id = await start_and_accept(alice, bob, pair)

    refused = await alice.request(
        "call.signal", call_id=call_id, to_user_id=pair.bob.pk, payload=payload
    )

    assert (refused["type"], refused["code"]) == ("error", "invalid_signal")


async def test_decline_over_the_socket_ends_the_call_for_the_caller(
    pair: Pair, ws_connect: Connect
) -> None:
    alice, bob = await ws_connect(pair.alice), await ws_connect(pair.bob)
    ack = await alice.request("call.start", channel_id=pair.dm.pk)
    await bob.event("call.ringing")

    declined = await bob.request("call.decline", call_id=ack["call"]["id"])

    assert declined["call"]["end_reason"] == "declined"
    assert (await alice.event("call.ended"))["call"]["end_reason"] == "declined"


async def test_call_operations_need_the_calls_flag(pair: Pair, ws_connect: Connect) -> None:
    await database_sync_to_async(FeatureFlag.objects.filter(name="calls").update)(everyone=False)
    from django.core.cache import cache

    await database_sync_to_async(cache.clear)()
    alice, bob = await ws_connect(pair.alice), await ws_connect(pair.bob)

    refused = await alice.request("call.start", channel_id=pair.dm.pk)

    assert (refused["type"], refused["code"]) == ("error", "feature_disabled")
    await bob.assert_nothing("call.ringing")


async def test_a_call_start_with_a_bad_channel_id_is_refused(
    pair: Pair, ws_connect: Connect
) -> None:
    alice = await ws_connect(pair.alice)

    refused = await alice.request("call.start", channel_id="x")

    assert (refused["code"], refused["details"]) == ("invalid_field", {"field": "channel_id"})


# --- every call.* operation: an allowed and a refused case ------------------------------------

# The 1:1 operations; the meeting ones (tests/calls/test_meetings.py, with a real Janus) are
# listed there.
MEETING_OPERATIONS = frozenset(
    {
        "call.meeting_start",
        "call.join",
        "call.remove",
        "call.end",
        "call.mute_all",
        "call.hand",
        "call.stage",
    }
)
CALL_OPERATIONS = sorted(
    op for op in OPERATIONS if op.startswith("call.") and op not in MEETING_OPERATIONS
)


async def _ringing_call(alice: WsClient, bob: WsClient, pair: Pair) -> int:
    ack = await alice.request("call.start", channel_id=pair.dm.pk)
    assert ack["type"] == "ack", ack
    await bob.event("call.ringing")
    return int(ack["call"]["id"])


@pytest.mark.parametrize("operation", CALL_OPERATIONS)
async def test_each_call_operation_is_allowed_to_a_participant_and_refused_to_an_outsider(
    pair: Pair, ws_connect: Connect, operation: str
) -> None:
    carol = await database_sync_to_async(UserFactory)(username="carol")
    alice, bob, outsider = (
        await ws_connect(pair.alice),
        await ws_connect(pair.bob),
        await ws_connect(carol),
    )
    if operation == "call.start":
        refused = await outsider.request(operation, channel_id=pair.dm.pk)
        allowed = await alice.request(operation, channel_id=pair.dm.pk)
    else:
        active = operation in ("call.signal", "call.hangup", "call.heartbeat")
        call_id = (
            await start_and_accept(alice, bob, pair)
            if active
            else await _ringing_call(alice, bob, pair)
        )
        # Who may do it: the callee answers or declines, the caller cancels; either side of
        # an active call signals, beats and hangs up.
        actor = bob if operation in ("call.accept", "call.decline") else alice
        fields: dict[str, Any] = {"call_id": call_id}
        if operation == "call.signal":
            fields.update(to_user_id=pair.bob.pk, payload=OFFER)
        refused = await outsider.request(operation, **fields)
        allowed = await actor.request(operation, **fields)

    assert refused["type"] == "error", refused
    assert refused["code"] in {"call_not_found", "forbidden", "not_member", "channel_not_found"}
    assert allowed["type"] == "ack", allowed


def test_the_matrix_covers_every_registered_call_operation() -> None:
    assert set(CALL_OPERATIONS) == {
        "call.start",
        "call.accept",
        "call.decline",
        "call.cancel",
        "call.hangup",
        "call.heartbeat",
        "call.signal",
    }
