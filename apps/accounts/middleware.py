"""Activate the signed-in user's chosen language (else the browser's, via LocaleMiddleware)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation


class UserLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Send users whom the organisation requires to use 2FA to set it up before anything else.

    Pages only: account pages (log-in, log-out, the set-up page), static files and the API stay
    reachable. Runs after AuthenticationMiddleware.
    """

    EXEMPT_PREFIXES = (
        "/accounts/",
        "/static/",
        "/api/",
        "/jsi18n/",
        "/healthz",
        "/readyz",
        "/media/",
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.EXEMPT_PREFIXES)
        ):
            from apps.accounts import two_factor

            if two_factor.two_factor_required(user) and not two_factor.two_factor_enabled(user):
                return HttpResponseRedirect(reverse("accounts:two-factor"))
        return self.get_response(request)
