"""The group commit of many sends (the WebSocket path): `messages_send_batch`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import OrganizationSettings, User
from apps.accounts.permissions import organization_settings
from apps.chat import queries
from apps.chat.hooks import notify_new_message
from apps.chat.markdown import MentionTarget, RenderedMessage, render_message
from apps.chat.models import Membership, Mention, Message
from apps.chat.permissions import channel_post_access_from_rows, channel_post_access_query
from apps.chat.services._common import (
    SendResult,
    _mention_targets,
    _resolve_usernames,
    _usernames_query,
)
from apps.chat.services.messages import (
    _check_mention_all,
    _mentions_of,
    _new_message,
    _parse_client_msg_id,
    _publish_message_new,
    _refuse_reuse_elsewhere,
    _send_body,
    message_send,
)
from apps.core.errors import DomainError, NotFound
from apps.core.metrics import MESSAGES_SENT
from apps.core.runtime.sqlrows import fetch_all_prepared

# --- group commit of many sends (the WebSocket path) --------------------------------------------

# A superset of the @names `render_message` asks its resolver about (it also strips trailing
# dots); names it finds are looked up for the whole batch at once.
_MENTION_CANDIDATE_RE = re.compile(r"@([A-Za-z0-9_.-]+)")
# A larger batch is written as several transactions of this many: it bounds how long one holds
# its channel locks and the size of its statements (SQLite takes up to 32,766 parameters).
MAX_SEND_BATCH = 256
# At most this many @names are looked up ahead in one query; a batch that names more resolves
# the rest per message.
_PREFETCH_USERNAMES_MAX = 1000

SendKey = tuple[int, uuid.UUID]  # (sender id, client_msg_id): unique among stored messages


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One `message_send` call of a batch; the same arguments."""

    sender: User
    channel_id: int
    body: str
    client_msg_id: object
    thread_root_id: int | None = None
    attachment_ids: Sequence[object] = ()


@dataclass(frozen=True, slots=True)
class _Resend:
    """A request of the batch that repeats the client_msg_id of an accepted earlier one."""

    of: _BatchedSend


@dataclass(slots=True)
class _BatchedSend:
    """A request of the batch that passed every check and gets its row in the shared INSERT."""

    request: SendRequest
    client_msg_id: uuid.UUID | None
    body: str
    membership: Membership
    rendered: RenderedMessage
    dm_key: str | None = None
    message: Message | None = None

    def new_message(
        self, *, seq: int, now: datetime, stored_as: tuple[int, str] | None = None
    ) -> Message:
        """Its message, numbered `seq` in its channel (unsaved unless `stored_as`: its id and
        database)."""
        return _new_message(
            sender=self.request.sender,
            channel_id=self.request.channel_id,
            seq=seq,
            client_msg_id=self.client_msg_id,
            body=self.body,
            rendered=self.rendered,
            thread_root=None,
            now=now,
            stored_as=stored_as,
        )


class _BatchUsernames:
    """Username resolver for the renders of one batch: every candidate @name of the batch's
    bodies is looked up at once (`prefetch_query`, sent with the batch's other look-ups);
    a body naming more than that resolves the rest when it is rendered."""

    def __init__(self, bodies: Iterable[str]) -> None:
        self._candidates = {
            match.group(1).rstrip(".").lower()
            for body in bodies
            for match in _MENTION_CANDIDATE_RE.finditer(body)
        }
        self._looked_up: set[str] = set()
        self._known: dict[str, MentionTarget] = {}

    def prefetch_query(self) -> tuple[str, list[str]]:
        """The query for every candidate (empty if none, or too many to look up at once)."""
        if len(self._candidates) > _PREFETCH_USERNAMES_MAX:
            return "", []
        return _usernames_query(self._candidates)

    def prefetched(self, rows: Iterable[Sequence[Any]]) -> None:
        """Take the rows of `prefetch_query`."""
        if self.prefetch_query()[0]:
            self._known.update(_mention_targets(rows))
            self._looked_up |= self._candidates

    def __call__(self, usernames: set[str]) -> Mapping[str, MentionTarget]:
        wanted = usernames - self._looked_up
        if wanted:
            self._known.update(_resolve_usernames(wanted))
            self._looked_up |= wanted
        return {name: self._known[name] for name in usernames if name in self._known}


class _SendBatch:
    """The checks of `message_send` for many requests, fed by a few shared look-ups.

    Requests are checked in order, so a resend of a request earlier in the same batch is its
    duplicate exactly as if the earlier one had been stored already.
    """

    def __init__(self, requests: Sequence[tuple[SendRequest, uuid.UUID | None]]) -> None:
        keys = [(request.sender.pk, msg_uuid) for request, msg_uuid in requests if msg_uuid]
        self._usernames = _BatchUsernames(
            request.body for request, _uuid in requests if isinstance(request.body, str)
        )
        # Stored keys, access, mentioned users: one round trip, prepared (fetch_all_prepared).
        stored_rows, access_rows, user_rows = fetch_all_prepared(
            [
                _stored_ids_query(keys),
                channel_post_access_query(
                    pairs=[(request.sender, request.channel_id) for request, _uuid in requests]
                ),
                self._usernames.prefetch_query(),
            ]
        )
        self._access = channel_post_access_from_rows(access_rows)
        self._usernames.prefetched(user_rows)
        self._stored: dict[SendKey, Message] = {}
        if stored_rows:  # resends: rare, and then loaded as message_send loads them
            self._stored = {
                (message.sender_id, message.client_msg_id): message
                for message in Message.objects.select_related("sender").filter(
                    pk__in=[pk for (pk,) in stored_rows]
                )
                if message.client_msg_id is not None
            }
        self._org: OrganizationSettings | None = None
        self._accepted: dict[SendKey, _BatchedSend] = {}
        self.sends: list[_BatchedSend] = []

    def check(
        self, request: SendRequest, msg_uuid: uuid.UUID | None
    ) -> SendResult | _BatchedSend | _Resend:
        """`message_send`'s checks, in its order: a stored (or earlier accepted) resend, or a
        new send accepted into the batch; raises the DomainError `message_send` would."""
        sender, channel_id = request.sender, request.channel_id
        key = (sender.pk, msg_uuid) if msg_uuid is not None else None
        if key is not None:
            stored = self._stored.get(key)
            if stored is not None:
                _refuse_reuse_elsewhere(used_in=stored.channel_id, channel_id=channel_id)
                return SendResult(stored, created=False)
            accepted = self._accepted.get(key)
            if accepted is not None:
                _refuse_reuse_elsewhere(used_in=accepted.request.channel_id, channel_id=channel_id)
                return _Resend(accepted)
        body = _send_body(request.body, attachment_ids=())
        channel, membership = self._access.check(user=sender, channel_id=channel_id)
        rendered = render_message(body, resolve_usernames=self._usernames)
        if rendered.mentions_everyone and self._org is None:
            self._org = organization_settings()
        _check_mention_all(sender=sender, rendered=rendered, org=self._org)
        send = _BatchedSend(request, msg_uuid, body, membership, rendered, channel.dm_key)
        if key is not None:
            self._accepted[key] = send
        self.sends.append(send)
        return send

    def write(self) -> None:
        """Insert every accepted send in one transaction and publish them after its commit.

        However many channels and messages, a constant number of statements: on PostgreSQL
        one (`_write_in_one_statement`), elsewhere one UPDATE that takes every channel's new
        seqs (see `_take_channel_seqs`), one INSERT for all messages, one for all mentions,
        one UPDATE of the senders' read positions. Raises IntegrityError (a concurrent send
        with one of the keys; on PostgreSQL also a channel deleted meanwhile) or NotFound (a
        channel deleted meanwhile) with everything rolled back.
        """
        if connection.vendor == "postgresql":
            self._write_in_one_statement()
            return
        by_channel: dict[int, list[_BatchedSend]] = {}
        for send in self.sends:
            by_channel.setdefault(send.request.channel_id, []).append(send)
        now = timezone.now()
        with transaction.atomic():
            last_seqs = _take_channel_seqs(
                {channel_id: len(sends) for channel_id, sends in by_channel.items()}, now=now
            )
            for channel_id, channel_sends in by_channel.items():
                first_seq = last_seqs[channel_id] - len(channel_sends) + 1
                for seq, send in enumerate(channel_sends, start=first_seq):
                    send.message = send.new_message(seq=seq, now=now)
            messages = Message.objects.bulk_create([_message_of(send) for send in self.sends])
            mentions = [
                mention
                for send, message in zip(self.sends, messages, strict=True)
                for mention in _mentions_of(message, send.rendered)
            ]
            if mentions:
                Mention.objects.bulk_create(mentions)
            # The senders have read what they wrote: each membership up to its last new seq.
            _mark_read_up_to({send.membership.pk: _message_of(send).seq for send in self.sends})
            for send in self.sends:
                _publish_message_new(
                    _message_of(send), sender=send.request.sender, rendered=send.rendered
                )
                _notify_listeners(send)

    def _write_in_one_statement(self) -> None:
        """`write` on PostgreSQL: one statement (`queries.send_batch_write`), so outside a
        transaction one round trip stores and commits the whole batch. Inside one (a caller's
        atomic block) it runs in a savepoint, so a refused batch leaves that transaction
        usable."""
        now = timezone.now()
        sends = self.sends
        rendered = [send.rendered for send in sends]
        params: dict[str, Any] = {
            "ord": list(range(len(sends))),
            "channel": [send.request.channel_id for send in sends],
            "sender": [send.request.sender.pk for send in sends],
            "membership": [send.membership.pk for send in sends],
            "client_msg_id": [send.client_msg_id for send in sends],
            "body": [send.body for send in sends],
            "html": [r.html for r in rendered],
            "everyone": [r.mentions_everyone for r in rendered],
            "mention_ord": [i for i, r in enumerate(rendered) for _ in r.mentioned_user_ids],
            "mention_user": [uid for r in rendered for uid in sorted(r.mentioned_user_ids)],
            "now": now,
        }
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            stored = queries.send_batch_write(params)
            if len(stored) != len(sends):  # every row or none: the statement would have failed
                raise RuntimeError("the batch statement stored a partial batch")
            alias = connection.alias
            for index, send in enumerate(sends):
                pk, seq = stored[index]
                send.message = send.new_message(seq=seq, now=now, stored_as=(pk, alias))
                _publish_message_new(
                    send.message, sender=send.request.sender, rendered=send.rendered
                )
                _notify_listeners(send)


def _stored_ids_query(keys: Sequence[SendKey]) -> tuple[str, list[Any]]:
    """Ids of the stored messages with one of these (sender, client_msg_id) keys (an empty
    query for no keys): `queries.stored_message_ids_query`."""
    return queries.stored_message_ids_query(keys)


def _take_channel_seqs(counts: Mapping[int, int], *, now: datetime) -> dict[int, int]:
    """Take `counts[channel_id]` new-message seqs in each channel; returns each one's last seq.

    The caller numbers a channel's messages `last - count + 1 .. last`, so seq stays dense.
    Locks the channel rows until commit, like `_next_channel_seq`. On PostgreSQL they are first
    locked in id order (the order every batch uses, so two batches cannot deadlock), then one
    UPDATE takes all the seqs; SQLite serialises writers anyway and needs only the UPDATE.
    Raises NotFound if a channel no longer exists (caller's transaction must roll back).
    Precondition: inside `transaction.atomic`.
    """
    last_seqs = queries.channels_take_seqs(counts, now=now)
    if len(last_seqs) != len(counts):
        raise NotFound(_("No such channel."), code="channel_not_found")
    return last_seqs


def _mark_read_up_to(last_read: Mapping[int, int]) -> None:
    """Raise each membership's last_read_seq to the given seq (never lower it): one UPDATE."""
    queries.memberships_mark_read_up_to(last_read)


def _notify_listeners(send: _BatchedSend) -> None:
    """Hand a stored send to the new-message listeners (apps.chat.hooks)."""
    notify_new_message(
        _message_of(send),
        mentioned_user_ids=send.rendered.mentioned_user_ids,
        dm_key=send.dm_key,
    )


def _message_of(send: _BatchedSend) -> Message:
    if send.message is None:
        raise RuntimeError("_SendBatch.write assigns every accepted send its message first")
    return send.message


def _sends_alone(requests: Sequence[SendRequest], keys: Sequence[SendKey | None]) -> set[int]:
    """Indexes of the requests that go through `message_send` one by one after the batch.

    Thread replies and messages with files take that path (they lock and update more rows),
    and so does any later request with the same key as one of them, which must see its
    outcome first.
    """
    alone: set[int] = set()
    alone_keys: set[SendKey] = set()
    for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
        if request.thread_root_id is not None or request.attachment_ids or key in alone_keys:
            alone.add(index)
            if key is not None:
                alone_keys.add(key)
    return alone


def _in_language_of(user: User) -> translation.override:
    """Domain errors are translated when raised: raise each request's in its sender's language."""
    return translation.override(user.language or settings.LANGUAGE_CODE)


class _SendersLanguages:
    """`_in_language_of` for the requests of a batch in turn, inside one `translation.override`
    that restores the caller's language at the end: the language is switched only where it
    changes from one sender to the next (two overrides per request were 5 % of a busy
    server's samples)."""

    def __enter__(self) -> _SendersLanguages:
        self._current = translation.get_language()
        self._restore = translation.override(self._current)
        self._restore.__enter__()
        return self

    def use(self, user: User) -> None:
        language = user.language or settings.LANGUAGE_CODE
        if language != self._current:
            translation.activate(language)
            self._current = language

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore.__exit__(exc_type, exc, traceback)


def _send_alone(request: SendRequest) -> SendResult | DomainError:
    with _in_language_of(request.sender):
        try:
            return message_send(
                sender=request.sender,
                channel_id=request.channel_id,
                body=request.body,
                client_msg_id=request.client_msg_id,
                thread_root_id=request.thread_root_id,
                attachment_ids=request.attachment_ids,
            )
        except DomainError as error:
            return error


def messages_send_batch(*, requests: Sequence[SendRequest]) -> list[SendResult | DomainError]:
    """Results in request order; equivalent to message_send(...) for each request in order,
    but the plain ones share one transaction (one COMMIT).

    Each outcome is what `message_send` returns or raises for that request, with the error
    message in the sender's language; a refused request does not stop the others. Plain sends
    (no thread, no files) cost a constant number of statements for the whole batch (see
    `_SendBatch.write`). Thread replies and messages with files, and later resends of their
    client_msg_id, go through `message_send` one by one after the batch has committed: their
    seq may therefore come after that of plain messages that followed them in the batch.
    If the shared INSERT meets a concurrent send of one of its client_msg_ids, or a channel
    vanishes, the batch is rolled back and every request is sent one by one instead.
    """
    if len(requests) > MAX_SEND_BATCH:
        return [
            outcome
            for start in range(0, len(requests), MAX_SEND_BATCH)
            for outcome in messages_send_batch(requests=requests[start : start + MAX_SEND_BATCH])
        ]
    outcomes: list[SendResult | DomainError | None] = [None] * len(requests)
    keys: list[SendKey | None] = []
    uuids: list[uuid.UUID | None] = []
    with _SendersLanguages() as languages:
        for index, request in enumerate(requests):
            msg_uuid: uuid.UUID | None = None
            languages.use(request.sender)
            try:
                msg_uuid = _parse_client_msg_id(request.client_msg_id)
            except DomainError as error:
                outcomes[index] = error
            uuids.append(msg_uuid)
            keys.append((request.sender.pk, msg_uuid) if msg_uuid is not None else None)
    alone = _sends_alone(requests, keys)
    batched = [
        index for index in range(len(requests)) if index not in alone and outcomes[index] is None
    ]
    duplicates: dict[int, _BatchedSend] = {}
    accepted: dict[int, _BatchedSend] = {}
    if batched:
        batch = _SendBatch([(requests[index], uuids[index]) for index in batched])
        with _SendersLanguages() as languages:
            checks: list[tuple[int, SendResult | _BatchedSend | _Resend]] = []
            for index in batched:
                request = requests[index]
                languages.use(request.sender)
                try:
                    checks.append((index, batch.check(request, uuids[index])))
                except DomainError as error:
                    outcomes[index] = error
        for index, checked in checks:
            if isinstance(checked, SendResult):
                outcomes[index] = checked
            elif isinstance(checked, _Resend):
                duplicates[index] = checked.of
            else:
                accepted[index] = checked
        if batch.sends:
            try:
                batch.write()
            except (IntegrityError, NotFound):
                return [_send_alone(request) for request in requests]
            MESSAGES_SENT.inc(len(batch.sends))  # one increment per batch
    for index, send in accepted.items():
        outcomes[index] = SendResult(_message_of(send), created=True)
    for index, send in duplicates.items():
        outcomes[index] = SendResult(_message_of(send), created=False)
    for index in sorted(alone):
        if outcomes[index] is None:
            outcomes[index] = _send_alone(requests[index])
    results = [outcome for outcome in outcomes if outcome is not None]
    if len(results) != len(requests):
        raise RuntimeError("messages_send_batch left a request without an outcome")
    return results
