"""Two users talking through the real Redis event bus (apps.core.runtime.realtime), not the
in-process one.

These run whenever Redis is reachable (REDIS_URL, else redis://127.0.0.1:6379/0), on SQLite as
well as on PostgreSQL; with ENCLAVE_REQUIRE_SERVICES=1 a missing Redis fails them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from apps.accounts.models import User
from apps.accounts.services import CLOSE_CODE_DEACTIVATED, user_deactivate
from apps.chat import services
from apps.chat.models import Channel, ChannelKind
from apps.core.runtime import realtime
from tests.ws import WsClient

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

Connect = Callable[..., Awaitable[WsClient]]


@pytest.fixture
def redis_ws(settings_redis_realtime: None, ws_connect: Connect, settings: Any) -> Connect:
    """`ws_connect` on the Redis bus (requested in this order, so it is set up first)."""
    assert settings.ENCLAVE_REALTIME_URL.startswith("redis://")
    return ws_connect


@pytest.fixture
def pair(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann, bob = make_user(), make_user()
    return ann, bob, make_channel(kind=ChannelKind.PRIVATE, admins=(ann,), members=(bob,))


async def say(client: WsClient, channel: Channel, body: str) -> dict[str, Any]:
    ack = await client.ask(
        {
            "type": "message.send",
            "channel_id": channel.pk,
            "body": body,
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    assert ack["type"] == "ack", ack
    return ack


async def test_messages_flow_both_ways_through_redis(redis_ws: Connect, pair: Any) -> None:
    ann, bob, channel = pair
    ann_socket, bob_socket = await redis_ws(ann, auth="session"), await redis_ws(bob)

    to_bob = await say(ann_socket, channel, "hi bob")
    at_bob = await bob_socket.event("message.new")
    to_ann = await say(bob_socket, channel, "hi ann")
    at_ann = await ann_socket.event("message.new", where=lambda f: f["message"]["body"] == "hi ann")

    assert at_bob["message"]["id"] == to_bob["message_id"]
    assert at_bob["channel_seq"] == to_bob["seq"]
    assert at_ann["message"]["id"] == to_ann["message_id"]
    assert at_ann["message"]["sender_id"] == bob.pk


async def test_both_tabs_of_a_user_receive_through_redis(redis_ws: Connect, pair: Any) -> None:
    ann, bob, channel = pair
    ann_socket = await redis_ws(ann)
    bob_tabs = [await redis_ws(bob, auth="session"), await redis_ws(bob, auth="token")]

    ack = await say(ann_socket, channel, "to both tabs")
    await bob_tabs[0].request("typing", channel_id=channel.pk)

    for tab in bob_tabs:
        assert (await tab.event("message.new"))["message"]["id"] == ack["message_id"]
    assert (await ann_socket.event("typing"))["user_id"] == bob.pk


async def test_removed_member_stops_receiving_through_redis(redis_ws: Connect, pair: Any) -> None:
    ann, bob, channel = pair
    ann_socket = await redis_ws(ann)
    bob_tabs = [await redis_ws(bob), await redis_ws(bob)]

    await database_sync_to_async(services.channel_remove_member)(
        actor=ann, channel_id=channel.pk, user_id=bob.pk
    )
    await say(ann_socket, channel, "bob was removed")

    for tab in bob_tabs:
        await tab.event("member.left")
        await tab.assert_nothing("message.new")


async def test_invited_user_starts_receiving_through_redis(
    redis_ws: Connect, pair: Any, make_user: Callable[..., User]
) -> None:
    ann, _bob, channel = pair
    cat = await database_sync_to_async(make_user)()
    ann_socket, cat_socket = await redis_ws(ann), await redis_ws(cat)

    await database_sync_to_async(services.channel_invite)(
        actor=ann, channel_id=channel.pk, user_ids=[cat.pk]
    )
    await cat_socket.event("channel.created")
    ack = await say(ann_socket, channel, "welcome, cat")

    assert (await cat_socket.event("message.new"))["message"]["id"] == ack["message_id"]


async def test_deactivation_closes_sockets_through_redis(redis_ws: Connect, pair: Any) -> None:
    _ann, bob, _channel = pair
    bob_socket = await redis_ws(bob, auth="session")

    await database_sync_to_async(user_deactivate)(user=bob)

    assert await bob_socket.closed(within=1.0) == CLOSE_CODE_DEACTIVATED


async def test_an_event_published_by_another_process_reaches_the_socket(
    redis_ws: Connect, pair: Any
) -> None:
    # A Celery worker has no hub: it publishes straight to Redis, and every app process's hub
    # hands the frame to its own sockets.
    ann, bob, channel = pair
    bob_socket = await redis_ws(bob)
    url = settings.ENCLAVE_REALTIME_URL
    frame = '{"v":1,"type":"typing","channel_id":%d,"user_id":%d,"thread_root_id":null}'
    message = {
        "type": "client.push",
        "frame": frame % (channel.pk, ann.pk),
        "channel_id": channel.pk,
    }

    client = realtime._sync_client(url)
    await database_sync_to_async(client.publish)(
        realtime.channel_name(), realtime.encode([f"chan.{channel.pk}"], message)
    )

    assert (await bob_socket.event("typing"))["user_id"] == ann.pk


async def test_a_lost_subscription_comes_back_and_asks_sockets_to_resync(
    redis_ws: Connect, pair: Any
) -> None:
    ann, bob, channel = pair
    ann_socket, bob_socket = await redis_ws(ann), await redis_ws(bob)
    hub = realtime.hub()
    client = realtime._sync_client(settings.ENCLAVE_REALTIME_URL)

    # Redis drops this process's connections (a restart, a failover).
    killed = await database_sync_to_async(_kill_clients_named)(client, hub.client_name)
    assert killed >= 1

    assert (await bob_socket.event("resync", within=5.0))["type"] == "resync"
    await ann_socket.event("resync", within=5.0)
    ack = await say(ann_socket, channel, "after the outage")
    assert (await bob_socket.event("message.new"))["message"]["id"] == ack["message_id"]


def _kill_clients_named(client: Any, name: str) -> int:
    ids = [c["id"] for c in client.client_list() if c.get("name") == name]
    for client_id in ids:
        client.client_kill_filter(_id=client_id)
    return len(ids)
