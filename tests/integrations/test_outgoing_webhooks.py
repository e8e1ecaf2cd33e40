"""Outgoing webhooks against a real loopback HTTP server: trigger words and mentions, the
HMAC-SHA256 signature over timestamp and body, retries with exponential backoff, replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.chat import services as chat_services
from apps.chat.models import Message
from apps.integrations import services, signing, tasks
from apps.integrations.models import OutgoingDelivery, OutgoingWebhook
from tests.integrations.conftest import Setup
from tests.integrations.http_server import LoopbackServer, Received

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(setup: Setup, loopback_server: LoopbackServer, loopback_allowed: None) -> OutgoingWebhook:
    return services.outgoing_webhook_create(
        actor=setup.admin,
        bot_id=setup.bot.pk,
        channel_id=setup.channel.pk,
        name="Echo",
        url=loopback_server.url("/hook"),
        trigger_words="echo !deploy",
    )


def _post(setup: Setup, body: str, capture: Any) -> Message:
    with capture(execute=True):
        return chat_services.message_send(
            sender=setup.alice, channel_id=setup.channel.pk, body=body
        ).message


def _reply(text: str, **more: Any) -> Any:
    return lambda r: (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"text": text, **more}).encode(),
    )


def test_trigger_word_sends_a_signed_request_and_posts_the_reply(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loopback_server.route("/hook", _reply("pong"))
    message = _post(setup, "echo hello", django_capture_on_commit_callbacks)

    assert len(loopback_server.requests) == 1
    request = loopback_server.requests[0]
    payload = json.loads(request.body)
    assert payload["text"] == "echo hello"
    assert payload["trigger_word"] == "echo"
    assert payload["message_id"] == message.pk
    assert payload["user_name"] == "alice"
    timestamp = request.headers["x-enclave-request-timestamp"]
    expected = signing.signature(
        secret=hook.signing_secret, timestamp=int(timestamp), body=request.body
    )
    assert request.headers["x-enclave-signature"] == expected
    assert expected.startswith("v1=")
    reply = Message.objects.filter(channel=setup.channel).latest("seq")
    assert (reply.sender_id, reply.body) == (setup.bot.user_id, "pong")
    assert OutgoingDelivery.objects.get().state == OutgoingDelivery.State.DELIVERED


def test_reply_in_thread(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loopback_server.route("/hook", _reply("on it", thread=True))
    message = _post(setup, "!deploy billing", django_capture_on_commit_callbacks)
    reply = Message.objects.filter(channel=setup.channel).latest("seq")
    assert reply.thread_root_id == message.pk


def test_mention_of_the_bot_triggers(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loopback_server.route("/hook", lambda r: (204, {}, b""))
    _post(setup, "hey @cibot what's up", django_capture_on_commit_callbacks)
    assert len(loopback_server.requests) == 1
    assert json.loads(loopback_server.requests[0].body)["trigger_word"] is None


def test_other_messages_send_nothing(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _post(setup, "nothing to see, echo in the middle", django_capture_on_commit_callbacks)
    assert loopback_server.requests == []
    assert not OutgoingDelivery.objects.exists()


def test_bot_replies_do_not_trigger_again(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loopback_server.route("/hook", _reply("echo loop?"))
    _post(setup, "echo once", django_capture_on_commit_callbacks)
    assert len(loopback_server.requests) == 1


def test_failures_are_retried_with_exponential_backoff(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Answers 500, 500, then 200: three attempts, waits of 2 s then 4 s, then delivered."""
    statuses = iter([500, 500, 200])
    loopback_server.route("/hook", lambda r: (next(statuses), {}, b""))
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body="echo retry"
    ).message
    countdowns: list[int] = []

    class Retry(Exception):
        pass

    def fake_retry(*, countdown: int) -> Exception:
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.deliver_outgoing, "retry", fake_retry)
    (delivery_id,) = services.outgoing_deliveries_create(message_id=message.pk)
    for attempt in range(3):
        tasks.deliver_outgoing.push_request(retries=attempt)
        try:
            tasks.deliver_outgoing.run(delivery_id)
        except Retry:
            pass
        finally:
            tasks.deliver_outgoing.pop_request()
    assert countdowns == [2, 4]
    delivery = OutgoingDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.attempts) == (OutgoingDelivery.State.DELIVERED, 3)
    assert len(loopback_server.requests) == 3


def test_gives_up_after_the_last_attempt(
    setup: Setup, hook: OutgoingWebhook, loopback_server: LoopbackServer
) -> None:
    loopback_server.route("/hook", lambda r: (503, {}, b""))
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body="echo down"
    ).message
    (delivery_id,) = services.outgoing_deliveries_create(message_id=message.pk)
    outcomes = [services.outgoing_deliver(delivery_id=delivery_id) for _ in range(5)]
    assert [o.retry for o in outcomes] == [True, True, True, True, False]
    delivery = OutgoingDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.last_error) == (OutgoingDelivery.State.FAILED, "HTTP 503")


def test_refused_address_fails_at_once_without_retry(
    setup: Setup, loopback_server: LoopbackServer, settings: Any
) -> None:
    hook = services.outgoing_webhook_create(
        actor=setup.admin,
        bot_id=setup.bot.pk,
        channel_id=setup.channel.pk,
        name="Internal",
        url=loopback_server.url("/hook"),
        trigger_words="echo",
    )
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body="echo x"
    ).message
    (delivery_id,) = services.outgoing_deliveries_create(message_id=message.pk)
    outcome = services.outgoing_deliver(delivery_id=delivery_id)
    assert (outcome.done, outcome.retry) == (True, False)
    delivery = OutgoingDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.last_error) == (
        OutgoingDelivery.State.FAILED,
        "egress_refused",
    )
    assert loopback_server.requests == []
    assert hook.pk


def test_slow_endpoint_counts_as_a_failed_attempt(
    setup: Setup, hook: OutgoingWebhook, loopback_server: LoopbackServer, settings: Any
) -> None:
    import time

    settings.ENCLAVE_INTEGRATION_TIMEOUT_SECONDS = 0.3

    def slow(_r: Received) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1)
        return 200, {}, b""

    loopback_server.route("/hook", slow)
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body="echo slow"
    ).message
    (delivery_id,) = services.outgoing_deliveries_create(message_id=message.pk)
    outcome = services.outgoing_deliver(delivery_id=delivery_id)
    assert outcome.retry
    assert OutgoingDelivery.objects.get(pk=delivery_id).last_error == "egress_timeout"


def test_revoked_webhook_sends_nothing(
    setup: Setup,
    hook: OutgoingWebhook,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.outgoing_webhook_revoke(actor=setup.admin, webhook_id=hook.pk)
    _post(setup, "echo anyone?", django_capture_on_commit_callbacks)
    assert loopback_server.requests == []


def test_signature_verification_refuses_tampering_and_old_timestamps() -> None:
    import time

    body = b'{"text": "hi"}'
    headers = signing.signed_headers(secret="k", body=body)
    ts, sig = headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    assert signing.verify(secret="k", timestamp=ts, signature_header=sig, body=body)
    assert not signing.verify(secret="k", timestamp=ts, signature_header=sig, body=body + b" ")
    assert not signing.verify(secret="other", timestamp=ts, signature_header=sig, body=body)
    old = signing.signed_headers(secret="k", body=body, now=time.time() - 600)
    assert not signing.verify(
        secret="k",
        timestamp=old[signing.TIMESTAMP_HEADER],
        signature_header=old[signing.SIGNATURE_HEADER],
        body=body,
    )
