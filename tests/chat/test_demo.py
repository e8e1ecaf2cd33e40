"""The demo company (`apps/chat/demo.py`): what it holds, and that seeding twice changes nothing.

Seeding runs ~330 real sends, so one seed is shared by the module inside a transaction that is
rolled back at the end; each test still runs in its own savepoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import transaction

from apps.accounts.models import Role, User
from apps.chat.demo import DEMO_PASSWORD, DemoResult, demo_company_seed
from apps.chat.models import Channel, ChannelKind, Membership, Mention, Message, Reaction

CJK = re.compile(r"[\u4e00-\u9fff]")


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Channel, Membership, Message, Reaction, Mention)
    }


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[DemoResult]:
    with django_db_blocker.unblock(), transaction.atomic():
        result = demo_company_seed()
        yield result
        transaction.set_rollback(True)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo")]


def test_first_seed_reports_that_it_created_the_company(demo: DemoResult) -> None:
    assert demo.created


def test_demo_has_at_least_seven_people(demo: DemoResult) -> None:
    assert User.objects.filter(is_active=True).count() >= 7


def test_demo_people_include_chinese_names(demo: DemoResult) -> None:
    names = User.objects.values_list("display_name", flat=True)

    assert sum(bool(CJK.search(name)) for name in names) >= 2


def test_demo_has_every_organisation_role(demo: DemoResult) -> None:
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)


def test_demo_people_sign_in_with_the_demo_password(demo: DemoResult) -> None:
    assert authenticate(username="zhangwei", password=DEMO_PASSWORD) is not None


@pytest.mark.parametrize("kind", [ChannelKind.PUBLIC, ChannelKind.PRIVATE])
def test_demo_has_named_channels_of_each_kind(demo: DemoResult, kind: str) -> None:
    assert Channel.objects.filter(kind=kind).exclude(name="").exists()


def test_demo_has_a_direct_message_with_messages(demo: DemoResult) -> None:
    assert Message.objects.filter(channel__kind=ChannelKind.DIRECT).exists()


def test_demo_has_a_group_direct_message_with_messages(demo: DemoResult) -> None:
    group = Channel.objects.get(kind=ChannelKind.GROUP)

    assert group.memberships.count() >= 3
    assert group.messages.exists()


def test_demo_has_a_thread(demo: DemoResult) -> None:
    root = Message.objects.filter(reply_count__gt=0).first()

    assert root is not None
    assert Message.objects.filter(thread_root=root).count() == root.reply_count >= 2


def test_demo_has_reactions(demo: DemoResult) -> None:
    assert Reaction.objects.count() >= 2


def test_demo_has_at_least_300_messages(demo: DemoResult) -> None:
    assert Message.objects.count() >= 300


def test_demo_history_is_bilingual(demo: DemoResult) -> None:
    bodies = list(Message.objects.values_list("body", flat=True))

    assert any(CJK.search(body) for body in bodies)
    assert any(body.isascii() for body in bodies)


def test_demo_sequences_match_the_stored_messages(demo: DemoResult) -> None:
    for channel in Channel.objects.all():
        seqs = list(channel.messages.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
        assert channel.last_seq >= len(seqs)


def test_second_seed_creates_nothing(demo: DemoResult) -> None:
    before = table_counts()

    again = demo_company_seed()

    assert not again.created
    assert table_counts() == before


def test_seed_command_reports_existing_company(demo: DemoResult) -> None:
    out = StringIO()

    call_command("seed_demo", stdout=out)

    assert out.getvalue().startswith("Found the demo company.")
