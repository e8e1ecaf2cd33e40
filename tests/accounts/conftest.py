"""Fixtures of the accounts tests: the throwaway directory (see ldap_server.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.accounts.ldap_server import LdapServer, ldap_settings, slapd_installed

REQUIRE_SERVICES = os.environ.get("ENCLAVE_REQUIRE_SERVICES") == "1"
# As config/settings/base.py orders them when a directory is configured.
DIRECTORY_BACKENDS = [
    "apps.accounts.backends.LockoutBackend",
    "apps.accounts.ldap_backend.DirectoryBackend",
    "apps.accounts.backends.LocalBackend",
]


def _require_slapd() -> None:
    if not slapd_installed():
        reason = "[ldap] needs OpenLDAP's slapd and ldap-utils (apt-get install slapd ldap-utils)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (ENCLAVE_REQUIRE_SERVICES=1: skipping not allowed)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[LdapServer]:
    """One seeded slapd per test process; tests undo the changes they make to it."""
    _require_slapd()
    server = LdapServer().start()
    yield server
    server.destroy()


@pytest.fixture
def private_ldap_server() -> Iterator[LdapServer]:
    """A slapd of this test's own, for tests that stop it."""
    _require_slapd()
    server = LdapServer().start()
    yield server
    server.destroy()


@pytest.fixture
def directory(settings: Any, ldap_server: LdapServer) -> LdapServer:
    """Enclave configured to use the shared throwaway directory."""
    settings.ENCLAVE_LDAP = ldap_settings(ldap_server)
    settings.AUTHENTICATION_BACKENDS = DIRECTORY_BACKENDS
    return ldap_server


@pytest.fixture
def directory_person(directory: LdapServer) -> Iterator[Callable[..., str]]:
    """Add people to the directory for this test only: `dn = directory_person("dave", ...)`."""
    added: list[str] = []

    def add(uid: str, **kwargs: Any) -> str:
        dn = directory.add_person(uid, **kwargs)
        added.append(dn)
        return dn

    yield add
    for dn in added:
        directory.delete_person(dn)
