"""Retention on PostgreSQL while people keep sending to the same channel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from apps.governance import services
from tests.governance.support import old_messages


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_retention_runs_while_messages_are_sent_to_the_same_channel(
    make_user: Callable[..., User], make_channel: Callable[..., Channel]
) -> None:
    admin = make_user(Role.ADMIN)
    sender = make_user()
    channel = make_channel(members=(sender,))
    old_messages(sender, channel, 60, days_ago=10)
    # Replies to a recent thread go on while the old messages go.
    root = chat_services.message_send(sender=sender, channel_id=channel.pk, body="recent").message
    services.retention_set_org(actor=admin, days=7)
    errors: list[BaseException] = []
    sent: list[int] = []
    stop = threading.Event()

    def keep_sending() -> None:
        try:
            index = 0
            while not stop.is_set() and index < 200:
                thread_root_id = root.pk if index % 10 == 0 else None
                result = chat_services.message_send(
                    sender=sender,
                    channel_id=channel.pk,
                    body=f"new {index}",
                    thread_root_id=thread_root_id,
                )
                sent.append(result.message.pk)
                index += 1
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    sender_thread = threading.Thread(target=keep_sending)
    sender_thread.start()
    try:
        runs = [services.retention_apply(batch_size=5, max_batches=3) for _ in range(10)]
    finally:
        stop.set()
        sender_thread.join(60)

    assert errors == []
    assert sum(run.messages_deleted for run in runs) >= 59
    assert sent
    assert Message.objects.filter(pk__in=sent).count() == len(sent)
    cutoff = timezone.now() - timedelta(days=7)
    live_old = Message.objects.filter(
        channel=channel, created_at__lt=cutoff, deleted_at__isnull=True
    )
    assert not live_old.exists()
    seqs = list(Message.objects.filter(channel=channel).values_list("seq", flat=True))
    assert len(seqs) == len(set(seqs))
