"""Message search (apps/search/selectors.py, GET /api/v1/search/): English and CJK, only what the
user may read, newest first, a page at a time. The suite runs twice: on SQLite (substring
search) and on PostgreSQL (the GIN index over `enclave_search_vector`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message
from apps.search.selectors import query_text
from tests.chat.conftest import MakeUser

MakeChannel = Callable[..., Channel]
ClientFor = Callable[[User | None], APIClient]

pytestmark = pytest.mark.django_db


def say(user: User, channel: Channel, body: str) -> Message:
    return services.message_send(
        sender=user, channel_id=channel.pk, body=body, client_msg_id=str(uuid.uuid4())
    ).message


def search(client: APIClient, q: str, **params: Any) -> Any:
    return client.get("/api/v1/search/", {"q": q, **params})


def bodies(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["body"] for m in response.json()["results"]]


def test_the_query_side_cuts_cjk_runs_into_bigrams() -> None:
    assert query_text("会议室") == "会议 议室"
    assert query_text("会") == "会"
    assert query_text("budget 会议 for Q3") == "budget   for Q3 会议"
    assert query_text("東京タワー 서울") == "東京 京タ タワ ワー 서울"


def test_english_words_match_newest_first(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "The budget meeting is on Monday")
    say(alice, general, "lunch?")
    say(alice, general, "Meetings are moved to the big room")

    found = bodies(search(client_for(alice), "meeting"))

    assert found == ["Meetings are moved to the big room", "The budget meeting is on Monday"]
    assert bodies(search(client_for(alice), "budget meeting")) == [
        "The budget meeting is on Monday"
    ]
    assert bodies(search(client_for(alice), "dinner")) == []


def test_chinese_words_are_found_inside_sentences(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "我们明天下午在三楼会议室开会")
    say(alice, general, "会议纪要已经发到群里了 see the notes")
    say(alice, general, "议会选举")  # the same characters, the other way round
    say(alice, general, "note: 下周 budget 评审会议室")  # runs after Latin text, two of them
    client = client_for(alice)

    assert bodies(search(client, "评审")) == ["note: 下周 budget 评审会议室"]
    assert bodies(search(client, "审会")) == ["note: 下周 budget 评审会议室"]
    assert bodies(search(client, "下周 budget")) == ["note: 下周 budget 评审会议室"]

    assert bodies(search(client, "会议室")) == [
        "note: 下周 budget 评审会议室",
        "我们明天下午在三楼会议室开会",
    ]
    assert bodies(search(client, "会议")) == [
        "note: 下周 budget 评审会议室",
        "会议纪要已经发到群里了 see the notes",
        "我们明天下午在三楼会议室开会",
    ]
    assert bodies(search(client, "纪要 notes")) == ["会议纪要已经发到群里了 see the notes"]
    assert bodies(search(client, "楼")) == ["我们明天下午在三楼会议室开会"]
    assert bodies(search(client, "会议 dinner")) == []


def test_only_messages_the_user_may_read_are_found(
    alice: User,
    bob: User,
    carol: User,
    general: Channel,
    make_channel: MakeChannel,
    client_for: ClientFor,
) -> None:
    secret = make_channel(kind=ChannelKind.PRIVATE, admins=(alice,), members=(carol,))
    say(alice, general, "roadmap for everyone")
    say(alice, secret, "roadmap, private draft")

    assert bodies(search(client_for(bob), "roadmap")) == ["roadmap for everyone"]
    assert bodies(search(client_for(carol), "roadmap")) == ["roadmap, private draft"]
    refused = search(client_for(bob), "roadmap", channel_id=secret.pk)
    assert refused.status_code == 404
    assert refused.json()["code"] == "channel_not_found"
    # A public channel one is not in: searched when asked for by id, not by default.
    assert bodies(search(client_for(carol), "roadmap", channel_id=general.pk)) == [
        "roadmap for everyone"
    ]


def test_deleted_messages_are_not_found_and_edits_are_found_by_their_new_text(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    gone = say(alice, general, "quarterly numbers, old")
    edited = say(alice, general, "first draft")
    services.message_delete(user=alice, message_id=gone.pk)
    services.message_edit(user=alice, message_id=edited.pk, body="final 定稿 version")
    client = client_for(alice)

    assert bodies(search(client, "quarterly")) == []
    assert bodies(search(client, "draft")) == []
    assert bodies(search(client, "定稿")) == ["final 定稿 version"]


def test_pages_follow_before_id(alice: User, general: Channel, client_for: ClientFor) -> None:
    for n in range(5):
        say(alice, general, f"standup note {n}")
    client = client_for(alice)

    first = search(client, "standup", limit=2).json()
    second = search(client, "standup", limit=2, before_id=first["next_before_id"]).json()
    last = search(client, "standup", limit=2, before_id=second["next_before_id"]).json()

    assert [m["body"] for m in first["results"] + second["results"] + last["results"]] == [
        f"standup note {n}" for n in (4, 3, 2, 1, 0)
    ]
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)
    assert last["next_before_id"] is None
    assert first["results"][0]["channel_id"] == general.pk
    assert first["results"][0]["sender_id"] == alice.pk


def test_messages_of_the_websocket_send_batch_are_found(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    # On PostgreSQL the batch is one hand-written statement; the index needs nothing of it.
    outcomes = services.messages_send_batch(
        requests=[
            services.SendRequest(alice, general.pk, "批量发送的第一条", str(uuid.uuid4())),
            services.SendRequest(bob, general.pk, "second of the batch", str(uuid.uuid4())),
        ]
    )
    assert all(isinstance(o, services.SendResult) for o in outcomes)

    assert bodies(search(client_for(bob), "批量")) == ["批量发送的第一条"]
    assert bodies(search(client_for(alice), "batch")) == ["second of the batch"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": "   "}, "empty_query"),
        ({"q": "x" * 201}, "query_too_long"),
        ({"q": "ok", "limit": 101}, "invalid"),
        ({"q": "ok", "before_id": "soon"}, "invalid"),
        ({}, "invalid"),
    ],
)
def test_bad_queries_get_a_clear_error(
    alice: User, general: Channel, client_for: ClientFor, params: dict[str, Any], code: str
) -> None:
    response = client_for(alice).get("/api/v1/search/", params)

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_anonymous_and_deactivated_users_are_refused(
    alice: User, general: Channel, client_for: ClientFor, make_user: MakeUser
) -> None:
    say(alice, general, "anything")
    former = make_user(is_active=False)

    assert search(client_for(None), "anything").status_code == 401
    refused = search(client_for(former), "anything")
    assert refused.status_code in (401, 403)
    assert "anything" not in refused.content.decode()


@pytest.mark.postgres
def test_postgresql_answers_from_the_search_index(alice: User, general: Channel) -> None:
    filler = say(alice, general, "filler text")
    Message.objects.bulk_create(
        Message(
            channel_id=general.pk,
            seq=1000 + n,
            version=1000 + n,
            sender=alice,
            body=f"routine status update {n} 日常",
            html="",
            created_at=filler.created_at,
        )
        for n in range(3000)
    )
    say(alice, general, "index me 索引")
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('chat_message_search')")  # as VACUUM does
        cursor.execute("ANALYZE chat_message")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few thousand rows fit in a page scan
        cursor.execute(
            "EXPLAIN SELECT id FROM chat_message WHERE deleted_at IS NULL AND "
            "search_vector @@ plainto_tsquery('english', %s)",
            [query_text("索引")],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "chat_message_search" in plan


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_timeout_covers_the_search_only(
    alice: User, general: Channel, client_for: ClientFor, settings: Any
) -> None:
    """Production runs in autocommit: the timeout and the search go as one query string, and
    the connection keeps its own setting afterwards."""
    from apps.search import queries

    say(alice, general, "slow path")
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]
    settings.ENCLAVE_SEARCH_TIMEOUT_MS = 20
    slow = queries._SEARCH_SQL.replace(
        "WHERE {match}", "WHERE (SELECT true FROM pg_sleep(1)) AND {match}"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queries, "_SEARCH_SQL", slow)
        assert not connection.in_atomic_block
        response = search(client_for(alice), "slow")
    assert response.status_code == 503
    assert response.json()["code"] == "search_timeout"

    settings.ENCLAVE_SEARCH_TIMEOUT_MS = 5000
    assert bodies(search(client_for(alice), "slow")) == ["slow path"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before
        cursor.execute("SELECT pg_sleep(0.05)")  # no 20 ms limit left behind


@pytest.mark.postgres
def test_a_search_running_too_long_is_cancelled_with_a_clear_error(
    alice: User,
    general: Channel,
    client_for: ClientFor,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.search import queries

    say(alice, general, "slow path")
    settings.ENCLAVE_SEARCH_TIMEOUT_MS = 20
    slow = queries._SEARCH_SQL.replace(
        "WHERE {match}", "WHERE (SELECT true FROM pg_sleep(1)) AND {match}"
    )
    monkeypatch.setattr(queries, "_SEARCH_SQL", slow)

    response = search(client_for(alice), "slow")

    assert response.status_code == 503
    assert response.json()["code"] == "search_timeout"
    monkeypatch.undo()  # the same connection answers the next search
    settings.ENCLAVE_SEARCH_TIMEOUT_MS = 5000
    assert bodies(search(client_for(alice), "slow")) == ["slow path"]


@pytest.mark.postgres
def test_a_query_of_stop_words_finds_nothing_without_scanning(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "the and of")

    with connection.cursor() as cursor:
        cursor.execute("SELECT numnode(plainto_tsquery('english', %s))", [query_text("the and of")])
        assert cursor.fetchone() == (0,)  # the gate in _SEARCH_SQL: an empty query is false
    assert bodies(search(client_for(alice), "the and of")) == []
