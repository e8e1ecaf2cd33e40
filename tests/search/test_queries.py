"""apps/search/queries.py equals the ORM query that means the same: the ORM's full-text
search (`SearchQuery` against the same `enclave_search_vector` function) over the same scope,
filters, cursor and order. PostgreSQL only, as the statements are."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db.models import F, Func, Value

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Membership, Message
from apps.chat.queries import MessageRow
from apps.files.models import Attachment, AttachmentStatus
from apps.search import queries
from apps.search.filters import SearchFilters
from apps.search.selectors import query_text
from tests.search.test_filters import share
from tests.search.test_search import say

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
NO_CURSOR = 2**63 - 1


def _vector(expression: Any) -> Func:
    return Func(expression, function="enclave_search_vector", output_field=SearchVectorField())


@pytest.fixture
def messages(alice: User, bob: User, general: Channel, make_channel: Any) -> list[Message]:
    elsewhere = make_channel(kind=ChannelKind.PRIVATE, admins=(bob,))
    sent = [
        say(alice, general, "The meeting notes are up"),
        say(bob, general, "Two meetings tomorrow, see https://example.com"),
        say(bob, general, "部署完成了"),
        say(alice, general, "unrelated words"),
        say(bob, elsewhere, "a private meeting"),
        share(alice, general, "Q3-budget-meeting.txt", body="numbers"),
        share(bob, general, "budget.txt"),
    ]
    doomed = say(alice, general, "a deleted meeting")
    services.message_delete(user=alice, message_id=doomed.pk)
    infected = share(bob, general, "meeting-virus.txt", body="x")
    Attachment.objects.filter(message=infected).update(status=AttachmentStatus.INFECTED)
    return sent


def _orm_scope(user: User, channel_id: int | None, before_id: int) -> Any:
    found = Message.objects.filter(deleted_at=None, pk__lt=before_id)
    if channel_id is not None:
        return found.filter(channel_id=channel_id)
    return found.filter(channel_id__in=Membership.objects.filter(user=user).values("channel_id"))


CASES = [
    ("meeting", {}),
    ("部署", {}),
    ("budget", {}),
    ("meeting", {"has_link": True}),
    ("meeting", {"sender_ids": "bob"}),
]


@pytest.mark.parametrize(("words", "filters"), CASES)
@pytest.mark.parametrize("in_channel", [False, True])
@pytest.mark.parametrize("before", [False, True])
def test_search_message_rows_equal_the_orm_full_text_search(
    alice: User,
    bob: User,
    general: Channel,
    messages: list[Message],
    words: str,
    filters: dict[str, Any],
    in_channel: bool,
    before: bool,
) -> None:
    wanted = SearchFilters(**{k: [bob.pk] if v == "bob" else v for k, v in filters.items()})
    channel_id = general.pk if in_channel else None
    before_id = messages[3].pk if before else NO_CURSOR
    for text in (query_text(words), None):
        got = queries.search_message_rows(
            user_id=alice.pk,
            channel_id=channel_id,
            text=text,
            filters=wanted,
            before_id=before_id,
            limit=3,
        )

        orm = _orm_scope(alice, channel_id, before_id).filter(wanted.q())
        if text is not None:
            orm = orm.annotate(v=_vector(F("body"))).filter(
                v=SearchQuery(text, config="english", search_type="plain")
            )
        expected = [MessageRow.of(m) for m in orm.select_related("sender").order_by("-pk")[:3]]
        assert got == expected


@pytest.mark.parametrize("words", ["budget", "meeting", "q3", "nothing"])
def test_message_ids_by_file_name_equal_the_orm(
    alice: User, general: Channel, messages: list[Message], words: str
) -> None:
    name_text = query_text(words)

    got = queries.message_ids_by_file_name(
        user_id=alice.pk,
        channel_id=None,
        name_text=name_text,
        filters=SearchFilters(),
        before_id=NO_CURSOR,
        limit=10,
    )

    name = Func(F("original_name"), Value("._-"), Value("   "), function="translate")
    expected = (
        Attachment.objects.annotate(v=_vector(name))
        .filter(
            v=SearchQuery(name_text, config="english", search_type="plain"),
            message__isnull=False,
            deleted_at=None,
            status=AttachmentStatus.CLEAN,
            message__in=_orm_scope(alice, None, NO_CURSOR),
        )
        .order_by("-message_id")
        .values_list("message_id", flat=True)[:10]
    )
    assert got == list(expected)
    if words in ("budget", "q3"):
        assert got  # the data set has a match


def test_filters_sql_and_q_find_the_same_messages(
    alice: User, bob: User, general: Channel, messages: list[Message]
) -> None:
    from django.db import connection

    from apps.chat.queries import rows_of, rows_select

    for filters in (
        SearchFilters(sender_ids=[bob.pk]),
        SearchFilters(has_file=True),
        SearchFilters(has_link=True, is_thread=False),
        SearchFilters(mentions_user_id=alice.pk),
        SearchFilters(impossible=True),
    ):
        where, params = queries.filters_sql(filters)
        with connection.cursor() as cursor:
            cursor.execute(f"{rows_select()} WHERE TRUE{where} ORDER BY m.id", params)
            got = [row.id for row in rows_of(cursor.fetchall())]
        assert got == list(
            Message.objects.filter(filters.q()).order_by("pk").values_list("pk", flat=True)
        )
