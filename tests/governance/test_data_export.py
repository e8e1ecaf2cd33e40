"""A user's own data export ("Download my data"): what the ZIP holds, who may download it,
expiry, one at a time, the push when ready."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import AuditEvent, DirectoryProfile, Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind
from apps.files.models import AttachmentStatus
from apps.files.storage import files_storage, iter_stored
from apps.governance.audit import DATA_EXPORT_DOWNLOADED, DATA_EXPORT_REQUESTED
from apps.governance.data_export import data_exports_purge_expired
from apps.governance.models import DataExport, DataExportStatus
from tests.api_matrix import clean_image_attachment
from tests.chat.support import send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_export_flag(db: Any) -> None:
    """Download my data ships behind the `data_export` flag: on for everyone here."""
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="data_export", everyone=True)
    cache.clear()  # flags are cached with their members


def test_without_the_flag_there_is_no_data_export(alice: User) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.filter(name="data_export").update(everyone=False)
    cache.clear()
    client = APIClient()
    client.force_authenticate(alice)

    answers = [client.get("/api/v1/me/data-export/"), client.post("/api/v1/me/data-export/")]

    assert [a.status_code for a in answers] == [404, 404]
    assert {a.json()["code"] for a in answers} == {"feature_disabled"}
    assert not DataExport.objects.exists()


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    user = make_user(display_name="Alice A.", email="alice@example.com", language="zh-hans")
    DirectoryProfile.objects.create(user=user, dn="uid=alice", phone="+86 10 1234", title="CFO")
    return user


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user(display_name="Bob B.")


def _request_and_build(client: APIClient, capture: Any) -> dict[str, Any]:
    with capture(execute=True):
        answer = client.post(reverse("governance_api:my-data-exports"))
    assert answer.status_code == 202, answer.content
    return answer.json()


def _zip_of(client: APIClient, export_id: int) -> zipfile.ZipFile:
    answer = client.get(reverse("governance_api:my-data-export-download", args=[export_id]))
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))


def test_export_holds_the_users_own_data_and_nobody_elses_private_messages(
    client_for: Callable[[User | None], APIClient],
    make_channel: Callable[..., Channel],
    alice: User,
    bob: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    room = make_channel(name="finance", members=(alice, bob))
    dm = chat_services.dm_open(user=alice, user_ids=[bob.pk])
    mine = send(alice, room, "budget draft")
    chat_services.message_edit(user=alice, message_id=mine.pk, body="budget final")
    send(alice, dm, "hi bob")
    theirs = send(bob, dm, "bob's private secret")
    send(bob, room, "bob's room note")
    chat_services.reaction_add(user=alice, message_id=theirs.pk, emoji="👍")
    deleted = send(alice, room, "oops")
    chat_services.message_delete(user=alice, message_id=deleted.pk)
    account_services.api_token_create(user=alice, name="laptop")
    upload = clean_image_attachment(alice, name="chart.png")
    infected = clean_image_attachment(alice, name="bad.png")
    type(infected).objects.filter(pk=infected.pk).update(status=AttachmentStatus.INFECTED)
    client = client_for(alice)

    export = _request_and_build(client, django_capture_on_commit_callbacks)
    status = client.get(reverse("governance_api:my-data-export", args=[export["id"]])).json()
    archive = _zip_of(client, export["id"])

    assert status["status"] == "ready"
    assert status["download_url"]
    names = set(archive.namelist())
    assert {"README.txt", "profile.json", "messages.json", "memberships.json"} <= names
    assert f"files/{upload.pk}-chart.png" in names
    assert not any("bad.png" in name for name in names)  # only clean files
    stored = b"".join(iter_stored(upload.blob.storage_name))
    assert archive.read(f"files/{upload.pk}-chart.png") == stored

    profile = json.loads(archive.read("profile.json"))
    assert profile["account"]["email"] == "alice@example.com"
    assert profile["account"]["display_name"] == "Alice A."
    assert profile["directory"]["phone"] == "+86 10 1234"
    assert [t["name"] for t in profile["api_tokens"]] == ["laptop"]
    raw_profile = archive.read("profile.json").decode()
    token = alice.api_tokens.get()
    assert token.digest not in raw_profile
    assert token.prefix not in raw_profile

    data = json.loads(archive.read("messages.json"))
    texts = [m["text"] for m in data["messages"]]
    assert sorted(texts) == ["budget final", "hi bob"]
    assert {m["channel"] for m in data["messages"]} >= {"finance"}
    raw = archive.read("messages.json").decode()
    assert "bob's private secret" not in raw
    assert "bob's room note" not in raw
    assert "oops" not in raw
    assert data["reactions_given"] == [
        {
            "message_id": theirs.pk,
            "channel_id": dm.pk,
            "channel": data["reactions_given"][0]["channel"],
            "emoji": "👍",
            "created_at": data["reactions_given"][0]["created_at"],
        }
    ]
    memberships = json.loads(archive.read("memberships.json"))
    assert {m["channel_id"] for m in memberships} == {room.pk, dm.pk}
    assert "profile.json" in archive.read("README.txt").decode()
    actions = set(AuditEvent.objects.filter(actor_id=alice.pk).values_list("action", flat=True))
    assert {DATA_EXPORT_REQUESTED, DATA_EXPORT_DOWNLOADED} <= actions


def test_only_the_requester_may_see_or_download_an_export(
    client_for: Callable[[User | None], APIClient],
    make_user: Callable[..., User],
    alice: User,
    bob: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    export = _request_and_build(client_for(alice), django_capture_on_commit_callbacks)
    owner = make_user(Role.OWNER)

    for other in (bob, owner):
        client = client_for(other)
        for name in ("governance_api:my-data-export", "governance_api:my-data-export-download"):
            answer = client.get(reverse(name, args=[export["id"]]))
            assert answer.status_code == 404
            assert answer.json()["code"] == "data_export_not_found"
        assert client.get(reverse("governance_api:my-data-exports")).json() == []
    assert client_for(None).get(
        reverse("governance_api:my-data-export-download", args=[export["id"]])
    ).status_code in (401, 403)


def test_an_expired_export_cannot_be_downloaded_and_its_file_is_purged(
    client_for: Callable[[User | None], APIClient],
    alice: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(alice)
    export = _request_and_build(client, django_capture_on_commit_callbacks)
    row = DataExport.objects.get(pk=export["id"])
    assert row.expires_at is not None
    assert timedelta(hours=71) < row.expires_at - row.finished_at <= timedelta(hours=72)
    DataExport.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    answer = client.get(reverse("governance_api:my-data-export-download", args=[row.pk]))
    assert answer.status_code == 410
    assert answer.json()["code"] == "data_export_expired"
    assert client.get(reverse("governance_api:my-data-exports")).json()[0]["status"] == "expired"

    assert data_exports_purge_expired() == 1
    assert not files_storage().exists(row.storage_name)
    assert DataExport.objects.get(pk=row.pk).status == DataExportStatus.EXPIRED


def test_the_link_lifetime_is_a_setting(
    settings: Any,
    client_for: Callable[[User | None], APIClient],
    alice: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ENCLAVE_DATA_EXPORT_TTL_HOURS = 1
    export = _request_and_build(client_for(alice), django_capture_on_commit_callbacks)
    row = DataExport.objects.get(pk=export["id"])
    assert row.expires_at is not None
    assert row.finished_at is not None
    assert row.expires_at - row.finished_at == timedelta(hours=1)


def test_one_export_at_a_time(
    client_for: Callable[[User | None], APIClient], alice: User, bob: User
) -> None:
    client = client_for(alice)
    first = client.post(reverse("governance_api:my-data-exports"))  # not built: never commits
    second = client.post(reverse("governance_api:my-data-exports"))

    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    assert second.status_code == 409
    assert second.json()["code"] == "data_export_in_progress"
    assert client_for(bob).post(reverse("governance_api:my-data-exports")).status_code == 202
    download = client.get(
        reverse("governance_api:my-data-export-download", args=[first.json()["id"]])
    )
    assert download.status_code == 409
    assert download.json()["code"] == "data_export_not_ready"


def test_a_new_export_may_be_asked_for_once_the_last_is_ready(
    client_for: Callable[[User | None], APIClient],
    alice: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(alice)
    _request_and_build(client, django_capture_on_commit_callbacks)
    _request_and_build(client, django_capture_on_commit_callbacks)
    assert DataExport.objects.filter(user=alice, status=DataExportStatus.READY).count() == 2


@pytest.mark.django_db(transaction=True)
def test_ready_export_is_pushed_to_the_users_own_tabs(
    client_for: Callable[[User | None], APIClient],
    make_user: Callable[..., User],
    captured_events: list[dict[str, Any]],
) -> None:
    from apps.core.events import user_topic
    from tests.ws import check_frame

    alice = make_user()
    client_for(alice).post(reverse("governance_api:my-data-exports"))

    ready = [e for e in captured_events if e["type"] == "data_export.ready"]
    assert len(ready) == 1
    assert ready[0]["topics"] == [user_topic(alice.pk)]
    event = {k: v for k, v in ready[0].items() if k != "topics"}
    check_frame(event)
    assert event["export"]["status"] == "ready"


def test_direct_message_channel_is_named_by_its_members(
    client_for: Callable[[User | None], APIClient],
    alice: User,
    bob: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    dm = chat_services.dm_open(user=alice, user_ids=[bob.pk])
    assert dm.kind == ChannelKind.DIRECT
    send(alice, dm, "hello")
    client = client_for(alice)
    archive = _zip_of(client, _request_and_build(client, django_capture_on_commit_callbacks)["id"])
    [message] = json.loads(archive.read("messages.json"))["messages"]
    assert bob.username in message["channel"]
