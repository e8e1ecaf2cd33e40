"""The whole-organisation export (apps/governance/org_export.py) and its way back in: export an
organisation, empty its channels, import the ZIP with the Mattermost importer, and find the same
channels, members, messages, threads, reactions and files."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import AuditEvent, Role, User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message
from apps.core.errors import Forbidden
from apps.files import services as file_services
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import iter_stored
from apps.governance.audit import ORGANIZATION_EXPORTED
from apps.governance.importers.mattermost import mattermost_import
from apps.governance.org_export import emoji_name, organization_export
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def say(user: User, channel: Channel, body: str, **extra: Any) -> Message:
    return services.message_send(
        sender=user, channel_id=channel.pk, body=body, client_msg_id=str(uuid.uuid4()), **extra
    ).message


def snapshot() -> dict[str, Any]:
    """What must survive the trip, by names (ids change)."""
    state: dict[str, Any] = {}
    for channel in Channel.objects.order_by("kind", "name"):
        members = sorted(channel.memberships.values_list("user__username", "role"))
        key = channel.name or "+".join(name for name, _role in members)
        messages = []
        for message in Message.objects.filter(channel=channel).order_by("seq"):
            messages.append(
                (
                    message.sender.username,
                    message.body,
                    message.created_at.replace(
                        microsecond=message.created_at.microsecond // 1000 * 1000
                    ),
                    message.thread_root.body if message.thread_root else None,
                    sorted(message.reactions.values_list("emoji", "user__username")),
                    sorted(
                        (a.original_name, b"".join(iter_stored(a.blob.storage_name)))
                        for a in Attachment.objects.filter(message=message)
                    ),
                )
            )
        state[f"{channel.kind}:{key}"] = {
            "topic": channel.topic,
            "archived": channel.is_archived,
            "members": members,
            "messages": messages,
        }
    return state


@pytest.fixture
def organisation() -> dict[str, User]:
    owner = UserFactory(username="owner", role=Role.OWNER)
    alice = UserFactory(username="alice", email="alice@example.com", display_name="Alice")
    bob = UserFactory(username="bob", email="bob@example.com")
    carol = UserFactory(username="carol", email="carol@example.com")
    general = services.channel_create(
        creator=alice,
        kind=ChannelKind.PUBLIC,
        name="general",
        topic="All of us",
        member_ids=[bob.pk, carol.pk],
    )
    secret = services.channel_create(
        creator=bob, kind=ChannelKind.PRIVATE, name="secret", member_ids=[alice.pk]
    )
    # Two channel administrators: both stay administrators.
    services.membership_set_role(actor=alice, channel_id=general.pk, user_id=carol.pk, role="admin")
    root = say(alice, general, "Plan for Q3 @bob")
    say(bob, general, "Agreed", thread_root_id=root.pk)
    say(carol, general, "Me too 👍", thread_root_id=root.pk)
    services.reaction_add(user=bob, message_id=root.pk, emoji="👍")
    services.reaction_add(user=carol, message_id=root.pk, emoji="🎉")
    attachment = file_services.attachment_upload(
        uploader=bob, source=io.BytesIO(b"quarter,amount\nq3,10\n"), name="q3.csv"
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    services.message_send(
        sender=bob, channel_id=general.pk, body="Figures", attachment_ids=[attachment.pk]
    )
    say(bob, secret, "Only the two of us")
    dm = services.dm_open(user=alice, user_ids=[carol.pk])
    say(carol, dm, "Lunch?")
    group = services.dm_open(user=alice, user_ids=[bob.pk, carol.pk])
    say(bob, group, "Three of us")
    gone = say(alice, general, "Deleted later")
    services.message_delete(user=alice, message_id=gone.pk)
    return {"owner": owner, "alice": alice, "bob": bob, "carol": carol}


def test_an_exported_organisation_comes_back_the_same(organisation: dict[str, User]) -> None:
    Message.objects.filter(deleted_at__isnull=False).delete()  # not exported, not compared
    before = snapshot()
    target = io.BytesIO()

    counts = organization_export(target=target, actor=organisation["owner"])

    assert counts == {"people": 4, "channels": 2, "direct": 2, "messages": 7, "files": 1}
    Channel.objects.all().delete()
    Attachment.objects.all().delete()
    target.seek(0)
    result = mattermost_import(source=target, actor=organisation["owner"])
    assert (result.people_created, result.people_matched, result.messages) == (0, 4, 7)
    after = snapshot()
    assert after == before
    assert AuditEvent.objects.get(action=ORGANIZATION_EXPORTED).metadata == counts


def test_the_export_is_mattermosts_bulk_format(organisation: dict[str, User]) -> None:
    target = io.BytesIO()
    organization_export(target=target, actor=organisation["owner"])

    with zipfile.ZipFile(target) as archive:
        lines = [json.loads(line) for line in archive.read("import.jsonl").splitlines()]
        files = [n for n in archive.namelist() if n.startswith("data/")]
    types = [line["type"] for line in lines]
    assert types[0] == "version"
    assert {"team", "channel", "user", "post", "direct_channel", "direct_post"} <= set(types)
    assert all("password" not in json.dumps(line) for line in lines)
    [file] = files
    assert file.endswith("/q3.csv")
    assert "Deleted later" not in json.dumps(lines)


def test_emoji_travel_by_name() -> None:
    assert (emoji_name("👍"), emoji_name("🎉"), emoji_name(":partyparrot:")) == (
        "thumbsup",
        "tada",
        "partyparrot",
    )


def test_only_an_administrator_exports(organisation: dict[str, User]) -> None:
    with pytest.raises(Forbidden):
        organization_export(target=io.BytesIO(), actor=organisation["bob"])


def test_the_command_writes_a_new_file_only(
    organisation: dict[str, User], tmp_path: Path, capsys: Any
) -> None:
    target = tmp_path / "org.zip"

    call_command("export_organization", str(target), "--actor", "owner")

    assert json.loads(capsys.readouterr().out)["messages"] == 7
    assert zipfile.is_zipfile(target)
    with pytest.raises(CommandError, match="exists"):
        call_command("export_organization", str(target), "--actor", "owner")
