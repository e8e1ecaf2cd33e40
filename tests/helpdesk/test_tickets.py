"""Tickets: the bot's answers, handover (on request, by word, on low confidence), the agents'
work, states and rating, and the permission boundary (askers see only their own tickets,
internal notes never reach askers, only agents claim)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.errors import DomainError
from apps.helpdesk import selectors, services
from apps.helpdesk.models import EntryKind, TicketState
from tests.helpdesk.conftest import Desk

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def error_code(call: Any) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def kinds(desk: Desk, ticket_id: int, user: Any = None) -> list[str]:
    detail = selectors.ticket_detail(user=user or desk.asker, ticket_id=ticket_id)
    return [entry["kind"] for entry in detail.entries]


def test_a_covered_question_is_answered_by_the_bot_with_citations(desk: Desk) -> None:
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="How can I reset my password?"
    )

    detail = selectors.ticket_detail(user=desk.asker, ticket_id=ticket.pk)
    bot = detail.entries[1]
    assert bot["kind"] == EntryKind.BOT
    assert "Reset password" in bot["body"]
    assert bot["citations"][0]["title"] == "How do I reset my password?"
    assert ticket.state == TicketState.PENDING
    assert not ticket.needs_agent


def test_a_low_confidence_question_goes_to_the_agents_queue(desk: Desk) -> None:
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="My monitor flickers after lunch"
    )

    assert (ticket.needs_agent, ticket.handover_reason, ticket.state) == (
        True,
        "low_confidence",
        TicketState.OPEN,
    )
    assert kinds(desk, ticket.pk) == ["question", "system"]
    queue = selectors.ticket_queue(user=desk.agent, helpdesk_id=desk.desk.pk, view="unassigned")
    assert [t["id"] for t in queue] == [ticket.pk]


@pytest.mark.parametrize("body", ["转人工", "我要人工客服", "Can I talk to an agent please?"])
def test_asking_for_a_person_hands_over(desk: Desk, body: str) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body=body)

    assert (ticket.needs_agent, ticket.handover_reason) == (True, "requested")


def test_the_handover_button_hands_over_and_the_bot_then_stays_quiet(desk: Desk) -> None:
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="office opening hours?"
    )
    services.ticket_handover(asker=desk.asker, ticket_id=ticket.pk)
    services.ticket_post(user=desk.asker, ticket_id=ticket.pk, body="reset my password?")

    assert kinds(desk, ticket.pk) == ["question", "bot", "system", "question"]


def test_an_agent_reply_assigns_and_waits_for_the_asker(desk: Desk) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")
    services.ticket_post(user=desk.agent, ticket_id=ticket.pk, body="Hello, how can I help?")
    ticket.refresh_from_db()

    assert (ticket.assignee_id, ticket.state) == (desk.agent.pk, TicketState.PENDING)
    assert ticket.first_agent_reply_at is not None


def test_askers_see_only_their_own_tickets(desk: Desk) -> None:
    mine = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")
    services.ticket_open(asker=desk.other_asker, helpdesk_id=desk.desk.pk, body="agent")

    assert [t["id"] for t in selectors.tickets_mine(user=desk.asker)] == [mine.pk]
    assert (
        error_code(lambda: selectors.ticket_detail(user=desk.other_asker, ticket_id=mine.pk))
        == "ticket_not_found"
    )
    assert (
        error_code(
            lambda: services.ticket_post(user=desk.other_asker, ticket_id=mine.pk, body="hi")
        )
        == "ticket_not_found"
    )
    # An organisation admin who is not an agent of the desk does not see tickets either.
    assert (
        error_code(lambda: selectors.ticket_detail(user=desk.outsider_admin, ticket_id=mine.pk))
        == "ticket_not_found"
    )


def test_internal_notes_are_for_agents_only(desk: Desk) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")
    services.ticket_note(agent=desk.agent, ticket_id=ticket.pk, body="VIP customer, be nice")

    assert "note" in kinds(desk, ticket.pk, user=desk.agent2)
    assert "note" not in kinds(desk, ticket.pk, user=desk.asker)
    assert (
        error_code(lambda: services.ticket_note(agent=desk.asker, ticket_id=ticket.pk, body="x"))
        == "not_agent"
    )


@pytest.mark.django_db(transaction=True)
def test_a_note_is_never_pushed_to_the_asker(desk: Desk, captured_events: list[dict]) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")
    captured_events.clear()
    services.ticket_note(agent=desk.agent, ticket_id=ticket.pk, body="secret note")

    notes = [e for e in captured_events if e["type"] == "helpdesk.entry"]
    assert len(notes) == 1
    assert f"user.{desk.asker.pk}" not in notes[0]["topics"]
    assert set(notes[0]["topics"]) == {f"user.{desk.agent.pk}", f"user.{desk.agent2.pk}"}


@pytest.mark.django_db(transaction=True)
def test_queue_changes_are_pushed_to_agents_and_the_asker(
    desk: Desk, captured_events: list[dict]
) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")
    captured_events.clear()
    services.ticket_claim(agent=desk.agent, ticket_id=ticket.pk)

    (event,) = [e for e in captured_events if e["type"] == "helpdesk.ticket"]
    assert event["ticket"]["assignee_id"] == desk.agent.pk
    assert set(event["topics"]) == {f"user.{u.pk}" for u in (desk.asker, desk.agent, desk.agent2)}


def test_only_agents_claim_and_a_claimed_ticket_is_not_claimed_twice(desk: Desk) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")

    assert error_code(lambda: services.ticket_claim(agent=desk.asker, ticket_id=ticket.pk)) == (
        "not_agent"
    )
    services.ticket_claim(agent=desk.agent, ticket_id=ticket.pk)
    assert error_code(lambda: services.ticket_claim(agent=desk.agent2, ticket_id=ticket.pk)) == (
        "already_claimed"
    )
    assert [
        t["id"]
        for t in selectors.ticket_queue(user=desk.agent, helpdesk_id=desk.desk.pk, view="mine")
    ] == [ticket.pk]


def test_tickets_are_assigned_to_agents_only(desk: Desk) -> None:
    ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="人工")

    services.ticket_assign(agent=desk.agent, ticket_id=ticket.pk, assignee_id=desk.agent2.pk)
    ticket.refresh_from_db()
    assert ticket.assignee_id == desk.agent2.pk
    assert (
        error_code(
            lambda: services.ticket_assign(
                agent=desk.agent, ticket_id=ticket.pk, assignee_id=desk.asker.pk
            )
        )
        == "assignee_not_agent"
    )


def test_states_and_rating(desk: Desk) -> None:
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="office opening hours?"
    )
    assert (
        error_code(lambda: services.ticket_rate(asker=desk.asker, ticket_id=ticket.pk, rating=5))
        == "ticket_not_solved"
    )
    assert (
        error_code(
            lambda: services.ticket_set_state(user=desk.asker, ticket_id=ticket.pk, state="open")
        )
        == "not_agent"
    )

    services.ticket_set_state(user=desk.asker, ticket_id=ticket.pk, state="solved")
    rated = services.ticket_rate(asker=desk.asker, ticket_id=ticket.pk, rating=4, comment="ok")
    assert (rated.state, rated.rating, rated.handed_over_at) == ("solved", 4, None)
    assert (
        error_code(lambda: services.ticket_rate(asker=desk.agent, ticket_id=ticket.pk, rating=1))
        == "not_asker"
    )

    services.ticket_set_state(user=desk.agent, ticket_id=ticket.pk, state="closed")
    assert (
        error_code(lambda: services.ticket_post(user=desk.asker, ticket_id=ticket.pk, body="again"))
        == "ticket_closed"
    )


def test_guests_ask_only_where_the_desk_lets_them(desk: Desk) -> None:
    services.ticket_open(asker=desk.guest, helpdesk_id=desk.desk.pk, body="人工")
    desk.desk.allow_guests = False
    desk.desk.save()

    assert (
        error_code(
            lambda: services.ticket_open(asker=desk.guest, helpdesk_id=desk.desk.pk, body="人工")
        )
        == "helpdesk_not_found"
    )


def test_without_the_flag_the_help_desk_does_not_exist(desk: Desk) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.filter(name="helpdesk").delete()
    cache.clear()

    assert (
        error_code(
            lambda: services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body="hi")
        )
        == "feature_disabled"
    )


def test_canned_replies_are_for_agents(desk: Desk) -> None:
    reply = services.canned_reply_create(
        agent=desk.agent, helpdesk_id=desk.desk.pk, title="Hi", body="Hello! 您好！"
    )

    assert [r.pk for r in selectors.canned_replies(user=desk.agent2, helpdesk_id=desk.desk.pk)] == [
        reply.pk
    ]
    assert (
        error_code(lambda: selectors.canned_replies(user=desk.asker, helpdesk_id=desk.desk.pk))
        == "not_agent"
    )
    assert (
        error_code(lambda: services.canned_reply_delete(agent=desk.asker, canned_reply_id=reply.pk))
        == "not_agent"
    )
