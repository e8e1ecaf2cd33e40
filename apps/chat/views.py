"""The chat page: the shell the browser client runs in."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def home(request: HttpRequest, channel_id: int | None = None) -> HttpResponse:
    """Render the app shell; the client loads channels and messages over the API and /ws/."""
    context = {
        "initial_channel_id": channel_id or "",
        "max_message_chars": settings.ENCLAVE_MAX_MESSAGE_CHARS,
    }
    return render(request, "chat/app.html", context)
