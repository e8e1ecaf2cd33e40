"""apps.core.runtime.sqlrows: model instances and several result sets from hand-written SQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.chat.models import Channel, Membership, Message
from apps.core.runtime.sqlrows import (
    _plain_maker,
    converted,
    fetch_all_prepared,
    fetch_all_together,
    instances,
    plain_instance,
    prepared_cursor,
    select_list,
)
from tests.pgsupport import prepared_statement_runs


@pytest.mark.django_db
def test_each_query_gets_its_own_rows_in_order_and_empty_ones_are_not_sent(
    make_user: Any,
) -> None:
    alice, bob = make_user(username="alice"), make_user(username="bob")
    table = User._meta.db_table
    queries = [
        (f"SELECT username FROM {table} WHERE id = %s", [bob.pk]),  # noqa: S608
        ("", []),
        (f"SELECT id FROM {table} WHERE username IN (%s, %s) ORDER BY id", ["alice", "bob"]),  # noqa: S608
        (f"SELECT id FROM {table} WHERE username = %s", ["nobody"]),  # noqa: S608
    ]

    with CaptureQueriesContext(connection) as sent:
        results = fetch_all_together(queries)

    assert results == [[("bob",)], [], [(alice.pk,), (bob.pk,)], []]
    # One round trip on PostgreSQL (one multi-statement query), one query each elsewhere.
    assert len(sent) == (1 if connection.vendor == "postgresql" else 3)


@pytest.mark.django_db
def test_prepared_queries_get_their_rows_in_order_and_are_prepared_once(make_user: Any) -> None:
    alice, bob = make_user(username="alice"), make_user(username="bob")
    table = User._meta.db_table
    array = connection.vendor == "postgresql"
    by_names = (
        f"SELECT id FROM {table} WHERE username = ANY(%s::text[]) ORDER BY id"  # noqa: S608
        if array
        else f"SELECT id FROM {table} WHERE username IN (%s, %s) ORDER BY id"  # noqa: S608
    )
    names: list[Any] = [["alice", "bob"]] if array else ["alice", "bob"]
    queries = [
        (f"SELECT username FROM {table} WHERE id = %s", [bob.pk]),  # noqa: S608
        ("", []),
        (by_names, names),
    ]

    for _ in range(3):
        assert fetch_all_prepared(queries) == [[("bob",)], [], [(alice.pk,), (bob.pk,)]]

    if array:  # each statement parsed and planned once on this connection
        assert prepared_statement_runs("SELECT username FROM % WHERE id = $1") == [3]
        assert prepared_statement_runs("%username = ANY($1::text[])%") == [3]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_failing_prepared_query_raises_djangos_error() -> None:
    from django.db import ProgrammingError

    with pytest.raises(ProgrammingError):
        fetch_all_prepared([("SELECT 1", []), ("SELECT * FROM no_such_table", [])])


@pytest.mark.django_db
def test_nothing_to_fetch_sends_nothing() -> None:
    with CaptureQueriesContext(connection) as sent:
        assert fetch_all_together([("", []), ("", [])]) == [[], []]
    assert len(sent) == 0


@pytest.mark.django_db
def test_instances_equal_what_the_orm_loads(make_user: Any, make_channel: Any) -> None:
    alice = make_user()
    channel = make_channel(members=(alice,))
    sql = (
        f"SELECT {select_list(Channel, 'c')}, {select_list(Membership, 'm')} "  # noqa: S608
        f"FROM {Channel._meta.db_table} c JOIN {Membership._meta.db_table} m "
        "ON m.channel_id = c.id WHERE c.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel.pk])
        rows = cursor.fetchall()

    [(loaded_channel, loaded_membership)] = instances(rows, (Channel, Membership))

    orm_membership = Membership.objects.select_related("channel").get(channel=channel)
    fields = [f.attname for f in Channel._meta.concrete_fields]
    assert [getattr(loaded_channel, f) for f in fields] == [
        getattr(orm_membership.channel, f) for f in fields
    ]
    fields = [f.attname for f in Membership._meta.concrete_fields]
    assert [getattr(loaded_membership, f) for f in fields] == [
        getattr(orm_membership, f) for f in fields
    ]
    assert loaded_channel._state.adding is False


@pytest.mark.django_db
def test_instances_are_what_from_db_makes_and_init_receivers_still_hear_them(
    make_user: Any, make_channel: Any
) -> None:
    """`instances` skips `Model.__init__` where nothing could tell (apps.core.runtime.sqlrows
    `_plain_maker`): the same attributes and state as `from_db`, and a pre_init/post_init
    receiver, once connected, is called as for any loaded instance."""
    alice = make_user()
    channel = make_channel(members=(alice,))
    sql = f"SELECT {select_list(Channel, 'c')} FROM {Channel._meta.db_table} c WHERE c.id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel.pk])
        rows = cursor.fetchall()
    names = [f.attname for f in Channel._meta.concrete_fields]

    [(fast,)] = instances(rows, (Channel,))
    reference = Channel.from_db(
        connection.alias, names, converted(rows, Channel._meta.concrete_fields)[0]
    )

    assert _plain_maker(Channel) is not None
    assert type(fast) is Channel
    assert {k: v for k, v in vars(fast).items() if k != "_state"} == {
        k: v for k, v in vars(reference).items() if k != "_state"
    }
    assert (fast._state.adding, fast._state.db) == (False, connection.alias)
    assert fast == reference
    assert Membership.objects.filter(channel=fast).count() == 1

    heard: list[object] = []

    def receiver(sender: Any, instance: Any, **_kwargs: Any) -> None:
        heard.append(instance)

    signals.post_init.connect(receiver, sender=Channel)
    try:
        [(slow,)] = instances(rows, (Channel,))
    finally:
        signals.post_init.disconnect(receiver, sender=Channel)
    assert heard == [slow]


def test_models_with_other_descriptors_are_made_by_from_db() -> None:
    """User's avatar is an ImageField (its descriptor and post_init update the dimensions):
    users are made by `from_db`."""
    assert _plain_maker(User) is None


@pytest.mark.django_db
def test_plain_instance_is_what_the_model_makes(make_user: Any, make_channel: Any) -> None:
    alice = make_user()
    channel = make_channel(members=(alice,))
    now = timezone.now()
    values = {
        "channel_id": channel.pk,
        "seq": 7,
        "version": 7,
        "body": "hi",
        "html": "<p>hi</p>",
        "created_at": now,
    }

    plain = plain_instance(Message, values, related={"sender": alice, "thread_root": None})
    reference = Message(**values, sender=alice, thread_root=None)

    assert vars(plain).keys() == vars(reference).keys()
    assert {k: v for k, v in vars(plain).items() if k != "_state"} == {
        k: v for k, v in vars(reference).items() if k != "_state"
    }
    assert plain._state.adding is True
    assert plain._state.db is None
    assert plain.sender is alice  # cached, no query
    plain.save()
    assert Message.objects.get(pk=plain.pk).sender_id == alice.pk

    loaded = plain_instance(Message, {**values, "id": plain.pk}, saved_on=connection.alias)
    assert (loaded._state.adding, loaded._state.db) == (False, connection.alias)
    assert loaded == Message.objects.get(pk=plain.pk)
    with pytest.raises(TypeError, match="unexpected"):
        plain_instance(Message, {**values, "nonsense": 1})


def test_plain_instance_uses_the_model_where_it_must() -> None:
    heard: list[object] = []

    def receiver(sender: Any, instance: Any, **_kwargs: Any) -> None:
        heard.append(instance)

    signals.post_init.connect(receiver, sender=Channel)
    try:
        channel = plain_instance(Channel, {"name": "x"})
    finally:
        signals.post_init.disconnect(receiver, sender=Channel)
    assert heard == [channel]
    user = plain_instance(User, {"username": "u"})  # an ImageField: Model.__init__
    assert user._state.adding is True


@pytest.mark.django_db
def test_a_prepared_cursor_returns_rows_logs_its_queries_and_raises_djangos_errors(
    make_user: Any,
) -> None:
    alice = make_user(username="alice")
    table = User._meta.db_table
    with CaptureQueriesContext(connection) as sent, prepared_cursor() as cursor:
        cursor.execute(f"SELECT username FROM {table} WHERE id = %s", [alice.pk])  # noqa: S608
        assert cursor.fetchall() == [("alice",)]
    assert len(sent) == 1  # Django's wrapper: tests and DEBUG still see the statement

    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET username = %s WHERE id = %s",  # noqa: S608
            ["alice", make_user(username="bob").pk],
        )


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_prepares_the_statement_once_per_connection() -> None:
    sql = "SELECT count(*) FROM unnest(%s::bigint[]) AS ids(id) WHERE id > %s"
    for ids, floor in (([1, 2, 3], 1), ([5, 6], 0), ([], 0)):
        with prepared_cursor() as cursor:
            cursor.execute(sql, [ids, floor])
            assert cursor.fetchone() == (sum(1 for i in ids if i > floor),)

    runs = prepared_statement_runs("%unnest($1::bigint[])%")
    # One prepared statement per parameter-type combination; all three runs went through them.
    assert runs
    assert sum(runs) == 3
