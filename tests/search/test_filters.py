"""Search filters (apps/search/filters.py, behind the `search_filters` flag) and file names in
search: run on SQLite (substring search) and on PostgreSQL (the GIN indexes)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message
from apps.files import services as file_services
from apps.files.models import Attachment, AttachmentStatus
from apps.ops.models import FeatureFlag
from apps.search.filters import FLAG
from tests.chat.conftest import MakeUser

ClientFor = Callable[[User | None], APIClient]

pytestmark = pytest.mark.django_db


@pytest.fixture
def filters_on(db: Any) -> Iterator[None]:
    # Waffle drops a saved flag from the cache on commit, which never comes inside a test's
    # transaction: clear first, or an "absent" cached in Redis by an earlier test (or run) wins.
    cache.clear()
    FeatureFlag.objects.create(name=FLAG, everyone=True)
    yield
    cache.clear()  # waffle caches the flag; the row goes with the test's transaction


@pytest.fixture
def filters_off(db: Any) -> None:
    cache.clear()


def say(user: User, channel: Channel, body: str, **extra: Any) -> Message:
    return services.message_send(
        sender=user, channel_id=channel.pk, body=body, client_msg_id=str(uuid.uuid4()), **extra
    ).message


def share(user: User, channel: Channel, name: str, body: str = "") -> Message:
    attachment = file_services.attachment_upload(
        uploader=user, source=io.BytesIO(b"plain text\n"), name=name
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    return services.message_send(
        sender=user, channel_id=channel.pk, body=body, attachment_ids=[attachment.pk]
    ).message


def found(client: APIClient, q: str, **params: Any) -> list[str]:
    response = client.get("/api/v1/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [m["body"] for m in response.json()["results"]]


@pytest.fixture
def random_(alice: User, bob: User) -> Channel:
    return services.channel_create(
        creator=alice, kind=ChannelKind.PUBLIC, name="random", member_ids=[bob.pk]
    )


@pytest.mark.usefixtures("filters_on")
def test_from_narrows_to_a_sender(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "deploy tonight")
    say(bob, general, "deploy tomorrow")

    assert found(client_for(alice), "deploy from:bob") == ["deploy tomorrow"]
    assert found(client_for(alice), "deploy from:@alice") == ["deploy tonight"]
    assert found(client_for(alice), "deploy from:nobody") == []


@pytest.mark.usefixtures("filters_on")
def test_in_narrows_to_a_channel_the_user_may_read(
    alice: User, bob: User, carol: User, general: Channel, random_: Channel, client_for: ClientFor
) -> None:
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[]
    )
    say(alice, general, "budget in general")
    say(alice, random_, "budget in random")
    say(alice, secret, "budget in secret")

    assert found(client_for(bob), "budget in:#random") == ["budget in random"]
    assert found(client_for(bob), "budget in:general") == ["budget in general"]
    # Refused: a private channel bob is not in is as if it did not exist.
    assert found(client_for(bob), "budget in:secret") == []
    assert found(client_for(alice), "budget in:secret") == ["budget in secret"]


@pytest.mark.usefixtures("filters_on")
def test_has_file_has_link_and_is_thread(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    root = say(alice, general, "plan one")
    say(alice, general, "plan reply", thread_root_id=root.pk)
    say(alice, general, "plan see https://intranet.example/plan")
    share(alice, general, "notes.txt", body="plan attached")

    assert found(client_for(alice), "plan has:file") == ["plan attached"]
    assert found(client_for(alice), "plan has:link") == ["plan see https://intranet.example/plan"]
    assert found(client_for(alice), "plan is:thread") == ["plan reply", "plan one"]


@pytest.mark.usefixtures("filters_on")
def test_mentions_me_finds_messages_naming_me(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "@bob review please")
    say(alice, general, "review done")

    assert found(client_for(bob), "review mentions:me") == ["@bob review please"]
    assert found(client_for(alice), "review mentions:me") == []


@pytest.mark.usefixtures("filters_on")
def test_before_and_after_are_days_in_my_time_zone_exclusive(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    alice.time_zone = "Asia/Shanghai"
    alice.save(update_fields=["time_zone"])
    old, new = say(alice, general, "report old"), say(alice, general, "report new")
    # 2026-03-01 23:30 in Shanghai is still 1 March there (15:30 UTC).
    Message.objects.filter(pk=old.pk).update(
        created_at=dt.datetime(2026, 3, 1, 15, 30, tzinfo=dt.UTC)
    )
    Message.objects.filter(pk=new.pk).update(
        created_at=dt.datetime(2026, 3, 5, 2, 0, tzinfo=dt.UTC)
    )

    assert found(client_for(alice), "report before:2026-03-02") == ["report old"]
    assert found(client_for(alice), "report before:2026-03-01") == []
    assert found(client_for(alice), "report after:2026-03-01") == ["report new"]
    assert found(client_for(alice), "report after:2026-02-28 before:2026-03-06") == [
        "report new",
        "report old",
    ]


@pytest.mark.usefixtures("filters_on")
def test_filters_alone_are_a_search(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "first")
    say(bob, general, "second")
    say(alice, general, "third")

    assert found(client_for(bob), "from:alice") == ["third", "first"]
    assert found(client_for(bob), "from:alice in:general", limit=1) == ["third"]


@pytest.mark.usefixtures("filters_on")
@pytest.mark.parametrize("query", ["has:nothing", "is:open", "before:yesterday", "from:", "on:x x"])
def test_an_unknown_filter_is_a_400_naming_it(
    alice: User, general: Channel, client_for: ClientFor, query: str
) -> None:
    response = client_for(alice).get("/api/v1/search/", {"q": query})

    if query == "on:x x":  # not a filter at all: words
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"


@pytest.mark.usefixtures("filters_off")
def test_without_the_flag_filters_are_words(
    alice: User, general: Channel, client_for: ClientFor
) -> None:
    say(alice, general, "meet from:bob")
    say(alice, general, "meet later")

    assert found(client_for(alice), "meet from:bob") == ["meet from:bob"]


@pytest.mark.usefixtures("filters_on")
def test_a_guest_cannot_reach_a_public_channel_through_in(
    alice: User, general: Channel, make_user: MakeUser, client_for: ClientFor
) -> None:
    guest = make_user(role=Role.GUEST)
    say(alice, general, "roadmap draft")

    assert found(client_for(guest), "roadmap in:general") == []
    assert client_for(None).get("/api/v1/search/", {"q": "in:general"}).status_code == 401


def test_messages_are_found_by_the_names_of_their_files(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    share(alice, general, "Q3-budget-report.txt", body="here you go")
    share(alice, general, "季度预算.txt")
    say(alice, general, "nothing about it")

    assert found(client_for(bob), "budget") == ["here you go"]
    assert found(client_for(bob), "预算") == [""]
    results = client_for(bob).get("/api/v1/search/", {"q": "report"}).json()["results"]
    assert [a["name"] for a in results[0]["attachments"]] == ["Q3-budget-report.txt"]


def test_a_file_being_scanned_is_not_found_by_its_name(
    alice: User, bob: User, general: Channel, client_for: ClientFor
) -> None:
    attachment = file_services.attachment_upload(
        uploader=alice, source=io.BytesIO(b"x\n"), name="salaries.txt"
    )
    services.message_send(
        sender=alice, channel_id=general.pk, body="", attachment_ids=[attachment.pk]
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.PENDING)

    assert found(client_for(bob), "salaries") == []
