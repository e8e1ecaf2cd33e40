"""The demo company loaded by `make run`: people, channels and a bilingual history.

Everything goes through the real services, so the demo exercises the same code as users do.
Seeding is idempotent: a second run finds the demo owner and changes nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.services import organization_settings_update, user_create
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message

DEMO_PASSWORD = "enclave-demo"  # noqa: S105 - printed for the demo, documented in the README

PEOPLE = [
    # username, display name, role, language, time zone
    ("admin", "Olivia Owner", Role.OWNER, "en", "Europe/London"),
    ("alice", "Alice Chen", Role.ADMIN, "en", "Asia/Shanghai"),
    ("bob", "Bob Smith", Role.MEMBER, "en", "America/New_York"),
    ("carol", "Carol Johnson", Role.MEMBER, "en", "Europe/Berlin"),
    ("zhangwei", "张伟", Role.MEMBER, "zh-hans", "Asia/Shanghai"),
    ("lina", "李娜", Role.MEMBER, "zh-hans", "Asia/Shanghai"),
    ("wangfang", "王芳", Role.MEMBER, "zh-hans", "Asia/Shanghai"),
    ("liuyang", "刘洋", Role.MEMBER, "zh-hans", "Asia/Shanghai"),
    ("guest", "Gary Guest", Role.GUEST, "en", "UTC"),
]

ENGLISH = [
    "Good morning everyone!",
    "Has anyone looked at the **Q3 roadmap** yet?",
    "The build is green again :tada:",
    "Can we move the stand-up to 10:30?",
    "I pushed a fix for the login timeout, please review.",
    "Reminder: the office is closed on Friday.",
    "Here is the checklist:\n\n- backups verified\n- certificates renewed\n- release notes",
    "Does anyone know who owns the billing service?",
    "Lunch at the usual place? :pizza:",
    "The customer demo went really well :+1:",
    "> We should measure before we optimise\n\nAgreed.",
    "Use `make test` before you push, please.",
    "I'll be out this afternoon, ping me on my phone if urgent.",
    "New dashboards are up: https://grafana.example.internal/d/enclave",
    "Thanks for the quick turnaround!",
]
CHINESE = [
    "大家早上好！",
    "今天下午三点开产品评审会，请准时参加。",
    "新版本已经部署到测试环境了 :rocket:",
    "这个需求的优先级是多少？",
    "我已经更新了**设计文档**，请大家看一下。",
    "周五团建，地点稍后通知 :tada:",
    "客户反馈登录速度变快了，辛苦大家！",
    "请在本周内提交季度总结。",
    "服务器监控告警已经处理完毕。",
    "有人知道会议室预订系统怎么用吗？",
    "代码评审意见我都回复了 :+1:",
    "明天上午我请假，有事请找王芳。",
    "数据库备份演练顺利完成。",
    "中午一起吃饭吗？",
    "谢谢大家的支持！",
]


@dataclass(frozen=True)
class DemoResult:
    created: bool
    users: list[tuple[str, str]]


def demo_people() -> list[tuple[str, str]]:
    return [(username, role) for username, _name, role, _lang, _tz in PEOPLE]


def _send(sender: User, channel: Channel, body: str, root: Message | None = None) -> Message:
    return services.message_send(
        sender=sender,
        channel_id=channel.pk,
        body=body,
        client_msg_id=uuid.uuid4(),
        thread_root_id=root.pk if root else None,
    ).message


@transaction.atomic
def demo_company_seed(*, history_size: int = 320, seed: int = 7) -> DemoResult:
    """Create the demo company unless it exists. Returns whether anything was created."""
    if User.objects.filter(username="admin").exists():
        return DemoResult(created=False, users=demo_people())
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    users: dict[str, User] = {}
    for username, name, role, language, tz in PEOPLE:
        users[username] = user_create(
            username=username,
            password=DEMO_PASSWORD,
            email=f"{username}@example.com",
            display_name=name,
            role=role,
            language=language,
            time_zone=tz,
        )
    staff = [u for u in users.values() if u.role != Role.GUEST]
    owner = users["admin"]
    # Read receipts are off until an administrator turns them on; the demo shows them.
    organization_settings_update(actor=owner, changes={"read_receipts_enabled": True})
    everyone_ids = [u.pk for u in staff]
    general = services.channel_create(
        creator=owner,
        kind=ChannelKind.PUBLIC,
        name="general",
        topic="Company-wide news",
        member_ids=everyone_ids,
    )
    random_channel = services.channel_create(
        creator=users["bob"],
        kind=ChannelKind.PUBLIC,
        name="random",
        topic="Off-topic",
        member_ids=everyone_ids,
    )
    engineering = services.channel_create(
        creator=users["alice"],
        kind=ChannelKind.PUBLIC,
        name="engineering",
        topic="Builds, reviews, releases",
        member_ids=[users[n].pk for n in ("bob", "carol", "zhangwei", "liuyang")],
    )
    product = services.channel_create(
        creator=users["zhangwei"],
        kind=ChannelKind.PUBLIC,
        name="产品讨论",
        topic="产品需求与评审",
        member_ids=[users[n].pk for n in ("lina", "wangfang", "liuyang", "alice")],
    )
    leadership = services.channel_create(
        creator=owner,
        kind=ChannelKind.PRIVATE,
        name="leadership",
        topic="Private: managers",
        member_ids=[users["alice"].pk, users["zhangwei"].pk],
    )
    partners = services.channel_create(
        creator=users["alice"],
        kind=ChannelKind.PRIVATE,
        name="partner-project",
        topic="Shared with our guest",
        member_ids=[users["guest"].pk, users["bob"].pk],
    )
    channels = [general, random_channel, engineering, product, leadership, partners]
    members_of = {c.pk: list(c.memberships.select_related("user")) for c in channels}

    dm = services.dm_open(user=users["alice"], user_ids=[users["zhangwei"].pk])
    group = services.dm_open(user=users["alice"], user_ids=[users["bob"].pk, users["lina"].pk])
    sent: list[Message] = []
    for _ in range(history_size):
        channel = rng.choice(channels)
        sender = rng.choice(members_of[channel.pk]).user
        texts = CHINESE if sender.language == "zh-hans" else ENGLISH
        sent.append(_send(sender, channel, rng.choice(texts)))
    sent.append(_send(users["alice"], dm, "张伟，明天的客户演示准备好了吗？"))
    sent.append(_send(users["zhangwei"], dm, "准备好了，Alice。I'll share the slides tonight."))
    sent.append(_send(users["bob"], group, "Shall we sync on the partner project tomorrow?"))
    sent.append(_send(users["lina"], group, "好的，明天上午十点可以吗？"))
    root = _send(owner, general, "Welcome to **Enclave**, @all! Reply here with questions.")
    sent.append(root)
    sent.append(_send(users["bob"], general, "How do I start a DM?", root=root))
    sent.append(_send(users["zhangwei"], general, "点击左侧的 + 号就可以了。@bob", root=root))
    for username, emoji in (("alice", "👍"), ("zhangwei", "🎉"), ("bob", "👍")):
        services.reaction_add(user=users[username], message_id=root.pk, emoji=emoji)
    # Spread the history over the past days so day separators and times look real.
    now = timezone.now()
    for index, message in enumerate(sent):
        message.created_at = now - timedelta(minutes=9 * (len(sent) - index))
    Message.objects.bulk_update(sent, ["created_at"])
    return DemoResult(created=True, users=demo_people())
