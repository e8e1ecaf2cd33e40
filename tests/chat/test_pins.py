"""Pins: a message pinned to its channel, its pinned list, the channel sequence, the events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache

from apps.accounts.models import Role, User
from apps.chat import selectors, services
from apps.chat.models import Channel, ChannelKind, ChannelRole, Message, MessagePin
from apps.chat.services.pins import FLAG
from apps.ops.models import FeatureFlag
from tests.chat.support import raises_domain_error, send

Events = list[dict[str, Any]]


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann, bob, guest, outsider = (
        make_user(username="ann"),
        make_user(username="bob"),
        make_user(username="gus", role=Role.GUEST),
        make_user(username="out"),
    )
    channel = make_channel(kind=ChannelKind.PUBLIC, admins=(ann,), members=(bob,))
    message = send(ann, channel, "the plan")
    return type(
        "Room",
        (),
        {
            "ann": ann,
            "bob": bob,
            "guest": guest,
            "outsider": outsider,
            "channel": channel,
            "message": message,
        },
    )


@pytest.fixture
def pins_on(db: None) -> None:
    FeatureFlag.objects.create(name=FLAG, everyone=True)
    cache.clear()


# --- services -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_member_pins_a_message_and_it_shows_as_pinned(room: Any) -> None:
    services.message_pin(user=room.bob, message_id=room.message.pk)

    payload = selectors.payloads([selectors.message_get(user=room.ann, message_id=room.message.pk)])
    pinned = payload[0]["pinned"]
    assert pinned is not None
    assert pinned["pinned_by_id"] == room.bob.pk
    assert pinned["pinned_by_name"] == room.bob.name


@pytest.mark.django_db
def test_pinning_takes_the_next_channel_seq_as_the_message_version(room: Any) -> None:
    before = Channel.objects.get(pk=room.channel.pk).last_seq

    services.message_pin(user=room.bob, message_id=room.message.pk)

    assert Channel.objects.get(pk=room.channel.pk).last_seq == before + 1
    assert Message.objects.get(pk=room.message.pk).version == before + 1


@pytest.mark.django_db
def test_catch_up_after_seq_returns_the_pinned_state(room: Any) -> None:
    seen = Channel.objects.get(pk=room.channel.pk).last_seq
    services.message_pin(user=room.bob, message_id=room.message.pk)

    page = selectors.channel_history(user=room.ann, channel_id=room.channel.pk, after_seq=seen)

    [payload] = selectors.payloads(page.messages)
    assert payload["id"] == room.message.pk
    assert payload["pinned"] is not None


@pytest.mark.django_db
def test_pinning_twice_is_a_no_op(room: Any) -> None:
    services.message_pin(user=room.bob, message_id=room.message.pk)
    seq = Channel.objects.get(pk=room.channel.pk).last_seq

    services.message_pin(user=room.ann, message_id=room.message.pk)

    assert Channel.objects.get(pk=room.channel.pk).last_seq == seq
    assert MessagePin.objects.get().pinned_by_id == room.bob.pk


@pytest.mark.django_db
def test_any_poster_unpins_and_the_message_is_no_longer_pinned(room: Any) -> None:
    services.message_pin(user=room.ann, message_id=room.message.pk)

    services.message_unpin(user=room.bob, message_id=room.message.pk)

    assert not MessagePin.objects.exists()
    assert selectors.channel_pins(user=room.ann, channel_id=room.channel.pk) == []


@pytest.mark.django_db
def test_pinned_list_is_newest_pin_first_with_who_and_when(room: Any) -> None:
    second = send(room.bob, room.channel, "second")
    services.message_pin(user=room.bob, message_id=second.pk)
    services.message_pin(user=room.ann, message_id=room.message.pk)

    pins = selectors.channel_pins(user=room.bob, channel_id=room.channel.pk)

    assert [p["id"] for p in pins] == [room.message.pk, second.pk]
    assert [p["pinned"]["pinned_by_id"] for p in pins] == [room.ann.pk, room.bob.pk]  # type: ignore[index]


@pytest.mark.django_db
def test_pinned_list_costs_a_fixed_number_of_queries(
    room: Any, django_assert_num_queries: Any
) -> None:
    for n in range(5):
        services.message_pin(user=room.bob, message_id=send(room.bob, room.channel, f"m{n}").pk)

    with django_assert_num_queries(4):
        pins = selectors.channel_pins(user=room.bob, channel_id=room.channel.pk)

    assert len(pins) == 5


@pytest.mark.django_db
def test_a_channel_refuses_pins_beyond_its_limit(room: Any, settings: Any) -> None:
    settings.ENCLAVE_PINS_PER_CHANNEL = 1
    services.message_pin(user=room.bob, message_id=room.message.pk)
    other = send(room.bob, room.channel, "one more")
    seq = Channel.objects.get(pk=room.channel.pk).last_seq

    with raises_domain_error("pin_limit_reached", 409):
        services.message_pin(user=room.bob, message_id=other.pk)

    assert Channel.objects.get(pk=room.channel.pk).last_seq == seq  # rolled back


@pytest.mark.django_db
def test_deleting_a_pinned_message_unpins_it(room: Any) -> None:
    services.message_pin(user=room.bob, message_id=room.message.pk)

    services.message_delete(user=room.ann, message_id=room.message.pk)

    assert selectors.channel_pins(user=room.ann, channel_id=room.channel.pk) == []


@pytest.mark.django_db
def test_a_deleted_message_cannot_be_pinned(room: Any) -> None:
    services.message_delete(user=room.ann, message_id=room.message.pk)

    with raises_domain_error("message_deleted", 404):
        services.message_pin(user=room.bob, message_id=room.message.pk)


@pytest.mark.django_db
def test_non_member_of_a_public_channel_cannot_pin(room: Any) -> None:
    with raises_domain_error("not_member", 403):
        services.message_pin(user=room.outsider, message_id=room.message.pk)


@pytest.mark.django_db
def test_guest_cannot_pin_in_a_channel_they_are_not_in(room: Any) -> None:
    with raises_domain_error("message_not_found", 404):
        services.message_pin(user=room.guest, message_id=room.message.pk)


@pytest.mark.django_db
def test_guest_member_pins_like_any_member(room: Any, make_channel: Callable[..., Channel]) -> None:
    private = make_channel(kind=ChannelKind.PRIVATE, admins=(room.ann,), members=(room.guest,))
    message = send(room.ann, private, "for the guest")

    services.message_pin(user=room.guest, message_id=message.pk)

    assert MessagePin.objects.filter(message=message).exists()


@pytest.mark.django_db
def test_only_admins_pin_in_an_announcement_channel(room: Any) -> None:
    Channel.objects.filter(pk=room.channel.pk).update(is_announcement=True)

    with raises_domain_error("announcement_channel", 403):
        services.message_pin(user=room.bob, message_id=room.message.pk)
    services.message_pin(user=room.ann, message_id=room.message.pk)
    assert room.ann.memberships.get(channel=room.channel).role == ChannelRole.ADMIN


@pytest.mark.django_db
def test_nobody_pins_in_an_archived_channel(room: Any) -> None:
    Channel.objects.filter(pk=room.channel.pk).update(is_archived=True)

    with raises_domain_error("channel_archived", 403):
        services.message_pin(user=room.ann, message_id=room.message.pk)


@pytest.mark.django_db
def test_outsider_cannot_read_the_pins_of_a_private_channel(
    room: Any, make_channel: Callable[..., Channel]
) -> None:
    private = make_channel(kind=ChannelKind.PRIVATE, admins=(room.ann,))

    with raises_domain_error("channel_not_found", 404):
        selectors.channel_pins(user=room.outsider, channel_id=private.pk)


# --- events ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pin_publishes_pin_added_to_the_channel_with_its_seq(
    room: Any, captured_events: Events
) -> None:
    captured_events.clear()

    services.message_pin(user=room.bob, message_id=room.message.pk)

    [event] = captured_events
    assert event["type"] == "pin.added"
    assert event["topics"] == [f"chan.{room.channel.pk}"]
    assert event["channel_seq"] == Channel.objects.get(pk=room.channel.pk).last_seq
    assert event["message_id"] == room.message.pk
    assert event["pinned"]["pinned_by_id"] == room.bob.pk


@pytest.mark.django_db(transaction=True)
def test_unpin_publishes_pin_removed(room: Any, captured_events: Events) -> None:
    services.message_pin(user=room.bob, message_id=room.message.pk)
    captured_events.clear()

    services.message_unpin(user=room.ann, message_id=room.message.pk)

    [event] = captured_events
    assert (event["type"], event["pinned"], event["user_id"]) == ("pin.removed", None, room.ann.pk)


@pytest.mark.django_db(transaction=True)
def test_an_edit_of_a_pinned_message_keeps_pinned_in_its_push(
    room: Any, captured_events: Events
) -> None:
    services.message_pin(user=room.bob, message_id=room.message.pk)
    captured_events.clear()

    services.message_edit(user=room.ann, message_id=room.message.pk, body="the new plan")

    [event] = captured_events
    assert event["message"]["pinned"]["pinned_by_id"] == room.bob.pk


@pytest.mark.django_db(transaction=True)
def test_refused_pin_publishes_nothing(room: Any, captured_events: Events) -> None:
    captured_events.clear()

    with raises_domain_error("not_member"):
        services.message_pin(user=room.outsider, message_id=room.message.pk)

    assert captured_events == []


@pytest.mark.django_db(transaction=True)
async def test_every_member_socket_sees_the_pin_live(room: Any, ws_connect: Any) -> None:
    ann = await ws_connect(room.ann)
    bob = await ws_connect(room.bob)

    await database_sync_to_async(services.message_pin)(user=room.bob, message_id=room.message.pk)

    for client in (ann, bob):
        event = await client.event("pin.added")
        assert event["message_id"] == room.message.pk


# --- REST -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_pin_then_list_then_unpin(room: Any, pins_on: None, client_for: Any) -> None:
    client = client_for(room.bob)

    pinned = client.post(f"/api/v1/messages/{room.message.pk}/pin/")
    listed = client.get(f"/api/v1/channels/{room.channel.pk}/pins/")
    unpinned = client.delete(f"/api/v1/messages/{room.message.pk}/pin/")

    assert pinned.status_code == 200
    assert pinned.json()["pinned"]["pinned_by_id"] == room.bob.pk
    assert [m["id"] for m in listed.json()] == [room.message.pk]
    assert unpinned.json()["pinned"] is None


@pytest.mark.django_db
def test_rest_pin_limit_answers_409_with_its_code(
    room: Any, pins_on: None, client_for: Any, settings: Any
) -> None:
    settings.ENCLAVE_PINS_PER_CHANNEL = 0

    response = client_for(room.bob).post(f"/api/v1/messages/{room.message.pk}/pin/")

    assert response.status_code == 409
    assert response.json()["code"] == "pin_limit_reached"
    assert response.json()["details"] == {"limit": 0}


@pytest.mark.django_db
def test_rest_pins_are_hidden_while_the_flag_is_off(room: Any, client_for: Any) -> None:
    cache.clear()

    response = client_for(room.bob).post(f"/api/v1/messages/{room.message.pk}/pin/")

    assert response.status_code == 404
    assert response.json()["code"] == "feature_disabled"
