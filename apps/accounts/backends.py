"""Authentication backends of our own."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lock-out check, for log-ins that come with a request.

    Calls without a request (a shell, a management command) are not network guesses and are
    passed on to the next backend instead of failing as django-axes does.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class LocalBackend(ModelBackend):
    """Django's username/password backend, refusing names no account can have.

    A NUL character cannot be stored in PostgreSQL text; looking it up raises instead of
    simply finding nobody. Forms already reject it; this covers direct callers.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is not None and "\x00" in username:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
