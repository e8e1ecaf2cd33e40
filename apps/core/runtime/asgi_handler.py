"""Django's ASGI handler, with the middleware chain and the view in one thread hop.

Under ASGI Django loads its middleware in async mode and adapts every middleware that cannot
run async. Ours mix both kinds (Django's own adapt to either; four of ours are sync-only), so
a request crossed between the event loop and worker threads three times on its way to a sync
view (loop -> thread at the first sync-only middleware, thread -> loop under the last one,
loop -> thread for the view), each crossing queued behind whatever else the loop and the
GIL were doing. Every view of ours is synchronous (Django REST Framework), so this handler
runs the whole chain synchronously, as a WSGI server would, in the one thread Django gives
the request: the same middleware, the same order, one crossing. Reading the body and
sending the response stay Django's.

Around the view Django crossed twice more: to send `request_started` (its receivers are
sync: closing stale database connections) and to close the response, which sends
`request_finished`; and it started two tasks per request (the response and a listener for the
client going away). That listener cannot stop a sync view, nor the reading of a file download:
Django reads a sync streaming response (`FileResponse`) to its end in a thread before it sends
the first chunk, and uvicorn drops what is sent to a client that has gone. Here
`request_started`, building the request, the chain and closing a response whose content is
complete all happen in the one crossing; only a streaming response (a file download) is
closed after it has been sent, as Django does, with one more crossing.

Django also starts a thread for every request (a `ThreadSensitiveContext` with an executor of
its own) and ends it afterwards; the event loop waited in `Thread.start` for each (8 % of a
busy server's samples). Here a request borrows an idle single-thread executor and gives it
back, as a WSGI server's thread pool does; at most `IDLE_THREADS` wait between bursts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


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

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """Everything of a request that runs in its thread: the same steps as Django's
        `handle`, in the same order. A complete response is closed here, before it is sent
        (its content is already bytes); a streaming one only after it has been sent."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response: HttpResponseBase
        if request is not None:
            response = self._sync_chain.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        else:  # create_request returns a request or the response that refuses it
            response = cast(HttpResponseBase, error_response)
        if not response.streaming:
            response.close()
        return response
