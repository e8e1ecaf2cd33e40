"""The help-desk pages exist only with the flag, for signed-in people."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.helpdesk.conftest import Desk

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.mark.parametrize("name", ["helpdesk:ask", "helpdesk:agent"])
def test_the_pages_render_with_the_flag(desk: Desk, name: str) -> None:
    client = Client()
    client.force_login(desk.asker)

    response = client.get(reverse(name))

    assert response.status_code == 200
    assert b"js/helpdesk.js" in response.content


@pytest.mark.parametrize("name", ["helpdesk:ask", "helpdesk:agent"])
def test_without_the_flag_the_pages_do_not_exist(name: str) -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(reverse(name)).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in() -> None:
    response = Client().get(reverse("helpdesk:ask"))

    assert response.status_code == 302


def test_the_chat_page_links_to_the_help_desk_when_the_flag_is_on(desk: Desk) -> None:
    client = Client()
    client.force_login(desk.asker)

    assert b'id="helpdesk-link"' in client.get(reverse("chat:home")).content


def test_the_demo_seed_turns_the_flag_on_and_creates_a_desk(db: None) -> None:
    from apps.chat.demo import demo_company_seed
    from apps.helpdesk.demo import helpdesk_demo_seed
    from apps.helpdesk.models import HelpDesk
    from apps.ops.models import FeatureFlag

    demo_company_seed(history_size=5)

    assert helpdesk_demo_seed() is True
    assert helpdesk_demo_seed() is False
    assert FeatureFlag.objects.get(name="helpdesk").everyone is True
    assert HelpDesk.objects.get().agents.count() == 2
