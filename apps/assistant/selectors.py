"""What the assistant may show an asker: retrieval over messages and files the asker may read *now*.

Every path goes through chat's and search's own permission-checked readers, with the asker as
the user: a question through `apps.search.selectors.search_messages` (the asker's channels
only), a summary through `channel_history` (`access_channel_read_position`), a thread through
`thread_messages` (`access_message_read`). Then, right before the passages are used,
`recheck` keeps only those whose channel the asker still belongs to, read fresh from the
database: a user removed from a channel while the assistant works gets none of it.

Files are retrieved by the same rule (`retrieve_files_for_question`): a passage of a file's text
(apps.assistant.file_index) is found only when the file is clean and not deleted, and the
message that carries it is not deleted and is in a channel the asker belongs to, all read in
the same query; the passage is cited as that message (its permalink) with the file's name, and
goes through the same `recheck`.

Nothing the asker writes can widen this: the question is only ever used as search words
inside these scopes, never as an instruction about where to look. Naming a channel
(`#secret`) asks `access_channel_read` about it like any other read.

Retrieval is full-text only: the search index (CJK bigrams and English stems). An embedding
model covering Chinese and English that loads offline from a package would make it hybrid;
none fits this server today (see docs/architecture/assistant.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse

from apps.accounts.models import User
from apps.assistant import queries
from apps.assistant.models import FilePassage
from apps.chat.models import Channel, Membership, Message
from apps.chat.permissions import access_channel_read
from apps.chat.selectors import MessageRow, channel_history, load_rows, thread_messages
from apps.core.cjk import CJK_CHARACTERS
from apps.core.errors import DomainError
from apps.files.models import AttachmentStatus
from apps.search.selectors import query_text, search_messages

MAX_TERMS = 8
HITS_PER_TERM = 30
MAX_PASSAGE_CHARS = 600
SUMMARY_MAX_MESSAGES = 100

_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'-]*")
_CHANNEL_REF = re.compile(r"(?<![\w#])#([\w-]{1,80})", re.UNICODE)

# Words that say nothing about what is asked (English), and characters that make a CJK
# bigram useless as a search term (particles, question words).
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "about",
        "into",
        "over",
        "under",
        "again",
        "there",
        "here",
        "any",
        "some",
        "all",
        "no",
        "not",
        "only",
        "so",
        "than",
        "too",
        "very",
        "just",
        "also",
        "please",
        "tell",
        "show",
        "give",
        "find",
        "know",
        "say",
        "said",
        "let",
        "us",
        "assistant",
        "ignore",
        "rules",
        "previous",
        "instructions",
    ]
)
_CJK_STOP_CHARACTERS = frozenset("的了吗呢吧啊是我你他她它们这那么哪谁怎请")


@dataclass(frozen=True)
class Passage:
    """A message the asker may read, as the assistant cites it."""

    message_id: int
    channel_id: int
    channel_name: str
    sender_name: str
    created_at: datetime
    text: str
    url: str  # the permalink: <public URL>/c/<channel>/?m=<message>
    score: float = 0.0
    # A passage of a file's text: the file's id and name (the message is the one carrying it).
    file_id: str = ""
    file_name: str = ""


def permalink(*, channel_id: int, message_id: int) -> str:
    """The address that opens the channel scrolled to the message (static/js/permalink.js):
    absolute, since chat messages link only to addresses with a scheme."""
    path = reverse("chat:channel", kwargs={"channel_id": channel_id})
    return f"{settings.ENCLAVE_PUBLIC_URL.rstrip('/')}{path}?m={message_id}"


def question_terms(question: str) -> list[str]:
    """The search words of a question: English words that carry meaning, and CJK bigrams
    without particles; at most `MAX_TERMS`, longest (most specific) first."""
    text = question.replace("@assistant", " ")
    words = [
        word.strip(".'-").lower()
        for word in _WORD.findall(_CJK_RUN.sub(" ", text))
        if word.strip(".'-").lower() not in _STOP_WORDS and len(word.strip(".'-")) > 1
    ]
    grams: list[str] = []
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            continue
        grams.extend(
            run[i : i + 2]
            for i in range(len(run) - 1)
            if not (set(run[i : i + 2]) & _CJK_STOP_CHARACTERS)
        )
    unique = list(dict.fromkeys([*words, *grams]))
    unique.sort(key=len, reverse=True)
    return unique[:MAX_TERMS]


def readable_channel_ids(*, user: User) -> set[int]:
    """The channels `user` belongs to, read now (the scope of every passage)."""
    if not user.is_active:
        return set()
    return set(Membership.objects.filter(user=user).values_list("channel_id", flat=True))


def recheck(*, user: User, passages: Iterable[Passage]) -> list[Passage]:
    """The passages whose channel `user` still belongs to, checked against the database now."""
    allowed = readable_channel_ids(user=user)
    return [passage for passage in passages if passage.channel_id in allowed]


def _channel_names(channel_ids: Iterable[int]) -> dict[int, str]:
    return {
        channel.pk: str(channel)
        for channel in Channel.objects.filter(pk__in=set(channel_ids)).only("id", "name", "kind")
    }


def _passages(rows: Sequence[MessageRow], scores: dict[int, float] | None = None) -> list[Passage]:
    names = _channel_names(row.channel_id for row in rows)
    return [
        Passage(
            message_id=row.id,
            channel_id=row.channel_id,
            channel_name=names.get(row.channel_id, ""),
            sender_name=row.sender_name,
            created_at=row.created_at,
            text=row.body[:MAX_PASSAGE_CHARS],
            url=permalink(channel_id=row.channel_id, message_id=row.id),
            score=(scores or {}).get(row.id, 0.0),
        )
        for row in rows
    ]


def retrieve_for_question(
    *, user: User, question: str, exclude_sender_ids: Iterable[int] = (), limit: int = 8
) -> list[Passage]:
    """Messages and passages of files `user` may read that best match `question`, best first.

    Both are scored alike (see `retrieve_messages_for_question`) and merged by score, so a
    file's passage ranks with the messages that hold as many of the rarer words.
    """
    messages = retrieve_messages_for_question(
        user=user, question=question, exclude_sender_ids=exclude_sender_ids, limit=limit
    )
    files = retrieve_files_for_question(user=user, question=question, limit=limit)
    merged = sorted([*messages, *files], key=lambda p: p.score, reverse=True)
    return merged[:limit]


def retrieve_messages_for_question(
    *, user: User, question: str, exclude_sender_ids: Iterable[int] = (), limit: int = 8
) -> list[Passage]:
    """Messages `user` may read that best match `question`, best first.

    Each term is searched on its own (search_messages, the asker's channels only); a message
    scores the inverse-frequency weight of each term it holds, so a message with more of the
    rarer words ranks first, and newer wins ties.
    """
    excluded = set(exclude_sender_ids)
    rows: dict[int, MessageRow] = {}
    scores: dict[int, float] = {}
    for term in question_terms(question):
        found = search_messages(user=user, query=term, limit=HITS_PER_TERM).results
        hits = [payload for payload in found if payload["sender_id"] not in excluded]
        if not hits:
            continue
        weight = 1.0 + math.log(HITS_PER_TERM / len(hits))
        for payload in hits:
            scores[payload["id"]] = scores.get(payload["id"], 0.0) + weight
    if not scores:
        return []
    best = sorted(scores, key=lambda message_id: (scores[message_id], message_id), reverse=True)
    for row in load_rows(best[:limit]):
        rows[row.id] = row
    ordered = [rows[message_id] for message_id in best[:limit] if message_id in rows]
    return recheck(user=user, passages=_passages(ordered, scores))


def _readable_file_passages(*, user: User) -> QuerySet[FilePassage]:
    """Passages of clean, undeleted files carried by undeleted messages of `user`'s channels:
    the whole permission rule for files, in one query's WHERE."""
    member_of = Membership.objects.filter(user_id=user.pk).values("channel_id")
    return FilePassage.objects.filter(
        attachment__status=AttachmentStatus.CLEAN,
        attachment__deleted_at__isnull=True,
        attachment__message__isnull=False,
        attachment__message__deleted_at__isnull=True,
        attachment__message__channel_id__in=member_of,
    )


def _file_passages_matching(*, user: User, term: str) -> list[int]:
    """The newest `HITS_PER_TERM` passages `user` may read that hold `term`."""
    if connection.vendor == "postgresql":
        return queries.file_passages_matching(
            user_id=user.pk, text=query_text(term), limit=HITS_PER_TERM
        )
    passages = _readable_file_passages(user=user).filter(text__icontains=term)
    return list(passages.order_by("-pk").values_list("pk", flat=True)[:HITS_PER_TERM])


def file_passages_matching_orm(*, user: User, term: str) -> list[int]:
    """`_file_passages_matching` on PostgreSQL through the ORM: what its SQL must equal."""
    return queries.file_passages_matching_orm(
        _readable_file_passages(user=user), text=query_text(term), limit=HITS_PER_TERM
    )


def retrieve_files_for_question(*, user: User, question: str, limit: int = 8) -> list[Passage]:
    """Passages of files `user` may read (see `_readable_file_passages`) that best match
    `question`, best first, scored like messages; cited as the message carrying the file."""
    if not user.is_active:
        return []
    scores: dict[int, float] = {}
    for term in question_terms(question):
        hits = _file_passages_matching(user=user, term=term)
        if not hits:
            continue
        weight = 1.0 + math.log(HITS_PER_TERM / len(hits))
        for passage_id in hits:
            scores[passage_id] = scores.get(passage_id, 0.0) + weight
    if not scores:
        return []
    best = sorted(scores, key=lambda pk: (scores[pk], pk), reverse=True)[:limit]
    rows = (
        _readable_file_passages(user=user)
        .filter(pk__in=best)
        .select_related("attachment__message__sender")
    )
    found = {row.pk: row for row in rows}
    names = _channel_names(
        row.attachment.message.channel_id
        for row in found.values()
        if row.attachment.message is not None  # always, by the query; for the type checker
    )
    passages = []
    for passage_id in best:
        row = found.get(passage_id)
        if row is None or row.attachment.message is None:
            continue
        message = row.attachment.message
        passages.append(
            Passage(
                message_id=message.pk,
                channel_id=message.channel_id,
                channel_name=names.get(message.channel_id, ""),
                sender_name=message.sender.name,
                created_at=message.created_at,
                text=row.text[:MAX_PASSAGE_CHARS],
                url=permalink(channel_id=message.channel_id, message_id=message.pk),
                score=scores[passage_id],
                file_id=str(row.attachment_id),
                file_name=row.attachment.original_name,
            )
        )
    return recheck(user=user, passages=passages)


def retrieve_channel_since(
    *, user: User, channel_id: int, since_seq: int, before_seq: int | None = None
) -> list[Passage]:
    """The messages of a channel `user` may read after position `since_seq` (and before
    `before_seq`), oldest first: the last `SUMMARY_MAX_MESSAGES` of them."""
    page = channel_history(
        user=user,
        channel_id=channel_id,
        before_seq=before_seq,
        limit=SUMMARY_MAX_MESSAGES,
    )
    rows = [row for row in page.messages if row.seq > since_seq and row.deleted_at is None]
    return recheck(user=user, passages=_passages(rows))


def retrieve_thread(*, user: User, root_id: int) -> list[Passage]:
    """A thread `user` may read: its root and replies, oldest first."""
    root, replies = thread_messages(user=user, root_id=root_id)
    rows = [MessageRow.of(m) for m in [root, *replies] if m.deleted_at is None]
    return recheck(user=user, passages=_passages(rows))


def named_channel(*, user: User, text: str) -> Channel | None:
    """The first `#name` in `text` that names a channel `user` may read, else None.

    A name the user may not read is treated like a name that does not exist (NotFound is
    swallowed): the answer then covers the conversation asked in, never the named channel.
    """
    for name in _CHANNEL_REF.findall(text):
        channel = Channel.objects.filter(name__iexact=name, kind__in=["public", "private"]).first()
        if channel is None:
            continue
        try:
            readable, membership = access_channel_read(user=user, channel_id=channel.pk)
        except DomainError:
            continue
        if membership is not None:
            return readable
    return None


def last_read_seq(*, user: User, channel_id: int) -> int:
    """The asker's read position in a channel (0 when not a member)."""
    return (
        Membership.objects.filter(user=user, channel_id=channel_id)
        .values_list("last_read_seq", flat=True)
        .first()
        or 0
    )


def previous_message_seq(*, user: User, channel_id: int, before_seq: int) -> int | None:
    """The position of the asker's own last message before `before_seq` in a channel."""
    return (
        Message.objects.filter(
            channel_id=channel_id, sender=user, seq__lt=before_seq, deleted_at__isnull=True
        )
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
