"""The help-desk bot through the configured language model: grounded only in the ranked
knowledge-base passages it cites, labelled as AI text, under the assistant's quotas and audit,
and falling back to the extractive answer when the model is absent, fails or the quota is
spent. The model is the tests' own OpenAI-compatible server on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from apps.assistant.models import AssistantCall, Capability, Outcome
from apps.helpdesk import events, services
from apps.helpdesk.models import EntryKind, HelpDesk, Passage, Ticket, TicketEntry, TicketState
from tests.assistant.conftest import configure
from tests.assistant.llm_server import LLMServer
from tests.helpdesk.conftest import FAQ, Desk

pytestmark = pytest.mark.django_db

PASSWORD_ANSWER = FAQ[0][1]
REFUND_ANSWER = FAQ[2][1]


@pytest.fixture
def other_desk(desk: Desk) -> HelpDesk:
    """A second desk whose knowledge base must never reach the first desk's answers."""
    other = HelpDesk.objects.create(name="Legal", confidence_threshold=0.5)
    services.faq_save(
        helpdesk=other,
        question="How do I reset my password for the merger data room?",
        answer="The merger data room password is kept by the general counsel.",
        actor=None,
    )
    return other


def open_ticket(desk: Desk, body: str, capture: Any) -> Ticket:
    with capture(execute=True):  # the bot's task runs once the ticket commits
        ticket = services.ticket_open(asker=desk.asker, helpdesk_id=desk.desk.pk, body=body)
    ticket.refresh_from_db()
    return ticket


def bot_entries(ticket: Ticket) -> list[TicketEntry]:
    return list(TicketEntry.objects.filter(ticket=ticket, kind=EntryKind.BOT))


def test_the_model_writes_the_answer_from_the_cited_passages_only(
    desk: Desk,
    other_desk: HelpDesk,
    configured: LLMServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    configured.behaviour.answer = "Go to Settings, then Security, and press Reset password [1]."

    ticket = open_ticket(desk, "How do I reset my password?", django_capture_on_commit_callbacks)

    [entry] = bot_entries(ticket)
    assert entry.body == "Go to Settings, then Security, and press Reset password [1]."
    assert entry.ai_generated is True
    assert entry.citations[0]["title"] == "How do I reset my password?"
    assert events.entry_payload(entry)["ai_generated"] is True
    assert ticket.state == TicketState.PENDING
    prompt = configured.prompt_text()
    assert "[1] How do I reset my password?: How do I reset my password?" in prompt
    assert PASSWORD_ANSWER in prompt
    assert "merger data room" not in prompt  # another desk's knowledge base


def test_a_chinese_question_is_generated_from_the_chinese_passage(
    desk: Desk, configured: LLMServer, django_capture_on_commit_callbacks: Any
) -> None:
    configured.behaviour.answer = "在订单页面申请退款即可 [1]。"

    ticket = open_ticket(desk, "如何申请退款？", django_capture_on_commit_callbacks)

    [entry] = bot_entries(ticket)
    assert entry.body == "在订单页面申请退款即可 [1]。"
    assert entry.citations[0]["title"] == "如何申请退款？"
    assert REFUND_ANSWER in configured.prompt_text()


def test_each_generated_answer_is_audited_with_its_passages_and_tokens(
    desk: Desk, configured: LLMServer, django_capture_on_commit_callbacks: Any
) -> None:
    ticket = open_ticket(desk, "How do I reset my password?", django_capture_on_commit_callbacks)

    call = AssistantCall.objects.get()
    [entry] = bot_entries(ticket)
    cited_documents = {citation["document_id"] for citation in entry.citations}
    assert call.user_id == desk.asker.pk
    assert call.capability == Capability.HELPDESK
    assert call.outcome == Outcome.ANSWERED
    assert (call.prompt_tokens, call.completion_tokens) == (120, 30)
    assert {source["document"] for source in call.retrieved_sources} == cited_documents
    assert all(
        Passage.objects.get(pk=source["kb_passage"]).helpdesk_id == desk.desk.pk
        for source in call.retrieved_sources
    )


def test_a_model_error_falls_back_to_the_extractive_answer(
    desk: Desk, configured: LLMServer, django_capture_on_commit_callbacks: Any
) -> None:
    configured.behaviour.status = 500

    ticket = open_ticket(desk, "How do I reset my password?", django_capture_on_commit_callbacks)

    [entry] = bot_entries(ticket)
    assert entry.body == PASSWORD_ANSWER
    assert entry.ai_generated is False
    assert ticket.state == TicketState.PENDING
    assert AssistantCall.objects.get().outcome == Outcome.ERROR


def test_a_model_server_that_is_down_falls_back_to_the_extractive_answer(
    desk: Desk, django_capture_on_commit_callbacks: Any
) -> None:
    # An address where nothing listens (the discard port, closed on loopback).
    configure(endpoint_url="http://127.0.0.1:9/v1", model="test-model", timeout_seconds=2)

    ticket = open_ticket(desk, "如何申请退款？", django_capture_on_commit_callbacks)

    [entry] = bot_entries(ticket)
    assert entry.body == REFUND_ANSWER
    assert entry.ai_generated is False
    assert AssistantCall.objects.get().error_code == "llm_unreachable"


def test_a_spent_quota_gives_the_extractive_answer_without_asking_the_model(
    desk: Desk, configured: LLMServer, django_capture_on_commit_callbacks: Any
) -> None:
    configure(user_calls_per_day=1)
    open_ticket(desk, "How do I reset my password?", django_capture_on_commit_callbacks)
    asked = len(configured.requests)

    ticket = open_ticket(
        desk, "What are the office opening hours?", django_capture_on_commit_callbacks
    )

    [entry] = bot_entries(ticket)
    assert entry.body == FAQ[1][1]
    assert entry.ai_generated is False
    assert len(configured.requests) == asked == 1
    assert AssistantCall.objects.filter(outcome=Outcome.QUOTA, user=desk.asker).count() == 1


def test_a_low_confidence_question_goes_to_a_person_without_asking_the_model(
    desk: Desk, configured: LLMServer, django_capture_on_commit_callbacks: Any
) -> None:
    ticket = open_ticket(
        desk, "Can I bring my dog to the Christmas party?", django_capture_on_commit_callbacks
    )

    assert ticket.needs_agent is True
    assert ticket.handover_reason == services.HANDOVER_LOW_CONFIDENCE
    assert bot_entries(ticket) == []
    assert configured.requests == []


def test_a_ticket_handed_over_before_the_model_answers_gets_no_bot_answer(
    desk: Desk, configured: LLMServer
) -> None:
    # No commit here: the bot's task has not run yet when the asker asks for a person.
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="How do I reset my password?"
    )
    question = TicketEntry.objects.get(ticket=ticket, kind=EntryKind.QUESTION)
    services.ticket_handover(asker=desk.asker, ticket_id=ticket.pk)

    entry = services.ticket_bot_answer(ticket_id=ticket.pk, question_entry_id=question.pk)

    assert entry is None
    assert bot_entries(ticket) == []
    assert configured.requests == []


def test_without_a_model_the_extractive_answer_is_written_at_once(desk: Desk) -> None:
    ticket = services.ticket_open(
        asker=desk.asker, helpdesk_id=desk.desk.pk, body="How do I reset my password?"
    )

    [entry] = bot_entries(ticket)
    assert entry.body == PASSWORD_ANSWER
    assert entry.ai_generated is False
    assert AssistantCall.objects.count() == 0
