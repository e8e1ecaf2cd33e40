"""Log-in with directory credentials (django-auth-ldap), enabled by ENCLAVE_LDAP_SERVER_URI.

django-auth-ldap finds the user's DN (with the username escaped into the filter) and checks the
password by binding as it; creating and updating the Enclave user is left to
`directory_user_refresh`, the same code the sync runs, so log-in and sync always agree.
When the directory is down the backend answers "no" and marks the request, so the log-in page
can say why, the lock-out handler does not count it as a wrong password, and the next backend
(local accounts) still gets its turn. A directory that did not answer is not asked again for
ENCLAVE_LDAP_RETRY_SECONDS when it failed slowly (`directory_known_down`), so a hung directory
costs one time-out, not one per sign-in.
"""

from __future__ import annotations

import time
from typing import Any

import ldap
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import LDAPSearch, LDAPSettings

from apps.accounts.ldap_sync import (
    DirectoryUnavailable,
    connection_options,
    directory_config,
    directory_failure_seen,
    directory_known_down,
    directory_user_refresh,
)
from apps.accounts.models import User

# Set on the request when the directory could not be asked; read by the log-in form.
DIRECTORY_UNAVAILABLE_ATTR = "enclave_directory_unavailable"


def _mark_unavailable(request: Any) -> None:
    if request is not None:
        setattr(request, DIRECTORY_UNAVAILABLE_ATTR, True)


def request_found_directory_unavailable(request: HttpRequest | None) -> bool:
    return bool(getattr(request, DIRECTORY_UNAVAILABLE_ATTR, False))


def _on_ldap_error(sender: Any, context: str, request: Any = None, **kwargs: Any) -> None:
    _mark_unavailable(request)


ldap_error.connect(_on_ldap_error, dispatch_uid="enclave-directory-unavailable")


class DirectoryBackend(LDAPBackend):
    """LDAPBackend configured from settings.ENCLAVE_LDAP (one set of knobs for log-in and sync)."""

    _settings: LDAPSettings | None = None

    @property
    def settings(self) -> LDAPSettings:
        if self._settings is None:
            config = directory_config()
            self._settings = LDAPSettings(
                "ENCLAVE_LDAP_BACKEND_UNUSED_",
                {
                    "SERVER_URI": config.server_uri,
                    "BIND_DN": config.bind_dn,
                    "BIND_PASSWORD": config.bind_password,
                    "START_TLS": config.start_tls,
                    "CONNECTION_OPTIONS": connection_options(config),
                    "USER_SEARCH": LDAPSearch(
                        config.user_search_base,
                        ldap.SCOPE_SUBTREE,
                        f"(&{config.sync_filter}{config.user_filter})",
                    ),
                    "ALWAYS_UPDATE_USER": False,
                    "USER_ATTR_MAP": {},
                },
            )
        return self._settings

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        config = directory_config()
        if directory_known_down(config):
            _mark_unavailable(request)
            return None
        started = time.monotonic()
        user: User | None = super().authenticate(request, username, password, **kwargs)
        if user is None and request_found_directory_unavailable(request):
            directory_failure_seen(config, seconds=time.monotonic() - started)
        return user

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        try:
            user: User | None = super().authenticate_ldap_user(ldap_user, password)
        except DirectoryUnavailable:
            _mark_unavailable(getattr(ldap_user, "_request", None))
            return None
        if user is None or not user.is_active:
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        user: User | None = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        # Called only after the password was verified against the directory.
        user = directory_user_refresh(username=username)
        if user is None:
            raise ldap_user.AuthenticationFailed("not linked to an Enclave directory user")
        return user, False
