"""Answers: extractive mode on an English and a Chinese knowledge set (expected top citations,
nothing invented), generation through a loopback model (streamed into the chat message),
quotas, the audit record, and who gets an answer when (`@assistant`, a DM with the bot)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from apps.accounts.models import User
from apps.assistant import services, tasks
from apps.assistant.models import AssistantCall, Capability, Outcome
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from tests.assistant.conftest import World, configure, say
from tests.assistant.llm_server import LLMServer

pytestmark = pytest.mark.django_db

ENGLISH_KB = {
    "vpn": "To reset your VPN password open the IT portal, choose VPN and press reset password",
    "printer": "The printer on floor 3 needs a badge; paper is in the cabinet next to it",
    "expenses": "Expense claims go through the finance app before the 5th of each month",
    "wifi": "Guest wifi password rotates every Monday, ask reception for the new one",
    "holiday": "Holiday requests need your manager's approval two weeks in advance",
}
CHINESE_KB = {
    "expenses": "报销流程：在财务系统提交申请，每月五号之前由经理审批",
    "vpn": "重置VPN密码请登录IT门户，选择VPN然后点击重置密码",
    "meeting": "周会改到每周三上午十点，在三楼会议室",
    "holiday": "年假申请需要提前两周经过经理批准",
    "canteen": "食堂午餐时间是十一点半到一点",
}


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The answers' fixed texts are checked in English: an earlier test on this worker may have
    left another language active (the service answers in the active one)."""
    with translation.override("en"):
        yield


@pytest.fixture
def kb(assistant_flag: None, make_user: Any) -> tuple[User, dict[str, Message]]:
    dana = make_user(username="dana")
    channel = chat_services.channel_create(creator=dana, name="help", kind="public")
    posted = {f"en-{key}": say(dana, channel, text) for key, text in ENGLISH_KB.items()}
    posted |= {f"zh-{key}": say(dana, channel, text) for key, text in CHINESE_KB.items()}
    return dana, posted


@pytest.mark.parametrize(
    ("question", "expected_top"),
    [
        ("How do I reset my VPN password?", "en-vpn"),
        ("where is paper for the printer", "en-printer"),
        ("When are expense claims due?", "en-expenses"),
        ("holiday approval manager", "en-holiday"),
        ("怎么申请报销？", "zh-expenses"),
        ("周会在哪个会议室？", "zh-meeting"),
        ("年假需要谁批准", "zh-holiday"),
        ("食堂午餐几点", "zh-canteen"),
    ],
)
def test_extractive_mode_cites_the_best_passage_first(
    kb: tuple[User, dict[str, Message]], question: str, expected_top: str
) -> None:
    asker, posted = kb

    answer = services.assistant_answer(user=asker, question=question)

    assert answer.mode == "extractive"
    assert answer.outcome == Outcome.EXTRACTIVE
    assert answer.passages[0].message_id == posted[expected_top].pk
    first_quote = answer.text.split("\n> ")[0]
    assert posted[expected_top].body[:40] in answer.text
    assert answer.passages[0].url in answer.text
    assert first_quote  # a heading that says no model wrote this


def test_extractive_text_is_only_quotes_and_citations(
    kb: tuple[User, dict[str, Message]],
) -> None:
    asker, posted = kb

    answer = services.assistant_answer(user=asker, question="reset VPN password")

    body_lines = [line for line in answer.text.splitlines()[1:] if line.strip()]
    assert all(line.startswith("> ") for line in body_lines)
    quoted = [line[2:] for line in body_lines if not line.startswith("> — ")]
    assert all(any(q.rstrip("…") in m.body for m in posted.values()) for q in quoted)


def test_extractive_mode_says_when_nothing_matches(kb: tuple[User, dict[str, Message]]) -> None:
    answer = services.assistant_answer(user=kb[0], question="zeppelin maintenance schedule")

    assert answer.passages == []
    assert "nothing" in answer.text


@pytest.mark.parametrize(
    "request_text", ["translate 重置VPN密码 into English", "draft a reply to the printer note"]
)
def test_translation_and_drafting_say_they_need_a_model(
    kb: tuple[User, dict[str, Message]], request_text: str
) -> None:
    answer = services.assistant_answer(user=kb[0], question=request_text)

    assert answer.outcome == Outcome.NEEDS_MODEL
    assert "need a language model" in answer.text
    assert answer.passages == []


@pytest.mark.parametrize(
    ("text", "capability"),
    [
        ("@assistant translate this into Chinese: good morning", Capability.TRANSLATE),
        ("把这段翻译成英文", Capability.TRANSLATE),
        ("@assistant what did I miss?", Capability.SUMMARY),
        ("帮我总结一下这个频道", Capability.SUMMARY),
        ("draft a reply saying yes", Capability.DRAFT),
        ("帮我回复他", Capability.DRAFT),
        ("when is the launch?", Capability.QUESTION),
    ],
)
def test_the_capability_is_read_from_the_request(text: str, capability: Capability) -> None:
    assert services.capability_of(text) == capability


def test_a_generated_answer_cites_its_sources_and_is_audited(
    world: World, configured: LLMServer
) -> None:
    answer = services.assistant_answer(user=world.bob, question="When is the launch party?")

    call = AssistantCall.objects.get(pk=answer.call_id)
    assert answer.outcome == Outcome.ANSWERED
    assert answer.text.startswith("The launch is on Friday [1].")
    assert answer.passages[0].url in answer.text
    assert (call.user_id, call.capability, call.mode, call.model) == (
        world.bob.pk, "question", "generative", "test-model"
    )  # fmt: skip
    assert call.retrieved_message_ids == [p.message_id for p in answer.passages]
    assert (call.prompt_tokens, call.completion_tokens) == (120, 30)
    assert call.outcome == "answered"
    assert f"[1] {world.alice.name} in #general" in configured.requests[0]["messages"][1]["content"]


def test_a_translation_goes_to_the_model_without_retrieval(
    world: World, configured: LLMServer
) -> None:
    configured.behaviour.answer = "早上好"

    answer = services.assistant_answer(user=world.bob, question="translate: good morning")

    assert answer.text == "早上好"
    assert answer.passages == []
    assert "Translate the text" in configured.requests[0]["messages"][1]["content"]


def test_a_model_error_is_audited_and_raised(world: World, configured: LLMServer) -> None:
    configured.behaviour.status = 500

    with pytest.raises(services.llm.LLMError):
        services.assistant_answer(user=world.bob, question="When is the launch party?")

    call = AssistantCall.objects.get()
    assert (call.outcome, call.error_code) == ("error", "llm_error")


def test_a_timeout_is_audited_as_such(world: World, configured: LLMServer) -> None:
    configure(timeout_seconds=1)
    configured.behaviour.delay_seconds = 2

    with pytest.raises(services.llm.LLMTimeout):
        services.assistant_answer(user=world.bob, question="When is the launch party?")

    assert AssistantCall.objects.get().error_code == "llm_timeout"


def test_the_calls_quota_stops_a_user_and_is_audited(world: World, configured: LLMServer) -> None:
    configure(user_calls_per_day=2)
    for _ in range(2):
        services.assistant_answer(user=world.bob, question="launch party")

    with pytest.raises(services.QuotaExhausted) as raised:
        services.assistant_answer(user=world.bob, question="launch party")

    assert raised.value.http_status == 429
    assert raised.value.details == {"limit": "user_calls_per_day"}
    assert len(configured.requests) == 2  # the refused call never reached the model
    assert AssistantCall.objects.filter(outcome="quota").count() == 1
    services.assistant_answer(user=world.alice, question="launch party")  # others still may


def test_the_token_quota_counts_what_the_model_reported(
    world: World, configured: LLMServer
) -> None:
    configure(user_tokens_per_day=200)  # one call costs 150
    services.assistant_answer(user=world.bob, question="launch party")
    services.assistant_answer(user=world.bob, question="launch party")

    with pytest.raises(services.QuotaExhausted) as raised:
        services.assistant_answer(user=world.bob, question="launch party")

    assert raised.value.details == {"limit": "user_tokens_per_day"}


def test_the_organisation_quota_stops_everyone(world: World, configured: LLMServer) -> None:
    configure(org_tokens_per_day=100)
    services.assistant_answer(user=world.alice, question="launch party")

    with pytest.raises(services.QuotaExhausted) as raised:
        services.assistant_answer(user=world.bob, question="launch party")

    assert raised.value.details == {"limit": "org_tokens_per_day"}


# --- in chat ------------------------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The message ids the send path handed to the assistant's task (not run)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.answer_message, "delay", ids.append)
    return ids


def test_plain_messages_and_other_mentions_do_not_ask_the_assistant(
    world: World, bot: User, enqueued: list[int], django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        say(world.bob, world.general, "lunch?")
        say(world.bob, world.general, "@alice lunch?")
        dm = chat_services.dm_open(user=world.bob, user_ids=[world.alice.pk])
        say(world.bob, dm, "lunch?")

    assert enqueued == []


def test_a_mention_or_a_dm_with_the_bot_asks_it_once_after_commit(
    world: World, bot: User, enqueued: list[int], django_capture_on_commit_callbacks: Callable
) -> None:
    dm = chat_services.dm_open(user=world.bob, user_ids=[bot.pk])
    with django_capture_on_commit_callbacks(execute=True):
        mentioned = say(world.bob, world.general, "@assistant when is the party?")
        direct = say(world.bob, dm, "when is the party?")
        batched = chat_services.messages_send_batch(
            requests=[
                chat_services.SendRequest(
                    sender=world.bob, channel_id=world.general.pk, body="@Assistant hi",
                    client_msg_id=None,
                )
            ]
        )  # fmt: skip

    assert enqueued[:2] == [mentioned.pk, direct.pk]
    assert enqueued[2:] == [batched[0].message.pk]  # type: ignore[union-attr]


@pytest.fixture
def no_bot(db: Any) -> Iterator[None]:
    """No bot user, and nothing remembered about it in this process."""
    services.forget_bot_id()
    yield
    services.forget_bot_id()


def _bot_look_ups(context: CaptureQueriesContext) -> int:
    """The statements of `assistant_bot_id` (WHERE is_bot AND username is 'assistant')."""
    return sum(
        '"is_bot" AND' in (query["sql"] or "") and "'assistant'" in (query["sql"] or "")
        for query in context.captured_queries
    )


def test_mentions_of_people_cost_no_look_up_of_the_bot(world: World, no_bot: None) -> None:
    """The send path (1,000 messages/s) hands every message to the listener: a mention of
    anyone but `@assistant` is decided from the text, without asking for the bot's id."""
    with CaptureQueriesContext(connection) as context:
        say(world.bob, world.general, "@alice lunch?")
        chat_services.messages_send_batch(
            requests=[
                chat_services.SendRequest(
                    sender=world.bob, channel_id=world.general.pk, body=f"@alice @bob {i}",
                    client_msg_id=None,
                )
                for i in range(20)
            ]
        )  # fmt: skip

    assert _bot_look_ups(context) == 0


def test_without_a_bot_direct_messages_look_for_it_once_then_remember_its_absence(
    world: World, no_bot: None
) -> None:
    dm = chat_services.dm_open(user=world.bob, user_ids=[world.alice.pk])

    with CaptureQueriesContext(connection) as context:
        for text in ("lunch?", "@alice lunch?", "@assistant lunch?"):
            say(world.bob, dm, text)

    assert _bot_look_ups(context) == 1
    # A bot made in this process is known at once.
    made = services.assistant_bot()
    assert services.assistant_bot_id() == made.pk


def test_a_deleted_bot_is_forgotten_and_made_again(no_bot: None, make_user: Any) -> None:
    old = services.assistant_bot()
    make_user(is_bot=True).delete()  # another bot's deletion leaves the remembered one alone
    assert services.assistant_bot_id() == old.pk

    old.delete()

    assert services.assistant_bot_id() is None
    assert services.assistant_bot().pk != old.pk


def _answer_in_chat(world: World, channel: Channel, text: str, **kwargs: Any) -> Message:
    question = say(world.bob, channel, text, **kwargs)
    reply_id = services.assistant_reply_to_message(message_id=question.pk)
    assert reply_id is not None
    return Message.objects.get(pk=reply_id)


def test_the_bot_answers_a_mention_in_the_conversation_with_citations(
    world: World, bot: User
) -> None:
    reply = _answer_in_chat(world, world.general, "@assistant when is the launch party?")

    assert reply.sender_id == bot.pk
    assert reply.channel_id == world.general.pk
    assert world.general.memberships.filter(user=bot).exists()  # asking invites the bot
    assert f"?m={world.general_messages[0].pk}" in reply.body
    assert "Falcon" not in reply.body
    call = AssistantCall.objects.get()
    assert call.answer_message_id == reply.pk


def test_the_bot_answers_in_the_thread_it_was_asked_in(world: World, bot: User) -> None:
    root = world.general_messages[0]

    reply = _answer_in_chat(world, world.general, "@assistant summarise", thread_root_id=root.pk)

    assert reply.thread_root_id == root.pk


@pytest.mark.django_db(transaction=True)
def test_the_answer_streams_into_the_message_as_it_is_written(
    world: World, bot: User, configured: LLMServer, settings: Any,
    captured_events: list[dict[str, Any]],
) -> None:  # fmt: skip
    settings.ENCLAVE_ASSISTANT_STREAM_EDIT_SECONDS = 0
    dm = chat_services.dm_open(user=world.bob, user_ids=[bot.pk])

    say(world.bob, dm, "When is the launch party?")  # the listener's task runs eagerly

    reply = Message.objects.filter(channel=dm, sender=bot).get()
    bodies = [
        event["message"]["body"]
        for event in captured_events
        if event["type"] == "message.updated" and event["message"]["id"] == reply.pk
    ]
    assert bodies[:3] == ["The ▍", "The launch ▍", "The launch is ▍"]
    assert bodies[-1] == reply.body
    assert reply.body.startswith("The launch is on Friday [1].")
    assert f"?m={world.general_messages[0].pk}" in reply.body


def test_a_model_failure_is_told_in_the_answer_message(
    world: World, bot: User, configured: LLMServer
) -> None:
    configured.behaviour.status = 401

    reply = _answer_in_chat(world, world.general, "@assistant when is the launch party?")

    assert reply.body == "The language model server refused the configured key."


def test_without_the_flag_the_bot_stays_silent(world: World, bot: User) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.filter(name="assistant").update(everyone=False)
    cache.clear()
    question = say(world.bob, world.general, "@assistant when is the launch party?")

    assert services.assistant_reply_to_message(message_id=question.pk) is None
    assert not Message.objects.filter(sender=bot).exists()


def test_the_bot_never_answers_itself(world: World, bot: User) -> None:
    chat_services.channel_add_bot(actor=world.bob, channel_id=world.general.pk, bot=bot)
    own = say(bot, world.general, "@assistant hello")

    assert services.assistant_reply_to_message(message_id=own.pk) is None
