"""Saved messages ("Saved items"): mine alone, newest first, only what I may still read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache

from apps.accounts.models import Role, User
from apps.chat import services as chat
from apps.chat.models import Channel, ChannelKind
from apps.chat.services.pins import FLAG
from apps.ops.models import FeatureFlag
from apps.workspace import selectors, services
from apps.workspace.models import SavedMessage
from tests.chat.support import raises_domain_error, send

Events = list[dict[str, Any]]


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    me, bob, outsider = make_user(username="me"), make_user(username="bob"), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, admins=(bob,), members=(me,))
    message = send(bob, channel, "read this later")
    return type(
        "Room",
        (),
        {"me": me, "bob": bob, "outsider": outsider, "channel": channel, "message": message},
    )


@pytest.mark.django_db
def test_saved_list_is_mine_newest_first(room: Any) -> None:
    later = send(room.bob, room.channel, "and this")
    services.saved_message_add(user=room.me, message_id=room.message.pk)
    services.saved_message_add(user=room.me, message_id=later.pk)
    services.saved_message_add(user=room.bob, message_id=room.message.pk)

    items = selectors.saved_messages_list(user=room.me)

    assert [i["message"]["id"] for i in items] == [later.pk, room.message.pk]
    assert items[0]["channel_id"] == room.channel.pk
    assert items[0]["channel_name"] == room.channel.name


@pytest.mark.django_db
def test_saving_twice_keeps_the_first_save(room: Any) -> None:
    first = services.saved_message_add(user=room.me, message_id=room.message.pk)

    again = services.saved_message_add(user=room.me, message_id=room.message.pk)

    assert again.pk == first.pk
    assert SavedMessage.objects.count() == 1


@pytest.mark.django_db
def test_unsave_takes_it_out_of_the_list(room: Any) -> None:
    services.saved_message_add(user=room.me, message_id=room.message.pk)

    services.saved_message_remove(user=room.me, message_id=room.message.pk)

    assert selectors.saved_messages_list(user=room.me) == []


@pytest.mark.django_db
def test_cannot_save_a_message_one_may_not_read(room: Any) -> None:
    with raises_domain_error("message_not_found", 404):
        services.saved_message_add(user=room.outsider, message_id=room.message.pk)


@pytest.mark.django_db
def test_cannot_save_a_deleted_message(room: Any) -> None:
    chat.message_delete(user=room.bob, message_id=room.message.pk)

    with raises_domain_error("message_deleted", 404):
        services.saved_message_add(user=room.me, message_id=room.message.pk)


@pytest.mark.django_db
def test_a_saved_message_from_a_channel_i_left_disappears(room: Any) -> None:
    services.saved_message_add(user=room.me, message_id=room.message.pk)

    chat.channel_leave(user=room.me, channel_id=room.channel.pk)

    assert selectors.saved_messages_list(user=room.me) == []


@pytest.mark.django_db
def test_a_deleted_saved_message_disappears(room: Any) -> None:
    services.saved_message_add(user=room.me, message_id=room.message.pk)

    chat.message_delete(user=room.bob, message_id=room.message.pk)

    assert selectors.saved_messages_list(user=room.me) == []


@pytest.mark.django_db
def test_a_guest_keeps_only_saves_of_channels_they_are_in(
    room: Any, make_user: Callable[..., User], make_channel: Callable[..., Channel]
) -> None:
    guest = make_user(role=Role.GUEST)
    public = make_channel(kind=ChannelKind.PUBLIC, members=(guest, room.bob))
    message = send(room.bob, public, "public words")
    services.saved_message_add(user=guest, message_id=message.pk)
    assert len(selectors.saved_messages_list(user=guest)) == 1

    chat.channel_leave(user=guest, channel_id=public.pk)

    assert selectors.saved_messages_list(user=guest) == []


@pytest.mark.django_db
def test_a_non_member_keeps_saves_from_public_channels(
    room: Any, make_channel: Callable[..., Channel]
) -> None:
    public = make_channel(kind=ChannelKind.PUBLIC, members=(room.bob,))
    message = send(room.bob, public, "open to all")

    services.saved_message_add(user=room.outsider, message_id=message.pk)

    assert [i["message"]["id"] for i in selectors.saved_messages_list(user=room.outsider)] == [
        message.pk
    ]


@pytest.mark.django_db
def test_saving_beyond_the_limit_is_refused(room: Any, settings: Any) -> None:
    settings.ENCLAVE_SAVED_PER_USER = 1
    services.saved_message_add(user=room.me, message_id=room.message.pk)
    other = send(room.bob, room.channel, "another")

    with raises_domain_error("saved_limit_reached", 409):
        services.saved_message_add(user=room.me, message_id=other.pk)


@pytest.mark.django_db
def test_unsaving_what_i_may_not_read_and_never_saved_is_not_found(room: Any) -> None:
    with raises_domain_error("message_not_found", 404):
        services.saved_message_remove(user=room.outsider, message_id=room.message.pk)


@pytest.mark.django_db
def test_saved_list_costs_a_fixed_number_of_queries(
    room: Any, django_assert_num_queries: Any
) -> None:
    for n in range(5):
        message = send(room.bob, room.channel, f"m{n}")
        services.saved_message_add(user=room.me, message_id=message.pk)

    with django_assert_num_queries(3):
        items = selectors.saved_messages_list(user=room.me)

    assert len(items) == 5


# --- events ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_save_and_unsave_tell_only_my_own_tabs(room: Any, captured_events: Events) -> None:
    captured_events.clear()

    services.saved_message_add(user=room.me, message_id=room.message.pk)
    services.saved_message_remove(user=room.me, message_id=room.message.pk)

    assert [(e["type"], e["topics"], e["message_id"]) for e in captured_events] == [
        ("saved.added", [f"user.{room.me.pk}"], room.message.pk),
        ("saved.removed", [f"user.{room.me.pk}"], room.message.pk),
    ]
    assert captured_events[1]["saved_at"] is None


@pytest.mark.django_db(transaction=True)
def test_saved_events_match_their_schema(room: Any, captured_events: Events) -> None:
    from pydantic import TypeAdapter

    from apps.workspace.events import EVENT_SCHEMAS
    from tests.chat.test_events_schema import strict_schema

    captured_events.clear()
    services.saved_message_add(user=room.me, message_id=room.message.pk)
    services.saved_message_remove(user=room.me, message_id=room.message.pk)

    assert {e["type"] for e in captured_events} == {"saved.added", "saved.removed"}
    for event in captured_events:
        body = {k: v for k, v in event.items() if k not in {"v", "topics"}}
        TypeAdapter(strict_schema(EVENT_SCHEMAS[event["type"]])).validate_python(body, strict=True)


@pytest.mark.django_db(transaction=True)
async def test_my_other_tab_sees_the_save_live(room: Any, ws_connect: Any) -> None:
    tab = await ws_connect(room.me)
    bob = await ws_connect(room.bob)

    await database_sync_to_async(services.saved_message_add)(
        user=room.me, message_id=room.message.pk
    )

    assert (await tab.event("saved.added"))["message_id"] == room.message.pk
    await bob.assert_nothing("saved.added")


# --- REST -----------------------------------------------------------------------------------------


@pytest.fixture
def pins_on(db: None) -> None:
    FeatureFlag.objects.create(name=FLAG, everyone=True)
    cache.clear()


@pytest.mark.django_db
def test_rest_save_list_unsave(room: Any, pins_on: None, client_for: Any) -> None:
    client = client_for(room.me)

    saved = client.post("/api/v1/saved/", {"message_id": room.message.pk}, format="json")
    listed = client.get("/api/v1/saved/")
    removed = client.delete(f"/api/v1/saved/{room.message.pk}/")

    assert saved.status_code == 200
    assert saved.json()["message_id"] == room.message.pk
    assert [i["message"]["id"] for i in listed.json()] == [room.message.pk]
    assert removed.json() == {"message_id": room.message.pk, "saved_at": None}
    assert client.get("/api/v1/saved/").json() == []


@pytest.mark.django_db
def test_rest_save_of_an_unreadable_message_is_404(
    room: Any, pins_on: None, client_for: Any
) -> None:
    response = client_for(room.outsider).post(
        "/api/v1/saved/", {"message_id": room.message.pk}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "message_not_found"
