"""A client for OpenAI-compatible chat completions (vLLM, Ollama, llama.cpp, a gateway).

The admin configures the endpoint (`AssistantSettings`): a base URL such as
`http://llm.internal:8000/v1`, a model name and an optional key. `complete` asks for one
answer; `stream` asks with `"stream": true` and yields the text as the server writes it
(server-sent events, `data: {...}` lines up to `data: [DONE]`). Both end with the token usage
the server reports (or an estimate when it reports none).

Every failure is an `LLMError` with a stable `code` and a message for the asker: the server
cannot be reached, took too long, refused the key, is rate limiting, or answered something
that is not a completion. Nothing here retries: the asker sees the error and may ask again.

The endpoint is the admin's own, inside the customer's network, so the request goes straight
to it (the egress guard for user-supplied URLs does not apply to an admin-set endpoint).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import requests
from django.utils.translation import gettext_lazy

from apps.core.errors import DomainError


class ChatMessage(TypedDict):
    role: str  # "system", "user" or "assistant"
    content: str


class LLMError(DomainError):
    code = "llm_error"
    http_status = 502
    default_message = gettext_lazy("The language model could not answer.")


class LLMUnreachable(LLMError):
    code = "llm_unreachable"
    default_message = gettext_lazy("The language model server cannot be reached.")


class LLMTimeout(LLMError):
    code = "llm_timeout"
    http_status = 504
    default_message = gettext_lazy("The language model took too long to answer.")


class LLMAuthFailed(LLMError):
    code = "llm_auth_failed"
    default_message = gettext_lazy("The language model server refused the configured key.")


class LLMBusy(LLMError):
    code = "llm_busy"
    http_status = 503
    default_message = gettext_lazy("The language model server is busy. Try again in a moment.")


class LLMBadResponse(LLMError):
    code = "llm_bad_response"
    default_message = gettext_lazy("The language model server answered something unexpected.")


@dataclass(frozen=True)
class Endpoint:
    url: str  # base URL, e.g. http://llm.internal:8000/v1
    model: str
    api_key: str = ""
    timeout_seconds: float = 60.0
    max_tokens: int = 800

    @property
    def completions_url(self) -> str:
        return self.url.rstrip("/") + "/chat/completions"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False  # False: estimated (the server sent no usage)


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


def estimate_tokens(text: str) -> int:
    """A rough count for servers that report no usage: ~4 Latin characters or one CJK
    character per token."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    return cjk + (len(text) - cjk + 3) // 4


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


def _body(endpoint: Endpoint, messages: Sequence[ChatMessage], *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": list(messages),
        "max_tokens": endpoint.max_tokens,
        "temperature": 0.2,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _post(endpoint: Endpoint, body: dict[str, Any], *, stream: bool) -> requests.Response:
    try:
        response = requests.post(
            endpoint.completions_url,
            data=json.dumps(body),
            headers=_headers(endpoint),
            timeout=(min(10.0, endpoint.timeout_seconds), endpoint.timeout_seconds),
            stream=stream,
            allow_redirects=False,
        )
    except requests.Timeout as error:
        raise LLMTimeout() from error
    except requests.RequestException as error:
        raise LLMUnreachable() from error
    if response.status_code >= 400:
        response.close()
        raise _http_error(response.status_code)
    return response


def _http_error(status: int) -> LLMError:
    if status in (401, 403):
        return LLMAuthFailed(details={"status": status})
    if status in (429, 503):
        return LLMBusy(details={"status": status})
    if status == 404:
        return LLMBadResponse(
            gettext_lazy("The language model server does not know this model or path."),
            details={"status": status},
        )
    return LLMError(details={"status": status})


def _usage_of(data: dict[str, Any], usage: Usage) -> None:
    reported = data.get("usage")
    if isinstance(reported, dict):
        usage.prompt_tokens = int(reported.get("prompt_tokens") or 0)
        usage.completion_tokens = int(reported.get("completion_tokens") or 0)
        usage.reported = True


def _estimate_if_unreported(usage: Usage, messages: Sequence[ChatMessage], text: str) -> None:
    if not usage.reported:
        usage.prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        usage.completion_tokens = estimate_tokens(text)


def complete(endpoint: Endpoint, messages: Sequence[ChatMessage]) -> Completion:
    """One answer, not streamed."""
    response = _post(endpoint, _body(endpoint, messages, stream=False), stream=False)
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] or ""
        if not isinstance(text, str):
            raise TypeError("content is not text")
    except requests.JSONDecodeError as error:  # before RequestException: it is both
        raise LLMBadResponse() from error
    except requests.RequestException as error:
        raise _read_error(error) from error
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise LLMBadResponse() from error
    usage = Usage()
    _usage_of(data, usage)
    _estimate_if_unreported(usage, messages, text)
    return Completion(text=text, usage=usage, finish_reason=choice.get("finish_reason"))


def _read_error(error: requests.RequestException) -> LLMError:
    """A failure while reading the answer: a read time-out (raised as such, or wrapped in a
    connection error by a stream) or a connection that broke."""
    if isinstance(error, requests.Timeout) or "timed out" in str(error).lower():
        return LLMTimeout()
    return LLMUnreachable()


class Stream:
    """The pieces of a streamed answer (iterate), then `completion` holds the whole of it.

    The whole answer must arrive within the endpoint's time-out, not only each piece: a
    server that trickles forever is cut off like one that is silent.
    """

    def __init__(self, endpoint: Endpoint, messages: Sequence[ChatMessage]) -> None:
        self._endpoint = endpoint
        self._messages = messages
        self.completion = Completion(text="")

    def __iter__(self) -> Iterator[str]:
        deadline = time.monotonic() + self._endpoint.timeout_seconds
        response = _post(
            self._endpoint, _body(self._endpoint, self._messages, stream=True), stream=True
        )
        parts: list[str] = []
        try:
            # Bytes, decoded here as UTF-8 (SSE's encoding): requests would take a
            # `text/event-stream` without a charset for ISO-8859-1 and garble Chinese.
            for raw in response.iter_lines():
                line = raw.decode("utf-8", "replace")
                if time.monotonic() > deadline:
                    raise LLMTimeout()
                if not line or not line.startswith("data:"):
                    continue  # blank separators, comments (": keep-alive"), event names
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                piece = self._piece(payload)
                if piece:
                    parts.append(piece)
                    yield piece
        except requests.RequestException as error:
            raise _read_error(error) from error
        finally:
            response.close()
        self.completion.text = "".join(parts)
        _estimate_if_unreported(self.completion.usage, self._messages, self.completion.text)

    def _piece(self, payload: str) -> str:
        try:
            data = json.loads(payload)
        except ValueError as error:
            raise LLMBadResponse() from error
        if not isinstance(data, dict):
            raise LLMBadResponse()
        if "error" in data:
            raise LLMError(details={"server": str(data["error"])[:200]})
        _usage_of(data, self.completion.usage)
        choices = data.get("choices") or []
        if not choices:
            return ""  # the usage-only chunk at the end
        choice = choices[0]
        if choice.get("finish_reason"):
            self.completion.finish_reason = choice["finish_reason"]
        content = (choice.get("delta") or {}).get("content")
        return content if isinstance(content, str) else ""


def stream(endpoint: Endpoint, messages: Sequence[ChatMessage]) -> Stream:
    """A streamed answer: iterate it for the pieces, then read `.completion`."""
    return Stream(endpoint, messages)
