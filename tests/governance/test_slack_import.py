"""The Slack importer (apps/governance/importers/slack.py) on a small export made here, in
Slack's own layout: users.json, channels.json, groups.json, dms.json, mpims.json, a folder of
daily files per conversation and the files under __uploads/ (as exporters that download them
leave them)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel, ChannelKind, Membership, Mention, Message
from apps.core.errors import Forbidden
from apps.files.models import Attachment, AttachmentStatus
from apps.governance.audit import WORKSPACE_IMPORTED
from apps.governance.importers.slack import SlackExportInvalid, slack_import
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = 1_764_000_000  # 2025-11-24 16:00 UTC


def ts(seconds: int, micro: int = 0) -> str:
    return f"{T0 + seconds}.{micro:06d}"


USERS = [
    {
        "id": "U1",
        "name": "mei",
        "real_name": "Mei Lin",
        "tz": "Asia/Shanghai",
        "profile": {"email": "mei@example.com", "display_name": "Mei"},
    },
    # Already here: matched by e-mail, not made again.
    {"id": "U2", "name": "robert", "profile": {"email": "Bob@Example.com", "real_name": "Bob"}},
    {"id": "U3", "name": "olga", "deleted": True, "profile": {"real_name": "Olga Old"}},
    {"id": "U4", "name": "deploybot", "is_bot": True, "profile": {"real_name": "Deploy Bot"}},
    {"id": "U5", "name": "sam", "tz": "Not/AZone", "profile": {"real_name": "Sam Sun"}},
]
CHANNELS = [
    {
        "id": "C1",
        "name": "general",
        "creator": "U1",
        "members": ["U1", "U2", "U5"],
        "topic": {"value": "Company-wide"},
        "purpose": {"value": "Everything for everyone"},
    },
    {"id": "C2", "name": "old-project", "creator": "U2", "members": ["U2"], "is_archived": True},
]
GROUPS = [{"id": "G1", "name": "leadership", "creator": "U1", "members": ["U1", "U2"]}]
DMS = [{"id": "D1", "members": ["U1", "U2"]}]
MPIMS = [{"id": "G2", "name": "mpdm-mei--robert--sam-1", "members": ["U1", "U2", "U5"]}]

GENERAL_DAY1 = [
    {
        "type": "message",
        "subtype": "channel_join",
        "user": "U5",
        "text": "<@U5> has joined",
        "ts": ts(0),
    },
    {
        "type": "message",
        "user": "U1",
        "text": (
            "Hi <@U2>, see <#C2|old-project> and <https://intranet.example/plan|the plan> "
            "&amp; *ship it* ~not~"
        ),
        "ts": ts(10),
        "reactions": [
            {"name": "thumbsup::skin-tone-2", "users": ["U2", "U5"], "count": 2},
            {"name": "partyparrot", "users": ["U2"], "count": 1},
        ],
    },
    {
        "type": "message",
        "user": "U2",
        "text": "Thread start: release plan",
        "ts": ts(20),
        "thread_ts": ts(20),
    },
    {
        "type": "message",
        "user": "U5",
        "text": "Reply one `*not bold*`",
        "ts": ts(30),
        "thread_ts": ts(20),
    },
]
GENERAL_DAY2 = [
    {
        "type": "message",
        "user": "U1",
        "text": "Reply two <!here>",
        "ts": ts(86_400),
        "thread_ts": ts(20),
    },
    {
        "type": "message",
        "subtype": "file_share",
        "user": "U2",
        "text": "Budget attached",
        "ts": ts(86_410),
        "files": [
            {"id": "F1", "name": "budget.csv", "title": "budget.csv"},
            {"id": "F2", "name": "lost.pdf", "title": "lost.pdf"},
        ],
    },
    {
        "type": "message",
        "user": "U1",
        "text": "Fixed the typo",
        "ts": ts(86_420),
        "edited": {"user": "U1", "ts": ts(86_500)},
    },
    {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B1",
        "text": "Deployed",
        "ts": ts(86_430),
    },
]


def slack_export(**overrides: Any) -> io.BytesIO:
    files: dict[str, Any] = {
        "users.json": USERS,
        "channels.json": CHANNELS,
        "groups.json": GROUPS,
        "dms.json": DMS,
        "mpims.json": MPIMS,
        "general/2025-11-24.json": GENERAL_DAY1,
        "general/2025-11-25.json": GENERAL_DAY2,
        "leadership/2025-11-24.json": [
            {"type": "message", "user": "U1", "text": "Private plans", "ts": ts(5)}
        ],
        "D1/2025-11-24.json": [{"type": "message", "user": "U2", "text": "Just us", "ts": ts(7)}],
        "mpdm-mei--robert--sam-1/2025-11-24.json": [
            {"type": "message", "user": "U5", "text": "Three of us", "ts": ts(8)}
        ],
        "__uploads/F1/budget.csv": b"item,amount\nlaptops,1200\n",
    }
    files.update(overrides)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.fixture
def admin() -> User:
    return UserFactory(username="itadmin", role=Role.ADMIN)


@pytest.fixture
def bob() -> User:
    return UserFactory(username="bob", email="bob@example.com", display_name="Bob Smith")


def bodies(channel: Channel) -> list[str]:
    return list(
        Message.objects.filter(channel=channel).order_by("seq").values_list("body", flat=True)
    )


def test_people_channels_and_history_arrive_as_they_were(admin: User, bob: User) -> None:
    result = slack_import(source=slack_export(), actor=admin)

    mei, olga, bot, sam = (
        User.objects.get(username=n) for n in ("mei", "olga", "deploybot", "sam")
    )
    assert (mei.display_name, mei.email, mei.time_zone) == (
        "Mei",
        "mei@example.com",
        "Asia/Shanghai",
    )
    assert not mei.has_usable_password()
    assert not olga.is_active
    assert bot.is_bot
    assert sam.time_zone == "UTC"  # an unknown zone
    assert not User.objects.filter(username="robert").exists()  # bob, matched by e-mail
    assert (result.people_created, result.people_matched) == (4, 1)

    general = Channel.objects.get(name="general")
    assert (general.kind, general.topic, general.description) == (
        ChannelKind.PUBLIC,
        "Company-wide",
        "Everything for everyone",
    )
    members = dict(Membership.objects.filter(channel=general).values_list("user__username", "role"))
    assert members == {"mei": "admin", "bob": "member", "sam": "member"}  # not the importer
    assert Channel.objects.get(name="old-project").is_archived
    leadership = Channel.objects.get(name="leadership")
    assert leadership.kind == ChannelKind.PRIVATE
    assert set(leadership.memberships.values_list("user__username", flat=True)) == {"mei", "bob"}
    assert bodies(leadership) == ["Private plans"]

    assert bodies(general) == [
        "Hi @bob, see #old-project and [the plan](https://intranet.example/plan) "
        "& **ship it** ~~not~~",
        "Thread start: release plan",
        "Reply one `*not bold*`",
        "Reply two @all",
        "Budget attached\n\n_(file not in the export: lost.pdf)_",
        "Fixed the typo",
    ]
    first, root, reply_one, reply_two, budget, fixed = Message.objects.filter(
        channel=general
    ).order_by("seq")
    assert first.created_at == datetime.fromtimestamp(T0 + 10, tz=UTC)
    assert fixed.edited_at == datetime.fromtimestamp(T0 + 86_500, tz=UTC)
    assert list(Mention.objects.filter(message=first).values_list("user__username", flat=True)) == [
        "bob"
    ]
    assert reply_two.mentions_everyone
    assert (reply_one.thread_root_id, reply_two.thread_root_id) == (root.pk, root.pk)
    root.refresh_from_db()
    assert root.reply_count == 2
    assert sorted(first.reactions.values_list("emoji", "user__username")) == [
        (":partyparrot:", "bob"),
        ("👍", "bob"),
        ("👍", "sam"),
    ]
    [attachment] = Attachment.objects.filter(message=budget)
    assert (attachment.original_name, attachment.uploader_id) == ("budget.csv", bob.pk)
    assert attachment.status == AttachmentStatus.PENDING  # scanned like any upload, after commit

    general.refresh_from_db()
    assert general.last_seq == 6
    # History is read: nobody starts with it unread.
    assert set(
        Membership.objects.filter(channel=general).values_list("last_read_seq", flat=True)
    ) == {6}

    dm = Channel.objects.get(kind=ChannelKind.DIRECT)
    assert bodies(dm) == ["Just us"]
    group = Channel.objects.get(kind=ChannelKind.GROUP)
    assert bodies(group) == ["Three of us"]
    assert (result.channels, result.direct_conversations, result.messages) == (3, 2, 9)
    assert (result.notices_skipped, result.files, result.files_missing) == (2, 1, 1)
    [event] = AuditEvent.objects.filter(action=WORKSPACE_IMPORTED)
    assert event.actor_id == admin.pk
    assert event.metadata["messages"] == 9


def test_a_second_run_adds_only_what_is_new(admin: User, bob: User) -> None:
    slack_import(source=slack_export(), actor=admin)
    later = [
        *GENERAL_DAY2,
        {"type": "message", "user": "U5", "text": "A day later", "ts": ts(2 * 86_400)},
    ]

    again = slack_import(source=slack_export(**{"general/2025-11-25.json": later}), actor=admin)

    assert (again.messages, again.people_created, again.people_matched) == (1, 0, 5)
    assert (again.messages_already_there, again.files) == (9, 0)
    assert bodies(Channel.objects.get(name="general"))[-1] == "A day later"
    assert Message.objects.count() == 10


def test_only_an_administrator_imports(bob: User) -> None:
    with pytest.raises(Forbidden):
        slack_import(source=slack_export(), actor=bob)
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (io.BytesIO(b"not a zip"), "not a ZIP"),
        (slack_export(**{"users.json": b"{broken"}), "users.json is not valid JSON"),
    ],
)
def test_a_broken_export_is_refused_and_writes_nothing(
    admin: User, source: io.BytesIO, says: str
) -> None:
    with pytest.raises(SlackExportInvalid, match=says):
        slack_import(source=source, actor=admin)
    assert not Message.objects.exists()
    assert User.objects.count() == 1


def test_an_export_without_users_is_not_a_slack_export(admin: User) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    buffer.seek(0)

    with pytest.raises(SlackExportInvalid, match=r"users\.json"):
        slack_import(source=buffer, actor=admin)


def test_the_command_imports_and_prints_what_it_did(
    admin: User, bob: User, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "slack.zip"
    export.write_bytes(slack_export().getvalue())

    call_command("import_slack", str(export), "--actor", "itadmin")

    assert json.loads(capsys.readouterr().out)["messages"] == 9
    with pytest.raises(CommandError, match="forbidden"):
        call_command("import_slack", str(export), "--actor", "bob")
    with pytest.raises(CommandError, match="No user"):
        call_command("import_slack", str(export), "--actor", "nobody")
