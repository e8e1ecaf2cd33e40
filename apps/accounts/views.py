"""Account pages."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.core.errors import InvalidInput


@require_POST
@login_required
def set_language(request: HttpRequest) -> HttpResponse:
    """Save the interface language on the user's profile, then go back."""
    language = request.POST.get("language", "")
    with contextlib.suppress(InvalidInput):  # an unknown language keeps the current one
        services.user_update_profile(user=request.user, language=language)  # type: ignore[arg-type]
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language or "", samesite="Lax")
    return response
