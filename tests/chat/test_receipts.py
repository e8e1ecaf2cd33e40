"""Read receipts: counts from the members' read positions, the organisation switch, the size
limit, the sender-only seen-by list over REST, and the `receipts.updated` push."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, OrganizationSettings, User
from apps.accounts.services import organization_settings_update
from apps.chat import receipts, services
from apps.chat.models import Channel, ChannelKind, Membership
from apps.core.events import channel_topic, user_topic
from tests.chat.support import raises_domain_error, send

Events = list[dict[str, Any]]


def receipts_on(enabled: bool = True) -> None:
    OrganizationSettings.objects.update_or_create(pk=1, defaults={"read_receipts_enabled": enabled})


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user(username="alice", display_name="Alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user(username="bob", display_name="Bob")


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user(username="carol", display_name="Carol")


@pytest.fixture
def dm(alice: User, bob: User) -> Channel:
    return services.dm_open(user=alice, user_ids=[bob.pk])


@pytest.fixture
def group(alice: User, bob: User, carol: User) -> Channel:
    return services.dm_open(user=alice, user_ids=[bob.pk, carol.pk])


def big_channel(owner: User, make_user: Callable[..., User], size: int) -> Channel:
    others = [make_user() for _ in range(size - 1)]
    return services.channel_create(
        creator=owner, kind=ChannelKind.PUBLIC, name="big", member_ids=[u.pk for u in others]
    )


# --- the organisation switch ------------------------------------------------------------------


@pytest.mark.django_db
def test_receipts_are_off_until_an_administrator_turns_them_on() -> None:
    assert receipts.receipts_enabled() is False
    assert OrganizationSettings._meta.get_field("read_receipts_enabled").default is False


@pytest.mark.django_db
def test_organisation_switch_turns_receipts_on_and_is_audited(make_user: Any) -> None:
    owner = make_user(role="owner")

    organization_settings_update(actor=owner, changes={"read_receipts_enabled": True})

    assert receipts.receipts_enabled() is True
    audit = AuditEvent.objects.get(action=AuditAction.ORG_SETTINGS_CHANGED)
    assert audit.metadata == {"read_receipts_enabled": {"from": False, "to": True}}


@pytest.mark.django_db
def test_organisation_switch_refuses_a_non_boolean(make_user: Any) -> None:
    owner = make_user(role="owner")

    with raises_domain_error("invalid_setting", 400):
        organization_settings_update(actor=owner, changes={"read_receipts_enabled": "yes"})


@pytest.mark.django_db
def test_with_receipts_off_a_member_gets_no_read_positions(
    alice: User, bob: User, dm: Channel
) -> None:
    send(alice, dm)
    services.read_mark(user=bob, channel_id=dm.pk, seq=1)

    found = receipts.channel_read_positions(user=alice, channel_id=dm.pk)

    assert (found.available, found.reason, found.positions) == (False, "disabled", [])


@pytest.mark.django_db
def test_with_receipts_off_the_seen_by_list_is_refused(alice: User, bob: User, dm: Channel) -> None:
    message = send(alice, dm)

    with raises_domain_error("receipts_disabled", 404):
        receipts.message_receipts(user=alice, message_id=message.pk)


# --- counts from read positions ---------------------------------------------------------------


@pytest.mark.django_db
def test_dm_message_is_unread_until_the_partner_reads_up_to_it(
    alice: User, bob: User, dm: Channel
) -> None:
    receipts_on()
    first = send(alice, dm)
    second = send(alice, dm)
    services.read_mark(user=bob, channel_id=dm.pk, seq=first.seq)

    assert [m["name"] for m in receipts.message_receipts(user=alice, message_id=first.pk).read] == [
        "Bob"
    ]
    later = receipts.message_receipts(user=alice, message_id=second.pk)
    assert (later.read, [m["name"] for m in later.unread]) == ([], ["Bob"])


@pytest.mark.django_db
def test_read_positions_list_the_other_members_only(
    alice: User, bob: User, carol: User, group: Channel
) -> None:
    receipts_on()
    send(alice, group)
    send(alice, group)
    services.read_mark(user=bob, channel_id=group.pk, seq=2)
    services.read_mark(user=carol, channel_id=group.pk, seq=1)

    found = receipts.channel_read_positions(user=alice, channel_id=group.pk)

    assert found.available
    assert found.positions == [
        {"user_id": bob.pk, "last_read_seq": 2},
        {"user_id": carol.pk, "last_read_seq": 1},
    ]


@pytest.mark.django_db
def test_group_seen_by_counts_members_whose_position_reached_the_message(
    alice: User, bob: User, carol: User, group: Channel
) -> None:
    receipts_on()
    message = send(alice, group)
    services.read_mark(user=bob, channel_id=group.pk, seq=message.seq)

    found = receipts.message_receipts(user=alice, message_id=message.pk)

    assert [m["user_id"] for m in found.read] == [bob.pk]
    assert [m["user_id"] for m in found.unread] == [carol.pk]


@pytest.mark.django_db
def test_deactivated_members_are_not_counted(
    alice: User, bob: User, carol: User, group: Channel
) -> None:
    receipts_on()
    message = send(alice, group)
    User.objects.filter(pk=carol.pk).update(is_active=False)

    found = receipts.message_receipts(user=alice, message_id=message.pk)

    assert (found.read, [m["user_id"] for m in found.unread]) == ([], [bob.pk])


@pytest.mark.django_db
def test_only_the_sender_sees_who_read_a_message(
    alice: User, bob: User, carol: User, group: Channel
) -> None:
    receipts_on()
    message = send(alice, group)

    with raises_domain_error("receipts_sender_only", 403):
        receipts.message_receipts(user=bob, message_id=message.pk)


@pytest.mark.django_db
def test_a_channel_past_the_limit_has_no_receipts(
    alice: User, make_user: Callable[..., User], settings: Any
) -> None:
    receipts_on()
    settings.ENCLAVE_RECEIPTS_MAX_MEMBERS = 3
    channel = big_channel(alice, make_user, size=4)
    message = send(alice, channel)

    found = receipts.channel_read_positions(user=alice, channel_id=channel.pk)
    assert (found.available, found.reason, found.positions) == (False, "too_many_members", [])
    with raises_domain_error("receipts_unavailable", 404):
        receipts.message_receipts(user=alice, message_id=message.pk)


@pytest.mark.django_db
def test_a_channel_at_the_limit_has_receipts(
    alice: User, make_user: Callable[..., User], settings: Any
) -> None:
    receipts_on()
    settings.ENCLAVE_RECEIPTS_MAX_MEMBERS = 3
    channel = big_channel(alice, make_user, size=3)

    assert receipts.channel_read_positions(user=alice, channel_id=channel.pk).available


@pytest.mark.django_db
def test_a_non_member_of_a_public_channel_gets_no_read_positions(
    alice: User, make_user: Callable[..., User]
) -> None:
    receipts_on()
    channel = big_channel(alice, make_user, size=2)
    outsider = make_user()

    with raises_domain_error("not_member", 403):
        receipts.channel_read_positions(user=outsider, channel_id=channel.pk)


# --- query counts -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_read_positions_cost_three_queries_whatever_the_size(
    alice: User, make_user: Callable[..., User], django_assert_num_queries: Any
) -> None:
    receipts_on()
    channel = big_channel(alice, make_user, size=15)

    with django_assert_num_queries(3):
        receipts.channel_read_positions(user=alice, channel_id=channel.pk)


@pytest.mark.django_db
def test_seen_by_list_costs_four_queries_whatever_the_size(
    alice: User, make_user: Callable[..., User], django_assert_num_queries: Any
) -> None:
    receipts_on()
    channel = big_channel(alice, make_user, size=15)
    message = send(alice, channel)

    with django_assert_num_queries(4):
        found = receipts.message_receipts(user=alice, message_id=message.pk)
    assert len(found.unread) == 14


@pytest.mark.django_db
def test_read_mark_in_a_dm_costs_one_query_more_with_receipts_on(
    alice: User, bob: User, dm: Channel, django_assert_num_queries: Any
) -> None:
    receipts_on()
    send(alice, dm)
    send(alice, dm)
    services.read_mark(user=bob, channel_id=dm.pk, seq=1)

    # The atomic block's SAVEPOINT and RELEASE, the access check, the update, and whether
    # receipts are on (no member count in a DM).
    with django_assert_num_queries(5):
        services.read_mark(user=bob, channel_id=dm.pk, seq=2)


@pytest.mark.django_db
def test_read_mark_in_a_large_channel_stops_counting_past_the_limit(
    alice: User, make_user: Callable[..., User], django_assert_num_queries: Any
) -> None:
    receipts_on()
    channel = big_channel(alice, make_user, size=25)
    send(alice, channel)
    reader = (
        Membership.objects.select_related("user").filter(channel=channel).exclude(user=alice)
    ).first()
    assert reader is not None

    # SAVEPOINT, access, update, receipts on?, the bounded member count, RELEASE.
    with django_assert_num_queries(6) as captured:
        services.read_mark(user=reader.user, channel_id=channel.pk, seq=1)
    assert "LIMIT 21" in captured.captured_queries[-2]["sql"]


# --- REST -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_seen_by_list_answers_read_and_unread_members(
    alice: User, bob: User, carol: User, group: Channel
) -> None:
    receipts_on()
    message = send(alice, group)
    services.read_mark(user=carol, channel_id=group.pk, seq=message.seq)
    client = APIClient()
    client.force_authenticate(alice)

    response = client.get(reverse("chat_api:message-receipts", args=[message.pk]))

    assert response.status_code == 200
    assert response.json() == {
        "message_id": message.pk,
        "channel_id": group.pk,
        "seq": message.seq,
        "read": [{"user_id": carol.pk, "name": "Carol"}],
        "unread": [{"user_id": bob.pk, "name": "Bob"}],
    }


@pytest.mark.django_db
def test_rest_seen_by_list_refuses_another_member_with_a_code(
    alice: User, bob: User, group: Channel
) -> None:
    receipts_on()
    message = send(alice, group)
    client = APIClient()
    client.force_authenticate(bob)

    response = client.get(reverse("chat_api:message-receipts", args=[message.pk]))

    assert response.status_code == 403
    assert response.json()["code"] == "receipts_sender_only"


@pytest.mark.django_db
def test_rest_read_positions_say_when_receipts_are_off(alice: User, bob: User, dm: Channel) -> None:
    client = APIClient()
    client.force_authenticate(alice)

    response = client.get(reverse("chat_api:channel-receipts", args=[dm.pk]))

    assert response.json() == {
        "channel_id": dm.pk,
        "available": False,
        "reason": "disabled",
        "positions": [],
    }


# --- the push -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_read_mark_tells_the_members_of_a_small_conversation(
    alice: User, bob: User, dm: Channel, captured_events: Events
) -> None:
    receipts_on()
    send(alice, dm)
    captured_events.clear()

    services.read_mark(user=bob, channel_id=dm.pk, seq=1)

    assert [(e["type"], e["topics"]) for e in captured_events] == [
        ("read", [user_topic(bob.pk)]),
        ("receipts.updated", [channel_topic(dm.pk)]),
    ]
    pushed = captured_events[1]
    assert (pushed["channel_id"], pushed["user_id"], pushed["seq"]) == (dm.pk, bob.pk, 1)


@pytest.mark.django_db(transaction=True)
def test_read_mark_pushes_no_receipt_when_receipts_are_off(
    alice: User, bob: User, dm: Channel, captured_events: Events
) -> None:
    send(alice, dm)
    captured_events.clear()

    services.read_mark(user=bob, channel_id=dm.pk, seq=1)

    assert [e["type"] for e in captured_events] == ["read"]


@pytest.mark.django_db(transaction=True)
def test_read_mark_pushes_no_receipt_in_a_large_channel(
    alice: User, make_user: Callable[..., User], settings: Any, captured_events: Events
) -> None:
    receipts_on()
    settings.ENCLAVE_RECEIPTS_MAX_MEMBERS = 2
    channel = big_channel(alice, make_user, size=3)
    send(alice, channel)
    reader = Membership.objects.filter(channel=channel).exclude(user=alice).first()
    assert reader is not None
    captured_events.clear()

    services.read_mark(user=reader.user, channel_id=channel.pk, seq=1)

    assert [e["type"] for e in captured_events] == ["read"]


@pytest.mark.django_db(transaction=True)
def test_a_read_mark_that_does_not_move_pushes_no_receipt(
    alice: User, bob: User, dm: Channel, captured_events: Events
) -> None:
    receipts_on()
    send(alice, dm)
    services.read_mark(user=bob, channel_id=dm.pk, seq=1)
    captured_events.clear()

    services.read_mark(user=bob, channel_id=dm.pk, seq=1)

    assert captured_events == []


@pytest.mark.django_db
def test_owner_turns_receipts_on_in_the_admin(owner_admin: Any) -> None:
    from tests.conftest import ORGANIZATION_SETTINGS_FORM, ORGANIZATION_SETTINGS_URL

    form = {**ORGANIZATION_SETTINGS_FORM, "read_receipts_enabled": "on"}
    receipts_on(False)

    response = owner_admin.post(ORGANIZATION_SETTINGS_URL, form)

    assert response.status_code == 302
    assert receipts.receipts_enabled() is True
