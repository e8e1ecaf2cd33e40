"""Every hand-written SQL statement of the chat app, each in a named, documented function.

Hand-written SQL is allowed where a measurement says the ORM costs more than the query (most
of these: building the ORM's query cost more CPU than PostgreSQL spent answering it), or the
ORM cannot say it in one statement (the send batch's write, `UPDATE ... RETURNING`). Each
function's docstring says what it returns, what it needs (locks, a transaction, which
database) and why it is SQL; `tests/chat/test_queries.py` holds each one equal to the ORM
query that means the same, on both databases. Nothing else in `apps/` runs SQL of its own
(`tests/core/test_raw_sql_boundary.py`).

Texts are built from the models' table names (`Model._meta.db_table`) and are constant for
any number of values on PostgreSQL (`sqlrows.any_of`, `sqlrows.rows_table`: one array
parameter), which lets the hot ones be prepared once per connection with a generic plan
(`sqlrows.prepared_cursor`, `fetch_all_prepared`). Look-ups by key in a prepared statement
use `CROSS JOIN LATERAL (... LIMIT 1)` so that any plan is an index look-up: see
docs/architecture/send-path.md, "Prepared statements with generic plans". Do not change a
text without measuring: a new text is a new prepared statement and a new plan.

Functions named `..._query` return `(sql, params)` for a caller that sends several queries in
one round trip (`fetch_all_together`, `fetch_all_prepared`); an empty `sql` means "nothing to
ask" and comes back as no rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Field

from apps.accounts.models import APIToken, User
from apps.chat.attachments import attachment_store
from apps.chat.models import Channel, Membership, Mention, Message, MessagePin, Reaction
from apps.core.runtime.sqlrows import (
    any_of,
    converted,
    fetch_all_together,
    prepared_cursor,
    rows_table,
    select_list,
)

# --- channels: the list, read access, post access ------------------------------------------------

# One query for the whole channel list; {placeholders} are filled from the models' metadata.
# - unread: per membership a COUNT over the partial covering index `chat_message_live_seq`
#   (channel, seq) INCLUDE (sender) WHERE deleted_at IS NULL: an index-only range scan on
#   PostgreSQL whose cost follows the unread count, not the channel's size;
# - everyone: unread @all/@everyone messages that do not also name the user (partial index
#   `chat_message_everyone_seq`);
# - named: unread messages naming the user, driven from the user's own mentions (index on
#   mention (user, message)) and grouped per channel, then joined to the memberships.
_CHANNEL_LIST_SQL = """
    SELECT {membership_columns}, {channel_columns},
        (SELECT COUNT(*) FROM {message} x
            WHERE x.channel_id = m.channel_id AND x.seq > m.last_read_seq
            AND x.deleted_at IS NULL AND x.sender_id <> %s) AS unread,
        (SELECT COUNT(*) FROM {message} x
            WHERE x.channel_id = m.channel_id AND x.seq > m.last_read_seq
            AND x.deleted_at IS NULL AND x.mentions_everyone AND x.sender_id <> %s
            AND NOT EXISTS (SELECT 1 FROM {mention} n2
                WHERE n2.message_id = x.id AND n2.user_id = %s)) AS everyone,
        COALESCE(named.n, 0) AS named
    FROM {membership} m
    JOIN {channel} c ON c.id = m.channel_id
    LEFT JOIN (
        SELECT x.channel_id AS channel_id, COUNT(*) AS n
        FROM {mention} n
        JOIN {message} x ON x.id = n.message_id
        JOIN {membership} m2 ON m2.channel_id = x.channel_id AND m2.user_id = %s
        WHERE n.user_id = %s AND x.seq > m2.last_read_seq
            AND x.deleted_at IS NULL AND x.sender_id <> %s
        GROUP BY x.channel_id
    ) named ON named.channel_id = m.channel_id
    WHERE m.user_id = %s {only_channels}
    ORDER BY m.channel_id
"""


def channel_list_rows(*, user_id: int, channel_ids: Sequence[int] | None) -> list[tuple[Any, ...]]:
    """The user's memberships with their channels and three counts: per row the membership's
    `select_list`, the channel's, then `unread` (live messages after the read position not
    sent by the user), `everyone` (of those, @all/@everyone ones that do not name the user)
    and `named` (of those, ones that name the user). Ordered by channel id; `channel_ids`
    narrows it (None: every channel of the user).

    Both databases. Prepared on PostgreSQL (`prepared_cursor`): it took longer to plan (1.1 ms)
    than to run for a user of a dozen channels (0.7 ms); its generic plan is the custom one.
    SQL because building the ORM version's subquery expressions cost ~1.5 ms of CPU per
    request, more than PostgreSQL spends answering it for a usual user.
    """
    only_sql, only_params = any_of(channel_ids or [], "bigint")
    sql = _CHANNEL_LIST_SQL.format(
        membership_columns=select_list(Membership, "m"),
        channel_columns=select_list(Channel, "c"),
        message=Message._meta.db_table,
        mention=Mention._meta.db_table,
        membership=Membership._meta.db_table,
        channel=Channel._meta.db_table,
        only_channels=f"AND m.channel_id {only_sql}" if channel_ids is not None else "",
    )
    params = [user_id] * 7 + (only_params if channel_ids is not None else [])
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# One statement for `access_channel_read`'s answer on the history page's hot path: the channel
# row and whether the user is a member (the ORM version, two queries for a non-member, cost
# more CPU building its querysets than PostgreSQL spent answering).
_READ_POSITION_SQL = """
    SELECT c.kind, c.last_seq, c.created_at,
        EXISTS (SELECT 1 FROM {membership} m WHERE m.channel_id = c.id AND m.user_id = %s)
    FROM {channel} c WHERE c.id = %s
"""


def channel_read_position_row(*, user_id: int, channel_id: int) -> tuple[Any, ...] | None:
    """`(kind, last_seq, created_at, is_member)` of the channel for this user, or None if
    there is no such channel. `created_at` is as the driver returns it (not converted).

    Both databases; one query. SQL because the ORM's two querysets (membership, then channel)
    cost more CPU than PostgreSQL spent answering on the history page's hot path.
    """
    sql = _READ_POSITION_SQL.format(
        membership=Membership._meta.db_table, channel=Channel._meta.db_table
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, channel_id])
        row = cursor.fetchone()
    return None if row is None else tuple(row)


_POST_ACCESS_SQL = """
WITH wanted(user_id, channel_id) AS ({wanted})
SELECT {channel_columns}, {membership_columns}
FROM wanted
{channel_join}
LEFT JOIN {membership} m ON m.channel_id = wanted.channel_id AND m.user_id = wanted.user_id
"""
_CHANNEL_JOIN = "JOIN {channel} c ON c.id = wanted.channel_id"
# PostgreSQL prepares the query, so plans it once for any pairs (a generic plan, which must not
# guess how many there are): each channel by its primary key in a LATERAL subquery (LIMIT 1
# keeps it one), never a hash join over the whole channel table.
_CHANNEL_BY_KEY = (
    "CROSS JOIN LATERAL (SELECT * FROM {channel} WHERE id = wanted.channel_id LIMIT 1) c"
)


def channel_post_access_query(*, pairs: Iterable[tuple[int, int]]) -> tuple[str, list[Any]]:
    """For each distinct (user id, channel id) pair whose channel exists: the channel's
    `select_list`, then the user's membership's (all NULL when not a member). Empty without
    pairs. For `permissions.ChannelPostAccess`, sent with the send batch's other look-ups.

    Both databases: on PostgreSQL prepared (constant text, an array per column) with each
    channel by primary key in a LATERAL subquery, so the generic plan is never a hash join
    over the channel table; SQLite keeps the plain join. SQL because the ORM spent more CPU
    building it than the database running it.
    """
    wanted = sorted(set(pairs))
    if not wanted:
        return "", []
    rows, params = rows_table(wanted, ("bigint", "bigint"))  # on PostgreSQL: prepared
    sql = _POST_ACCESS_SQL.format(
        wanted=rows,
        channel_join=(
            _CHANNEL_BY_KEY if connection.vendor == "postgresql" else _CHANNEL_JOIN
        ).format(channel=Channel._meta.db_table),
        channel_columns=select_list(Channel, "c"),
        membership_columns=select_list(Membership, "m"),
        membership=Membership._meta.db_table,
    )
    return sql, params


# --- the channel sequence and read positions (writes) --------------------------------------------


def channel_take_next_seq(*, channel_id: int, now: datetime, new_message: bool) -> int | None:
    """Add one to the channel's `last_seq` (and, for a new message, set `last_message_at` to
    `now`) and return the new value; None if there is no such channel.

    Precondition: inside `transaction.atomic`; the row stays locked until commit. Both
    databases (`UPDATE ... RETURNING`: SQLite >= 3.35). SQL because the ORM cannot update and
    return the new value in one statement (an F() update and a re-read are two, and a second
    writer could come between them without the lock taken first).
    """
    table = Channel._meta.db_table
    with connection.cursor() as cursor:
        if new_message:
            cursor.execute(
                f"UPDATE {table} SET last_seq = last_seq + 1, last_message_at = %s "  # noqa: S608
                "WHERE id = %s RETURNING last_seq",
                [now, channel_id],
            )
        else:
            cursor.execute(
                f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",  # noqa: S608
                [channel_id],
            )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _values_table(
    name: str, columns: str, rows: Sequence[tuple[int, int]]
) -> tuple[str, list[int]]:
    """`WITH name(columns) AS (VALUES ...)` over integer pairs, and its parameters.

    Runs on PostgreSQL and on SQLite (>= 3.33 for UPDATE ... FROM, 3.35 for RETURNING).
    """
    placeholders = ", ".join(["(%s, %s)"] * len(rows))
    return f"WITH {name}({columns}) AS (VALUES {placeholders}) ", [v for row in rows for v in row]


def channels_take_seqs(counts: Mapping[int, int], *, now: datetime) -> dict[int, int]:
    """Add `counts[channel_id]` to each channel's `last_seq`, set its `last_message_at` to
    `now`, and return each existing channel's new `last_seq` (a channel that no longer exists
    is missing from the answer).

    Precondition: inside `transaction.atomic`; the rows stay locked until commit. Where the
    database has `SELECT ... FOR UPDATE` (PostgreSQL) the rows are first locked in id order,
    the order every batch uses, so two batches cannot deadlock; SQLite serialises writers and
    needs only the UPDATE. SQL because the ORM has no `UPDATE ... FROM ... RETURNING`: one
    statement for every channel of a send batch instead of one per channel.
    """
    table = Channel._meta.db_table
    channel_ids = sorted(counts)
    with_counts, params = _values_table("taken", "id, n", [(i, counts[i]) for i in channel_ids])
    with connection.cursor() as cursor:
        if connection.features.has_select_for_update:
            in_list = ", ".join(["%s"] * len(channel_ids))
            cursor.execute(
                f"SELECT id FROM {table} WHERE id IN ({in_list}) ORDER BY id FOR UPDATE",  # noqa: S608
                channel_ids,
            )
        cursor.execute(
            f"{with_counts}UPDATE {table} SET last_seq = {table}.last_seq + taken.n, "  # noqa: S608
            f"last_message_at = %s FROM taken WHERE {table}.id = taken.id "
            f"RETURNING {table}.id, {table}.last_seq",
            [*params, now],
        )
        return {int(channel_id): int(last_seq) for channel_id, last_seq in cursor.fetchall()}


def memberships_mark_read_up_to(last_read: Mapping[int, int]) -> None:
    """Raise each membership's `last_read_seq` to the given seq (membership id -> seq), never
    lower it.

    Both databases (`UPDATE ... FROM`: SQLite >= 3.33); inside the caller's transaction. SQL
    because the ORM would need one UPDATE per membership (a batch's senders each have their
    own seq).
    """
    table = Membership._meta.db_table
    with_seqs, params = _values_table("sent", "id, seq", sorted(last_read.items()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_seqs}UPDATE {table} SET last_read_seq = sent.seq FROM sent "  # noqa: S608
            f"WHERE {table}.id = sent.id AND {table}.last_read_seq < sent.seq",
            params,
        )


# --- sending: the batch's look-ups and its one-statement write -----------------------------------

MENTION_TARGET_FIELDS = ("id", "username", "display_name", "first_name", "last_name")


def active_users_by_username_query(usernames: Iterable[str]) -> tuple[str, list[Any]]:
    """Active users whose lower-cased username is one of `usernames` (given lower-cased):
    per row the `MENTION_TARGET_FIELDS` columns. Empty for no names.

    Both databases; on PostgreSQL one array parameter (constant text: prepared with the send
    batch's look-ups) over the index on LOWER(username) (User.Meta.indexes). SQL because it
    runs with every send batch and the ORM spent more CPU building it than running it.
    """
    names = sorted(usernames)
    if not names:
        return "", []
    columns = ", ".join(connection.ops.quote_name(name) for name in MENTION_TARGET_FIELDS)
    wanted, params = any_of(names, "text")  # on PostgreSQL one text for any names: prepared
    return (
        f"SELECT {columns} FROM {User._meta.db_table} "  # noqa: S608 - names from the model
        f"WHERE LOWER(username) {wanted} AND is_active",
        params,
    )


_STORED_IDS_SQL = """
WITH wanted(sender_id, client_msg_id) AS ({wanted})
SELECT m.id FROM wanted CROSS JOIN LATERAL (
    SELECT id FROM {message}
    WHERE sender_id = wanted.sender_id AND client_msg_id = wanted.client_msg_id LIMIT 1
) m
"""
_STORED_IDS_JOIN_SQL = """
WITH wanted(sender_id, client_msg_id) AS ({wanted})
SELECT m.id FROM wanted JOIN {message} m
    ON m.sender_id = wanted.sender_id AND m.client_msg_id = wanted.client_msg_id
"""


def stored_message_ids_query(keys: Iterable[tuple[int, uuid.UUID]]) -> tuple[str, list[Any]]:
    """Ids of the stored messages with one of these (sender id, client_msg_id) keys. Empty for
    no keys.

    PostgreSQL: `_STORED_IDS_SQL`, prepared, one look-up in the unique index per key whatever
    the plan (see its comment); elsewhere the plain join. SQL because the ORM spent more CPU
    building it than the database running it (it runs with every send batch).
    """
    keys = sorted(set(keys))
    if not keys:
        return "", []
    prep_uuid = Message._meta.get_field("client_msg_id").get_db_prep_value
    pairs = [(sender, prep_uuid(key, connection)) for sender, key in keys]
    wanted, params = rows_table(pairs, ("bigint", "uuid"))  # on PostgreSQL: prepared
    sql = _STORED_IDS_SQL if connection.vendor == "postgresql" else _STORED_IDS_JOIN_SQL
    return sql.format(wanted=wanted, message=Message._meta.db_table), params


# Every accepted send of a batch in ONE statement (PostgreSQL): lock the channels in id order,
# take their seqs, insert the messages and their mentions, move the senders' read positions.
# Outside a transaction it commits on its own: one round trip for the whole write. A channel
# that vanished leaves its rows without a seq (NOT NULL: IntegrityError), like a concurrent
# send of one of the client_msg_ids (unique): the statement changes nothing and raises.
# The arrays go in binary (`%b`): as text, psycopg quotes and escapes every element and tests
# each with a regular expression (eleven searches a message, bodies and HTML included).
_BATCH_WRITE_SQL = """
WITH req AS (
    SELECT * FROM unnest(
        %(ord)b::int[], %(channel)b::bigint[], %(sender)b::bigint[], %(membership)b::bigint[],
        %(client_msg_id)b::uuid[], %(body)b::text[], %(html)b::text[], %(everyone)b::bool[]
    ) AS r(ord, channel_id, sender_id, membership_id, client_msg_id, body, html, everyone)
),
counts AS (SELECT channel_id AS id, count(*) AS n FROM req GROUP BY channel_id),
locked AS MATERIALIZED (
    SELECT c.id FROM {channel} c WHERE c.id IN (SELECT id FROM counts) ORDER BY c.id FOR UPDATE
),
taken AS (
    UPDATE {channel} c SET last_seq = c.last_seq + counts.n, last_message_at = %(now)s
    FROM counts JOIN locked ON locked.id = counts.id
    WHERE c.id = counts.id
    RETURNING c.id, c.last_seq
),
numbered AS (
    SELECT req.*, taken.last_seq
        - count(*) OVER (PARTITION BY req.channel_id)
        + row_number() OVER (PARTITION BY req.channel_id ORDER BY req.ord) AS seq
    FROM req LEFT JOIN taken ON taken.id = req.channel_id
),
inserted AS (
    INSERT INTO {message} (
        channel_id, seq, version, sender_id, client_msg_id, body, html, thread_root_id,
        reply_count, last_reply_at, mentions_everyone, created_at, edited_at, deleted_at
    )
    SELECT channel_id, seq, seq, sender_id, client_msg_id, body, html, NULL,
        0, NULL, everyone, %(now)s, NULL, NULL
    FROM numbered ORDER BY ord
    RETURNING id, channel_id, seq
),
mentioned AS (
    INSERT INTO {mention} (message_id, user_id)
    SELECT inserted.id, named.user_id
    FROM unnest(%(mention_ord)b::int[], %(mention_user)b::bigint[]) AS named(ord, user_id)
    JOIN numbered ON numbered.ord = named.ord
    JOIN inserted ON inserted.channel_id = numbered.channel_id AND inserted.seq = numbered.seq
),
read AS (
    UPDATE {membership} m SET last_read_seq = sent.seq
    FROM (SELECT membership_id, max(seq) AS seq FROM numbered GROUP BY membership_id) sent
    WHERE m.id = sent.membership_id AND m.last_read_seq < sent.seq
)
SELECT numbered.ord, inserted.id, inserted.seq
FROM inserted JOIN numbered
    ON numbered.channel_id = inserted.channel_id AND numbered.seq = inserted.seq
"""


def send_batch_write(params: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    """Store a send batch in one statement (`_BATCH_WRITE_SQL`) and return, per request
    ordinal, `(message id, seq)`.

    `params`: one list per column, in request order: `ord` (0..n-1), `channel`, `sender`,
    `membership`, `client_msg_id`, `body`, `html`, `everyone`; the mentions as `mention_ord`
    and `mention_user`; and `now`. PostgreSQL only (the SQLite variant is
    `channels_take_seqs` + `bulk_create` + `memberships_mark_read_up_to`, in
    `services/send_batch.py`). Outside a transaction the statement commits on its own; the
    caller runs it in a savepoint when inside one. Raises IntegrityError (a concurrent send
    of one of the keys, a vanished channel) having changed nothing. Prepared: its parse and
    plan cost more than running it (0.43 ms of planning per batch under load). SQL because it
    is one round trip for the whole write, where the ORM needs one statement per table and per
    channel.
    """
    sql = _BATCH_WRITE_SQL.format(
        channel=Channel._meta.db_table,
        message=Message._meta.db_table,
        mention=Mention._meta.db_table,
        membership=Membership._meta.db_table,
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return {int(ord_): (int(pk), int(seq)) for ord_, pk, seq in cursor.fetchall()}


# --- history: message rows and their details -----------------------------------------------------


class MessageRow(NamedTuple):
    """A message as read paths need it: its columns and its sender's name, no model instance.

    History pages read these straight from `values_list` (building 50 messages and their 50
    senders as model instances cost more than the queries did). `payloads` turns them into
    the same `MessagePayload` that `events.message_payload` gives for a pushed message
    (both through `events.columns_payload`).
    """

    id: int
    channel_id: int
    seq: int
    version: int
    sender_id: int
    client_msg_id: uuid.UUID | None
    body: str
    html: str
    thread_root_id: int | None
    reply_count: int
    last_reply_at: datetime | None
    mentions_everyone: bool
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    sender_display_name: str
    sender_first_name: str
    sender_last_name: str
    sender_username: str

    @property
    def pk(self) -> int:
        return self.id

    @property
    def sender_name(self) -> str:
        """As `User.name`: the display name, else the full name, else the username."""
        full_name = f"{self.sender_first_name} {self.sender_last_name}".strip()
        return self.sender_display_name or full_name or self.sender_username

    @classmethod
    def of(cls, message: Message) -> MessageRow:
        """The row of a loaded message (its sender loaded too)."""
        sender = message.sender
        return cls(
            id=message.pk,
            channel_id=message.channel_id,
            seq=message.seq,
            version=message.version,
            sender_id=message.sender_id,
            client_msg_id=message.client_msg_id,
            body=message.body,
            html=message.html,
            thread_root_id=message.thread_root_id,
            reply_count=message.reply_count,
            last_reply_at=message.last_reply_at,
            mentions_everyone=message.mentions_everyone,
            created_at=message.created_at,
            edited_at=message.edited_at,
            deleted_at=message.deleted_at,
            sender_display_name=sender.display_name,
            sender_first_name=sender.first_name,
            sender_last_name=sender.last_name,
            sender_username=sender.username,
        )


def _row_fields() -> list[Field[object, object]]:
    """The model fields behind `MessageRow`'s columns, in order (the sender's from User)."""
    fields: list[Field[object, object]] = []
    for name in MessageRow._fields:
        if name.startswith("sender_") and name != "sender_id":
            fields.append(User._meta.get_field(name.removeprefix("sender_")))  # type: ignore[arg-type]
        else:
            fields.append(Message._meta.get_field(name))  # type: ignore[arg-type]
    return fields


_ROW_MODEL_FIELDS = _row_fields()


def _row_columns() -> str:
    """`MessageRow`'s columns in SQL: `m` the message, `u` its sender."""
    quote = connection.ops.quote_name
    return ", ".join(
        f"{'m' if field.model is Message else 'u'}.{quote(field.column or field.attname)}"
        for field in _ROW_MODEL_FIELDS
    )


# Hand-written, as the channel list is: the ORM's filter/order/slice/values_list chain cost more
# CPU per page than PostgreSQL spent answering it. One index range scan on (channel, seq) or
# (channel, version), then the senders by primary key.
_PAGE_SQL = """
    SELECT {columns} FROM {message} m JOIN {user} u ON u.id = m.sender_id
    WHERE m.channel_id = %s{roots_only}{where} ORDER BY {order} LIMIT %s
"""


def _page_rows(
    channel_id: int,
    roots_only: bool,
    where: str,
    params: list[int],
    order: str,
    limit: int,
) -> list[MessageRow]:
    """Rows of one channel, `where` / `order` / `limit` applied. `where` and `order` are the
    fixed fragments of the four functions below, never client input (values go in `params`)."""
    sql = _PAGE_SQL.format(
        columns=_row_columns(),
        message=Message._meta.db_table,
        user=User._meta.db_table,
        roots_only=" AND m.thread_root_id IS NULL" if roots_only else "",
        where=f" AND {where}" if where else "",
        order=order,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel_id, *params, limit])
        return rows_of(cursor.fetchall())


# The history page's four reads. Both databases; one index range scan each. SQL because the
# ORM's filter/order/slice/values_list chain cost more CPU per page than PostgreSQL spent
# answering it. `roots_only` leaves out thread replies.


def message_rows_newest(*, channel_id: int, roots_only: bool, limit: int) -> list[MessageRow]:
    """The channel's last `limit` messages (deleted ones included), newest first."""
    return _page_rows(channel_id, roots_only, "", [], "m.seq DESC", limit)


def message_rows_before_seq(
    *, channel_id: int, roots_only: bool, before_seq: int, limit: int
) -> list[MessageRow]:
    """The channel's last `limit` messages with `seq` < `before_seq`, newest first."""
    return _page_rows(channel_id, roots_only, "m.seq < %s", [before_seq], "m.seq DESC", limit)


def message_rows_from_seq(
    *, channel_id: int, roots_only: bool, from_seq: int, limit: int
) -> list[MessageRow]:
    """The channel's first `limit` messages with `seq` >= `from_seq`, oldest first."""
    return _page_rows(channel_id, roots_only, "m.seq >= %s", [from_seq], "m.seq", limit)


def message_rows_changed_after(
    *, channel_id: int, roots_only: bool, after_version: int, limit: int
) -> list[MessageRow]:
    """The channel's first `limit` messages whose `version` > `after_version`, in order of
    version then id (the catch-up after a reconnect)."""
    return _page_rows(
        channel_id, roots_only, "m.version > %s", [after_version], "m.version, m.id", limit
    )


def rows_select() -> str:
    """`SELECT ... FROM ... JOIN ...` of `MessageRow`s (`m` the message, `u` its sender), for
    a query of another app's `queries.py` to add its WHERE, ORDER BY and LIMIT to (the
    search); `rows_of` reads them."""
    return (
        f"SELECT {_row_columns()} FROM {Message._meta.db_table} m "  # noqa: S608 - model names
        f"JOIN {User._meta.db_table} u ON u.id = m.sender_id"
    )


def rows_of(fetched: Sequence[Sequence[Any]]) -> list[MessageRow]:
    """`MessageRow`s of rows fetched with `rows_select()`'s columns (the ORM's converters
    applied)."""
    return [MessageRow._make(row) for row in converted(fetched, _ROW_MODEL_FIELDS)]


def load_rows(ids: Sequence[int]) -> list[MessageRow]:
    """The rows of these messages, in the order of `ids` (missing ones left out); one query.

    Both databases. SQL for the same reason as the history page's reads (it serves the
    pins, the search and the saved items with the same rows)."""
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"{rows_select()} WHERE m.id IN ({', '.join(['%s'] * len(ids))})", ids)
        by_id = {row.id: row for row in rows_of(cursor.fetchall())}
    return [by_id[pk] for pk in ids if pk in by_id]


_DETAILS_SQL = """
    SELECT 0, message_id, user_id, emoji, created_at, id FROM {reaction} WHERE message_id {ids}
    UNION ALL
    SELECT 1, message_id, user_id, '', NULL, 0 FROM {mention} WHERE message_id {ids}
    UNION ALL
    SELECT 2, message_id, 0, '', NULL, 0 FROM {attachment} WHERE message_id {ids}
    UNION ALL
    SELECT 3, p.message_id, COALESCE(p.pinned_by_id, 0),
        COALESCE(NULLIF(u.display_name, ''), NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''),
            u.username, ''),
        p.pinned_at, 0
    FROM {pin} p LEFT JOIN {user} u ON u.id = p.pinned_by_id WHERE p.message_id {ids}
    ORDER BY 1, 5, 6
"""


def message_details_rows(ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Reactions, mentions, attachments and pins of these messages, as rows
    `(kind, message_id, user_id, emoji_or_name, time, id)` ordered by kind, time, id:
    kind 0 a reaction (its user, emoji, created_at, id), 1 a mention (its user), 2 a message
    that has an attachment (one row per attachment), 3 a pin (who pinned it or 0, their name,
    pinned_at). Times are as the driver returns them (not converted).

    Both databases. One hand-written UNION instead of four ORM queries (and Django's
    prefetch, which built a related manager and a queryset per message and relation): on a
    50-message history page those cost more CPU than PostgreSQL spent answering them. On
    PostgreSQL one array parameter: the same text for every page, prepared once per
    connection (planning it cost 0.23 ms a page under load). Known weakness: a generic plan
    made while `files_attachment` was empty scans it (docs/architecture/send-path.md).
    """
    ids_sql, ids_params = any_of(ids, "bigint")
    params = ids_params * 4
    sql = _DETAILS_SQL.format(
        reaction=Reaction._meta.db_table,
        mention=Mention._meta.db_table,
        attachment=attachment_store().table(),
        pin=MessagePin._meta.db_table,
        user=User._meta.db_table,
        ids=ids_sql,
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# --- people: presence and the socket's state ------------------------------------------------------

_ACTIVE_USERS_SQL = "SELECT id FROM {user} WHERE is_active AND id {ids}"


def active_user_ids(ids: Sequence[int]) -> list[int]:
    """Those of `ids` that are active users (in no particular order).

    Both databases; prepared on PostgreSQL (one array parameter). SQL because every socket
    subscribes to presence once it is open, and building the directory query took the ORM more
    CPU (~1.2 ms on a slow box) than PostgreSQL answering it.
    """
    ids_sql, ids_params = any_of(ids, "bigint")
    with prepared_cursor() as cursor:
        cursor.execute(_ACTIVE_USERS_SQL.format(user=User._meta.db_table, ids=ids_sql), ids_params)
        return [user_id for (user_id,) in cursor.fetchall()]


_SOCKET_USER_SQL = 'SELECT "role", "language" FROM {user} WHERE id = %s AND is_active'
_SOCKET_CHANNELS_SQL = "SELECT channel_id FROM {membership} WHERE user_id = %s"
# The socket's API token, while it is neither revoked nor expired.
_SOCKET_CREDENTIAL_SQL = (
    "SELECT 1 FROM {token} WHERE id = %s AND user_id = %s AND revoked_at IS NULL"
    " AND (expires_at IS NULL OR expires_at > %s)"
)


class SocketStateRows(NamedTuple):
    user: list[tuple[Any, ...]]  # [(role, language)] if the user is active, else []
    channel_ids: list[int]  # the channels the user is a member of
    token_live: bool  # the socket's API token is neither revoked nor expired (False: none)


def socket_state_rows(*, user_id: int, token_id: int | None, now: datetime) -> SocketStateRows:
    """What a socket re-reads at its handshake and every heartbeat: the user's role and
    language if active, their channel ids, and whether its API token is live at `now`.

    Both databases; three statements in one round trip on PostgreSQL (`fetch_all_together`).
    SQL because every handshake and re-check runs them and the ORM spent more CPU building
    the queries than the database running them.
    """
    user_rows, channel_rows, token_rows = fetch_all_together(
        [
            (_SOCKET_USER_SQL.format(user=User._meta.db_table), [user_id]),
            (_SOCKET_CHANNELS_SQL.format(membership=Membership._meta.db_table), [user_id]),
            (
                _SOCKET_CREDENTIAL_SQL.format(token=APIToken._meta.db_table) if token_id else "",
                [token_id, user_id, connection.ops.adapt_datetimefield_value(now)],
            ),
        ]
    )
    return SocketStateRows(
        user=[tuple(row) for row in user_rows],
        channel_ids=[channel_id for (channel_id,) in channel_rows],
        token_live=bool(token_rows),
    )
