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
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._sync_chain = BaseHandler()
        self._sync_chain.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> Any:
        # thread_sensitive: the request's own thread (ASGIHandler opens a
        # ThreadSensitiveContext per request), as Django runs a sync view.
        response: HttpResponseBase = await sync_to_async(
            self._sync_chain.get_response, thread_sensitive=True
        )(request)
        return response
