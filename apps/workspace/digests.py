"""E-mail digests: unread direct messages and mentions, e-mailed once after a delay.

A Celery beat task (`apps.workspace.tasks.send_email_digests`) calls `digests_send_due` every
`ENCLAVE_DIGEST_CHECK_SECONDS`. For each person with an e-mail address whose notification
settings keep `email_unread` on (the default) and who has the `email_digests` flag, it takes
the direct messages and mentions that are

- older than `ENCLAVE_DIGEST_DELAY_MINUTES` and newer than what their last digest covered
  (`DigestState.covered_until`; at most `LOOKBACK` old, so a first run or a stopped beat does
  not e-mail the past),
- still unread now (chat's read position, `Membership.last_read_seq`): a message read
  meanwhile is never e-mailed,
- in a conversation they are still a member of (which is also what lets them read it: a
  mention in a channel they left is not e-mailed), not archived, whose notification level is
  not "nothing"; a muted or "mentions only" conversation's direct messages are left out, its
  mentions are not (the web client's desktop notifications follow the same rule),

and sends ONE e-mail with all of them (plain text and HTML, in their language), unless they
are online right now: then nothing is sent and the window moves on (they have the unread
badges in front of them).

Nothing twice: the window a person's digest covered is claimed in one short transaction (their
`DigestState` rows locked, compared with what the selection read, updated) before the e-mails
go out; a failed e-mail gives its claim back, so the next run tries again. The e-mails are sent
outside any transaction: on SQLite a write transaction would hold up every writer meanwhile.

Per batch of `BATCH_SIZE` people the queries are fixed (people, states, memberships,
messages, mentions, the claim), whatever the number of messages or channels.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts.models import NotificationSettings, User
from apps.accounts.services import notification_settings_update
from apps.chat.models import (
    DIRECT_KINDS,
    Channel,
    ChannelKind,
    Membership,
    Mention,
    Message,
    NotificationLevel,
)
from apps.chat.presence import ONLINE, presence_store
from apps.core.errors import InvalidInput
from apps.core.features import feature_enabled
from apps.workspace.models import DigestState
from apps.workspace.permissions import channel_label
from apps.workspace.reminder_times import zone_of

logger = logging.getLogger(__name__)

FLAG = "email_digests"
# People looked at per batch (one set of queries each).
BATCH_SIZE = 200
# A digest never reaches further back than this (a first digest, or after the beat stopped).
LOOKBACK = timedelta(days=1)
# Messages listed in one e-mail at most; the e-mail says how many more there are.
MAX_ITEMS = 50
EXCERPT_LENGTH = 200
UNSUBSCRIBE_SALT = "enclave.workspace.digest-unsubscribe"
# The window of someone no digest ever covered starts here (then LOOKBACK clips it).
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)
# Where one block of rendered HTML ends: a space in the excerpt, so words do not run together.
_BLOCK_END = re.compile(r"<(?:br|/p|/li|/h[1-6]|/pre|/blockquote|/tr|/td)\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class DigestItem:
    """One message in a digest (read only through the person's memberships)."""

    message_id: int
    channel_id: int
    channel: Channel
    sender_name: str
    excerpt: str
    created_at: datetime
    is_mention: bool


@dataclass
class PendingDigest:
    """What one person's next digest would hold, and the window it covers."""

    user: User
    items: list[DigestItem] = field(default_factory=list)
    previous: DigestState | None = None


# --- reads ----------------------------------------------------------------------------------------


def _recipients(*, after_user_id: int, batch_size: int) -> list[User]:
    """People who may get digests: active humans with an address and e-mail on (the default
    when they never changed their notification settings)."""
    e_mail_on = ~Exists(
        NotificationSettings.objects.filter(user=OuterRef("pk"), email_unread=False)
    )
    return list(
        User.objects.filter(e_mail_on, pk__gt=after_user_id, is_active=True, is_bot=False)
        .exclude(email="")
        .order_by("pk")[:batch_size]
    )


def message_excerpt(rendered_html: str, *, length: int = EXCERPT_LENGTH) -> str:
    """What a message says as its reader sees it (mentions carry display names), in one line."""
    text = html.unescape(strip_tags(_BLOCK_END.sub(" ", rendered_html)))
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def digests_pending(*, users: Sequence[User], cutoff: datetime) -> list[PendingDigest]:
    """The digest each of `users` would get for messages created up to `cutoff` (only those
    with something in it). Five queries whatever the number of people or messages."""
    if not users:
        return []
    user_ids = [user.pk for user in users]
    states = {state.user_id: state for state in DigestState.objects.filter(user_id__in=user_ids)}
    floor = cutoff - LOOKBACK
    starts = {
        user.pk: max(states[user.pk].covered_until if user.pk in states else _NEVER, floor)
        for user in users
    }
    memberships = list(
        Membership.objects.filter(
            user_id__in=user_ids,
            channel__last_seq__gt=F("last_read_seq"),
            channel__is_archived=False,
        )
        .exclude(notification_level=NotificationLevel.NOTHING)
        .select_related("channel")
    )
    if not memberships:
        return []
    channel_ids = {m.channel_id for m in memberships}
    direct_ids = {m.channel_id for m in memberships if m.channel.kind in DIRECT_KINDS}
    mentions_someone_here = Exists(
        Mention.objects.filter(message=OuterRef("pk"), user_id__in=user_ids)
    )
    # Read messages of these channels come along too (the read positions differ per person);
    # the window and the direct-or-mention condition keep them few, and Python drops them.
    messages = list(
        Message.objects.filter(
            Q(channel_id__in=direct_ids) | Q(mentions_everyone=True) | Q(mentions_someone_here),
            channel_id__in=channel_ids,
            deleted_at__isnull=True,
            created_at__gt=min(starts.values()),
            created_at__lte=cutoff,
        )
        .select_related("sender")
        .order_by("created_at", "pk")
    )
    if not messages:
        return []
    mentioned = set(
        Mention.objects.filter(
            message_id__in=[m.pk for m in messages], user_id__in=user_ids
        ).values_list("message_id", "user_id")
    )
    by_channel: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        by_channel[message.channel_id].append(message)
    memberships_of: dict[int, list[Membership]] = defaultdict(list)
    for membership in memberships:
        memberships_of[membership.user_id].append(membership)

    pending = []
    for user in users:
        digest = PendingDigest(user=user, previous=states.get(user.pk))
        for membership in memberships_of[user.pk]:
            channel = membership.channel
            direct_wanted = (
                channel.kind in DIRECT_KINDS
                and not membership.is_muted
                and membership.notification_level != NotificationLevel.MENTIONS
            )
            for message in by_channel[membership.channel_id]:
                if (
                    message.seq <= membership.last_read_seq
                    or message.sender_id == user.pk
                    or message.created_at <= starts[user.pk]
                ):
                    continue
                is_mention = message.mentions_everyone or (message.pk, user.pk) in mentioned
                if is_mention or direct_wanted:
                    digest.items.append(
                        DigestItem(
                            message_id=message.pk,
                            channel_id=channel.pk,
                            channel=channel,
                            sender_name=message.sender.name,
                            excerpt=message_excerpt(message.html),
                            created_at=message.created_at,
                            is_mention=is_mention,
                        )
                    )
        if digest.items:
            digest.items.sort(key=lambda item: (item.created_at, item.message_id))
            pending.append(digest)
    return pending


# --- the e-mail -----------------------------------------------------------------------------------


def _public_url(path: str) -> str:
    return f"{settings.ENCLAVE_PUBLIC_URL.rstrip('/')}{path}"


def digest_unsubscribe_token(*, user: User) -> str:
    """The signed token of `user`'s unsubscribe link: the same in every digest, with no expiry
    (an old e-mail's link keeps working)."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(user.pk)


def digest_unsubscribe_url(*, user: User) -> str:
    token = digest_unsubscribe_token(user=user)
    return _public_url(reverse("workspace:digest-unsubscribe", kwargs={"token": token}))


def _conversation_label(channel: Channel) -> str:
    if channel.kind == ChannelKind.DIRECT:
        return _("Direct message")
    if channel.kind == ChannelKind.GROUP:
        return _("Group conversation")
    return channel_label(channel)


def digest_email(*, digest: PendingDigest) -> EmailMultiAlternatives:
    """`digest` as one e-mail (plain text and HTML) in the person's language, with a link to
    each message and a one-click unsubscribe (RFC 8058 headers too)."""
    user = digest.user
    zone = zone_of(user.time_zone)
    unsubscribe_url = digest_unsubscribe_url(user=user)
    shown = digest.items[:MAX_ITEMS]
    with translation.override(user.language or settings.LANGUAGE_CODE):
        count = len(digest.items)
        subject = ngettext(
            "%(count)s unread message on Enclave",
            "%(count)s unread messages on Enclave",
            count,
        ) % {"count": count}
        context = {
            "user_name": user.name,
            "count": count,
            "more": count - len(shown),
            "items": [
                {
                    "conversation": _conversation_label(item.channel),
                    "sender": item.sender_name,
                    "excerpt": item.excerpt or _("(no text)"),
                    "time": timezone.localtime(item.created_at, zone).strftime("%Y-%m-%d %H:%M"),
                    "is_mention": item.is_mention,
                    "url": _public_url(f"/c/{item.channel_id}/?m={item.message_id}"),
                }
                for item in shown
            ],
            "open_url": _public_url("/"),
            "unsubscribe_url": unsubscribe_url,
        }
        text = render_to_string("workspace/email/digest.txt", context)
        html_body = render_to_string("workspace/email/digest.html", context)
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    email.attach_alternative(html_body, "text/html")
    return email


# --- writes ---------------------------------------------------------------------------------------


@transaction.atomic
def _claim(
    pending: list[PendingDigest], *, cutoff: datetime, now: datetime, sending: set[int]
) -> list[PendingDigest]:
    """Move each person's window to `cutoff` unless another run did meanwhile; returns the
    digests claimed. `sending`: whose digest is e-mailed (the others were online)."""
    user_ids = [digest.user.pk for digest in pending]
    DigestState.objects.bulk_create(
        [
            DigestState(user_id=digest.user.pk, covered_until=_NEVER)
            for digest in pending
            if digest.previous is None
        ],
        ignore_conflicts=True,
    )
    rows = {
        row.user_id: row
        # In user order, so that two runs locking the same people cannot deadlock.
        for row in DigestState.objects.select_for_update()
        .filter(user_id__in=user_ids)
        .order_by("user_id")
    }
    claimed, changed = [], []
    for digest in pending:
        row = rows[digest.user.pk]
        seen = digest.previous.covered_until if digest.previous is not None else _NEVER
        if row.covered_until != seen:
            continue  # another run covered this person meanwhile
        row.covered_until = cutoff
        if digest.user.pk in sending:
            row.last_sent_at = now
            row.last_message_id = max(item.message_id for item in digest.items)
            claimed.append(digest)
        changed.append(row)
    DigestState.objects.bulk_update(
        changed, ["covered_until", "last_sent_at", "last_message_id"], batch_size=BATCH_SIZE
    )
    return claimed


def _give_back(digest: PendingDigest, *, cutoff: datetime) -> None:
    """An e-mail that failed: the next run covers its window again."""
    previous = digest.previous
    DigestState.objects.filter(user_id=digest.user.pk, covered_until=cutoff).update(
        covered_until=previous.covered_until if previous else _NEVER,
        last_sent_at=previous.last_sent_at if previous else None,
        last_message_id=previous.last_message_id if previous else 0,
    )


def _deliver(pending: list[PendingDigest], *, cutoff: datetime, now: datetime) -> int:
    """Claim and e-mail `pending` (skipping whoever is online now); how many were sent."""
    if not pending:
        return 0
    status = presence_store().status_of([digest.user.pk for digest in pending])
    sending = {digest.user.pk for digest in pending if status.get(digest.user.pk) != ONLINE}
    claimed = _claim(pending, cutoff=cutoff, now=now, sending=sending)
    if not claimed:
        return 0
    sent = 0
    connection = get_connection()
    try:
        connection.open()
    except Exception:
        logger.exception("e-mail digests: cannot reach the mail server; retried next run")
        for digest in claimed:
            _give_back(digest, cutoff=cutoff)
        return 0
    try:
        for digest in claimed:
            try:
                sent += connection.send_messages([digest_email(digest=digest)]) or 0
            except Exception:
                logger.exception(
                    "e-mail digest for user %s failed; retried next run", digest.user.pk
                )
                _give_back(digest, cutoff=cutoff)
    finally:
        connection.close()
    return sent


def digests_send_due(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """E-mail every digest due at `now` (default: the clock), people in batches of
    `batch_size`; returns how many e-mails went out. Safe to run on several workers at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ENCLAVE_DIGEST_DELAY_MINUTES)
    after_user_id, sent = 0, 0
    while True:
        users = _recipients(after_user_id=after_user_id, batch_size=batch_size)
        if not users:
            break
        after_user_id = users[-1].pk
        wanted = [user for user in users if feature_enabled(user=user, name=FLAG)]
        sent += _deliver(digests_pending(users=wanted, cutoff=cutoff), cutoff=cutoff, now=now)
        if len(users) < batch_size:
            break
    return sent


def digest_unsubscribe_user(*, token: str) -> User:
    """Whose unsubscribe link `token` is; a tampered or unknown one is refused."""
    try:
        user_id = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature:
        user_id = None
    user = User.objects.filter(pk=user_id).first() if isinstance(user_id, int) else None
    if user is None:
        raise InvalidInput(
            _("This unsubscribe link is not valid. Copy the whole link from the e-mail."),
            code="unsubscribe_link_invalid",
        )
    return user


def digest_unsubscribe(*, token: str) -> User:
    """Turn e-mail digests off for the owner of the unsubscribe link `token` (no sign-in
    needed: the signature is the proof); their open tabs are told."""
    user = digest_unsubscribe_user(token=token)
    notification_settings_update(user=user, email_unread=False)
    return user
