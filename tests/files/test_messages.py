"""Attaching files to messages: who may attach what, the payload, history without N+1."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from apps.accounts.models import User
from apps.chat import selectors
from apps.chat.models import Channel, ChannelKind
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus
from tests.chat.support import raises_domain_error
from tests.chat.test_events_schema import validate_event
from tests.files.support import clean_image_attachment, client_of, send_with

MakeUser = Callable[..., User]
Events = list[dict[str, Any]]


@pytest.fixture
def room(make_user: MakeUser, make_channel: Callable[..., Channel]) -> tuple[User, User, Channel]:
    alice, bob = make_user(), make_user()
    return alice, bob, make_channel(kind=ChannelKind.PUBLIC, members=(alice, bob))


def _pending(user: User, data: bytes = b"draft", name: str = "draft.txt") -> Attachment:
    return services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)


@pytest.mark.django_db
def test_rest_send_with_attachments_and_no_text(room: tuple[User, User, Channel]) -> None:
    alice, _bob, channel = room
    image = clean_image_attachment(alice, name="chart.png")

    response = client_of(alice).post(
        reverse("chat_api:messages", kwargs={"channel_id": channel.pk}),
        {"body": "", "client_msg_id": str(uuid.uuid4()), "attachment_ids": [str(image.pk)]},
        format="json",
    )

    assert response.status_code == 201, response.content
    (payload,) = response.json()["message"]["attachments"]
    assert (payload["id"], payload["name"], payload["has_thumbnail"]) == (
        str(image.pk),
        "chart.png",
        True,
    )
    image.refresh_from_db()
    assert (image.channel_id, image.message_id) == (channel.pk, response.json()["message"]["id"])


@pytest.mark.django_db
def test_empty_text_without_files_is_still_refused(room: tuple[User, User, Channel]) -> None:
    alice, _bob, channel = room

    with raises_domain_error("empty_message"):
        send_with(alice, channel)


@pytest.mark.django_db
def test_someone_elses_upload_cannot_be_attached(room: tuple[User, User, Channel]) -> None:
    alice, bob, channel = room
    theirs = _pending(bob)

    with raises_domain_error("invalid_attachment"):
        send_with(alice, channel, theirs, body="look")

    assert Attachment.objects.get(pk=theirs.pk).message_id is None


@pytest.mark.django_db
def test_attachment_cannot_be_attached_twice(room: tuple[User, User, Channel]) -> None:
    alice, _bob, channel = room
    draft = _pending(alice)
    send_with(alice, channel, draft, body="first")

    with raises_domain_error("invalid_attachment"):
        send_with(alice, channel, draft, body="again")


@pytest.mark.django_db
def test_unknown_attachment_id_fails_the_whole_send(room: tuple[User, User, Channel]) -> None:
    alice, _bob, channel = room
    draft = _pending(alice)

    with raises_domain_error("invalid_attachment"):
        chat_send(alice, channel, [draft.pk, uuid.uuid4()])

    assert Attachment.objects.get(pk=draft.pk).message_id is None
    assert not channel.messages.exists()


def chat_send(user: User, channel: Channel, ids: list[Any]) -> None:
    from apps.chat import services as chat_services

    chat_services.message_send(sender=user, channel_id=channel.pk, body="x", attachment_ids=ids)


@pytest.mark.django_db
def test_too_many_attachments_are_refused(
    room: tuple[User, User, Channel], settings: object
) -> None:
    settings.ENCLAVE_MAX_ATTACHMENTS_PER_MESSAGE = 1  # type: ignore[attr-defined]
    alice, _bob, channel = room

    with raises_domain_error("too_many_attachments"):
        send_with(alice, channel, _pending(alice, b"a", "a.txt"), _pending(alice, b"b", "b.txt"))


@pytest.mark.django_db
def test_pending_attachment_is_a_placeholder_in_the_message(
    room: tuple[User, User, Channel],
) -> None:
    alice, bob, channel = room
    send_with(alice, channel, _pending(alice, b"secret plans", "plans.txt"), body="see file")

    page = selectors.channel_history(user=bob, channel_id=channel.pk)
    (payload,) = selectors.payloads(page.messages)[0]["attachments"]

    assert (payload["status"], payload["name"], payload["size"]) == ("pending", "", 0)


@pytest.mark.django_db
def test_history_query_count_does_not_grow_with_attachments(
    room: tuple[User, User, Channel], django_assert_num_queries: Any
) -> None:
    alice, bob, channel = room
    for index in range(6):
        send_with(alice, channel, clean_image_attachment(alice, name=f"{index}.png"), body="pic")

    # membership+channel, messages, reactions/mentions/attachment marks, the attachments
    with django_assert_num_queries(4):
        page = selectors.channel_history(user=bob, channel_id=channel.pk)
        payloads = selectors.payloads(page.messages)

    assert [len(p["attachments"]) for p in payloads] == [1] * 6


@pytest.mark.django_db(transaction=True)
def test_message_new_with_attachments_matches_its_schema(
    room: tuple[User, User, Channel], captured_events: Events
) -> None:
    alice, _bob, channel = room
    image = clean_image_attachment(alice, name="chart.png")
    captured_events.clear()

    with transaction.atomic():  # the draft's scan starts after commit: it is still pending
        draft = _pending(alice)
        send_with(alice, channel, image, draft, body="two files")

    (event,) = [e for e in captured_events if e["type"] == "message.new"]
    assert [a["status"] for a in event["message"]["attachments"]] == ["clean", "pending"]
    validate_event(event)


@pytest.mark.django_db(transaction=True)
def test_scan_verdict_on_an_attached_file_updates_the_message(
    room: tuple[User, User, Channel], captured_events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.files import clamd

    monkeypatch.setattr(
        clamd, "scan_stream", lambda chunks, **kw: (list(chunks), clamd.Verdict(False, ""))[1]
    )
    monkeypatch.setattr(clamd, "database_version", lambda **kw: "1/test")
    monkeypatch.setattr(clamd, "reports_exceeded_limits", lambda **kw: True)
    alice, _bob, channel = room
    captured_events.clear()
    # Sent in the upload's transaction: the scan runs after commit, when it is attached.
    with transaction.atomic():
        draft = _pending(alice, b"text", "a.txt")
        message = send_with(alice, channel, draft, body="file")

    (event,) = [e for e in captured_events if e["type"] == "message.updated"]
    assert event["message"]["id"] == message.pk
    assert event["message"]["attachments"][0]["status"] == "clean"
    assert event["channel_seq"] == event["message"]["version"]
    validate_event(event)
    assert Attachment.objects.get(pk=draft.pk).status == AttachmentStatus.CLEAN


@pytest.mark.parametrize(
    ("serializer", "payload"),
    [
        ("AttachmentOut", "AttachmentPayload"),
        ("AttachmentDetailOut", "AttachmentDetailPayload"),
    ],
)
def test_output_serializer_fields_equal_payload_keys(serializer: str, payload: str) -> None:
    from typing import get_type_hints

    from apps.files import events, serializers

    fields = set(getattr(serializers, serializer)().fields)

    assert fields == set(get_type_hints(getattr(events, payload)))
