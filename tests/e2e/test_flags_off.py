"""Features behind a flag are absent from the web client until the flag is on: a server of its
own whose demo company has the `dark_mode` and `data_export` flags deleted (as on an upgraded
installation, where no administrator has turned them on yet)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, own_server
from tests.e2e.playwright_api import expect
from tests.e2e.test_reminders import _signed_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def flags_off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Bob chose the dark theme while the flag was on for him.
    shell = (
        "from apps.ops.models import FeatureFlag; from apps.accounts.models import User; "
        "FeatureFlag.objects.filter(name__in=['dark_mode', 'data_export']).delete(); "
        "User.objects.filter(username='bob').update(theme='dark')"
    )
    with own_server(tmp_path_factory, "e2e-flags-off", shell=shell) as server:
        yield server


def test_without_their_flags_the_dark_theme_and_download_my_data_are_absent(
    browser: Any, flags_off_server: LiveServer
) -> None:
    context = _signed_in(browser, flags_off_server, "bob")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{flags_off_server.url}/")
        page.wait_for_selector("#app:not(.is-loading)")

        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        page.click(".user-menu-summary")
        page.click("[data-action=open-settings]")
        expect(page.locator("#settings-dialog")).to_be_visible()
        expect(page.locator("#settings-theme")).to_be_hidden()
        expect(page.locator("#settings-data-export")).to_be_hidden()

        # The rest of the settings still save (the form leaves the theme out).
        page.fill("#settings-display-name", "Robert Smith")
        page.click("#settings-form button[type=submit]")
        expect(page.locator("#settings-dialog")).to_be_hidden()
        expect(page.locator(".user-menu-name")).to_have_text("Robert Smith")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert errors == []
    finally:
        context.close()
