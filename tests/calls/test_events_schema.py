"""Every event in `apps.calls.events.EVENT_SCHEMAS`, produced by the real services, matches its
TypedDict exactly (strict pydantic, no extra or missing key), and goes to the call's
participants' user topics only."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from apps.calls import events, services
from tests.calls.conftest import Pair
from tests.chat.test_events_schema import ENVELOPE_KEYS, strict_schema

pytestmark = pytest.mark.django_db(transaction=True)


def validate(event: dict[str, Any]) -> None:
    assert event["v"] == 1
    body = {key: value for key, value in event.items() if key not in ENVELOPE_KEYS}
    TypeAdapter(strict_schema(events.EVENT_SCHEMAS[event["type"]])).validate_python(
        body, strict=True
    )


def test_every_call_event_matches_its_schema_and_reaches_only_the_participants(
    pair: Pair, captured_events: list[dict[str, Any]]
) -> None:
    first = services.call_start(user=pair.alice, channel_id=pair.dm.pk, media="video")
    services.call_accept(user=pair.bob, call_id=first.pk)
    services.call_signal(
        user=pair.alice,
        call_id=first.pk,
        to_user_id=pair.bob.pk,
        payload={"sdp": {"type": "offer", "sdp": "v=0\r\n"}},
    )
    services.call_signal(
        user=pair.bob,
        call_id=first.pk,
        to_user_id=pair.alice.pk,
        payload={"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}},
    )
    services.call_hangup(user=pair.alice, call_id=first.pk)

    call_events = [e for e in captured_events if e["type"].startswith("call.")]
    for event in call_events:
        validate(event)
    both = sorted([f"user.{pair.alice.pk}", f"user.{pair.bob.pk}"])
    assert [(e["type"], sorted(e["topics"])) for e in call_events] == [
        ("call.ringing", both),
        ("call.accepted", both),
        ("call.signal", [f"user.{pair.bob.pk}"]),
        ("call.signal", [f"user.{pair.alice.pk}"]),
        ("call.ended", both),
    ]
    # The meeting events are checked against their schemas in tests/calls/test_meetings.py.
    meeting_only = {"call.updated", "call.muted", "call.removed"}
    assert {e["type"] for e in call_events} == set(events.EVENT_SCHEMAS) - meeting_only
    # The call record reaches the DM like any message.
    assert [e["type"] for e in captured_events][-1] == "message.new"


def test_nothing_is_published_for_a_refused_start(
    pair: Pair, captured_events: list[dict[str, Any]]
) -> None:
    services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    captured_events.clear()

    with pytest.raises(Exception, match="already in a call"):
        services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    assert captured_events == []
