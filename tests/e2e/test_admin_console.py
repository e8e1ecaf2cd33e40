"""The admin console from the web client: the owner's and administrators' account menu links to
the overview, which opens; a member's menu has no such link, and the address refuses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MENU = "details.user-menu"
LINK = "#admin-console-link"


@pytest.mark.parametrize("username", ["alice", "admin"])  # an administrator, the owner
def test_an_admin_opens_the_overview_from_the_account_menu(
    open_app: Callable[..., Any], username: str
) -> None:
    app = open_app(username)
    page = app.page

    page.click(f"{MENU} > summary")
    expect(page.locator(LINK)).to_be_visible()
    page.click(LINK)

    page.wait_for_url(lambda url: url.endswith("/admin/overview/"))
    expect(page.locator("#overview-components")).to_be_visible()
    expect(page.locator("#overview-components tr[data-component=database]")).to_have_attribute(
        "data-status", "ok"
    )
    expect(page.locator("tr[data-figure=messages-today] .figure")).to_be_visible()


def test_a_member_has_no_admin_console_link(open_app: Callable[..., Any], e2e_server: Any) -> None:
    page = open_app("bob").page

    page.click(f"{MENU} > summary")
    expect(page.locator(f"{MENU} .user-menu-body")).to_be_visible()
    expect(page.locator(LINK)).to_have_count(0)

    response = page.goto(f"{e2e_server.url}/admin/overview/")
    assert response is not None
    assert response.status == 403
