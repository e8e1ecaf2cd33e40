"""The message admin is read-only: an edit there would bypass the services (no version, no
re-rendered HTML, no push, no audit)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from apps.chat import services
from apps.chat.models import ChannelKind, Message
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_read_a_message_but_cannot_change_or_delete_it(role: str) -> None:
    staff = UserFactory(role=role, is_staff=True, is_superuser=role == "owner")
    member = UserFactory()
    channel = services.channel_create(creator=member, kind=ChannelKind.PUBLIC, name="c")
    message = services.message_send(
        sender=member, channel_id=channel.pk, body="original", client_msg_id=str(uuid.uuid4())
    ).message
    client = Client()
    client.force_login(staff)
    change_url = reverse("admin:chat_message_change", args=[message.pk])

    page = client.get(change_url)
    edit = client.post(change_url, {"body": "rewritten by an admin"})
    delete = client.post(reverse("admin:chat_message_delete", args=[message.pk]), {"post": "yes"})

    assert page.status_code == 200
    assert "original" in page.content.decode()
    assert edit.status_code == 403
    assert delete.status_code == 403
    stored = Message.objects.get(pk=message.pk)
    assert (stored.body, stored.deleted_at) == ("original", None)
