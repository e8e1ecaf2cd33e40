"""Django's ASGI handler, with the middleware chain and the view in one thread hop.

Under ASGI Django loads its middleware in async mode and adapts every middleware that cannot
run async. Ours mix both kinds (Django's own adapt to either; four of ours are sync-only), so
a request crossed between the event loop and worker threads three times on its way to a sync
view (loop -> thread at the first sync-only middleware, thread -> loop under the last one,
loop -> thread for the view), each crossing queued behind whatever else the loop and the
GIL were doing. Every view of ours is synchronous (Django REST Framework), so this handler
runs the whole chain synchronously, as a WSGI server would, in the one thread Django gives
the request: the same middleware, the same order, one crossing. Reading the body, the
request signals and sending the response stay Django's.

Django also starts a thread for every request (a `ThreadSensitiveContext` with an executor of
its own) and ends it afterwards; the event loop waited in `Thread.start` for each (8 % of a
busy server's samples). Here a request borrows an idle single-thread executor and gives it
back, as a WSGI server's thread pool does; at most `IDLE_THREADS` wait between bursts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class OneHopASGIHandler(ASGIHandler):
    IDLE_THREADS = 32

    def __init__(self) -> None:
        super().__init__()
        self._sync_chain = BaseHandler()
        self._sync_chain.load_middleware(is_async=False)
        self._idle: list[ThreadPoolExecutor] = []  # touched on the event loop only

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = (
            self._idle.pop()
            if self._idle
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="enclave-http")
        )
        try:
            # The request's thread-sensitive work (the whole chain, its signals, closing the
            # response) runs on this executor's one thread, as in Django's own __call__.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            if len(self._idle) < self.IDLE_THREADS:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)

    async def get_response_async(self, request: HttpRequest) -> Any:
        # thread_sensitive: the request's own thread (ASGIHandler opens a
        # ThreadSensitiveContext per request), as Django runs a sync view.
        response: HttpResponseBase = await sync_to_async(
            self._sync_chain.get_response, thread_sensitive=True
        )(request)
        return response
