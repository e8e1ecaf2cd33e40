"""Each hand-written statement of apps/chat/queries.py equals the ORM query that means the
same, on a small varied data set (run on SQLite and, with DATABASE_URL, on PostgreSQL; the
PostgreSQL-only statement is marked `postgres`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import APIToken, User
from apps.accounts.services import api_token_create, api_token_revoke
from apps.chat import queries, services
from apps.chat.models import (
    Channel,
    ChannelKind,
    Membership,
    Mention,
    Message,
    MessagePin,
    Reaction,
)
from apps.core.runtime.sqlrows import fetch_all_together, instances
from apps.files.models import Attachment
from tests.api_matrix import clean_image_attachment
from tests.chat.support import send

pytestmark = pytest.mark.django_db


@dataclass
class World:
    ann: User
    bob: User
    cid: User  # deactivated at the end
    public: Channel
    private: Channel
    dm: Channel
    users: list[User]
    channels: list[Channel]


@pytest.fixture
def world(make_user: Any, make_channel: Any) -> World:
    """Three people, a public and a private channel and a DM; messages read and unread,
    deleted, in threads, naming people and @all, with reactions, a pin and a file."""
    ann = make_user(username="Ann")
    bob = make_user(username="bob")
    cid = make_user(username="cid")
    public = make_channel(kind=ChannelKind.PUBLIC, admins=(ann,), members=(bob, cid))
    private = make_channel(kind=ChannelKind.PRIVATE, admins=(bob,), members=(ann,))
    dm = services.dm_open(user=ann, user_ids=[cid.pk])
    first = send(ann, public, "hello @bob and @cid")  # without a client_msg_id
    say(bob, public, "@all standup")
    root = say(cid, public, "a thread")
    say(ann, public, "a reply @bob", thread_root_id=root.pk)
    doomed = say(bob, public, "to delete @ann")
    services.message_delete(user=bob, message_id=doomed.pk)
    services.read_mark(user=bob, channel_id=public.pk, seq=2)
    say(ann, private, "private @bob")
    say(bob, private, "@all in private")
    say(cid, dm, "hi ann")
    services.reaction_add(user=bob, message_id=first.pk, emoji="👍")
    services.reaction_add(user=cid, message_id=first.pk, emoji="🎉")
    services.reaction_add(user=ann, message_id=first.pk, emoji="👍")
    services.message_pin(user=ann, message_id=first.pk)
    image = clean_image_attachment(ann, name="chart.png")
    say(ann, public, "", attachment_ids=[image.pk])
    cid.is_active = False
    cid.save(update_fields=["is_active"])
    return World(ann, bob, cid, public, private, dm, [ann, bob, cid], [public, private, dm])


def say(sender: User, channel: Channel, body: str, **kwargs: Any) -> Message:
    return send(sender, channel, body, client_msg_id=str(uuid.uuid4()), **kwargs)


def _live_unread(membership: Membership) -> Any:
    return Message.objects.filter(
        channel_id=membership.channel_id, seq__gt=membership.last_read_seq, deleted_at=None
    ).exclude(sender_id=membership.user_id)


# --- channels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("narrowed", [False, True])
def test_channel_list_rows_equal_the_orm_counts(world: World, narrowed: bool) -> None:
    for user in world.users:
        channel_ids = [world.public.pk, world.dm.pk] if narrowed else None
        rows = queries.channel_list_rows(user_id=user.pk, channel_ids=channel_ids)
        loaded = instances(rows, (Membership, Channel))
        got = [
            (cast(Membership, m).pk, cast(Channel, c).pk, *row[-3:])
            for (m, c), row in zip(loaded, rows, strict=True)
        ]

        memberships = Membership.objects.filter(user=user).order_by("channel_id")
        if channel_ids is not None:
            memberships = memberships.filter(channel_id__in=channel_ids)
        named_me = Mention.objects.filter(message=OuterRef("pk"), user=user)
        expected = [
            (
                m.pk,
                m.channel_id,
                _live_unread(m).count(),
                _live_unread(m).filter(mentions_everyone=True).exclude(Exists(named_me)).count(),
                _live_unread(m).filter(Exists(named_me)).count(),
            )
            for m in memberships
        ]
        assert got == expected
        assert any(row[2] for row in expected)  # the data set has unread messages


def test_channel_read_position_row_equals_the_orm(world: World) -> None:
    missing = max(c.pk for c in world.channels) + 100
    for user in world.users:
        for channel_id in [*(c.pk for c in world.channels), missing]:
            row = queries.channel_read_position_row(user_id=user.pk, channel_id=channel_id)

            channel = Channel.objects.filter(pk=channel_id).first()
            if channel is None:
                assert row is None
                continue
            assert row is not None
            is_member = Membership.objects.filter(user=user, channel=channel).exists()
            assert (row[0], row[1], bool(row[3])) == (channel.kind, channel.last_seq, is_member)
            assert row[2] is not None


def test_channel_post_access_query_equals_the_orm(world: World) -> None:
    missing = max(c.pk for c in world.channels) + 100
    pairs = [(u.pk, c) for u in world.users for c in [*(c.pk for c in world.channels), missing]]

    [rows] = fetch_all_together([queries.channel_post_access_query(pairs=pairs + pairs[:2])])
    got = sorted(
        (cast(Channel, c).pk, cast(Membership, m).pk or 0, cast(Membership, m).user_id or 0)
        for c, m in instances(rows, (Channel, Membership))
    )

    expected = []
    for user_id, channel_id in pairs:
        if not Channel.objects.filter(pk=channel_id).exists():
            continue
        membership = Membership.objects.filter(user_id=user_id, channel_id=channel_id).first()
        expected.append(
            (channel_id, membership.pk if membership else 0, user_id if membership else 0)
        )
    assert got == sorted(expected)
    assert fetch_all_together([queries.channel_post_access_query(pairs=[])]) == [[]]


# --- the channel sequence and read positions ---------------------------------------------------


@pytest.mark.parametrize("new_message", [True, False])
def test_channel_take_next_seq_equals_an_f_update(world: World, new_message: bool) -> None:
    now = timezone.now()
    before = Channel.objects.get(pk=world.public.pk)
    with transaction.atomic():
        seq = queries.channel_take_next_seq(
            channel_id=world.public.pk, now=now, new_message=new_message
        )
        missing = queries.channel_take_next_seq(channel_id=10**9, now=now, new_message=True)

    after = Channel.objects.get(pk=world.public.pk)
    assert (seq, missing) == (before.last_seq + 1, None)
    assert after.last_seq == seq
    assert after.last_message_at == (now if new_message else before.last_message_at)
    # The ORM's meaning, on another channel: the same change.
    other = Channel.objects.get(pk=world.private.pk)
    Channel.objects.filter(pk=other.pk).update(last_seq=F("last_seq") + 1)
    assert Channel.objects.get(pk=other.pk).last_seq == other.last_seq + 1


def test_channels_take_seqs_adds_each_count(world: World) -> None:
    now = timezone.now()
    before = {c.pk: c.last_seq for c in Channel.objects.all()}
    counts = {world.public.pk: 3, world.dm.pk: 1, 10**9: 2}

    with transaction.atomic():
        taken = queries.channels_take_seqs(counts, now=now)

    assert taken == {
        world.public.pk: before[world.public.pk] + 3,
        world.dm.pk: before[world.dm.pk] + 1,
    }
    after = {c.pk: (c.last_seq, c.last_message_at) for c in Channel.objects.all()}
    for channel_id, last_seq in taken.items():
        assert after[channel_id] == (last_seq, now)
    assert after[world.private.pk][0] == before[world.private.pk]


def test_memberships_mark_read_up_to_only_raises(world: World) -> None:
    ann = Membership.objects.get(user=world.ann, channel=world.public)
    bob = Membership.objects.get(user=world.bob, channel=world.public)
    wanted = {ann.pk: ann.last_read_seq + 2, bob.pk: bob.last_read_seq - 1}

    with transaction.atomic():
        queries.memberships_mark_read_up_to(wanted)

    for membership in (ann, bob):
        # The ORM's meaning: filter(last_read_seq__lt=seq).update(last_read_seq=seq) per row.
        expected = max(membership.last_read_seq, wanted[membership.pk])
        assert Membership.objects.get(pk=membership.pk).last_read_seq == expected


# --- sending -------------------------------------------------------------------------------------


def test_active_users_by_username_query_equals_the_orm(world: World) -> None:
    names = {"ann", "bob", "cid", "nobody"}

    [rows] = fetch_all_together([queries.active_users_by_username_query(names)])

    expected = (
        User.objects.annotate(lowered=Lower("username"))
        .filter(lowered__in=names, is_active=True)
        .values_list(*queries.MENTION_TARGET_FIELDS)
    )
    assert sorted(tuple(row) for row in rows) == sorted(expected)
    assert len(rows) == 2  # Ann (stored capitalised) and bob; cid is deactivated
    assert queries.active_users_by_username_query([]) == ("", [])


def test_stored_message_ids_query_equals_the_orm(world: World) -> None:
    stored = list(Message.objects.exclude(client_msg_id=None)[:3])
    keys = [(m.sender_id, m.client_msg_id) for m in stored]
    keys += [(world.ann.pk, uuid.uuid4()), (world.bob.pk, stored[0].client_msg_id)]

    [rows] = fetch_all_together([queries.stored_message_ids_query(keys)])

    wanted = Q(pk__in=[])
    for sender_id, client_msg_id in keys:
        wanted |= Q(sender_id=sender_id, client_msg_id=client_msg_id)
    expected = Message.objects.filter(wanted).values_list("pk", flat=True)
    assert sorted(pk for (pk,) in rows) == sorted(expected)
    assert len(rows) == len(stored)  # the unknown key and the other sender's find nothing


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_send_batch_write_stores_what_the_orm_would(world: World) -> None:
    now = timezone.now()
    ann_public = Membership.objects.get(user=world.ann, channel=world.public)
    bob_public = Membership.objects.get(user=world.bob, channel=world.public)
    ann_private = Membership.objects.get(user=world.ann, channel=world.private)
    sends = [(world.public, world.ann, ann_public), (world.private, world.ann, ann_private),
             (world.public, world.bob, bob_public)]  # fmt: skip
    before = {c.pk: c.last_seq for c in Channel.objects.all()}
    keys = [uuid.uuid4() for _ in sends]
    params = {
        "ord": [0, 1, 2],
        "channel": [c.pk for c, _u, _m in sends],
        "sender": [u.pk for _c, u, _m in sends],
        "membership": [m.pk for _c, _u, m in sends],
        "client_msg_id": keys,
        "body": ["one @bob", "two", "three"],
        "html": ["<p>one</p>", "<p>two</p>", "<p>three</p>"],
        "everyone": [False, False, True],
        "mention_ord": [0],
        "mention_user": [world.bob.pk],
        "now": now,
    }

    stored = queries.send_batch_write(params)

    public_seq = before[world.public.pk]
    expected_seqs = [public_seq + 1, before[world.private.pk] + 1, public_seq + 2]
    assert [stored[i][1] for i in range(3)] == expected_seqs
    for index, (channel, sender, _membership) in enumerate(sends):
        message = Message.objects.get(pk=stored[index][0])
        assert (message.channel_id, message.sender_id, message.client_msg_id) == (
            channel.pk, sender.pk, keys[index])  # fmt: skip
        assert (message.seq, message.version, message.created_at) == (
            expected_seqs[index], expected_seqs[index], now)  # fmt: skip
        assert message.mentions_everyone == params["everyone"][index]
    assert list(
        Mention.objects.filter(message_id=stored[0][0]).values_list("user_id", flat=True)
    ) == [world.bob.pk]
    assert Channel.objects.get(pk=world.public.pk).last_seq == public_seq + 2
    assert Membership.objects.get(pk=ann_public.pk).last_read_seq == public_seq + 1
    assert Membership.objects.get(pk=bob_public.pk).last_read_seq == public_seq + 2


# --- history -------------------------------------------------------------------------------------


def _orm_rows(channel: Channel, roots_only: bool) -> Any:
    messages = Message.objects.filter(channel=channel).select_related("sender")
    return messages.filter(thread_root=None) if roots_only else messages


@pytest.mark.parametrize("roots_only", [False, True])
def test_history_reads_equal_the_orm(world: World, roots_only: bool) -> None:
    channel = world.public
    base = _orm_rows(channel, roots_only)
    args = {"channel_id": channel.pk, "roots_only": roots_only}

    def rows(messages: Any) -> list[queries.MessageRow]:
        return [queries.MessageRow.of(m) for m in messages]

    for limit in (1, 3, 50):
        assert queries.message_rows_newest(**args, limit=limit) == rows(
            base.order_by("-seq")[:limit]
        )
        for seq in (1, 3, 6):
            assert queries.message_rows_before_seq(**args, before_seq=seq, limit=limit) == rows(
                base.filter(seq__lt=seq).order_by("-seq")[:limit]
            )
            assert queries.message_rows_from_seq(**args, from_seq=seq, limit=limit) == rows(
                base.filter(seq__gte=seq).order_by("seq")[:limit]
            )
            assert queries.message_rows_changed_after(
                **args, after_version=seq, limit=limit
            ) == rows(base.filter(version__gt=seq).order_by("version", "id")[:limit])
    assert any(row.deleted_at for row in queries.message_rows_newest(**args, limit=50))


def test_load_rows_equals_the_orm_in_the_order_asked(world: World) -> None:
    ids = list(Message.objects.order_by("-pk").values_list("pk", flat=True))
    wanted = [ids[2], ids[0], 10**9, ids[-1]]

    got = queries.load_rows(wanted)

    by_id = {m.pk: m for m in Message.objects.select_related("sender").filter(pk__in=wanted)}
    assert got == [queries.MessageRow.of(by_id[pk]) for pk in wanted if pk in by_id]
    assert queries.load_rows([]) == []


def test_message_details_rows_equal_the_orm(world: World) -> None:
    ids = list(Message.objects.values_list("pk", flat=True))

    rows = queries.message_details_rows(ids)

    got = [(kind, message_id, user_id, text) for kind, message_id, user_id, text, *_ in rows]
    reactions = Reaction.objects.filter(message_id__in=ids).order_by("created_at", "id")
    mentions = Mention.objects.filter(message_id__in=ids)
    files = Attachment.objects.filter(message_id__in=ids)
    pins = MessagePin.objects.filter(message_id__in=ids).select_related("pinned_by")
    expected = [
        *((0, r.message_id, r.user_id, r.emoji) for r in reactions),
        *sorted((1, m.message_id, m.user_id, "") for m in mentions),
        *((2, a.message_id, 0, "") for a in files),
        *((3, p.message_id, p.pinned_by_id or 0, p.pinned_by.name if p.pinned_by else "")
          for p in pins),
    ]  # fmt: skip
    assert got[: reactions.count()] == expected[: reactions.count()]  # reactions in order
    assert sorted(got) == sorted(expected)
    assert {kind for kind, *_ in got} == {0, 1, 2, 3}


# --- people --------------------------------------------------------------------------------------


def test_active_user_ids_equal_the_orm(world: World) -> None:
    ids = [u.pk for u in world.users] + [10**9]

    assert sorted(queries.active_user_ids(ids)) == sorted(
        User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True)
    )


def test_socket_state_rows_equal_the_orm(world: World) -> None:
    now = timezone.now()
    live, _raw = api_token_create(user=world.ann, name="live")
    expired, _raw = api_token_create(user=world.ann, name="old", expires_at=now - timedelta(1))
    revoked, _raw = api_token_create(user=world.ann, name="gone")
    api_token_revoke(user=world.ann, token_id=revoked.pk)
    other, _raw = api_token_create(user=world.bob, name="bob's")

    for user in world.users:
        for token in (None, live, expired, revoked, other):
            token_id = None if token is None else token.pk
            state = queries.socket_state_rows(user_id=user.pk, token_id=token_id, now=now)

            active = User.objects.filter(pk=user.pk, is_active=True)
            assert state.user == [tuple(row) for row in active.values_list("role", "language")]
            assert sorted(state.channel_ids) == sorted(
                Membership.objects.filter(user=user).values_list("channel_id", flat=True)
            )
            token_live = (
                token_id is not None
                and APIToken.objects.filter(pk=token_id, user=user, revoked_at=None)
                .filter(Q(expires_at=None) | Q(expires_at__gt=now))
                .exists()
            )
            assert state.token_live == token_live
    assert queries.socket_state_rows(user_id=world.ann.pk, token_id=live.pk, now=now).token_live
