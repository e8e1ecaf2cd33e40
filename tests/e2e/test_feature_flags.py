"""Gray release in the browser: the owner turns a flag on for one role in the admin, and the web
client of that role (and only that role) sees it through static/js/features.js."""

from __future__ import annotations

import uuid
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
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    bob = open_app("bob")  # a member, with the page loaded before the flag exists
    assert bob.page.evaluate(IS_ENABLED, name) is False

    owner = browser.new_context(storage_state=session_states("admin"))
    try:
        page = owner.new_page()
        page.goto(f"{e2e_server.url}/admin/ops/featureflag/add/")
        page.fill("#id_name", name)
        page.check("input[name=roles][value=member]")
        page.click("input[name=_save]")
        page.wait_for_url(lambda url: url.endswith("/admin/ops/featureflag/"))
    finally:
        owner.close()

    # The open page learns it on refresh(); a newly loaded page has it in its JSON.
    assert bob.page.evaluate(REFRESHED, name) is True
    assert bob.page.evaluate(IS_ENABLED, name) is True
    assert open_app("carol").page.evaluate(IS_ENABLED, name) is True
    assert open_app("guest").page.evaluate(IS_ENABLED, name) is False
