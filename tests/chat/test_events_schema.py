"""Every event in `apps.chat.events.EVENT_SCHEMAS`, produced by the real service, matches its
TypedDict exactly: no missing key, no extra key, no loosely typed value (pydantic, strict).

The REST outputs use the same payload builders; their serializers must list the same fields.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

import pytest
import typing_extensions
from django.utils import timezone
from pydantic import ConfigDict, TypeAdapter, ValidationError

from apps.accounts import services as account_services
from apps.accounts.models import OrganizationSettings, User
from apps.chat import events, serializers, services
from apps.chat.models import Channel, ChannelKind, Message
from apps.chat.presence import ONLINE
from tests.chat.support import send

Events = list[dict[str, Any]]
STRICT = ConfigDict(extra="forbid", strict=True)
ENVELOPE_KEYS = {"v", "topics"}

_strict_copies: dict[type, Any] = {}


def strict_schema(annotation: Any) -> Any:
    """A copy of a TypedDict (recursively) that pydantic validates with extra="forbid".

    Copies, so the app's own classes stay untouched; `typing_extensions.TypedDict`, because
    pydantic needs it on Python < 3.12.
    """
    if typing.is_typeddict(annotation):
        if annotation not in _strict_copies:
            hints = get_type_hints(annotation, include_extras=True)
            fields = {name: strict_schema(hint) for name, hint in hints.items()}
            copy = typing_extensions.TypedDict(  # type: ignore[operator]
                f"Strict{annotation.__name__}", fields, total=annotation.__total__
            )
            copy.__pydantic_config__ = STRICT
            _strict_copies[annotation] = copy
        return _strict_copies[annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or origin is Literal:
        return annotation
    if origin is NotRequired:
        return NotRequired[strict_schema(args[0])]
    if origin in (Union, types.UnionType):
        return Union[tuple(strict_schema(arg) for arg in args)]  # noqa: UP007
    if origin is list:
        return list[strict_schema(args[0])]  # type: ignore[misc]
    raise TypeError(f"no strict copy for {annotation!r}")


def validate_event(event: dict[str, Any]) -> None:
    """Validate one captured frame (envelope keys aside) against its registered schema."""
    assert event["v"] == 1
    schema = events.EVENT_SCHEMAS[event["type"]]
    body = {key: value for key, value in event.items() if key not in ENVELOPE_KEYS}
    TypeAdapter(strict_schema(schema)).validate_python(body, strict=True)


# --- producing every event through the real services ---------------------------------------------


@dataclass
class Scene:
    alice: User
    bob: User
    carol: User
    channel: Channel
    message: Message


def _reply(scene: Scene) -> None:
    send(scene.bob, scene.channel, "answer", thread_root_id=scene.message.pk)


def _reaction_removed(scene: Scene) -> None:
    services.reaction_add(user=scene.bob, message_id=scene.message.pk, emoji="👍")
    services.reaction_remove(user=scene.bob, message_id=scene.message.pk, emoji="👍")


def _pin_removed(scene: Scene) -> None:
    services.message_pin(user=scene.bob, message_id=scene.message.pk)
    services.message_unpin(user=scene.alice, message_id=scene.message.pk)


def _member_updated(scene: Scene) -> None:
    services.membership_set_role(
        actor=scene.alice, channel_id=scene.channel.pk, user_id=scene.bob.pk, role="admin"
    )


# (event type, what produces it, description) - one row per event variant.
def _read_with_receipts(s: Scene) -> None:
    OrganizationSettings.objects.update_or_create(pk=1, defaults={"read_receipts_enabled": True})
    services.read_mark(user=s.bob, channel_id=s.channel.pk, seq=1)


PRODUCERS: list[tuple[str, Callable[[Scene], object], str]] = [
    (
        "message.new",
        lambda s: send(s.alice, s.channel, "hi @bob @all", client_msg_id=uuid.uuid4()),
        "root",
    ),
    ("message.new", _reply, "reply"),
    (
        "message.updated",
        lambda s: services.message_edit(user=s.alice, message_id=s.message.pk, body="@carol"),
        "edit",
    ),
    (
        "message.deleted",
        lambda s: services.message_delete(user=s.alice, message_id=s.message.pk),
        "delete",
    ),
    (
        "reaction.added",
        lambda s: services.reaction_add(user=s.bob, message_id=s.message.pk, emoji="🎉"),
        "react",
    ),
    ("reaction.removed", _reaction_removed, "unreact"),
    (
        "pin.added",
        lambda s: services.message_pin(user=s.bob, message_id=s.message.pk),
        "pin",
    ),
    ("pin.removed", _pin_removed, "unpin"),
    (
        "channel.created",
        lambda s: services.channel_create(
            creator=s.alice, kind=ChannelKind.PRIVATE, name="new", member_ids=[s.carol.pk]
        ),
        "named",
    ),
    ("channel.created", lambda s: services.dm_open(user=s.alice, user_ids=[s.carol.pk]), "dm"),
    (
        "channel.updated",
        lambda s: services.channel_update(actor=s.alice, channel_id=s.channel.pk, topic="t"),
        "topic",
    ),
    (
        "member.joined",
        lambda s: services.channel_join(user=s.carol, channel_id=s.channel.pk),
        "join",
    ),
    (
        "member.left",
        lambda s: services.channel_leave(user=s.bob, channel_id=s.channel.pk),
        "leave",
    ),
    ("member.updated", _member_updated, "role"),
    (
        "read",
        lambda s: services.read_mark(user=s.bob, channel_id=s.channel.pk, seq=1),
        "read",
    ),
    ("receipts.updated", _read_with_receipts, "read-mark"),
    (
        "membership.updated",
        lambda s: services.membership_update_settings(
            user=s.bob, channel_id=s.channel.pk, is_muted=True
        ),
        "mute",
    ),
    (
        "typing",
        lambda s: services.typing_notify(user=s.alice, channel_id=s.channel.pk),
        "typing",
    ),
    (
        "presence",
        lambda s: services.presence_update(user=s.alice, connection_id="tab", state=ONLINE),
        "presence",
    ),
    (
        "user.status",
        lambda s: account_services.user_status_set(
            user=s.alice, emoji="📅", text="In a meeting", clear_after="1h"
        ),
        "status",
    ),
    ("user.status", lambda s: account_services.user_status_clear(user=s.alice), "cleared"),
    (
        "user.status",
        lambda s: account_services.user_dnd_set(
            user=s.alice, until=timezone.now() + timedelta(hours=1)
        ),
        "dnd",
    ),
    (
        "notification_settings.updated",
        lambda s: account_services.notification_settings_update(user=s.alice, sound=False),
        "settings",
    ),
]


@pytest.fixture
def scene(make_user: Callable[..., User]) -> Scene:
    alice = make_user(username="alice")
    bob = make_user(username="bob")
    carol = make_user(username="carol")
    channel = services.channel_create(
        creator=alice, kind=ChannelKind.PUBLIC, name="general", member_ids=[bob.pk]
    )
    message = send(alice, channel, "question for @bob")
    return Scene(alice, bob, carol, channel, message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("event_type", "produce"),
    [(event_type, produce) for event_type, produce, _name in PRODUCERS],
    ids=[f"{event_type}-{name}" for event_type, _produce, name in PRODUCERS],
)
def test_service_event_matches_its_schema(
    scene: Scene,
    captured_events: Events,
    event_type: str,
    produce: Callable[[Scene], object],
) -> None:
    captured_events.clear()

    produce(scene)

    produced = [e for e in captured_events if e["type"] == event_type]
    assert produced, f"{event_type} was not published"
    for event in captured_events:
        validate_event(event)


# Events the real-time hub itself produces, not a service.
HUB_EVENTS = {"resync"}


def test_every_schema_has_a_producer() -> None:
    produced = {event_type for event_type, _produce, _name in PRODUCERS}
    assert produced | HUB_EVENTS == set(events.EVENT_SCHEMAS)


def test_the_hubs_resync_frame_matches_its_schema() -> None:
    import orjson

    from apps.core.runtime.realtime import RESYNC_FRAME

    validate_event(orjson.loads(RESYNC_FRAME))


@pytest.mark.django_db(transaction=True)
def test_reply_event_carries_a_valid_thread_root(scene: Scene, captured_events: Events) -> None:
    captured_events.clear()

    _reply(scene)

    (event,) = captured_events
    assert set(event["thread_root"]) == {"id", "reply_count", "last_reply_at"}
    validate_event(event)


# --- the validator is strict (so the tests above can fail) ---------------------------------------


def _typing_event() -> dict[str, Any]:
    return {"v": 1, "type": "typing", "channel_id": 1, "user_id": 2, "thread_root_id": None}


def test_validator_accepts_a_well_formed_event() -> None:
    validate_event(_typing_event())


def test_validator_refuses_an_unknown_key() -> None:
    with pytest.raises(ValidationError):
        validate_event({**_typing_event(), "surprise": True})


def test_validator_refuses_a_missing_key() -> None:
    event = _typing_event()
    del event["thread_root_id"]

    with pytest.raises(ValidationError):
        validate_event(event)


def test_validator_refuses_a_number_sent_as_text() -> None:
    with pytest.raises(ValidationError):
        validate_event({**_typing_event(), "user_id": "2"})


def test_validator_refuses_extra_key_in_nested_payload() -> None:
    reaction = {"emoji": "👍", "count": 1, "user_ids": [1], "extra": 1}
    event = {
        "v": 1,
        "type": "reaction.added",
        "channel_id": 1,
        "channel_seq": 2,
        "message_id": 3,
        "user_id": 1,
        "emoji": "👍",
        "reactions": [reaction],
    }

    with pytest.raises(ValidationError):
        validate_event(event)


def test_validator_refuses_a_type_literal_of_another_event() -> None:
    with pytest.raises(ValidationError):
        validate_event({**_typing_event(), "type": "presence"})


# --- REST output serializers and the TypedDicts list the same fields -----------------------------


@pytest.mark.parametrize(
    ("serializer", "payload"),
    [
        (serializers.MessageOut, events.MessagePayload),
        (serializers.ChannelOut, events.ChannelPayload),
        (serializers.ReactionOut, events.ReactionPayload),
        (serializers.PinOut, events.PinPayload),
    ],
    ids=["message", "channel", "reaction", "pin"],
)
def test_output_serializer_fields_equal_payload_keys(serializer: type, payload: type) -> None:
    assert set(serializer().fields) == set(get_type_hints(payload))


def test_channel_summary_adds_only_membership_and_counts() -> None:
    extra = set(serializers.ChannelSummaryOut().fields) - set(serializers.ChannelOut().fields)

    assert extra == {"membership", "unread_count", "mention_count"}
