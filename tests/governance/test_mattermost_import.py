"""The Mattermost importer (apps/governance/importers/mattermost.py) on a small bulk export made
here in Mattermost's JSONL format: version, team, channels, users with their channel roles,
posts with replies and reactions, direct channels and posts, and an attachment in the ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel, ChannelKind, Membership, Mention, Message
from apps.files.models import Attachment
from apps.governance.audit import WORKSPACE_IMPORTED
from apps.governance.importers.mattermost import MattermostExportInvalid, mattermost_import
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MS = 1_764_000_000_000


def channels(*names_and_roles: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "roles": roles} for name, roles in names_and_roles]


LINES: list[dict[str, Any]] = [
    {"type": "version", "version": 1},
    {"type": "team", "team": {"name": "acme", "display_name": "ACME", "type": "O"}},
    {
        "type": "channel",
        "channel": {
            "team": "acme",
            "name": "town-square",
            "display_name": "Town Square",
            "type": "O",
            "header": "Say hello",
            "purpose": "Everyone",
        },
    },
    {
        "type": "channel",
        "channel": {"team": "acme", "name": "board", "display_name": "Board", "type": "P"},
    },
    {
        "type": "user",
        "user": {
            "username": "mei",
            "email": "mei@example.com",
            "first_name": "Mei",
            "last_name": "Lin",
            "teams": [
                {
                    "name": "acme",
                    "channels": channels(
                        ("town-square", "channel_admin channel_user"), ("board", "channel_user")
                    ),
                }
            ],
        },
    },
    # The same person as the existing "bob" (by e-mail), under another username there.
    {
        "type": "user",
        "user": {
            "username": "rob",
            "email": "bob@example.com",
            "teams": [{"name": "acme", "channels": channels(("town-square", "channel_user"))}],
        },
    },
    {
        "type": "user",
        "user": {"username": "gone", "email": "gone@example.com", "delete_at": MS, "teams": []},
    },
    {
        "type": "post",
        "post": {
            "team": "acme",
            "channel": "town-square",
            "user": "mei",
            "message": "Hello @rob, the **plan** is ready",
            "create_at": MS + 1000,
            "edit_at": MS + 5000,
            "reactions": [{"user": "rob", "emoji_name": "+1", "create_at": MS + 2000}],
            "replies": [
                {"user": "rob", "message": "Looks good", "create_at": MS + 3000},
                {
                    "user": "mei",
                    "message": "Figures attached",
                    "create_at": MS + 4000,
                    "attachments": [{"path": "data/figures.csv"}, {"path": "data/gone.pdf"}],
                },
            ],
        },
    },
    {
        "type": "post",
        "post": {
            "team": "acme",
            "channel": "board",
            "user": "mei",
            "message": "Board only",
            "create_at": MS + 500,
        },
    },
    {"type": "direct_channel", "direct_channel": {"members": ["mei", "rob"]}},
    {
        "type": "direct_post",
        "direct_post": {
            "channel_members": ["rob", "mei"],
            "user": "rob",
            "message": "Just us",
            "create_at": MS + 6000,
        },
    },
]


def export(lines: list[dict[str, Any]] = LINES, *, zipped: bool = True) -> io.BytesIO:
    text = "\n".join(json.dumps(line) for line in lines).encode()
    if not zipped:
        return io.BytesIO(text)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/import.jsonl", text)
        archive.writestr("export/data/figures.csv", b"quarter,amount\nq3,10\n")
    buffer.seek(0)
    return buffer


@pytest.fixture
def admin() -> User:
    return UserFactory(username="itadmin", role=Role.OWNER)


@pytest.fixture
def bob() -> User:
    return UserFactory(username="bob", email="bob@example.com")


def test_people_channels_posts_and_replies_arrive(admin: User, bob: User) -> None:
    result = mattermost_import(source=export(), actor=admin)

    mei = User.objects.get(username="mei")
    assert (mei.display_name, mei.has_usable_password()) == ("Mei Lin", False)
    assert not User.objects.get(username="gone").is_active
    assert not User.objects.filter(username="rob").exists()
    assert (result.people_created, result.people_matched) == (2, 1)

    square = Channel.objects.get(name="Town Square")
    assert (square.kind, square.topic, square.description) == (
        ChannelKind.PUBLIC,
        "Say hello",
        "Everyone",
    )
    roles = dict(Membership.objects.filter(channel=square).values_list("user__username", "role"))
    assert roles == {"mei": "admin", "bob": "member"}
    board = Channel.objects.get(name="Board")
    assert board.kind == ChannelKind.PRIVATE
    assert list(board.memberships.values_list("user__username", flat=True)) == ["mei"]

    hello, looks_good, figures = Message.objects.filter(channel=square).order_by("seq")
    # rob is bob here: the mention follows the account.
    assert hello.body == "Hello @bob, the **plan** is ready"
    assert list(Mention.objects.filter(message=hello).values_list("user_id", flat=True)) == [bob.pk]
    assert hello.created_at == datetime.fromtimestamp((MS + 1000) / 1000, tz=UTC)
    assert hello.edited_at == datetime.fromtimestamp((MS + 5000) / 1000, tz=UTC)
    assert list(hello.reactions.values_list("emoji", "user_id")) == [("👍", bob.pk)]
    assert (looks_good.thread_root_id, figures.thread_root_id) == (hello.pk, hello.pk)
    assert looks_good.sender_id == bob.pk
    hello.refresh_from_db()
    assert hello.reply_count == 2
    assert figures.body == "Figures attached\n\n_(file not in the export: gone.pdf)_"
    assert list(
        Attachment.objects.filter(message=figures).values_list("original_name", flat=True)
    ) == ["figures.csv"]
    assert [m.body for m in Message.objects.filter(channel=board)] == ["Board only"]
    dm = Channel.objects.get(kind=ChannelKind.DIRECT)
    assert [m.body for m in Message.objects.filter(channel=dm)] == ["Just us"]
    assert (result.channels, result.direct_conversations, result.messages) == (2, 1, 5)
    assert (result.files, result.files_missing) == (1, 1)
    assert AuditEvent.objects.get(action=WORKSPACE_IMPORTED).metadata["source"] == "mattermost"


def test_a_second_run_adds_nothing_twice(admin: User, bob: User) -> None:
    mattermost_import(source=export(), actor=admin)

    again = mattermost_import(source=export(), actor=admin)

    assert (again.messages, again.messages_already_there, again.files) == (0, 5, 0)
    assert Message.objects.count() == 5
    assert Attachment.objects.count() == 1


def test_a_jsonl_file_alone_imports_without_its_files(admin: User, bob: User) -> None:
    result = mattermost_import(source=export(zipped=False), actor=admin)

    assert (result.messages, result.files, result.files_missing) == (5, 0, 2)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (io.BytesIO(b'{"type": "team"}\n'), "version line"),
        (io.BytesIO(b'{"type": "version", "version": 1}\n{oops\n'), "Line 2"),
        (io.BytesIO(b"PK\x03\x04 broken"), "not a ZIP"),
    ],
)
def test_a_broken_export_is_refused(admin: User, source: io.BytesIO, says: str) -> None:
    with pytest.raises(MattermostExportInvalid, match=says):
        mattermost_import(source=source, actor=admin)
    assert not Message.objects.exists()


def test_the_command_imports(admin: User, bob: User, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "mattermost.zip"
    path.write_bytes(export().getvalue())

    call_command("import_mattermost", str(path), "--actor", "itadmin")

    assert json.loads(capsys.readouterr().out)["messages"] == 5


def test_a_reply_whose_thread_did_not_arrive_stands_on_its_own(admin: User, bob: User) -> None:
    orphan = {
        "type": "post",
        "post": {
            "team": "acme",
            "channel": "board",
            "user": "stranger",  # nobody the export lists
            "message": "Who am I?",
            "create_at": MS + 7000,
            "replies": [{"user": "mei", "message": "An answer", "create_at": MS + 8000}],
        },
    }

    result = mattermost_import(source=export([*LINES, orphan]), actor=admin)

    answer = Message.objects.get(body="An answer")
    assert answer.thread_root_id is None
    assert not Message.objects.filter(body="Who am I?").exists()
    assert (result.messages, result.notices_skipped) == (6, 1)
