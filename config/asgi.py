"""ASGI entry point: HTTP through Django, `/ws/` through Channels."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application() does first

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from apps.core.runtime.asgi_handler import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler() if settings.ENCLAVE_HTTP_ONE_THREAD_HOP else ASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.accounts.websocket import TokenAuthMiddleware  # noqa: E402
from apps.chat.routing import websocket_urlpatterns  # noqa: E402
from apps.core.runtime.wsframes import DirectFramesMiddleware  # noqa: E402
from apps.core.websocket import OriginCheckMiddleware  # noqa: E402

http_app = django_asgi_app
if settings.ENCLAVE_SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

websocket_app = DirectFramesMiddleware(
    OriginCheckMiddleware(
        AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
    ),
    max_buffer=settings.ENCLAVE_WS_SEND_BUFFER_MAX_BYTES,
    push_hold=settings.ENCLAVE_WS_PUSH_HOLD_MS / 1000,
)

application = ProtocolTypeRouter({"http": http_app, "websocket": websocket_app})

# A long-lived server process: its database tuning, and a collector that must not stop it for
# long (apps/core/runtime/__init__.py). Celery workers and manage.py run with the defaults.
from apps.core.runtime import install_for_server  # noqa: E402

install_for_server()
