"""Fixtures for the `deploy` tests: throwaway Debian 12 hosts (see tests/deploy/hosts.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.hosts import DeployHosts, Host, HostSet, boot_hosts, generate_ssh_key


@pytest.fixture(scope="session")
def deploy_ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The private key (made for this test session) that every test host authorises for root."""
    return generate_ssh_key(tmp_path_factory.mktemp("deploy-ssh"))


@pytest.fixture
def deploy_hosts(deploy_ssh_key: Path) -> Iterator[DeployHosts]:
    """Boot hosts: `deploy_hosts(names=[...], groups={...}, host_vars=...)` -> HostSet.

    Every set booted in the test is torn down after it, pass or fail."""
    with ExitStack() as stack:

        def boot(
            names: Sequence[str],
            groups: Mapping[str, Sequence[str]] | None = None,
            host_vars: Callable[[Host], Mapping[str, Any]] | None = None,
        ) -> HostSet:
            return stack.enter_context(
                boot_hosts(names, private_key=deploy_ssh_key, groups=groups, host_vars=host_vars)
            )

        yield boot
