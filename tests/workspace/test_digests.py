"""E-mail digests: which unread messages are e-mailed, once, how, and the unsubscribe link."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from apps.accounts.models import NotificationSettings, User
from apps.accounts.selectors import notification_settings_of
from apps.chat import services as chat
from apps.chat.models import Channel, Message
from apps.chat.presence import presence_store
from apps.ops.models import FeatureFlag
from apps.workspace import digests
from apps.workspace.models import DigestState
from tests.factories import UserFactory
from tests.workspace.smtp_server import smtp_server

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=31)  # past the default delay of 30 minutes


@pytest.fixture(autouse=True)
def digests_flag(db: None) -> None:
    FeatureFlag.objects.create(name=digests.FLAG, everyone=True)
    cache.clear()  # flags are cached with their members


@pytest.fixture
def me() -> User:
    return UserFactory(username="me", display_name="Me Myself", time_zone="Asia/Shanghai")


@pytest.fixture
def bob() -> User:
    return UserFactory(username="bob", display_name="Bob Builder")


@pytest.fixture
def room(me: User, bob: User) -> Channel:
    return chat.channel_create(creator=bob, kind="public", name="design", member_ids=[me.pk])


def send(sender: User, channel: Channel, body: str) -> int:
    return chat.message_send(sender=sender, channel_id=channel.pk, body=body).message.pk


def run(after: timedelta = LATER) -> int:
    return digests.digests_send_due(now=timezone.now() + after)


def outbox_for(user: User) -> list[Any]:
    return [m for m in mail.outbox if m.to == [user.email]]


# --- selection ------------------------------------------------------------------------------------


def test_unread_dm_and_mention_are_emailed_once_in_one_digest(
    me: User, bob: User, room: Channel
) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    direct = send(bob, dm, "are you coming to the review?")
    mention = send(bob, room, "@me can you check the mock-ups")
    send(bob, room, "general chatter, nobody mentioned")

    assert run() == 1
    assert run() == 0  # twice: once

    (sent,) = mail.outbox
    assert sent.to == [me.email]
    assert "are you coming to the review?" in sent.body
    assert "can you check the mock-ups" in sent.body
    assert "general chatter" not in sent.body
    state = DigestState.objects.get(user=me)
    assert state.last_message_id == max(direct, mention)
    assert state.last_sent_at is not None


def test_nothing_is_emailed_before_the_delay(me: User, bob: User) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "quick question")

    assert run(timedelta(minutes=29)) == 0
    assert run() == 1


def test_delay_is_a_setting(me: User, bob: User, settings: Any) -> None:
    settings.ENCLAVE_DIGEST_DELAY_MINUTES = 5
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "quick question")

    assert run(timedelta(minutes=6)) == 1


def test_message_read_meanwhile_is_not_emailed(me: User, bob: User) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "seen it?")
    chat.read_mark(user=me, channel_id=dm.pk, seq=Channel.objects.get(pk=dm.pk).last_seq)

    assert run() == 0
    assert mail.outbox == []


def test_mention_in_a_channel_i_left_is_not_emailed(me: User, bob: User, room: Channel) -> None:
    send(bob, room, "@me secret plans")
    chat.channel_leave(user=me, channel_id=room.pk)

    assert run() == 0


def test_deleted_message_is_not_emailed(me: User, bob: User) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    message_id = send(bob, dm, "oops, wrong person")
    chat.message_delete(user=bob, message_id=message_id)

    assert run() == 0


def test_later_messages_come_in_the_next_digest_and_earlier_ones_not_again(
    me: User, bob: User
) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "first")
    assert run() == 1
    # written after that run (its window ended 30 minutes before it)
    second = send(bob, dm, "second")
    Message.objects.filter(pk=second).update(created_at=timezone.now() + LATER)

    assert run(LATER * 2 + timedelta(minutes=1)) == 1

    first, second = outbox_for(me)
    assert "first" in first.body
    assert "second" in second.body
    assert "first" not in second.body


def test_nobody_gets_an_email_with_the_setting_off_or_without_an_address(
    me: User, bob: User
) -> None:
    NotificationSettings.objects.create(user=me, email_unread=False)
    cat = UserFactory(username="cat", email="")
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "hello me")
    send(bob, chat.dm_open(user=bob, user_ids=[cat.pk]), "hello cat")

    assert run() == 0


def test_nothing_is_sent_without_the_flag(me: User, bob: User) -> None:
    FeatureFlag.objects.filter(name=digests.FLAG).delete()
    cache.clear()
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello")

    assert run() == 0


def test_online_person_gets_no_email_and_that_window_is_not_emailed_later(
    me: User, bob: User
) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "while you were here")
    presence_store().set(me.pk, "tab-1", "online")
    try:
        assert run() == 0
    finally:
        presence_store().remove(me.pk, "tab-1")

    assert run(LATER + timedelta(minutes=1)) == 0
    assert DigestState.objects.get(user=me).last_sent_at is None


def test_away_person_gets_the_email(me: User, bob: User) -> None:
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello")
    presence_store().set(me.pk, "tab-1", "away")
    try:
        assert run() == 1
    finally:
        presence_store().remove(me.pk, "tab-1")


def test_muted_conversation_sends_mentions_only(me: User, bob: User, room: Channel) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    chat.membership_update_settings(user=me, channel_id=dm.pk, is_muted=True)
    chat.membership_update_settings(user=me, channel_id=room.pk, notification_level="nothing")
    send(bob, dm, "muted chatter")
    send(bob, room, "@me in a channel set to nothing")

    assert run() == 0


def test_a_failed_email_is_retried_on_the_next_run(me: User, bob: User) -> None:
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "try again")
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages",
        side_effect=OSError("mail server down"),
    ):
        assert run() == 0

    assert run() == 1
    assert "try again" in mail.outbox[0].body


def test_the_beat_task_sends_and_is_scheduled(me: User, bob: User) -> None:
    from apps.workspace.tasks import send_email_digests

    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello")
    with mock.patch("apps.workspace.digests.timezone.now") as now:
        now.return_value = datetime.now(tz=timezone.get_current_timezone()) + LATER
        assert send_email_digests.apply().get() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["workspace-email-digests"]
    assert entry["task"] == "apps.workspace.tasks.send_email_digests"


def _people_with_unread(count: int, sender: User, room: Channel, prefix: str) -> None:
    for n in range(count):
        person = UserFactory(username=f"{prefix}{n}")
        chat.channel_join(user=person, channel_id=room.pk)
        send(sender, chat.dm_open(user=sender, user_ids=[person.pk]), f"dm {n}")
        send(sender, room, f"@{prefix}{n} look")
        send(sender, room, "@all standup")


def _queries_of_a_run() -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return len(queries)


def test_query_count_does_not_grow_with_people_or_messages(bob: User, room: Channel) -> None:
    _people_with_unread(2, bob, room, "few")
    cache.clear()
    digests.digests_send_due(now=timezone.now())  # warm the flag cache, send nothing
    few = _queries_of_a_run()
    assert len(mail.outbox) == 3  # me and the two people

    DigestState.objects.all().delete()
    mail.outbox.clear()
    _people_with_unread(6, bob, room, "many")
    many = _queries_of_a_run()
    assert len(mail.outbox) == 9

    assert many == few
    # people, digest states, memberships, messages, mentions; the claim in a savepoint (the
    # test's transaction holds it): new state rows, locking them, updating them
    assert few == 10


# --- the e-mail -----------------------------------------------------------------------------------


def test_email_in_english_names_sender_channel_excerpt_and_links(
    me: User, bob: User, room: Channel
) -> None:
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    direct = send(bob, dm, "Lunch **today**?\n\nAt noon.")
    mention = send(bob, room, "@me please review")

    run()

    (sent,) = mail.outbox
    assert sent.subject == "2 unread messages on Enclave"
    assert sent.from_email == settings.DEFAULT_FROM_EMAIL
    base = settings.ENCLAVE_PUBLIC_URL.rstrip("/")
    text = sent.body
    assert "Hello Me Myself," in text
    assert "Direct message · Bob Builder" in text
    assert "Lunch today? At noon." in text  # the rendered text, not the Markdown
    assert f"{base}/c/{dm.pk}/?m={direct}" in text
    assert "#design · Bob Builder" in text
    assert "mentioned you" in text
    assert f"{base}/c/{room.pk}/?m={mention}" in text
    unsubscribe = f"{base}/email/unsubscribe/{digests.digest_unsubscribe_token(user=me)}/"
    assert unsubscribe in text
    assert sent.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ((html, mimetype),) = sent.alternatives
    assert mimetype == "text/html"
    assert f'href="{base}/c/{dm.pk}/?m={direct}"' in html
    assert "Bob Builder" in html
    assert "Stop these e-mails" in html
    # the time in my zone (Asia/Shanghai, UTC+8)
    local = timezone.localtime(timezone.now(), digests.zone_of("Asia/Shanghai"))
    assert local.strftime("%Y-%m-%d") in text


def test_email_escapes_what_people_wrote(me: User, bob: User) -> None:
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "<script>alert(1)</script> & co")

    run()

    ((html, _mimetype),) = mail.outbox[0].alternatives
    assert "<script>" not in html
    assert "&amp; co" in html


def test_long_digest_lists_the_first_messages_and_says_how_many_more(
    me: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "MAX_ITEMS", 2)
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    for n in range(5):
        send(bob, dm, f"note {n}")

    run()

    (sent,) = mail.outbox
    assert sent.subject == "5 unread messages on Enclave"
    assert "note 1" in sent.body
    assert "note 2" not in sent.body
    assert "…and 3 more." in sent.body


def _translated(text: str) -> bool:
    with translation.override("zh-hans"):
        return translation.gettext(text) != text


@pytest.mark.skipif(
    not _translated("Stop these e-mails"),
    reason="the zh-hans catalog does not hold the digest's strings yet",
)
def test_email_in_chinese_for_a_chinese_speaker(bob: User) -> None:
    me = UserFactory(username="zw", display_name="张伟", language="zh-hans")
    chat.channel_create(creator=bob, kind="public", name="设计", member_ids=[me.pk])
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "明天开会吗？")

    run()

    (sent,) = mail.outbox
    assert sent.subject == "Enclave 上有 1 条未读消息"
    assert "张伟，你好：" in sent.body
    assert "私信 · Bob Builder" in sent.body
    assert "明天开会吗？" in sent.body
    assert "停止接收这些邮件" in sent.alternatives[0][0]
    assert translation.get_language() == "en"  # the override ended


def test_email_language_follows_the_profile(bob: User) -> None:
    me = UserFactory(username="zw", language="zh-hans")
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "你好")
    seen = []
    original = digests.render_to_string

    def spy(*args: Any, **kwargs: Any) -> str:
        seen.append(translation.get_language())
        return original(*args, **kwargs)

    with mock.patch.object(digests, "render_to_string", spy):
        run()

    assert seen == ["zh-hans", "zh-hans"]


# --- unsubscribe ----------------------------------------------------------------------------------


def unsubscribe_path(user: User) -> str:
    return f"/email/unsubscribe/{digests.digest_unsubscribe_token(user=user)}/"


def test_unsubscribe_get_asks_and_changes_nothing(me: User) -> None:
    response = Client().get(unsubscribe_path(me))

    assert response.status_code == 200
    assert b"<form" in response.content
    assert b"Stop these e-mails" in response.content
    assert notification_settings_of(user=me).email_unread is True
    assert not NotificationSettings.objects.filter(user=me).exists()


def test_unsubscribe_post_turns_the_emails_off_without_signing_in(
    me: User, bob: User, captured_events: list[dict[str, Any]]
) -> None:
    # A mail provider's one-click unsubscribe (RFC 8058) carries no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        unsubscribe_path(me), {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    assert b"no more e-mails" in response.content
    assert notification_settings_of(user=me).email_unread is False
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello?")
    assert run() == 0


def test_tampered_unsubscribe_link_is_refused_with_a_clear_page(me: User) -> None:
    token = digests.digest_unsubscribe_token(user=me)
    other = UserFactory()
    other_token = digests.digest_unsubscribe_token(user=other)
    forged = f"{other_token.split(':')[0]}:{token.split(':')[1]}"  # my signature, their id

    for path in (f"/email/unsubscribe/{forged}/", f"/email/unsubscribe/{token}x/"):
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            assert response.status_code == 400
            assert b"not valid" in response.content
    assert notification_settings_of(user=me).email_unread is True
    assert notification_settings_of(user=other).email_unread is True


def test_link_signed_for_something_else_is_refused(me: User) -> None:
    from django.core import signing

    token = signing.Signer(salt="something.else").sign_object(me.pk)

    assert Client().post(f"/email/unsubscribe/{token}/").status_code == 400
    assert notification_settings_of(user=me).email_unread is True


def test_unsubscribe_page_is_in_the_persons_language(me: User) -> None:
    User.objects.filter(pk=me.pk).update(language="zh-hans")

    response = Client().get(unsubscribe_path(me))

    assert b'lang="zh-hans"' in response.content


# --- a real SMTP server ---------------------------------------------------------------------------


@pytest.fixture
def real_smtp(settings: Any) -> Iterator[Any]:
    with smtp_server() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = server.host
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        yield server


def test_digest_goes_through_a_real_smtp_server(me: User, bob: User, real_smtp: Any) -> None:
    cat = UserFactory(username="cat", display_name="猫")
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "over the wire, ünïcödé 你好")
    send(bob, chat.dm_open(user=bob, user_ids=[cat.pk]), "another one")

    assert run() == 2

    assert sorted(r.recipients[0] for r in real_smtp.received) == sorted([me.email, cat.email])
    (received,) = [r for r in real_smtp.received if r.recipients == [me.email]]
    assert received.sender == settings.DEFAULT_FROM_EMAIL
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert parsed["Subject"] == "1 unread message on Enclave"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "over the wire, ünïcödé 你好" in plain.get_content()
    assert "Bob Builder" in html.get_content()
    assert DigestState.objects.get(user=me).last_sent_at is not None


def test_unreachable_smtp_server_sends_nothing_and_retries_later(
    me: User, bob: User, real_smtp: Any, settings: Any
) -> None:
    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "later")
    port = real_smtp.port
    settings.EMAIL_PORT = 1  # nothing listens there

    assert run() == 0
    assert DigestState.objects.get(user=me).last_sent_at is None

    settings.EMAIL_PORT = port
    assert run() == 1
    assert len(real_smtp.received) == 1


def test_administrators_see_what_the_digests_covered(me: User, bob: User) -> None:
    from django.urls import reverse

    from apps.accounts.models import Role

    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello")
    run()
    admin = UserFactory(role=Role.ADMIN, is_staff=True)
    client = Client()
    client.force_login(admin)

    page = client.get(reverse("admin:workspace_digeststate_changelist"))

    assert page.status_code == 200
    assert me.username.encode() in page.content or b"Me Myself" in page.content
    state = DigestState.objects.get(user=me)
    change = client.get(reverse("admin:workspace_digeststate_change", args=[state.pk]))
    assert change.status_code == 200  # view only
    assert (
        client.post(reverse("admin:workspace_digeststate_delete", args=[state.pk])).status_code
        == 403
    )


def test_the_command_runs_the_digests_once(me: User, bob: User) -> None:
    from io import StringIO

    from django.core.management import call_command

    send(bob, chat.dm_open(user=bob, user_ids=[me.pk]), "hello")
    Message.objects.update(created_at=timezone.now() - LATER)
    out = StringIO()

    call_command("send_email_digests", stdout=out)

    assert out.getvalue().strip() == "1 e-mail digests sent."
    assert len(mail.outbox) == 1
