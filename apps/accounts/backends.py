"""Authentication backends of our own."""

from __future__ import annotations

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

logger = logging.getLogger(__name__)


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


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' failure counting, except for attempts the directory could not judge.

    While the company directory is unreachable a directory user's right password fails like a
    wrong one; counting those would lock people out for the lock-out period because of an
    outage. Such a failure is not counted unless a local password was checked (an account with
    a usable password has that username), so guessing local passwords stays limited.
    """

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        from apps.accounts.ldap_backend import request_found_directory_unavailable

        if request_found_directory_unavailable(request) and not _local_password_checked(
            credentials.get("username")
        ):
            logger.info("sign-in failure not counted: the directory could not be asked")
            return
        super().user_login_failed(sender, credentials, request, **kwargs)


def _local_password_checked(username: object) -> bool:
    """Whether LocalBackend had a password to compare for this username."""
    from apps.accounts.models import User

    if not isinstance(username, str) or "\x00" in username:
        return False
    try:
        user = User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        return False
    return user.has_usable_password()
