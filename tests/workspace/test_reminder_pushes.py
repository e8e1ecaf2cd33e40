"""Reminder pushes through the real ASGI application: my tabs hear of reminders I set and
cancel and of those that come due; nobody else's socket does (frames schema-checked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.models import User
from apps.ops.models import FeatureFlag
from apps.workspace import reminders
from apps.workspace.permissions import REMINDERS_FLAG
from tests.factories import UserFactory
from tests.ws import WsClient

Connect = Callable[..., Awaitable[WsClient]]

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _people() -> tuple[User, User]:
    FeatureFlag.objects.create(name=REMINDERS_FLAG, everyone=True)
    cache.clear()
    return UserFactory(username="me"), UserFactory(username="someone")


async def test_my_tabs_hear_of_set_cancelled_and_due_reminders(ws_connect: Connect) -> None:
    me, someone = await _people()
    tab, other_tab, theirs = await ws_connect(me), await ws_connect(me), await ws_connect(someone)

    first = await database_sync_to_async(reminders.reminder_create)(
        user=me, note="stretch", preset="20m"
    )
    for socket in (tab, other_tab):
        created = await socket.event("reminder.created")
        assert created["reminder"]["id"] == first["id"]

    await database_sync_to_async(reminders.reminder_cancel)(user=me, reminder_id=first["id"])
    for socket in (tab, other_tab):
        assert (await socket.event("reminder.cancelled"))["id"] == first["id"]

    second = await database_sync_to_async(reminders.reminder_create)(
        user=me, note="drink water", preset="1h"
    )
    later = timezone.now() + timedelta(hours=2)
    assert await database_sync_to_async(reminders.reminders_deliver_due)(now=later) == 1
    due = await tab.event("reminder.due")
    assert due["reminder"]["id"] == second["id"]
    assert due["reminder"]["note"] == "drink water"
    assert isinstance(due["dm_message_id"], int)
    await other_tab.event("reminder.due")

    await theirs.assert_nothing("reminder.created")
    await theirs.assert_nothing("reminder.due")
