"""The help-desk pages: /helpdesk/ (ask, and follow one's tickets) and /helpdesk/agent/ (the
agents' queue). Shells only: static/js/helpdesk.js loads everything over the REST API and
follows the `helpdesk.*` events on the socket. 404 without the `helpdesk` flag."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.core.features import feature_enabled
from apps.helpdesk.permissions import FLAG


def _page(request: HttpRequest, mode: str) -> HttpResponse:
    if not feature_enabled(user=request.user, name=FLAG):
        raise Http404
    return render(request, "helpdesk/page.html", {"mode": mode})


@login_required
@ensure_csrf_cookie
def ask_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "ask")


@login_required
@ensure_csrf_cookie
def agent_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "agent")
