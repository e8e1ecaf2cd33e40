"""Incoming webhooks: real payload samples (tests/integrations/payloads/) posted to the secret
URL end up as the bot's messages in the channel, through the normal send service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.chat.models import Message
from apps.integrations import services
from apps.integrations.formats import slack_mrkdwn
from tests.integrations.conftest import Setup, payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook_url(setup: Setup) -> str:
    _hook, raw = services.incoming_webhook_create(
        actor=setup.admin, bot_id=setup.bot.pk, channel_id=setup.channel.pk, name="CI"
    )
    return f"/hooks/{raw}/"


def _post(url: str, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return Client().post(url, data=data, content_type="application/json", **extra)


def _last_message(setup: Setup) -> Message:
    return Message.objects.filter(channel=setup.channel).latest("seq")


def test_slack_text_posts_as_the_bot(setup: Setup, hook_url: str) -> None:
    response = _post(hook_url, {"text": "Build *green* <https://ci.example/1|#1>"})

    assert response.status_code == 200, response.content
    message = _last_message(setup)
    assert message.sender_id == setup.bot.user_id
    assert message.body == "Build **green** [#1](https://ci.example/1)"
    assert response.json() == {"ok": True, "message_id": message.pk}


def test_slack_attachments_become_markdown(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url, payload("slack_attachments.json")).status_code == 200
    body = _last_message(setup).body
    assert body.startswith(
        "Deployment of **billing** finished. [Build 812](https://ci.corp.example/builds/812)"
    )
    assert "**[Slack API Documentation](https://api.slack.com/)**" in body
    assert "- **Priority**: High" in body


def test_slack_blocks_become_markdown(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url, payload("slack_blocks.json")).status_code == 200
    body = _last_message(setup).body
    assert body.splitlines()[0] == "### New request"
    assert "[Overlook Hotel](https://example.com)" in body
    assert "- **Average Rating**\n1.0" in body
    assert "_Submitted by danny_" in body
    # With blocks, Slack's `text` is only the notification fallback.
    assert "1 star review" not in body


def test_slack_form_encoded_payload(setup: Setup, hook_url: str) -> None:
    from urllib.parse import urlencode

    response = Client().post(
        hook_url,
        data=urlencode({"payload": json.dumps({"text": "from a form"})}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert _last_message(setup).body == "from a form"


def test_gitlab_push(setup: Setup, hook_url: str) -> None:
    response = _post(
        hook_url + "gitlab/", payload("gitlab_push.json"), HTTP_X_GITLAB_EVENT="Push Hook"
    )
    assert response.status_code == 200, response.content
    lines = _last_message(setup).body.splitlines()
    assert lines[0] == (
        "John Smith pushed 4 commit(s) to `master` in "
        "[mike/diaspora](http://example.com/mike/diaspora)"
    )
    assert lines[1].startswith("- [b6568db1](http://example.com/mike/diaspora/commit/b6568db1")
    assert lines[1].endswith("Update Catalan translation to e38cb41. (Jordi Mallach)")


def test_gitlab_merge_request(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url + "gitlab/", payload("gitlab_merge_request.json")).status_code == 200
    assert _last_message(setup).body == (
        "Administrator open merge request "
        "[!1 MS-Viewport](http://example.com/diaspora/merge_requests/1) in gitlabhq/gitlab-test\n"
        "`ms-viewport` → `master`"
    )


def test_gitlab_pipeline_lists_failed_jobs(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url + "gitlab/", payload("gitlab_pipeline.json")).status_code == 200
    body = _last_message(setup).body
    assert body.startswith(
        "❌ Pipeline [#31](http://example.com/gitlab-org/gitlab-test/-/pipelines/31) failed "
        "for `master` in gitlab-org/gitlab-test"
    )
    assert body.endswith("Failed jobs: test-build")


def test_gitlab_unsupported_event_is_400(setup: Setup, hook_url: str) -> None:
    response = _post(hook_url + "gitlab/", {"object_kind": "wiki_page"})
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_event"


def test_jenkins_notification(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url + "jenkins/", payload("jenkins.json")).status_code == 200
    assert _last_message(setup).body == (
        "❌ Jenkins **Asgard** [#18](http://localhost:8080/job/asgard/18/): completed FAILURE\n"
        "`origin/master` c6d86dc7"
    )


def test_alertmanager_group(setup: Setup, hook_url: str) -> None:
    assert _post(hook_url + "alertmanager/", payload("alertmanager.json")).status_code == 200
    lines = _last_message(setup).body.splitlines()
    assert lines[0] == "🔥 **[FIRING:2] HighDiskUsage**"
    assert lines[1].startswith(
        "- [critical] `db-1:9100` Disk usage on db-1 is above 90% ([source]("
    )
    assert len(lines) == 3


def test_unknown_token_is_404(setup: Setup, hook_url: str) -> None:
    response = _post("/hooks/whk_nope/", {"text": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "webhook_not_found"


def test_revoked_webhook_is_404(setup: Setup) -> None:
    hook, raw = services.incoming_webhook_create(
        actor=setup.admin, bot_id=setup.bot.pk, channel_id=setup.channel.pk, name="old"
    )
    services.incoming_webhook_revoke(actor=setup.admin, webhook_id=hook.pk)
    assert _post(f"/hooks/{raw}/", {"text": "x"}).status_code == 404


def test_deactivated_bot_is_403(setup: Setup, hook_url: str) -> None:
    services.bot_deactivate(actor=setup.admin, bot_id=setup.bot.pk)
    response = _post(hook_url, {"text": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "bot_deactivated"


def test_unknown_format_is_404(hook_url: str) -> None:
    response = _post(hook_url + "teams/", {"text": "x"})
    assert (response.status_code, response.json()["code"]) == (404, "unknown_format")


def test_invalid_json_is_400(hook_url: str) -> None:
    response = _post(hook_url, b"{not json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")


def test_empty_slack_payload_is_400(hook_url: str) -> None:
    response = _post(hook_url, {"username": "x"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_payload")


def test_oversized_body_is_413(hook_url: str, settings: Any) -> None:
    settings.ENCLAVE_WEBHOOK_MAX_BODY_BYTES = 1000
    response = _post(hook_url, {"text": "x" * 2000})
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_other_media_type_is_415(hook_url: str) -> None:
    response = Client().post(hook_url, data=b"<xml/>", content_type="application/xml")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")


def test_get_is_405(hook_url: str) -> None:
    assert Client().get(hook_url).status_code == 405


def test_flag_off_for_the_owner_hides_the_webhook(setup: Setup, hook_url: str) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.filter(name="integrations").update(everyone=False)
    cache.clear()
    assert _post(hook_url, {"text": "x"}).status_code == 404


def test_long_text_is_cut_to_the_message_limit(setup: Setup, hook_url: str, settings: Any) -> None:
    settings.ENCLAVE_MAX_MESSAGE_CHARS = 100
    assert _post(hook_url, {"text": "y" * 500}).status_code == 200
    assert len(_last_message(setup).body) == 100


def test_mrkdwn_special_links() -> None:
    assert (
        slack_mrkdwn("<!here> see <#C1|general> ~old~ &lt;b&gt;") == "@here see general ~~old~~ <b>"
    )
