"""OneHopASGIHandler: Django's middleware and a sync view in one thread, no hop back."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import AsyncToSync
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler

from apps.core.asgi_handler import OneHopASGIHandler

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


async def test_errors_and_api_responses_are_djangos(hops_back_to_the_loop: list[Any]) -> None:
    missing = await get(OneHopASGIHandler(), "/api/v1/no-such-thing/")
    unauthenticated = await get(OneHopASGIHandler(), "/api/v1/channels/")

    assert missing["status"] == 404
    assert unauthenticated["status"] in (401, 403)
    assert b'"code"' in unauthenticated["body"]


def test_the_asgi_application_uses_it() -> None:
    from config import asgi

    assert isinstance(asgi.django_asgi_app, OneHopASGIHandler)
