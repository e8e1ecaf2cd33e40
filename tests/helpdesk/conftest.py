"""Fixtures of the help-desk tests: the flag on, a desk with two agents and a small bilingual
knowledge base, and two askers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apps.accounts.models import Role, User
from apps.helpdesk import services
from apps.helpdesk.models import HelpDesk
from tests.assistant.conftest import configured, llm_server  # noqa: F401 (the model server)
from tests.factories import UserFactory

FAQ = [
    (
        "How do I reset my password?",
        "Open Settings, choose Security and press Reset password; a link arrives by e-mail.",
    ),
    (
        "What are the office opening hours?",
        "The office is open Monday to Friday from 9:00 to 18:00.",
    ),
    ("如何申请退款？", "在订单页面点击申请退款，财务部会在三个工作日内处理。"),
    ("公司的年假有多少天？", "员工每年有十五天带薪年假，入职满五年后增加到二十天。"),
]


@pytest.fixture
def helpdesk_flag(db: Any) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="helpdesk", everyone=True)
    cache.clear()


@dataclass
class Desk:
    desk: HelpDesk
    agent: User
    agent2: User
    asker: User
    other_asker: User
    guest: User
    outsider_admin: User


@pytest.fixture
def desk(helpdesk_flag: None) -> Desk:
    agent = UserFactory(username="agent", role=Role.MEMBER)
    agent2 = UserFactory(username="agent2", role=Role.MEMBER)
    desk = HelpDesk.objects.create(name="IT help", confidence_threshold=0.5)
    desk.agents.add(agent, agent2)
    for question, answer in FAQ:
        services.faq_save(helpdesk=desk, question=question, answer=answer, actor=None)
    return Desk(
        desk=desk,
        agent=agent,
        agent2=agent2,
        asker=UserFactory(username="asker", role=Role.MEMBER),
        other_asker=UserFactory(username="other", role=Role.MEMBER),
        guest=UserFactory(username="guest", role=Role.GUEST),
        outsider_admin=UserFactory(username="admin", role=Role.ADMIN),
    )
