"""The user card shows the directory's title, department and phone and the local time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_user_card_shows_title_department_phone_and_local_time(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], e2e_server: Any
) -> None:
    e2e_server.shell(
        "from apps.accounts.models import DirectoryProfile, User; "
        "DirectoryProfile.objects.update_or_create("
        "user=User.objects.get(username='carol'), defaults=dict(dn='uid=carol,dc=example', "
        "title='Head of Sales', department='Sales EMEA', phone='+49 30 5555 0100'))"
    )
    channel = api_for("alice").create_channel(members=("carol",))
    api_for("carol").send(channel["id"], "card me")
    alice = open_app("alice", channel_id=channel["id"])

    alice.message("card me").locator("button.msg-author").click()

    card = alice.page.get_by_role("dialog", name="About Carol Johnson")
    expect(card).to_contain_text("Head of Sales")
    expect(card).to_contain_text("Sales EMEA")
    expect(card.get_by_role("link", name="+49 30 5555 0100")).to_have_attribute(
        "href", "tel:+493055550100"
    )
    expect(card.locator("dt", has_text="Local time")).to_have_count(1)
    expect(card).to_contain_text("Europe/Berlin")
