"""Message edit history: each edit keeps the text it replaced (for the compliance export)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, Message, MessageRevision
from tests.chat.support import send

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def channel(make_channel: Callable[..., Channel], member: User) -> Channel:
    return make_channel(members=(member,))


def test_each_edit_keeps_the_text_it_replaced(member: User, channel: Channel) -> None:
    message = send(member, channel, "first")

    services.message_edit(user=member, message_id=message.pk, body="second")
    services.message_edit(user=member, message_id=message.pk, body="third")

    message.refresh_from_db()
    revisions = list(MessageRevision.objects.filter(message=message).order_by("replaced_at", "pk"))
    assert [r.body for r in revisions] == ["first", "second"]
    assert revisions[0].written_at == message.created_at
    assert revisions[1].written_at == revisions[0].replaced_at
    assert revisions[1].replaced_at == message.edited_at
    assert message.body == "third"


def test_an_edit_to_the_same_text_keeps_no_revision(member: User, channel: Channel) -> None:
    message = send(member, channel, "same")

    services.message_edit(user=member, message_id=message.pk, body="same")

    assert not MessageRevision.objects.exists()


def test_a_deletion_takes_the_earlier_texts_too(member: User, channel: Channel) -> None:
    message = send(member, channel, "first")
    services.message_edit(user=member, message_id=message.pk, body="second")

    services.message_delete(user=member, message_id=message.pk)

    assert Message.objects.get(pk=message.pk).body == ""
    assert not MessageRevision.objects.exists()


def test_a_root_purged_to_a_tombstone_loses_its_earlier_texts(
    member: User, channel: Channel
) -> None:
    root = send(member, channel, "first")
    services.message_edit(user=member, message_id=root.pk, body="second")
    send(member, channel, "a reply that stays", thread_root_id=root.pk)

    purged = services.messages_purge(channel_id=channel.pk, message_ids=[root.pk])

    assert purged.tombstoned == 1
    assert Message.objects.get(pk=root.pk).body == ""
    assert not MessageRevision.objects.exists()
