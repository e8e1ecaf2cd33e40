"""Hypothesis fuzzing of every WebSocket operation over the real ASGI application.

Frames are generated per operation (every `type` the consumer knows, chat's and the ones other
apps register, plus unknown types, missing or wrong envelopes, and text that is not JSON), with
fields drawn from the operation's own field names and random ones, each holding any JSON value:
null, booleans, integers far outside the database's range, floats, strings with NUL, CJK and
surrogate escapes, lists, nested objects, and ids of the test's real objects. Over 10,000 frames
go to one user's socket. Every reply must be an `ack` or an `error` with a machine-readable code
(tests/ws.py checks each frame's schema and refuses `internal_error`), nothing may end the socket,
and after the run it still answers a ping and still sends a message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.accounts.models import User
from apps.chat.consumers import OPERATIONS
from apps.chat.models import Channel, ChannelKind
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]

# Handled by the consumer itself, besides the registered operations.
CONSUMER_OPERATIONS = ("ping", "presence.set", "presence.subscribe")
FIELD_NAMES = (
    "channel_id",
    "message_id",
    "thread_root_id",
    "client_msg_id",
    "body",
    "emoji",
    "seq",
    "status",
    "user_ids",
    "attachment_ids",
    "call_id",
    "user_id",
    "media",
    "mode",
    "to_user_id",
    "payload",
    "raised",
    "on_stage",
    "question",
    "capability",
)
# Hypothesis generates the frames (batches of 8-12, derandomized: the same frames on every run,
# so a failure in CI reproduces here), then they go over one socket in order.
EXAMPLES = 1_100
FRAMES_AT_LEAST = 10_000


def json_values(ids: list[int]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(ids),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        st.sampled_from(["", "\x00", "👍", "你好 @alice", "a" * 5000, str(uuid.uuid4())]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=8,
    )


def frames(ids: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    op_types = st.one_of(
        st.sampled_from([*OPERATIONS, *CONSUMER_OPERATIONS]),
        st.text(max_size=20),
        st.none(),
        st.integers(),
    )
    fields = st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)),
        json_values(ids),
        max_size=6,
    )
    version = st.one_of(st.just(1), st.just(1), st.just(1), json_values(ids))
    return st.builds(
        lambda op, body, v: {**body, "type": op, "v": v},
        op_types,
        fields,
        version,
    )


@pytest.fixture
def world(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> dict[str, Any]:
    ann, bob = make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, admins=(ann,), members=(bob,))
    secret = make_channel(kind=ChannelKind.PRIVATE, admins=(bob,))
    return {"ann": ann, "ids": [channel.pk, secret.pk, ann.pk, bob.pk, 1, 0]}


def generated_frames(ids: list[int]) -> list[dict[str, Any]]:
    collected: list[dict[str, Any]] = []

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=st.lists(frames(ids), min_size=8, max_size=12))
    def collect(batch: list[dict[str, Any]]) -> None:
        collected.extend(batch)

    collect()
    return collected


async def test_every_operation_survives_ten_thousand_generated_frames(
    ws_connect: Connect, world: dict[str, Any], settings: Any
) -> None:
    settings.ENCLAVE_WS_RATE_PER_SECOND = 1_000_000
    settings.ENCLAVE_WS_RATE_BURST = 1_000_000
    batch = generated_frames(world["ids"])
    assert len(batch) >= FRAMES_AT_LEAST
    assert {frame["type"] for frame in batch} >= {*OPERATIONS, *CONSUMER_OPERATIONS}
    socket = await ws_connect(world["ann"])
    for frame in batch:
        ref = socket.next_ref()
        await socket.communicator.send_to(text_data=json.dumps({**frame, "ref": ref}))
        try:
            reply = await socket.reply(ref, within=10)
        except AssertionError as error:  # tests/ws.py refused the reply (internal_error, schema)
            raise AssertionError(f"frame {frame!r}: {error}") from error
        assert reply["type"] in ("ack", "error", "pong"), (frame, reply)
        socket.inbox.clear()
    for text in ("{", "not json", "[1, 2", "\x00"):
        await socket.send_text(text)
    assert (await socket.request("ping"))["type"] == "pong"
    sent = await socket.request(
        "message.send",
        channel_id=world["ids"][0],
        client_msg_id=str(uuid.uuid4()),
        body="still here",
    )
    assert sent["type"] == "ack", sent
