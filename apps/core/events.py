"""The one way events leave the server: `publish_on_commit`.

Only services call it. The event is serialised to JSON once, here, and every recipient socket
receives the same pre-built frame, so the cost of a push does not grow with the payload per
recipient. Pushes are at-most-once hints; clients converge over REST
(docs/architecture/realtime.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import transaction

from apps.core.runtime import realtime

PROTOCOL_VERSION = 1

# Message types understood by apps.chat.consumers.ClientConsumer (through
# apps.core.runtime.realtime).
PUSH = "client.push"
CONTROL = "client.control"


def channel_topic(channel_id: int) -> str:
    """Topic of every socket whose user is a member of chat channel `channel_id`."""
    return f"chan.{channel_id}"


EVERYONE_TOPIC = "org"


def user_topic(user_id: int) -> str:
    """Topic of every open socket (tab) of one user."""
    return f"user.{user_id}"


def presence_topic(user_id: int) -> str:
    """Topic of every socket that watches one user's presence (`presence.subscribe`)."""
    return f"presence.{user_id}"


@dataclass(frozen=True)
class Audience:
    """Who receives an event: the members of a chat channel and/or specific users."""

    channel_id: int | None = None
    user_ids: frozenset[int] = field(default_factory=frozenset)
    everyone: bool = False
    presence_of: int | None = None

    @classmethod
    def channel(cls, channel_id: int) -> Audience:
        return cls(channel_id=channel_id)

    @classmethod
    def users(cls, user_ids: Iterable[int]) -> Audience:
        return cls(user_ids=frozenset(user_ids))

    @classmethod
    def everyone_online(cls) -> Audience:
        return cls(everyone=True)

    @classmethod
    def presence_watchers(cls, user_id: int) -> Audience:
        """The sockets that watch `user_id`'s presence, the user's own tabs included."""
        return cls(presence_of=user_id)

    def topics(self) -> list[str]:
        """The real-time hub's topics these sockets are registered under."""
        if self.everyone:
            return [EVERYONE_TOPIC]
        if self.presence_of is not None:
            return [presence_topic(self.presence_of)]
        topics = [channel_topic(self.channel_id)] if self.channel_id is not None else []
        topics.extend(user_topic(user_id) for user_id in sorted(self.user_ids))
        return topics


def encode_frame(event: Mapping[str, Any]) -> str:
    """Serialise an event into the wire envelope `{"v": 1, "type": ..., ...}`."""
    return orjson.dumps({"v": PROTOCOL_VERSION, **event}).decode()


def _send_to_topics(topics: list[str], message: dict[str, Any]) -> None:
    # The seam tests capture (tests/conftest.py): topics and message as published.
    realtime.publish(topics, message)


def _on_commit_send(topics: list[str], message: dict[str, Any]) -> None:
    # robust: the write has committed, so a publishing failure (Redis restarting) must not
    # turn it into an error for the caller, who would see a failure for a stored message. The
    # push is a hint; clients converge over REST. Django logs the exception.
    transaction.on_commit(lambda: _send_to_topics(topics, message), robust=True)


def publish_on_commit(
    event: Mapping[str, Any], *, to: Audience, correlation_id: str | None = None
) -> None:
    """Push `event` to `to` once the current transaction commits (at once if there is none).

    A rolled-back transaction publishes nothing, so clients never hear about writes that did
    not happen. Events for a channel carry its id so sockets that have just lost access drop
    them even before they leave the channel's topic. `correlation_id` (a new message's
    client_msg_id) travels with the event on the bus, for the log lines of its publication and
    deliveries (apps.core.logcontext); it never reaches the client.
    """
    frame = encode_frame(event)
    message = {"type": PUSH, "frame": frame, "channel_id": to.channel_id}
    if correlation_id is not None:
        message["cid"] = correlation_id
    _on_commit_send(to.topics(), message)


def control_on_commit(user_id: int, action: str, **data: Any) -> None:
    """Send a server-internal instruction (join/leave a channel's topic, close) to a user's sockets.

    Control messages never reach the client as-is; the consumer acts on them.
    """
    message = {"type": CONTROL, "action": action, **data}
    _on_commit_send([user_topic(user_id)], message)
