"""The cached history page (`selectors.channel_history_json`, `GET .../messages/`).

A page is cached under its channel's `last_seq`: every change of the channel's messages takes
the next value, so each kind of change must show on the next read; the access check must run
on every read, cached or not.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat import selectors, services
from apps.chat.models import Channel, ChannelKind, Message
from apps.chat.permissions import access_channel_read, access_channel_read_position
from apps.core.errors import DomainError
from apps.files import clamd
from apps.files import services as file_services
from apps.files.models import Attachment
from tests.api_matrix import clean_image_attachment, png_bytes
from tests.chat.support import pushed_payloads, raises_domain_error, send

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]
Payload = dict[str, Any]


@pytest.fixture(autouse=True)
def empty_page_cache() -> Iterator[None]:
    selectors.history_pages.clear()
    yield
    selectors.history_pages.clear()


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def get_history(user: User, channel: Channel, **params: object) -> Payload:
    response = client_of(user).get(
        reverse("chat_api:messages", kwargs={"channel_id": channel.pk}), params
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body: Payload = response.json()
    return body


def uncached_history(user: User, channel: Channel, **params: object) -> Payload:
    selectors.history_pages.clear()
    return get_history(user, channel, **params)


def by_id(page: Payload) -> dict[int, Payload]:
    return {message["id"]: message for message in page["messages"]}


# --- what is cached, and that a cached read is the page ---------------------------------------


def test_second_read_is_served_from_the_cache_after_the_access_check(
    alice: User, bob: User, general: Channel, django_assert_num_queries: Any
) -> None:
    for n in range(5):
        send(alice, general, f"message {n}")
    first = selectors.channel_history_json(user=bob, channel_id=general.pk)

    with django_assert_num_queries(1):  # the access check only
        second = selectors.channel_history_json(user=bob, channel_id=general.pk)

    assert second == first


@pytest.mark.parametrize(
    "params",
    [{}, {"limit": 3}, {"after_seq": 2}, {"before_seq": 4, "limit": 2}, {"roots_only": "true"}],
)
def test_cached_page_equals_the_uncached_page_and_the_selector(
    alice: User, bob: User, general: Channel, params: dict[str, object]
) -> None:
    root = send(alice, general, "@bob root")
    send(bob, general, "a reply", thread_root_id=root.pk)
    for n in range(4):
        send(alice, general, f"message {n}")
    services.reaction_add(user=bob, message_id=root.pk, emoji="👍")

    fresh = get_history(bob, general, **params)
    cached = get_history(bob, general, **params)
    selector_params = {"roots_only": params.get("roots_only") == "true"} | {
        key: value for key, value in params.items() if key != "roots_only"
    }
    page = selectors.channel_history(user=bob, channel_id=general.pk, **selector_params)  # type: ignore[arg-type]

    assert cached == fresh
    assert fresh == {
        "channel_id": general.pk,
        "last_seq": page.last_seq,
        "has_more_before": page.has_more_before,
        "has_more_after": page.has_more_after,
        "messages": orjson.loads(orjson.dumps(selectors.payloads(page.messages))),
    }


def test_history_body_equals_the_pushed_payloads(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "@bob @all root")
    services.reaction_add(user=bob, message_id=root.pk, emoji="👍")
    send(bob, general, "a reply", thread_root_id=root.pk)
    services.message_delete(user=alice, message_id=send(alice, general, "oops").pk)
    services.message_send(
        sender=alice,
        channel_id=general.pk,
        body="chart",
        attachment_ids=[clean_image_attachment(alice, name="chart.png").pk],
    )
    get_history(bob, general)  # stored in the cache
    pushed = pushed_payloads(general)

    assert get_history(bob, general)["messages"] == orjson.loads(selectors.render_json(pushed))


def test_cached_body_is_rendered_as_drf_renders_line_separators(
    alice: User, bob: User, general: Channel
) -> None:
    send(alice, general, "one\u2028two")

    response = client_of(bob).get(reverse("chat_api:messages", kwargs={"channel_id": general.pk}))

    assert b"\\u2028" in response.content
    assert response.json()["messages"][0]["body"] == "one\u2028two"


# --- every kind of change shows on the next read --------------------------------------------


def test_new_message_shows_on_the_next_read(alice: User, bob: User, general: Channel) -> None:
    send(alice, general, "first")
    get_history(bob, general)

    new = send(alice, general, "second")

    assert [m["id"] for m in get_history(bob, general)["messages"]][-1] == new.pk


def test_edit_shows_on_the_next_read(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general, "typo")
    get_history(bob, general)

    services.message_edit(user=alice, message_id=message.pk, body="fixed")

    assert by_id(get_history(bob, general))[message.pk]["body"] == "fixed"


def test_deletion_shows_on_the_next_read(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general, "oops")
    get_history(bob, general)

    services.message_delete(user=alice, message_id=message.pk)

    assert by_id(get_history(bob, general))[message.pk]["deleted"] is True


def test_reaction_added_and_removed_show_on_the_next_read(
    alice: User, bob: User, general: Channel
) -> None:
    message = send(alice, general)
    get_history(bob, general)

    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")
    added = by_id(get_history(bob, general))[message.pk]["reactions"]
    services.reaction_remove(user=bob, message_id=message.pk, emoji="👍")
    removed = by_id(get_history(bob, general))[message.pk]["reactions"]

    assert added == [{"emoji": "👍", "count": 1, "user_ids": [bob.pk]}]
    assert removed == []


def test_thread_reply_count_shows_on_the_next_read(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    get_history(bob, general, roots_only="true")

    reply = send(bob, general, "reply", thread_root_id=root.pk)
    after_reply = by_id(get_history(bob, general, roots_only="true"))[root.pk]["reply_count"]
    services.message_delete(user=bob, message_id=reply.pk)
    after_deletion = by_id(get_history(bob, general, roots_only="true"))[root.pk]["reply_count"]

    assert (after_reply, after_deletion) == (1, 0)


def test_change_of_an_old_message_shows_on_earlier_pages(
    alice: User, bob: User, general: Channel
) -> None:
    old = send(alice, general, "old")
    for n in range(5):
        send(alice, general, f"later {n}")
    get_history(bob, general, before_seq=3)
    get_history(bob, general, after_seq=0)

    services.reaction_add(user=bob, message_id=old.pk, emoji="🎉")

    assert by_id(get_history(bob, general, before_seq=3))[old.pk]["reactions"] != []
    assert get_history(bob, general, after_seq=0)["messages"][-1]["id"] == old.pk


def attached_png(alice: User, general: Channel) -> tuple[Message, Attachment]:
    """A message with a pending (not yet scanned) image."""
    upload = file_services.attachment_upload(
        uploader=alice, source=io.BytesIO(png_bytes()), name="chart.png"
    )
    result = services.message_send(
        sender=alice, channel_id=general.pk, body="chart", attachment_ids=[upload.pk]
    )
    return result.message, upload


def attachment_of(page: Payload, message: Message) -> Payload:
    (attachment,) = by_id(page)[message.pk]["attachments"]
    return attachment


def test_scan_verdict_shows_on_the_next_read(alice: User, bob: User, general: Channel) -> None:
    message, upload = attached_png(alice, general)
    before = attachment_of(get_history(bob, general), message)

    file_services._record_verdict(
        attachment_id=upload.pk,
        verdict=clamd.Verdict(infected=False, signature=""),
        error="",
        database="test",
    )
    after = attachment_of(get_history(bob, general), message)

    assert (before["status"], after["status"], after["name"]) == ("pending", "clean", "chart.png")
    assert get_history(bob, general) == uncached_history(bob, general)


def test_release_thumbnail_and_deletion_of_a_file_show_on_the_next_read(
    alice: User, bob: User, make_user: MakeUser, general: Channel
) -> None:
    message, upload = attached_png(alice, general)
    get_history(bob, general)

    file_services.attachment_release(actor=make_user(Role.ADMIN), attachment_id=upload.pk)
    released = attachment_of(get_history(bob, general), message)
    file_services.attachment_make_thumbnail(attachment_id=upload.pk)
    with_thumbnail = attachment_of(get_history(bob, general), message)
    file_services.attachment_delete(actor=alice, attachment_id=upload.pk)
    deleted = attachment_of(get_history(bob, general), message)

    assert (released["status"], released["has_thumbnail"]) == ("clean", False)
    assert with_thumbnail["has_thumbnail"] is True
    assert deleted["status"] == "deleted"
    assert get_history(bob, general) == uncached_history(bob, general)


def test_rename_of_a_sender_shows_once_the_page_expires(
    alice: User, bob: User, general: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = send(alice, general)
    get_history(bob, general)
    old_name = alice.name
    alice.display_name = "Alice Liddell"
    alice.save(update_fields=["display_name"])
    within_ttl = by_id(get_history(bob, general))[message.pk]["sender_name"]

    later = time.monotonic() + selectors.history_pages.ttl_seconds + 1
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)

    assert within_ttl == old_name  # bounded staleness: names are outside the channel's seq
    assert by_id(get_history(bob, general))[message.pk]["sender_name"] == "Alice Liddell"


# --- the access check runs on every read ----------------------------------------------------


def test_member_who_left_a_private_channel_is_refused_its_cached_page(
    alice: User, bob: User
) -> None:
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )
    send(alice, secret, "for members only")
    get_history(bob, secret)  # cached now
    services.channel_leave(user=bob, channel_id=secret.pk)

    response = client_of(bob).get(reverse("chat_api:messages", kwargs={"channel_id": secret.pk}))

    assert (response.status_code, response.json()["code"]) == (404, "channel_not_found")


def test_member_removed_from_a_private_channel_is_refused_its_cached_page(
    alice: User, bob: User
) -> None:
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )
    send(alice, secret)
    get_history(bob, secret)
    services.channel_remove_member(actor=alice, channel_id=secret.pk, user_id=bob.pk)

    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history_json(user=bob, channel_id=secret.pk)


def test_non_member_is_refused_a_page_a_member_cached(
    alice: User, bob: User, make_user: MakeUser
) -> None:
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )
    send(alice, secret)
    get_history(bob, secret)

    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history_json(user=make_user(), channel_id=secret.pk)


def test_guest_is_refused_a_public_page_a_member_cached(
    alice: User, bob: User, make_user: MakeUser, general: Channel
) -> None:
    send(alice, general)
    get_history(bob, general)

    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history_json(user=make_user(Role.GUEST), channel_id=general.pk)


def test_deactivated_member_is_refused_a_cached_page(
    alice: User, bob: User, general: Channel
) -> None:
    send(alice, general)
    get_history(bob, general)
    bob.is_active = False

    with raises_domain_error("account_deactivated", 403):
        selectors.channel_history_json(user=bob, channel_id=general.pk)


@pytest.mark.parametrize(
    "case",
    ["member_private", "member_dm", "non_member_public", "non_member_private", "guest_public"],
)
def test_read_position_check_agrees_with_access_channel_read(
    alice: User, bob: User, make_user: MakeUser, general: Channel, case: str
) -> None:
    secret = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )
    user, channel = {
        "member_private": (bob, secret),
        "member_dm": (bob, services.dm_open(user=alice, user_ids=[bob.pk])),
        "non_member_public": (make_user(), general),
        "non_member_private": (make_user(), secret),
        "guest_public": (make_user(Role.GUEST), general),
    }[case]

    def outcome(check: Callable[..., object]) -> object:
        try:
            check(user=user, channel_id=channel.pk)
        except DomainError as error:
            return error.code
        return "allowed"

    assert outcome(access_channel_read_position) == outcome(access_channel_read)


def test_unknown_channel_is_not_found(bob: User) -> None:
    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history_json(user=bob, channel_id=987654)


# --- the cache itself ---------------------------------------------------------------------------


def test_page_cache_drops_least_recently_used_pages_beyond_its_size() -> None:
    cache = selectors.HistoryPageCache(max_bytes=10, ttl_seconds=60.0)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    cache.get("a")  # used: "b" is now the least recently used
    cache.put("c", b"cccc")

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"aaaa", None, b"cccc")


def test_page_cache_does_not_keep_a_page_larger_than_itself() -> None:
    cache = selectors.HistoryPageCache(max_bytes=3, ttl_seconds=60.0)
    cache.put("a", b"aaaa")

    assert cache.get("a") is None


def test_page_cache_forgets_expired_pages() -> None:
    cache = selectors.HistoryPageCache(max_bytes=100, ttl_seconds=0.0)
    cache.put("a", b"aaaa")

    assert cache.get("a") is None
