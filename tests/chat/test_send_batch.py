"""`messages_send_batch`: the group commit of the WebSocket path, checked against `message_send`.

The reference is `message_send` called once per request, in request order, in the sender's
language. The batch must give the same outcomes, store the same rows and publish the same
events, with a number of statements that does not grow with the batch.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from apps.accounts.models import Role, User
from apps.accounts.permissions import organization_settings
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership, Mention, Message
from apps.chat.permissions import access_channel_post_batch
from apps.chat.services import SendRequest, SendResult
from apps.chat.services import send_batch as batch_module
from apps.core.errors import DomainError
from apps.core.events import channel_topic
from tests.chat.support import send
from tests.pgsupport import generic_plan, prepared_statement_runs

MakeUser = Callable[..., User]
MakeChannel = Callable[..., Channel]
Outcome = SendResult | DomainError

# Pinned statement counts (a plain `django_db` test: each transaction.atomic is a SAVEPOINT
# and a RELEASE). message_send: client_msg_id look-up, membership+channel, SAVEPOINT, UPDATE
# channel, INSERT message, UPDATE membership, RELEASE; + users and mentions when it mentions.
SEND_ONE_QUERIES = 7
SEND_ONE_WITH_MENTION_QUERIES = 9
# messages_send_batch of plain messages, whatever their number and channels: client_msg_id
# look-up, memberships+channels (+ users when someone is mentioned), SAVEPOINT, UPDATE
# channels, INSERT messages (+ INSERT mentions), UPDATE memberships, RELEASE. On PostgreSQL
# the look-ups are prepared statements sent in one pipeline (one round trip, counted here as
# one statement each) and one statement writes everything.
BATCH_CHANNELS = 5
POSTGRESQL = connection.vendor == "postgresql"
BATCH_QUERIES = 5 if POSTGRESQL else 7
BATCH_WITH_MENTIONS_QUERIES = BATCH_QUERIES + 1 if POSTGRESQL else BATCH_QUERIES + 2


@pytest.fixture
def integrations_snapshot_taken(db: Any) -> None:
    """A fresh per-process snapshot of the integrations' settings (apps/integrations/snapshot.py).

    Its hook on the send path re-reads that snapshot (2 statements: IntegrationSettings and the
    channels with outgoing webhooks) at most every 10 s per process, in whichever send comes
    first: a constant, not a cost of the batch. Taken here, it stays out of the pinned counts,
    which then hold whatever ran before the test (or how long ago)."""
    from apps.integrations import snapshot

    snapshot.forget_cached_settings()
    snapshot.current()


def request(
    sender: User, channel: Channel, body: str = "hello", client_msg_id: object = None, **kw: Any
) -> SendRequest:
    return SendRequest(
        sender=sender,
        channel_id=channel.pk,
        body=body,
        client_msg_id=client_msg_id if client_msg_id is not None else uuid.uuid4(),
        **kw,
    )


def send_one_by_one(requests: Sequence[SendRequest]) -> list[Outcome]:
    """The reference: what the socket did before group commit, one request at a time."""
    outcomes: list[Outcome] = []
    for r in requests:
        with translation.override(r.sender.language or django_settings.LANGUAGE_CODE):
            try:
                outcomes.append(
                    services.message_send(
                        sender=r.sender,
                        channel_id=r.channel_id,
                        body=r.body,
                        client_msg_id=r.client_msg_id,
                        thread_root_id=r.thread_root_id,
                        attachment_ids=r.attachment_ids,
                    )
                )
            except DomainError as error:
                outcomes.append(error)
    return outcomes


def send_batch(requests: Sequence[SendRequest]) -> list[Outcome]:
    return services.messages_send_batch(requests=requests)


class _Rollback(Exception):
    pass


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Any]]:
    """Every publish_on_commit call of the chat services, as it is made (before commit)."""
    calls: list[tuple[dict[str, Any], Any]] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("apps.chat.services.") and hasattr(module, "publish_on_commit"):
            monkeypatch.setattr(
                module, "publish_on_commit", lambda event, *, to, **_: calls.append((event, to))
            )
    return calls


def run_and_roll_back(
    run: Callable[[], list[Outcome]], published: list[tuple[dict[str, Any], Any]]
) -> dict[str, Any]:
    """Run a way of sending, describe its outcomes, rows and events, then undo it all."""
    published.clear()
    described: dict[str, Any] = {}
    try:
        with transaction.atomic():
            outcomes = run()
            names = dict(Channel.objects.values_list("pk", "name"))
            positions = {
                pk: (names[channel_id], seq)
                for pk, channel_id, seq in Message.objects.values_list("pk", "channel_id", "seq")
            }
            described = {
                "outcomes": [describe_outcome(o, positions) for o in outcomes],
                "rows": stored_rows(positions),
                "events": [describe_event(e, to, names, positions) for e, to in published],
            }
            raise _Rollback
    except _Rollback:
        pass
    return described


def describe_outcome(outcome: Outcome, positions: dict[int, tuple[str, int]]) -> tuple[Any, ...]:
    if isinstance(outcome, DomainError):
        return ("error", type(outcome).__name__, outcome.code, outcome.message, outcome.details)
    message = outcome.message
    return ("sent", positions[message.pk], outcome.created, message.body, message.client_msg_id)


def stored_rows(positions: dict[int, tuple[str, int]]) -> dict[str, Any]:
    messages = sorted(
        (
            positions[m.pk],
            m.version,
            m.sender.username,
            m.client_msg_id,
            m.body,
            m.html,
            m.mentions_everyone,
            positions.get(m.thread_root_id or 0),
            m.reply_count,
            m.last_reply_at is not None,
        )
        for m in Message.objects.select_related("sender")
    )
    mentions = sorted(
        (positions[message_id], username)
        for message_id, username in Mention.objects.values_list("message_id", "user__username")
    )
    channels = sorted(
        (c.name, c.last_seq, c.last_message_at is not None) for c in Channel.objects.all()
    )
    read = sorted(
        Membership.objects.values_list("channel__name", "user__username", "last_read_seq")
    )
    return {"messages": messages, "mentions": mentions, "channels": channels, "read": read}


def describe_event(
    event: dict[str, Any],
    to: Any,
    names: dict[int, str],
    positions: dict[int, tuple[str, int]],
) -> dict[str, Any]:
    payload = dict(event["message"])
    payload["id"] = positions[payload["id"]]
    payload["thread_root_id"] = positions.get(payload["thread_root_id"] or 0)
    payload["channel_id"] = names[payload["channel_id"]]
    del payload["created_at"]
    described = {**event, "channel_id": names[event["channel_id"]], "message": payload}
    if "thread_root" in event:
        root = event["thread_root"]
        described["thread_root"] = (positions[root["id"]], root["reply_count"])
    return {"to": (names[to.channel_id], to.user_ids), **described}


# --- equivalence with message_send -------------------------------------------------------------


@pytest.fixture
def cast(
    alice: User, bob: User, carol: User, general: Channel, make_user: MakeUser
) -> dict[str, Any]:
    """People and channels with every reason to refuse a send, and two stored messages."""
    dave = make_user(username="dave", role=Role.ADMIN)
    zhang = make_user(username="zhangwei", language="zh-hans")
    eve = make_user(username="eve")
    make_user(username="gone", is_active=False)
    Membership.objects.create(channel=general, user=dave)
    Membership.objects.create(channel=general, user=eve)
    eve.is_active = False
    eve.save(update_fields=["is_active"])
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )
    news = services.channel_create(
        creator=alice,
        kind=ChannelKind.PUBLIC,
        name="news",
        member_ids=[bob.pk, zhang.pk],
        is_announcement=True,
    )
    attic = services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="attic")
    services.channel_set_archived(actor=alice, channel_id=attic.pk, archived=True)
    root = send(alice, secret, "a thread")
    stored_key = uuid.uuid4()
    send(alice, general, "stored before the batch", client_msg_id=stored_key)
    settings = organization_settings()
    settings.mention_all_senders = "admin"
    settings.save()
    return {
        "dave": dave,
        "zhang": zhang,
        "eve": eve,
        "secret": secret,
        "news": news,
        "attic": attic,
        "root": root,
        "stored_key": stored_key,
    }


def mixed_batch(alice: User, bob: User, carol: User, general: Channel, cast: Any) -> list[Any]:
    """Valid and refused requests interleaved over several channels.

    The thread replies come after the plain sends of their channel: message_send one by one
    and the batch (which sends replies after the group commit) then give the same seqs.
    """
    dave, zhang, eve = cast["dave"], cast["zhang"], cast["eve"]
    secret, news, attic, root = cast["secret"], cast["news"], cast["attic"], cast["root"]
    refused, resent, retried, reply_key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    return [
        request(alice, general, "hi @bob and @Carol, not @nobody nor @gone"),
        request(bob, secret, "**bold** `@alice`"),
        request(carol, general, "not a member of a public channel"),
        request(alice, general, "   "),
        request(bob, general, "@all standup", client_msg_id=refused),
        request(dave, general, "@everyone standup, says an admin"),
        request(alice, general, "resent", client_msg_id=cast["stored_key"]),
        request(alice, secret, "resent elsewhere", client_msg_id=cast["stored_key"]),
        request(bob, general, "first of two", client_msg_id=resent),
        request(bob, general, "second of two", client_msg_id=str(resent)),
        request(bob, secret, "same key, other channel", client_msg_id=resent),
        request(alice, attic, "archived"),
        request(bob, news, "members do not post here"),
        request(alice, news, "admins do"),
        request(zhang, general, "不是成员"),
        request(zhang, news, "公告频道"),
        request(carol, secret, "private, not a member"),
        request(alice, general, "bad key", client_msg_id="not-a-uuid"),
        request(eve, general, "deactivated"),
        request(alice, general, "x" * 5000),
        request(alice, general, "", client_msg_id=retried),
        request(alice, general, "the retry of a refused send", client_msg_id=retried),
        request(bob, general, "@bob talks to himself, @carol listens"),
        request(alice, secret, "a reply", thread_root_id=root.pk, client_msg_id=reply_key),
        request(alice, secret, "the reply resent", client_msg_id=reply_key),
        request(bob, secret, "no such thread", thread_root_id=10**9),
        request(bob, secret, "a second reply", thread_root_id=root.pk),
    ]


@pytest.mark.django_db
def test_mixed_batch_has_the_outcomes_rows_and_events_of_message_send_one_by_one(
    alice: User,
    bob: User,
    carol: User,
    general: Channel,
    cast: Any,
    published: list[tuple[dict[str, Any], Any]],
    settings: Any,
) -> None:
    settings.ENCLAVE_MAX_MESSAGE_CHARS = 4000
    requests = mixed_batch(alice, bob, carol, general, cast)

    expected = run_and_roll_back(lambda: send_one_by_one(requests), published)
    actual = run_and_roll_back(lambda: send_batch(requests), published)

    assert actual["outcomes"] == expected["outcomes"]
    assert actual["rows"] == expected["rows"]
    assert actual["events"] == expected["events"]
    codes = [o[2] for o in actual["outcomes"]]  # created, or the error's code
    assert codes == [
        True,
        True,
        "not_member",
        "empty_message",
        "cannot_mention_all",
        True,
        False,
        "client_msg_id_reused",
        True,
        False,
        "client_msg_id_reused",
        "channel_archived",
        "announcement_channel",
        True,
        "not_member",
        "announcement_channel",
        "channel_not_found",
        "invalid_client_msg_id",
        "account_deactivated",
        "message_too_long",
        "empty_message",
        True,
        True,
        True,
        False,
        "thread_not_found",
        True,
    ]
    assert len(actual["events"]) == codes.count(True) == 9


@pytest.mark.django_db
def test_errors_are_in_each_senders_language(
    carol: User, general: Channel, make_user: MakeUser
) -> None:
    zhang = make_user(language="zh-hans")

    outcomes = send_batch(
        [request(zhang, general), request(carol, general), request(zhang, general)]
    )

    assert [(o.code, o.message) for o in outcomes if isinstance(o, DomainError)] == [
        ("not_member", "加入频道后才能发言。"),
        ("not_member", "Join the channel to post in it."),
        ("not_member", "加入频道后才能发言。"),
    ]
    assert translation.get_language() == "en"


@pytest.mark.django_db
def test_resend_within_the_batch_returns_the_first_message(alice: User, general: Channel) -> None:
    key = uuid.uuid4()

    first, again = send_batch(
        [request(alice, general, "one", key), request(alice, general, "two", key)]
    )

    assert isinstance(first, SendResult)
    assert isinstance(again, SendResult)
    assert (first.created, again.created) == (True, False)
    assert again.message.pk == first.message.pk
    assert list(Message.objects.values_list("body", flat=True)) == ["one"]


@pytest.mark.django_db
def test_seqs_stay_dense_per_channel_in_request_order(
    alice: User, bob: User, general: Channel, make_channel: MakeChannel
) -> None:
    other = make_channel(members=(alice, bob))
    send(alice, general, "before")
    requests = [
        request(alice if i % 3 else bob, [general, other][i % 2], f"m{i}") for i in range(9)
    ]

    outcomes = send_batch(requests)

    assert [
        (o.message.channel_id, o.message.seq) for o in outcomes if isinstance(o, SendResult)
    ] == [
        (general.pk, 2),
        (other.pk, 1),
        (general.pk, 3),
        (other.pk, 2),
        (general.pk, 4),
        (other.pk, 3),
        (general.pk, 5),
        (other.pk, 4),
        (general.pk, 6),
    ]
    assert Channel.objects.get(pk=general.pk).last_seq == 6
    assert Channel.objects.get(pk=other.pk).last_seq == 4
    assert Membership.objects.get(channel=general, user=alice).last_read_seq == 6
    assert Membership.objects.get(channel=general, user=bob).last_read_seq == 5


@pytest.mark.django_db
def test_a_reply_is_sent_after_the_plain_messages_of_its_batch(
    alice: User, general: Channel
) -> None:
    root = send(alice, general, "root")

    reply, plain = send_batch(
        [request(alice, general, "reply", thread_root_id=root.pk), request(alice, general, "plain")]
    )

    assert isinstance(reply, SendResult)
    assert isinstance(plain, SendResult)
    assert (plain.message.seq, reply.message.seq) == (2, 3)
    assert reply.message.thread_root_id == root.pk


@pytest.mark.django_db
def test_an_empty_batch_costs_nothing(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert send_batch([]) == []


# --- events ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_events_are_published_once_per_created_message_and_only_after_commit(
    alice: User, bob: User, carol: User, general: Channel, captured_events: list[dict[str, Any]]
) -> None:
    stored = uuid.uuid4()
    send(alice, general, "stored", client_msg_id=stored)
    captured_events.clear()
    key = uuid.uuid4()
    requests = [
        request(alice, general, "one"),
        request(bob, general, "two @alice", key),
        request(bob, general, "two again", key),
        request(carol, general, "refused"),
        request(alice, general, "stored again", stored),
        request(alice, general, "three"),
    ]

    with transaction.atomic():
        outcomes = send_batch(requests)
        assert captured_events == []

    created = [o.message for o in outcomes if isinstance(o, SendResult) and o.created]
    assert [e["type"] for e in captured_events] == ["message.new"] * 3
    assert [e["message"]["id"] for e in captured_events] == [m.pk for m in created]
    assert [e["channel_seq"] for e in captured_events] == [2, 3, 4]
    assert all(e["topics"] == [channel_topic(general.pk)] for e in captured_events)
    assert captured_events[1]["message"]["mentioned_user_ids"] == [alice.pk]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_batch_publishes_nothing(
    alice: User, general: Channel, captured_events: list[dict[str, Any]]
) -> None:
    captured_events.clear()

    def send_then_fail() -> None:
        with transaction.atomic():
            send_batch([request(alice, general, "one"), request(alice, general, "two")])
            raise _Rollback

    with pytest.raises(_Rollback):
        send_then_fail()

    assert captured_events == []
    assert not Message.objects.exists()


# --- a concurrent send of the same client_msg_id -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_key_stored_meanwhile_rolls_the_batch_back_and_sends_one_by_one(
    alice: User,
    bob: User,
    general: Channel,
    monkeypatch: pytest.MonkeyPatch,
    captured_events: list[dict[str, Any]],
) -> None:
    key = uuid.uuid4()
    look_up = batch_module.fetch_all_prepared

    def store_the_key_meanwhile(queries: Any) -> Any:
        rows = look_up(queries)
        # Another process commits the same send after the batch looked for stored keys.
        send(alice, general, "sent elsewhere", client_msg_id=key)
        return rows

    monkeypatch.setattr(batch_module, "fetch_all_prepared", store_the_key_meanwhile)
    captured_events.clear()

    before, resend, after = send_batch(
        [
            request(bob, general, "before"),
            request(alice, general, "resent", key),
            request(bob, general),
        ]
    )

    assert isinstance(before, SendResult)
    assert isinstance(resend, SendResult)
    assert isinstance(after, SendResult)
    assert (before.created, resend.created, after.created) == (True, False, True)
    assert resend.message.body == "sent elsewhere"
    assert sorted(Message.objects.values_list("seq", flat=True)) == [1, 2, 3]
    assert [e["message"]["body"] for e in captured_events] == ["sent elsewhere", "before", "hello"]


@pytest.mark.django_db(transaction=True)
def test_a_channel_deleted_meanwhile_rolls_the_batch_back_and_sends_one_by_one(
    alice: User,
    general: Channel,
    make_channel: MakeChannel,
    monkeypatch: pytest.MonkeyPatch,
    captured_events: list[dict[str, Any]],
) -> None:
    doomed = make_channel(members=(alice,))
    look_up = batch_module.fetch_all_prepared

    def delete_the_channel_meanwhile(queries: Any) -> Any:
        rows = look_up(queries)  # the batch saw the channel; an admin deletes it now
        Channel.objects.filter(pk=doomed.pk).delete()
        return rows

    monkeypatch.setattr(batch_module, "fetch_all_prepared", delete_the_channel_meanwhile)
    captured_events.clear()

    first, lost, last = send_batch(
        [request(alice, general, "one"), request(alice, doomed, "gone"), request(alice, general)]
    )

    assert isinstance(first, SendResult)
    assert isinstance(last, SendResult)
    assert isinstance(lost, DomainError)
    assert lost.code == "channel_not_found"
    assert list(Message.objects.order_by("seq").values_list("channel_id", "seq")) == [
        (general.pk, 1),
        (general.pk, 2),
    ]
    assert [e["message"]["body"] for e in captured_events] == ["one", "hello"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_with_the_same_keys_racing_on_postgresql_store_each_message_once(
    alice: User, general: Channel
) -> None:
    keys = [uuid.uuid4() for _ in range(20)]
    requests = [request(alice, general, f"m{i}", key) for i, key in enumerate(keys)]
    start = threading.Barrier(2)
    results: list[list[Outcome]] = []

    def race() -> None:
        try:
            start.wait()
            results.append(send_batch(requests))
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 2
    stored = dict(Message.objects.values_list("client_msg_id", "pk"))
    assert sorted(Message.objects.values_list("seq", flat=True)) == list(range(1, 21))
    for outcomes in results:
        assert [o.message.pk for o in outcomes if isinstance(o, SendResult)] == [
            stored[key] for key in keys
        ]
    created = [o.created for outcomes in results for o in outcomes if isinstance(o, SendResult)]
    assert created.count(True) == 20
    assert Channel.objects.get(pk=general.pk).last_seq == 20


# --- statement counts --------------------------------------------------------------------------


@pytest.fixture
def room_of_five(make_user: MakeUser, make_channel: MakeChannel) -> Any:
    people = [make_user(username=f"person{i}") for i in range(10)]
    channels = [make_channel(members=tuple(people)) for _ in range(BATCH_CHANNELS)]
    return people, channels


def plain_batch(room: Any, size: int, body: str = "plain") -> list[SendRequest]:
    people, channels = room
    return [
        request(people[i % len(people)], channels[i % len(channels)], f"{body} {i}")
        for i in range(size)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("size", [BATCH_CHANNELS, 50])
def test_a_batch_of_plain_messages_costs_the_same_statements_whatever_its_size(
    room_of_five: Any, size: int, integrations_snapshot_taken: None, django_assert_num_queries: Any
) -> None:
    requests = plain_batch(room_of_five, size)

    with django_assert_num_queries(BATCH_QUERIES):
        outcomes = send_batch(requests)

    assert [o.created for o in outcomes if isinstance(o, SendResult)] == [True] * size


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_batches_of_any_size_reuse_one_prepared_write(room_of_five: Any) -> None:
    for size in (1, BATCH_CHANNELS, 12):
        outcomes = send_batch(plain_batch(room_of_five, size))
        assert all(isinstance(o, SendResult) and o.created for o in outcomes)

    # Parsed once (per parameter-type combination), not once per batch size.
    assert prepared_statement_runs("%INSERT INTO%RETURNING id, channel_id, seq%") == [3]
    # So are the look-ups before it: stored keys and access, one pipeline per batch.
    assert prepared_statement_runs("%unnest(%::bigint[], %::uuid[])%") == [3]
    assert prepared_statement_runs("%unnest(%::bigint[], %::bigint[])%LEFT JOIN%") == [3]


@pytest.mark.postgres
@pytest.mark.django_db
def test_stored_keys_are_looked_up_in_the_index_whatever_the_table_held_when_planned(
    room_of_five: Any,
) -> None:
    """The look-up keeps one generic plan per connection. Planned against a nearly empty
    message table, a plain join hash-joined a scan of every message, on every batch, until
    the next ANALYZE: seed case 1 slowed from 74 to 1,075 ms p99 ack in five minutes. (On a
    fresh test database this test fails with that join; later in the suite the table may be
    big enough for the join to pick the index, so the join is not checked here.)"""
    people, _channels = room_of_five
    sql, params = batch_module._stored_ids_query([(people[0].pk, uuid.uuid4())])

    plan = generic_plan(sql, params)

    assert "chat_message_idempotency" in plan
    assert "Seq Scan on chat_message" not in plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_mention_look_ups_are_prepared_once(room_of_five: Any) -> None:
    people, channels = room_of_five
    for size in (1, 3):
        mentioning = [
            request(people[0], channels[0], f"@{people[1].username} and @{people[2].username}")
            for _ in range(size)
        ]
        outcomes = send_batch(mentioning)
        assert all(isinstance(o, SendResult) and o.created for o in outcomes)
        assert all(
            set(o.message.mentions.values_list("user_id", flat=True))
            == {people[1].pk, people[2].pk}
            for o in outcomes
            if isinstance(o, SendResult)
        )
    assert prepared_statement_runs("%LOWER(username) = ANY(%") == [2]


@pytest.mark.django_db
def test_a_batch_over_fifty_channels_costs_the_same_statements(
    make_user: MakeUser,
    make_channel: MakeChannel,
    integrations_snapshot_taken: None,
    django_assert_num_queries: Any,
) -> None:
    people = [make_user() for _ in range(2)]
    channels = [make_channel(members=tuple(people)) for _ in range(50)]
    requests = [request(people[i % 2], channel) for i, channel in enumerate(channels)]

    with django_assert_num_queries(BATCH_QUERIES):
        send_batch(requests)

    assert set(Channel.objects.values_list("last_seq", flat=True)) == {1}


@pytest.mark.django_db
def test_a_batch_larger_than_the_maximum_is_written_in_several(
    alice: User, general: Channel
) -> None:
    count = services.MAX_SEND_BATCH + 10

    outcomes = send_batch([request(alice, general, f"m{i}") for i in range(count)])

    assert [o.message.seq for o in outcomes if isinstance(o, SendResult)] == list(
        range(1, count + 1)
    )
    assert Membership.objects.get(channel=general, user=alice).last_read_seq == count


@pytest.mark.django_db
def test_mentions_add_a_constant_number_of_statements_to_a_batch(
    room_of_five: Any, integrations_snapshot_taken: None, django_assert_num_queries: Any
) -> None:
    organization_settings()
    requests = plain_batch(room_of_five, 50, body="@person1 @person2 @nobody @all")

    with django_assert_num_queries(BATCH_WITH_MENTIONS_QUERIES + 1):  # + org settings for @all
        send_batch(requests)

    assert Mention.objects.count() == 100


@pytest.mark.django_db
def test_message_send_statement_counts_are_unchanged(
    alice: User, bob: User, general: Channel, integrations_snapshot_taken: None
) -> None:
    send(alice, general, "warm-up")

    with CaptureQueriesContext(connection) as plain:
        send(alice, general, "plain", client_msg_id=uuid.uuid4())
    with CaptureQueriesContext(connection) as mentioning:
        send(alice, general, "hi @bob", client_msg_id=uuid.uuid4())

    assert (len(plain), len(mentioning)) == (SEND_ONE_QUERIES, SEND_ONE_WITH_MENTION_QUERIES)


@pytest.mark.django_db
def test_channel_admins_and_members_in_the_access_batch(
    alice: User, bob: User, general: Channel, django_assert_num_queries: Any
) -> None:
    membership = Membership.objects.get(channel=general, user=alice)

    with django_assert_num_queries(1):
        access = access_channel_post_batch(pairs=[(alice, general.pk), (bob, general.pk)])
    channel, found = access.check(user=alice, channel_id=general.pk)

    assert (channel.pk, found.pk, found.role) == (general.pk, membership.pk, ChannelRole.ADMIN)
