"""Interactive buttons on bot messages and link previews, against a real loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.chat import services as chat_services
from apps.chat.models import Message
from apps.core.errors import Forbidden, InvalidInput
from apps.integrations import previews, services, signing
from apps.integrations.models import Bot, LinkPreview, MessageActions
from tests.integrations.conftest import Setup
from tests.integrations.http_server import LoopbackServer, Received

pytestmark = pytest.mark.django_db


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- buttons -------------------------------------------------------------------------------------


@pytest.fixture
def bot_message(setup: Setup, loopback_server: LoopbackServer, loopback_allowed: None) -> Message:
    Bot.objects.filter(pk=setup.bot.pk).update(endpoint_url=loopback_server.url("/act"))
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[setup.bot.user_id]
    )
    return services.bot_message_send(
        user=setup.bot.user,
        channel_id=setup.channel.pk,
        body="Deploy billing to production?",
        actions=[
            {"id": "approve", "label": "Approve", "style": "primary"},
            {"id": "reject", "label": "Reject", "style": "danger"},
        ],
    )


def test_bot_posts_buttons_with_its_token(setup: Setup) -> None:
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[setup.bot.user_id]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {setup.bot_token}")
    response = client.post(
        reverse("integrations_api:bot-messages"),
        {
            "channel_id": setup.channel.pk,
            "body": "Build 7 failed",
            "actions": [{"id": "rerun", "label": "Rerun"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    row = MessageActions.objects.get(message_id=response.json()["message"]["id"])
    assert row.actions == [{"id": "rerun", "label": "Rerun", "style": "default"}]


def test_buttons_are_validated(setup: Setup) -> None:
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[setup.bot.user_id]
    )
    for bad in ([{"id": "a"}], [{"id": "a", "label": "A"}] * 2, [{"label": "x"}] * 6, "x"):
        with pytest.raises(InvalidInput):
            services.bot_message_send(
                user=setup.bot.user, channel_id=setup.channel.pk, body="x", actions=bad
            )


def test_people_cannot_post_buttons(setup: Setup) -> None:
    with pytest.raises(Forbidden):
        services.bot_message_send(
            user=setup.alice, channel_id=setup.channel.pk, body="x", actions=[]
        )


def test_click_is_sent_signed_and_the_answer_updates_the_message(
    setup: Setup,
    bot_message: Message,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def answer(request: Received) -> tuple[int, dict[str, str], bytes]:
        click = json.loads(request.body)
        text = f"Approved by {click['user_name']}"
        return 200, {}, json.dumps({"update": {"text": text, "actions": []}}).encode()

    loopback_server.route("/act", answer)
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(setup.bob).post(
            reverse(
                "integrations_api:action-click",
                kwargs={"message_id": bot_message.pk, "action_id": "approve"},
            )
        )
    assert response.status_code == 202
    request = loopback_server.requests[0]
    assert json.loads(request.body)["action_id"] == "approve"
    assert signing.verify(
        secret=setup.bot.signing_secret,
        timestamp=request.headers["x-enclave-request-timestamp"],
        signature_header=request.headers["x-enclave-signature"],
        body=request.body,
    )
    bot_message.refresh_from_db()
    assert bot_message.body == "Approved by bob"
    assert MessageActions.objects.get(message=bot_message).actions == []


def test_unknown_button_is_404(setup: Setup, bot_message: Message) -> None:
    response = _client(setup.bob).post(
        reverse(
            "integrations_api:action-click",
            kwargs={"message_id": bot_message.pk, "action_id": "nope"},
        )
    )
    assert (response.status_code, response.json()["code"]) == (404, "action_not_found")


# --- link previews --------------------------------------------------------------------------------

PAGE = b"""<!doctype html><html><head>
<meta charset="utf-8"><title>Fallback title</title>
<meta property="og:title" content="Deploy runbook &amp; checklist">
<meta name="description" content="How we ship billing.">
<meta property="og:image" content="/static/cover.png">
<meta property="og:site_name" content="Corp Wiki">
</head><body><h1>ignored</h1></body></html>"""


def test_parse_html_reads_open_graph_and_title() -> None:
    meta = previews.parse_html(PAGE, base_url="http://wiki.corp.example/runbook")
    assert meta == previews.PageMeta(
        title="Deploy runbook & checklist",
        description="How we ship billing.",
        image_url="http://wiki.corp.example/static/cover.png",
        site_name="Corp Wiki",
    )


def test_parse_html_chinese_page_in_gbk() -> None:
    page = "<html><head><title>部署手册</title></head></html>".encode("gbk")
    meta = previews.parse_html(page, base_url="http://x/", content_type="text/html; charset=gbk")
    assert meta.title == "部署手册"


def test_urls_in_message() -> None:
    body = "see http://a.example/x, and https://b.example/y。 also http://a.example/x"
    assert previews.urls_in(body) == ["http://a.example/x", "https://b.example/y"]


@pytest.fixture
def previews_on(setup: Setup, loopback_server: LoopbackServer) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="link_previews", everyone=True)
    cache.clear()
    services.integration_settings_update(actor=setup.admin, link_preview_hosts="127.0.0.1")


def test_preview_is_fetched_stored_and_published(
    setup: Setup,
    previews_on: None,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
    captured_events: list[dict[str, Any]],
) -> None:
    loopback_server.route("/runbook", lambda r: (200, {"Content-Type": "text/html"}, PAGE))
    url = loopback_server.url("/runbook")
    with django_capture_on_commit_callbacks(execute=True):
        message = chat_services.message_send(
            sender=setup.alice, channel_id=setup.channel.pk, body=f"read {url} first"
        ).message
    preview = LinkPreview.objects.get(message=message)
    assert (preview.title, preview.description) == (
        "Deploy runbook & checklist",
        "How we ship billing.",
    )
    assert preview.image_url == loopback_server.url("/static/cover.png")


def test_hosts_not_on_the_preview_list_are_not_fetched(
    setup: Setup,
    previews_on: None,
    loopback_server: LoopbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loopback_server.route("/p", lambda r: (200, {"Content-Type": "text/html"}, PAGE))
    url = f"http://localhost:{loopback_server.port}/p"
    with django_capture_on_commit_callbacks(execute=True):
        chat_services.message_send(sender=setup.alice, channel_id=setup.channel.pk, body=url)
    assert loopback_server.requests == []
    assert not LinkPreview.objects.exists()


def test_metadata_address_is_never_previewed(setup: Setup, previews_on: None) -> None:
    services.integration_settings_update(
        actor=setup.admin, link_preview_hosts="127.0.0.1\n169.254.169.254"
    )
    message = chat_services.message_send(
        sender=setup.alice,
        channel_id=setup.channel.pk,
        body="http://169.254.169.254/latest/meta-data/",
    ).message
    # A host entry is not a network entry: link-local stays refused (egress guard).
    assert services.link_previews_fetch(message_id=message.pk) == []


def test_oversized_page_gives_no_preview(
    setup: Setup, previews_on: None, loopback_server: LoopbackServer, settings: Any
) -> None:
    settings.ENCLAVE_LINK_PREVIEW_MAX_BYTES = 1000
    loopback_server.route(
        "/big", lambda r: (200, {"Content-Type": "text/html"}, PAGE + b" " * 2000)
    )
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body=loopback_server.url("/big")
    ).message
    assert services.link_previews_fetch(message_id=message.pk) == []


def test_sender_removes_a_preview_others_cannot(
    setup: Setup, previews_on: None, loopback_server: LoopbackServer
) -> None:
    loopback_server.route("/runbook", lambda r: (200, {"Content-Type": "text/html"}, PAGE))
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body=loopback_server.url("/runbook")
    ).message
    (preview,) = services.link_previews_fetch(message_id=message.pk)
    path = reverse("integrations_api:link-preview", kwargs={"preview_id": preview.pk})
    refused = _client(setup.bob).delete(path)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_message_sender")
    assert _client(setup.alice).delete(path).status_code == 204
    extras = _client(setup.bob).get(
        reverse("integrations_api:message-extras", kwargs={"channel_id": setup.channel.pk}),
        {"ids": str(message.pk)},
    )
    assert extras.json()["previews"] == {}


@pytest.mark.django_db(transaction=True)
def test_preview_event_reaches_the_channel(
    setup: Setup,
    previews_on: None,
    loopback_server: LoopbackServer,
    captured_events: list[dict[str, Any]],
) -> None:
    loopback_server.route("/runbook", lambda r: (200, {"Content-Type": "text/html"}, PAGE))
    message = chat_services.message_send(
        sender=setup.alice, channel_id=setup.channel.pk, body=loopback_server.url("/runbook")
    ).message
    updates = [e for e in captured_events if e["type"] == "link_preview.updated"]
    assert updates
    assert updates[-1]["message_id"] == message.pk
    assert updates[-1]["previews"][0]["title"] == "Deploy runbook & checklist"
    assert updates[-1]["topics"] == [f"chan.{setup.channel.pk}"]
