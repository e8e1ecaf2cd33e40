"""apps/assistant/llm.py against a real OpenAI-compatible HTTP server on loopback
(tests/assistant/llm_server.py): answers, streams, usage, and every failure mapped to its code."""

from __future__ import annotations

import socket
import time

import pytest

from apps.assistant import llm
from tests.assistant.llm_server import LLMServer

MESSAGES: list[llm.ChatMessage] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "When is the launch?"},
]


def endpoint(server: LLMServer, **overrides: object) -> llm.Endpoint:
    fields: dict[str, object] = {
        "url": server.url,
        "model": "test-model",
        "api_key": "sk-test",
        "timeout_seconds": 2.0,
        "max_tokens": 100,
        **overrides,
    }
    return llm.Endpoint(**fields)  # type: ignore[arg-type]


def test_a_completion_returns_the_text_and_the_reported_usage(llm_server: LLMServer) -> None:
    completion = llm.complete(endpoint(llm_server), MESSAGES)

    assert completion.text == "The launch is on Friday [1]."
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 30)
    assert completion.usage.reported
    assert llm_server.requests[0]["model"] == "test-model"
    assert llm_server.requests[0]["stream"] is False
    assert llm_server.requests[0]["messages"] == MESSAGES
    assert llm_server.headers[0]["Authorization"] == "Bearer sk-test"


def test_a_stream_yields_the_answer_piece_by_piece(llm_server: LLMServer) -> None:
    streamed = llm.stream(endpoint(llm_server), MESSAGES)

    pieces = list(streamed)

    assert len(pieces) == 6
    assert "".join(pieces) == "The launch is on Friday [1]."
    assert streamed.completion.text == "The launch is on Friday [1]."
    assert streamed.completion.finish_reason == "stop"
    assert streamed.completion.usage.completion_tokens == 30
    assert llm_server.requests[0]["stream"] is True


def test_usage_is_estimated_when_the_server_reports_none(llm_server: LLMServer) -> None:
    llm_server.behaviour.report_usage = False
    llm_server.behaviour.answer = "会议在周五。"

    completion = llm.complete(endpoint(llm_server), MESSAGES)

    assert not completion.usage.reported
    assert completion.usage.completion_tokens == 6  # one per CJK character
    assert completion.usage.prompt_tokens > 0


def test_no_key_sends_no_authorization_header(llm_server: LLMServer) -> None:
    llm.complete(endpoint(llm_server, api_key=""), MESSAGES)

    assert "Authorization" not in llm_server.headers[0]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "llm_auth_failed"),
        (403, "llm_auth_failed"),
        (429, "llm_busy"),
        (503, "llm_busy"),
        (404, "llm_bad_response"),
        (500, "llm_error"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
def test_an_error_status_becomes_its_code(
    llm_server: LLMServer, status: int, code: str, streaming: bool
) -> None:
    llm_server.behaviour.status = status

    def call() -> object:
        if streaming:
            return list(llm.stream(endpoint(llm_server), MESSAGES))
        return llm.complete(endpoint(llm_server), MESSAGES)

    with pytest.raises(llm.LLMError) as raised:
        call()

    assert raised.value.code == code
    assert raised.value.details["status"] == status


def test_a_wrong_key_is_refused_by_the_server(llm_server: LLMServer) -> None:
    llm_server.behaviour.required_key = "sk-right"

    with pytest.raises(llm.LLMAuthFailed):
        llm.complete(endpoint(llm_server, api_key="sk-wrong"), MESSAGES)


def test_a_body_that_is_no_completion_is_a_bad_response(llm_server: LLMServer) -> None:
    llm_server.behaviour.garbage = True

    with pytest.raises(llm.LLMBadResponse):
        llm.complete(endpoint(llm_server), MESSAGES)


def test_a_server_slower_than_the_time_out_is_a_time_out(llm_server: LLMServer) -> None:
    llm_server.behaviour.delay_seconds = 3.0
    started = time.monotonic()

    with pytest.raises(llm.LLMTimeout) as raised:
        llm.complete(endpoint(llm_server, timeout_seconds=0.5), MESSAGES)

    assert time.monotonic() - started < 2.5
    assert raised.value.http_status == 504


def test_a_stream_that_stalls_half_way_is_a_time_out(llm_server: LLMServer) -> None:
    llm_server.behaviour.stall_after_pieces = 3
    received: list[str] = []

    def read_all() -> None:
        for piece in llm.stream(endpoint(llm_server, timeout_seconds=0.5), MESSAGES):
            received.append(piece)

    with pytest.raises(llm.LLMTimeout):
        read_all()

    assert received == ["The ", "launch "]  # a keep-alive comment, two pieces, silence


def test_a_stream_that_trickles_past_the_whole_time_out_is_cut_off(
    llm_server: LLMServer,
) -> None:
    llm_server.behaviour.piece_delay_seconds = 0.3  # each piece in time, the whole too slow

    with pytest.raises(llm.LLMTimeout):
        list(llm.stream(endpoint(llm_server, timeout_seconds=0.8), MESSAGES))


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = llm.Endpoint(url=f"http://127.0.0.1:{port}/v1", model="m", timeout_seconds=1.0)

    with pytest.raises(llm.LLMUnreachable) as raised:
        llm.complete(closed, MESSAGES)

    assert raised.value.code == "llm_unreachable"
