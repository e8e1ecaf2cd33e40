"""The demo help desk of `make run`: the `helpdesk` flag on for everyone, one bilingual desk
with two agents (alice, lina) and a few FAQ entries, so a newcomer can ask and hand over."""

from __future__ import annotations

from django.apps import apps
from django.db import transaction

from apps.accounts.models import User
from apps.helpdesk import services
from apps.helpdesk.models import CannedReply, HelpDesk
from apps.helpdesk.permissions import FLAG

DEMO_FAQ = [
    (
        "How do I reset my password?",
        "Open your account menu, choose Change your password, and follow the steps. "
        "If you are locked out, ask IT to send you a reset link.",
    ),
    (
        "How do I connect to the VPN?",
        "Install the VPN client from the IT portal and sign in with your company account.",
    ),
    ("如何申请报销？", "在财务系统提交报销单并上传发票，财务部会在五个工作日内处理。"),
    ("年假有多少天？", "员工每年有十五天带薪年假，入职满五年后增加到二十天。"),
]


@transaction.atomic
def helpdesk_demo_seed() -> bool:
    """Create the demo desk unless it exists (the demo company must exist). Returns whether
    anything was created."""
    # The flag model lives in apps.ops, above this app: looked up by name, not imported.
    flag_model = apps.get_model("ops", "FeatureFlag")
    flag_model.objects.update_or_create(name=FLAG, defaults={"everyone": True})
    if HelpDesk.objects.exists():
        return False
    agents = list(User.objects.filter(username__in=["alice", "lina"]))
    desk = HelpDesk.objects.create(
        name="IT & HR 服务台", description="Ask IT and HR · 向 IT 与人事提问"
    )
    desk.agents.add(*agents)
    for question, answer in DEMO_FAQ:
        services.faq_save(helpdesk=desk, question=question, answer=answer, actor=None)
    CannedReply.objects.create(
        helpdesk=desk, title="Greeting · 问候", body="Hello! 您好！How can I help? 有什么可以帮您？"
    )
    return True
