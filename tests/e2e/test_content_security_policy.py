"""The main screens under the real Content-Security-Policy and Permissions-Policy: no violation.

Chromium reports a violation twice: a `securitypolicyviolation` event in the page (caught by an
init script, reported through a binding) and a console error "Refused to ..."; a header it
cannot parse is a console error too. Every `open_app` tab also fails on a "Refused to" message
(tests/e2e/conftest.py), so the other browser tests watch the policy as well; this file opens
the screens that they do not: sign-in and error pages, the admin site, the API docs.
The headers themselves, page by page: tests/core/test_security_headers.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import EXPECT_TIMEOUT_MS, LiveServer, watch_policies
from tests.e2e.playwright_api import expect
from tests.e2e.test_attachment_layout import pdf_bytes, png_bytes, upload
from tests.files.clamd_server import ClamdServer

pytestmark = pytest.mark.browser


class PolicyWatch:
    """Everything a browser context said about its pages' policies."""

    def __init__(self, context: Any) -> None:
        self.complaints: list[str] = []
        watch_policies(context, self.complaints)


@pytest.fixture
def watched(
    browser: Any, session_states: Callable[[str], dict[str, Any]]
) -> Iterator[Callable[[str | None], tuple[Any, PolicyWatch]]]:
    """`watched("admin")`: a page signed in as that user (None: anonymous), and its watch."""
    contexts: list[Any] = []

    def open_(username: str | None) -> tuple[Any, PolicyWatch]:
        context = browser.new_context(
            storage_state=session_states(username) if username else None,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        watch = PolicyWatch(context)
        return context.new_page(), watch

    yield open_
    for context in contexts:
        context.close()


def test_sign_in_and_error_pages_break_no_policy(
    watched: Callable[..., Any], e2e_server: LiveServer
) -> None:
    page, watch = watched(None)
    for path in ("/accounts/login/", "/accounts/password-reset/", "/no-such-page/"):
        page.goto(e2e_server.url + path)
        page.wait_for_load_state("load")
    expect(page.locator("body")).not_to_be_empty()
    page.goto(f"{e2e_server.url}/accounts/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "a wrong password")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")

    assert watch.complaints == []


def test_chat_and_its_dialogs_break_no_policy(
    watched: Callable[..., Any], e2e_server: LiveServer, api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    tag = uuid.uuid4().hex[:8]
    api_for("alice").send(channel["id"], f"**bold** `code` :tada: https://example.com/{tag}")
    page, watch = watched("bob")
    page.goto(f"{e2e_server.url}/c/{channel['id']}/")
    page.wait_for_selector("#app:not(.is-loading)")
    expect(page.locator("#message-list article", has_text=tag)).to_have_count(1)

    page.fill("#composer-input", f"hello {tag}")
    page.press("#composer-input", "Enter")
    expect(page.locator("#message-list article", has_text=f"hello {tag}")).to_have_count(1)
    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    expect(page.locator("#settings-form")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    page.goto(f"{e2e_server.url}/accounts/security/two-factor/")  # the QR code of enrolment
    page.goto(f"{e2e_server.url}/accounts/security/sessions/")

    assert watch.complaints == []


@pytest.mark.clamav
def test_file_viewer_breaks_no_policy(
    e2e_clamd: ClamdServer,
    watched: Callable[..., Any],
    e2e_server: LiveServer,
    api_for: Callable[[str], Any],
) -> None:
    api = api_for("alice")
    channel = api.create_channel(members=("bob",))
    tag = uuid.uuid4().hex[:8]
    image = upload(api, f"picture-{tag}.png", "image/png", png_bytes(320, 240))
    pdf = upload(api, f"report-{tag}.pdf", "application/pdf", pdf_bytes())
    api.send(channel["id"], f"image {tag}", attachment_ids=[image["id"]])
    api.send(channel["id"], f"pdf {tag}", attachment_ids=[pdf["id"]])
    page, watch = watched("bob")
    page.goto(f"{e2e_server.url}/c/{channel['id']}/")
    page.wait_for_selector("#app:not(.is-loading)")

    page.locator("#message-list article", has_text=f"image {tag}").locator(
        "a.attachment--image"
    ).click()
    page.wait_for_function("() => document.querySelector('#viewer-stage img')?.naturalWidth > 0")
    page.click("#viewer-next")
    expect(page.locator("#viewer-stage iframe")).to_have_count(1)
    page.wait_for_timeout(500)  # the PDF viewer's frame loads
    page.keyboard.press("Escape")

    assert watch.complaints == []


def test_help_desk_breaks_no_policy(watched: Callable[..., Any], e2e_server: LiveServer) -> None:
    e2e_server.shell(
        "from apps.accounts.models import User; from apps.ops.models import FeatureFlag; "
        "flag, _ = FeatureFlag.objects.get_or_create(name='helpdesk'); "
        "flag.users.add(User.objects.get(username='wangfang'))"
    )
    page, watch = watched("wangfang")
    for path in ("/helpdesk/", "/helpdesk/agent/"):
        page.goto(e2e_server.url + path)
        page.wait_for_selector(".helpdesk-head h1")

    assert watch.complaints == []


def test_admin_site_breaks_no_policy(watched: Callable[..., Any], e2e_server: LiveServer) -> None:
    page, watch = watched("admin")  # the demo's owner
    for path in (
        "/admin/",
        "/admin/overview/",
        "/admin/analytics/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        "/admin/chat/channel/",
        "/admin/ops/featureflag/",
        "/accounts/invitations/",
    ):
        response = page.goto(e2e_server.url + path)
        assert response is not None
        assert response.status == 200, path
        page.wait_for_load_state("load")
    page.goto(f"{e2e_server.url}/admin/accounts/user/")
    page.locator("#result_list tbody tr a").first.click()  # a change form, with its widgets
    page.wait_for_selector("#content-main form")
    page.goto(f"{e2e_server.url}/admin/chat/channel/")
    page.locator("#result_list tbody tr a").first.click()
    page.wait_for_selector("#content-main form")

    assert watch.complaints == []


def test_api_docs_break_no_policy(watched: Callable[..., Any], e2e_server: LiveServer) -> None:
    page, watch = watched(None)
    page.goto(f"{e2e_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.locator(".try-out__btn").first.click()
    page.locator("section.models h4").click()  # the schemas
    page.wait_for_timeout(300)

    assert watch.complaints == []


def test_the_watch_and_every_app_tab_see_a_refused_inline_style(
    watched: Callable[..., Any], open_app: Callable[..., Any]
) -> None:
    """The checks above are not blind: an inline style attribute is refused, and reported."""
    page, watch = watched("bob")
    app = open_app("bob")
    inject = """document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>')"""
    page.goto(app.base_url + "/accounts/login/")

    for target in (page, app.page):
        target.evaluate(inject)
        target.wait_for_function("() => getComputedStyle(document.body.lastChild).color")
    page.wait_for_timeout(200)  # the violation events are dispatched after the insertion

    assert any("style-src-attr blocked inline" in complaint for complaint in watch.complaints)
    assert any("style-src-attr blocked inline" in error for error in app.errors)
    app.errors.clear()  # expected here: open_app's teardown fails on what is left
