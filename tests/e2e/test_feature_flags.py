"""Gray release in the browser: the owner turns a flag on for one role in the admin, and the web
client of that role (and only that role) sees it through static/js/features.js."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser

IS_ENABLED = "async (name) => (await import('/static/js/features.js')).isEnabled(name)"
REFRESHED = "async (name) => (await (await import('/static/js/features.js')).refresh())[name]"


def test_flag_for_a_role_set_in_the_admin_reaches_that_roles_web_client(
    browser: Any,
    e2e_server: Any,
    session_states: Callable[[str], dict[str, Any]],
    open_app: Callable[..., Any],
) -> None:
    # A flag the product reads (the admin offers no other) that the demo leaves off and no
    # other test on this server relies on; deleted again in the admin at the end.
    name = "search_filters"
    bob = open_app("bob")  # a member, with the page loaded before the flag exists
    assert bob.page.evaluate(IS_ENABLED, name) is False

    owner = browser.new_context(storage_state=session_states("admin"))
    page = owner.new_page()
    try:
        page.goto(f"{e2e_server.url}/admin/ops/featureflag/add/")
        page.select_option("#id_name", name)
        page.check("input[name=roles][value=member]")
        page.click("input[name=_save]")
        page.wait_for_url(lambda url: url.endswith("/admin/ops/featureflag/"))

        # The open page learns it on refresh(); a newly loaded page has it in its JSON.
        assert bob.page.evaluate(REFRESHED, name) is True
        assert bob.page.evaluate(IS_ENABLED, name) is True
        assert open_app("carol").page.evaluate(IS_ENABLED, name) is True
        assert open_app("guest").page.evaluate(IS_ENABLED, name) is False
    finally:
        page.goto(f"{e2e_server.url}/admin/ops/featureflag/")
        link = page.locator("#result_list a", has_text=name)
        if link.count():
            link.first.click()
            page.click("a.deletelink")
            page.click("input[type=submit]")
            page.wait_for_url(lambda url: url.endswith("/admin/ops/featureflag/"))
        owner.close()
    assert bob.page.evaluate(REFRESHED, name) is None
