"""Meetings through a real Janus (tests/calls/janus_server.py): rooms and tokens made by the
services, checked against Janus itself; who may join, and what reaches whom (REST and socket)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import Role, User
from apps.calls import janus, services
from apps.calls.models import CallParticipant, CallSession, ParticipantState
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind, Message
from apps.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.calls.janus_server import JanusServer, running_janus
from tests.calls.test_events_schema import validate
from tests.calls.test_ws import MEETING_OPERATIONS
from tests.factories import UserFactory
from tests.ws import WsClient

pytestmark = [pytest.mark.janus, pytest.mark.django_db(transaction=True)]

Connect = Callable[..., Awaitable[WsClient]]
# Replies that wait on Janus (a room made, a token added) on a loaded machine.
JANUS_WITHIN = 15.0


@pytest.fixture(scope="module")
def janus_server() -> Iterator[JanusServer]:
    with running_janus() as server:
        yield server


@pytest.fixture(autouse=True)
def _janus_settings(janus_server: JanusServer) -> Iterator[None]:
    with override_settings(**janus_server.settings()):
        yield


class Team:
    def __init__(self) -> None:
        self.host = UserFactory(username="hana", role=Role.MEMBER)
        self.ann = UserFactory(username="ann", role=Role.MEMBER)
        self.bo = UserFactory(username="bo", role=Role.MEMBER)
        self.outsider = UserFactory(username="otto", role=Role.MEMBER)
        self.channel: Channel = chat_services.channel_create(
            creator=self.host,
            kind=ChannelKind.PRIVATE,
            name="standup",
            member_ids=[self.ann.pk, self.bo.pk],
        )


@pytest.fixture
def team(calls_flag: None) -> Team:
    return Team()


def janus_create_session(server: JanusServer, token: str) -> dict[str, Any]:
    """What a browser's first request to Janus gets with this token."""
    request = urllib.request.Request(  # noqa: S310 (the test's Janus)
        server.api_url,
        data=json.dumps({"janus": "create", "transaction": "t", "token": token}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def in_room(call: CallSession) -> list[dict[str, Any]]:
    return janus.room_participants(room=call.janus_room or 0)


def test_start_creates_a_private_room_and_a_working_token(
    team: Team, janus_server: JanusServer
) -> None:
    joined = services.meeting_start(user=team.host, channel_id=team.channel.pk)

    call = CallSession.objects.get(pk=joined["call"]["id"])
    assert (call.kind, call.state, call.host_id) == ("sfu", "active", team.host.pk)
    assert joined["janus"]["room"] == call.janus_room
    assert joined["janus"]["pin"] == call.janus_pin
    assert joined["janus"]["url"] == janus_server.public_url
    assert call.janus_secret not in json.dumps(joined)  # the room's secret stays here
    assert in_room(call) == []  # the room exists (an unknown one is an error)
    assert janus_create_session(janus_server, joined["janus"]["token"])["janus"] == "success"
    assert janus_create_session(janus_server, "guessed")["janus"] == "error"
    assert Message.objects.filter(channel=team.channel, body__contains="Meeting started").exists()
    # A second start in the channel joins the same meeting.
    again = services.meeting_start(user=team.ann, channel_id=team.channel.pk)
    assert again["call"]["id"] == call.pk
    assert again["janus"]["token"] != joined["janus"]["token"]


def test_a_non_member_gets_no_token_and_learns_nothing(team: Team) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    client = APIClient()
    client.force_authenticate(team.outsider)

    with pytest.raises(NotFound):
        services.meeting_join(user=team.outsider, call_id=call_id)
    with pytest.raises(NotFound):
        services.meeting_start(user=team.outsider, channel_id=team.channel.pk)
    join = client.post(reverse("calls_api:join", kwargs={"call_id": call_id}))
    detail = client.get(reverse("calls_api:call", kwargs={"call_id": call_id}))
    live = client.get(reverse("calls_api:live"))

    assert (join.status_code, join.json()["code"]) == (404, "call_not_found")
    assert (detail.status_code, detail.json()["code"]) == (404, "call_not_found")
    assert live.json() == []
    assert not CallParticipant.objects.filter(user=team.outsider).exists()


def test_only_the_host_runs_the_meeting(team: Team) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    services.meeting_join(user=team.ann, call_id=call_id)

    for action in (
        lambda: services.meeting_mute_all(user=team.ann, call_id=call_id),
        lambda: services.meeting_end(user=team.ann, call_id=call_id),
        lambda: services.meeting_remove(user=team.ann, call_id=call_id, user_id=team.host.pk),
    ):
        with pytest.raises(Forbidden) as refused:
            action()
        assert refused.value.code == "not_host"
    with pytest.raises(InvalidInput):
        services.meeting_start(user=team.host, channel_id=team.channel.pk, mode="webinar")


def test_removal_revokes_the_token_and_tells_the_removed(
    team: Team, janus_server: JanusServer, captured_events: list[dict[str, Any]]
) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    ann = services.meeting_join(user=team.ann, call_id=call_id)
    assert janus_create_session(janus_server, ann["janus"]["token"])["janus"] == "success"

    services.meeting_remove(user=team.host, call_id=call_id, user_id=team.ann.pk)

    assert janus_create_session(janus_server, ann["janus"]["token"])["janus"] == "error"
    mine = CallParticipant.objects.get(call_id=call_id, user=team.ann)
    assert mine.state == ParticipantState.LEFT
    removed = [e for e in captured_events if e["type"] == "call.removed"]
    assert [(e["call_id"], e["topics"]) for e in removed] == [(call_id, [f"user.{team.ann.pk}"])]
    updated = [e for e in captured_events if e["type"] == "call.updated"][-1]
    assert updated["topics"] == [f"chan.{team.channel.pk}"]
    assert "token" not in json.dumps(updated)
    assert "pin" not in json.dumps(updated)
    with pytest.raises(NotFound):
        services.meeting_remove(user=team.host, call_id=call_id, user_id=team.ann.pk)


def test_joining_again_after_a_blip_keeps_one_place_with_fresh_access(
    team: Team, janus_server: JanusServer, settings: Any
) -> None:
    """A page that lost Janus joins again (POST calls/{id}/join/): the same participant, hand
    still up, with a new token and publisher ids, the old token revoked, and the time the page
    may spend reconnecting."""
    settings.ENCLAVE_MEETING_RECONNECT_SECONDS = 25
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    before = services.meeting_join(user=team.ann, call_id=call_id)
    services.meeting_hand(user=team.ann, call_id=call_id, raised=True)
    client = APIClient()
    client.force_authenticate(team.ann)

    response = client.post(reverse("calls_api:join", args=[call_id]))

    assert response.status_code == 200, response.content
    after = response.json()
    assert after["janus"]["reconnect_seconds"] == 25
    assert after["janus"]["token"] != before["janus"]["token"]
    assert after["janus"]["feed_id"] != before["janus"]["feed_id"]
    assert janus_create_session(janus_server, before["janus"]["token"])["janus"] == "error"
    assert janus_create_session(janus_server, after["janus"]["token"])["janus"] == "success"
    mine = [p for p in after["call"]["participants"] if p["user_id"] == team.ann.pk]
    assert len(mine) == 1
    assert mine[0]["state"] == "joined"
    assert mine[0]["hand_raised_at"] is not None
    assert CallParticipant.objects.filter(call_id=call_id, user=team.ann).count() == 1


def test_leaving_the_channel_or_deactivation_drops_from_the_meeting(
    team: Team, janus_server: JanusServer
) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    ann = services.meeting_join(user=team.ann, call_id=call_id)
    bo = services.meeting_join(user=team.bo, call_id=call_id)

    chat_services.channel_remove_member(
        actor=team.host, channel_id=team.channel.pk, user_id=team.ann.pk
    )
    account_services.user_deactivate(user=User.objects.get(pk=team.bo.pk))

    states = dict(
        CallParticipant.objects.filter(call_id=call_id).values_list("user__username", "state")
    )
    assert states == {"hana": "joined", "ann": "left", "bo": "left"}
    for token in (ann["janus"]["token"], bo["janus"]["token"]):
        assert janus_create_session(janus_server, token)["janus"] == "error"
    with pytest.raises(NotFound):
        services.meeting_join(user=team.ann, call_id=call_id)


def test_the_last_one_out_ends_it_and_the_record_names_everyone(team: Team) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    services.meeting_join(user=team.ann, call_id=call_id)
    room = CallSession.objects.get(pk=call_id).janus_room

    services.call_hangup(user=team.ann, call_id=call_id)
    assert CallSession.objects.get(pk=call_id).state == "active"
    services.call_hangup(user=team.host, call_id=call_id)

    call = CallSession.objects.get(pk=call_id)
    assert (call.state, call.end_reason) == ("ended", "ended")
    with pytest.raises(janus.JanusError):
        janus.room_participants(room=room or 0)  # destroyed
    record = Message.objects.filter(channel=team.channel).order_by("-pk").first()
    assert record is not None
    assert "Meeting ended" in record.body
    assert team.ann.name in record.body
    assert team.host.name in record.body
    with pytest.raises(Conflict):
        services.meeting_join(user=team.ann, call_id=call_id)


def test_classroom_listeners_come_on_stage_through_the_host(team: Team) -> None:
    host = services.meeting_start(user=team.host, channel_id=team.channel.pk, mode="classroom")
    call_id = host["call"]["id"]
    ann = services.meeting_join(user=team.ann, call_id=call_id)
    assert host["janus"]["publish"] is True
    assert ann["janus"]["publish"] is False

    services.meeting_hand(user=team.ann, call_id=call_id, raised=True)
    services.meeting_stage(user=team.host, call_id=call_id, user_id=team.ann.pk, on_stage=True)

    mine = CallParticipant.objects.get(call_id=call_id, user=team.ann)
    assert (mine.role, mine.hand_raised_at) == ("presenter", None)
    # A late joiner sees the stage as it is now.
    late = services.meeting_join(user=team.bo, call_id=call_id)
    roles = {p["user_id"]: p["role"] for p in late["call"]["participants"]}
    assert roles == {team.host.pk: "host", team.ann.pk: "presenter", team.bo.pk: "listener"}
    # Browsers subscribe to the publisher ids the server lists: those on stage only.
    feeds = {
        p["user_id"]: (p["camera_feed_id"], p["screen_feed_id"])
        for p in late["call"]["participants"]
    }
    assert feeds[team.host.pk] == (host["janus"]["feed_id"], host["janus"]["screen_feed_id"])
    assert feeds[team.ann.pk] == (ann["janus"]["feed_id"], ann["janus"]["screen_feed_id"])
    assert feeds[team.bo.pk] == (None, None)
    assert len({*feeds[team.host.pk], *feeds[team.ann.pk], late["janus"]["feed_id"]}) == 5
    with pytest.raises(Forbidden):
        services.meeting_stage(user=team.ann, call_id=call_id, user_id=team.bo.pk, on_stage=True)


def test_a_direct_message_has_no_meetings(team: Team) -> None:
    dm = chat_services.dm_open(user=team.host, user_ids=[team.ann.pk])
    with pytest.raises(InvalidInput) as refused:
        services.meeting_start(user=team.host, channel_id=dm.pk)
    assert refused.value.code == "direct_channel_meeting"


def test_without_janus_there_are_no_meetings(team: Team) -> None:
    with override_settings(ENCLAVE_JANUS_API_URL=""), pytest.raises(Conflict) as refused:
        services.meeting_start(user=team.host, channel_id=team.channel.pk)
    assert refused.value.code == "meetings_unavailable"


# --- the socket ---------------------------------------------------------------------------------


async def test_socket_join_is_for_members_and_bad_frames_get_errors(
    team: Team, ws_connect: Connect
) -> None:
    host, ann, outsider = (
        await ws_connect(team.host),
        await ws_connect(team.ann),
        await ws_connect(team.outsider),
    )
    started = await host.ask(
        {"type": "call.meeting_start", "channel_id": team.channel.pk}, within=JANUS_WITHIN
    )
    assert started["type"] == "ack", started
    call_id = started["call"]["id"]
    assert (await ann.event("call.updated", within=3))["call"]["id"] == call_id

    refused = await outsider.request("call.join", call_id=call_id)
    assert (refused["type"], refused["code"]) == ("error", "call_not_found")
    refused = await outsider.request("call.meeting_start", channel_id=team.channel.pk)
    assert (refused["type"], refused["code"]) == ("error", "channel_not_found")

    joined = await ann.ask({"type": "call.join", "call_id": call_id}, within=JANUS_WITHIN)
    assert joined["type"] == "ack"
    assert joined["janus"]["token"]
    for bad in (
        {"type": "call.join", "call_id": "1"},
        {"type": "call.hand", "call_id": call_id, "raised": "yes"},
        {"type": "call.remove", "call_id": call_id},
        {"type": "call.meeting_start", "channel_id": team.channel.pk, "mode": ["x"]},
        {"type": "call.mute_all", "call_id": call_id},  # not the host
    ):
        reply = await ann.ask(bad)
        assert reply["type"] == "error", (bad, reply)
    await ann.send({"type": "call.hand", "call_id": call_id, "raised": True, "pad": "x" * 70_000})
    assert (await ann.event("error"))["code"] == "frame_too_large"
    await ann.send_text('{"v": 1, "type": "call.join", "call_id": ')
    assert (await ann.event("error"))["code"] == "malformed_frame"

    muted = await host.request("call.mute_all", call_id=call_id)
    assert muted["type"] == "ack"
    assert (await ann.event("call.muted", within=3))["by_user_id"] == team.host.pk
    await outsider.assert_nothing("call.muted")
    await outsider.assert_nothing("call.updated")
    # The meeting goes on: the participant is still in it after the bad frames.
    still = await ann.request("call.hand", call_id=call_id, raised=True)
    assert still["type"] == "ack"
    await host.ask({"type": "call.end", "call_id": call_id}, within=JANUS_WITHIN)
    assert (await ann.event("call.ended", within=3))["call"]["id"] == call_id


def test_every_meeting_event_matches_its_schema(
    team: Team, captured_events: list[dict[str, Any]]
) -> None:
    call_id = services.meeting_start(user=team.host, channel_id=team.channel.pk)["call"]["id"]
    services.meeting_join(user=team.ann, call_id=call_id)
    services.meeting_mute_all(user=team.host, call_id=call_id)
    services.meeting_remove(user=team.host, call_id=call_id, user_id=team.ann.pk)
    services.meeting_end(user=team.host, call_id=call_id)

    seen = {e["type"] for e in captured_events if e["type"].startswith("call.")}
    for event in captured_events:
        if event["type"].startswith("call."):
            validate(event)
    assert seen == {"call.updated", "call.muted", "call.removed", "call.ended"}


async def test_every_meeting_operation_is_refused_to_a_non_member(
    team: Team, ws_connect: Connect
) -> None:
    host, outsider = await ws_connect(team.host), await ws_connect(team.outsider)
    started = await host.ask(
        {"type": "call.meeting_start", "channel_id": team.channel.pk}, within=JANUS_WITHIN
    )
    call_id = started["call"]["id"]
    for operation in sorted(MEETING_OPERATIONS - {"call.meeting_start"}):
        fields = {"call_id": call_id, "user_id": team.host.pk, "raised": True, "on_stage": True}
        refused = await outsider.request(operation, **fields)
        assert (refused["type"], refused["code"]) == ("error", "call_not_found"), operation
    for operation in ("call.hangup", "call.heartbeat"):
        refused = await outsider.request(operation, call_id=call_id)
        assert (refused["type"], refused["code"]) == ("error", "call_not_found"), operation
