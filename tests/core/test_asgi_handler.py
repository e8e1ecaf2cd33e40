"""OneHopASGIHandler: Django's middleware and a sync view in one thread, no hop back."""

from __future__ import annotations

import io
from typing import Any

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync
from channels.testing import HttpCommunicator
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.http import FileResponse, HttpRequest
from django.urls import path

from apps.core.runtime.asgi_handler import OneHopASGIHandler
from tests.asgi_http import streamed_get

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hops_back_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each time a worker thread hands work back to the event loop (async_to_sync)."""
    calls: list[Any] = []
    original = AsyncToSync.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.awaitable)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counting)
    return calls


@pytest.fixture
def hops_to_a_thread(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each time the event loop hands work to a worker thread (sync_to_async)."""
    calls: list[Any] = []
    original = SyncToAsync.__call__

    async def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.func)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    return calls


async def get(application: Any, path: str) -> dict[str, Any]:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver")])
    return await communicator.get_response(timeout=5)


async def test_a_request_runs_the_middleware_and_view_without_returning_to_the_loop(
    hops_back_to_the_loop: list[Any],
) -> None:
    response = await get(OneHopASGIHandler(), "/healthz")

    assert response["status"] == 200
    headers = {name.lower(): value for name, value in response["headers"]}
    assert b"content-security-policy" in headers  # the middleware ran
    assert headers[b"x-frame-options"] == b"DENY"
    assert hops_back_to_the_loop == []


async def test_djangos_own_handler_goes_back_to_the_loop_in_between(
    hops_back_to_the_loop: list[Any],
) -> None:
    """What the handler saves: the stock handler crosses back (keeps the test honest)."""
    response = await get(ASGIHandler(), "/healthz")

    assert response["status"] == 200
    assert len(hops_back_to_the_loop) >= 1


async def test_signals_request_and_response_close_share_the_one_crossing(
    hops_to_a_thread: list[Any],
) -> None:
    finished: list[str] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append("finished")

    signals.request_finished.connect(on_finished)
    try:
        response = await get(OneHopASGIHandler(), "/healthz")
    finally:
        signals.request_finished.disconnect(on_finished)

    assert response["status"] == 200
    assert len(hops_to_a_thread) == 1
    assert finished == ["finished"]  # the response was closed, as Django closes it


async def test_a_request_django_cannot_build_gets_djangos_400_and_is_finished() -> None:
    finished: list[str] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append("finished")

    signals.request_finished.connect(on_finished)
    try:
        communicator = HttpCommunicator(
            OneHopASGIHandler(), "GET", "/healthz", headers=[(b"host", b"testserver")]
        )
        communicator.scope["query_string"] = b"q=\xff"  # not UTF-8: create_request refuses it
        response = await communicator.get_response(timeout=5)
    finally:
        signals.request_finished.disconnect(on_finished)

    assert response["status"] == 400
    assert finished == ["finished"]


async def test_djangos_own_handler_crosses_for_the_signals_and_the_close(
    hops_to_a_thread: list[Any],
) -> None:
    """What the single crossing saves (keeps the count above honest)."""
    response = await get(ASGIHandler(), "/healthz")

    assert response["status"] == 200
    assert len(hops_to_a_thread) >= 3


def _streamed_file(request: HttpRequest) -> FileResponse:
    return FileResponse(_TrackedFile(b"x" * 100_000), content_type="application/octet-stream")


class _TrackedFile(io.BytesIO):
    closed_after_reads: int | None = None
    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        type(self).reads += 1
        return super().read(size)

    def close(self) -> None:
        type(self).closed_after_reads = type(self).reads
        super().close()


urlpatterns = [path("streamed", _streamed_file)]


@pytest.mark.urls(__name__)
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
async def test_a_streaming_response_is_closed_only_after_it_was_sent() -> None:
    _TrackedFile.reads = 0
    _TrackedFile.closed_after_reads = None

    start, body = await streamed_get(OneHopASGIHandler(), "/streamed")

    assert start["status"] == 200
    assert body == b"x" * 100_000
    assert _TrackedFile.closed_after_reads == _TrackedFile.reads > 0


async def test_errors_and_api_responses_are_djangos(hops_back_to_the_loop: list[Any]) -> None:
    missing = await get(OneHopASGIHandler(), "/api/v1/no-such-thing/")
    unauthenticated = await get(OneHopASGIHandler(), "/api/v1/channels/")

    assert missing["status"] == 404
    assert unauthenticated["status"] in (401, 403)
    assert b'"code"' in unauthenticated["body"]


def test_the_asgi_application_uses_it() -> None:
    from config import asgi

    assert isinstance(asgi.django_asgi_app, OneHopASGIHandler)
