"""The throwaway hosts the Ansible tests run against: systemd, SSH, a private network, offline."""

from __future__ import annotations

import errno
import re
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.deploy import hosts as hosts_module
from tests.deploy.hosts import DeployHosts, HostsError, HostSet, apt_mirror, boot_hosts

pytestmark = pytest.mark.deploy

# The registries the machine itself reaches: the hosts must not reach them (offline install).
REGISTRY_HOSTS = ("pypi.org", "registry.npmjs.org")


@pytest.fixture(scope="module")
def two_hosts(deploy_ssh_key: Path) -> Iterator[HostSet]:
    with boot_hosts(
        ["app1", "db1"],
        private_key=deploy_ssh_key,
        groups={"app": ["app1"], "database": ["db1"]},
    ) as hosts:
        yield hosts


def registry_addresses() -> list[str]:
    """IPv4 addresses of the package registries, resolved on the machine (which reaches them)."""
    names = [urlparse(apt_mirror()).hostname or "", *REGISTRY_HOSTS]
    addresses: set[str] = set()
    for name in names:
        try:
            infos = socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        addresses.update(str(info[4][0]) for info in infos)
    return sorted(addresses)


def test_each_host_boots_systemd_as_pid_1_and_reaches_a_running_state(two_hosts: HostSet) -> None:
    for host in two_hosts:
        assert host.ssh("cat /proc/1/comm").stdout.strip() == "systemd"
        assert host.ssh("hostname").stdout.strip() == host.name
        state = host.ssh("systemctl is-system-running --wait", check=False).stdout.strip()
        failed = host.ssh("systemctl --failed --no-legend --plain", check=False).stdout
        assert state in {"running", "degraded"}, f"{host.name}: {state}\n{failed}"


def test_sandboxed_units_start(two_hosts: HostSet) -> None:
    # The playbooks' units use systemd's sandboxing; it needs the host's root to be a mount point.
    host = two_hosts["app1"]
    result = host.ssh(
        "systemd-run --wait --pipe --quiet -p PrivateTmp=yes -p ProtectSystem=strict"
        " -p ReadWritePaths=/var/tmp"
        " /bin/sh -c 'touch /tmp/private /var/tmp/allowed && ! touch /usr/denied 2>/dev/null"
        " && echo sandboxed'"
    )
    assert result.stdout.strip() == "sandboxed"
    assert host.ssh("test ! -e /tmp/private && test ! -e /usr/denied", check=False).returncode == 0


def test_a_copied_root_boots_when_overlayfs_is_unavailable(
    deploy_hosts: DeployHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosts_module, "mount_overlay", lambda **_: False)
    hosts = deploy_hosts(names=["copy1"])
    host = hosts["copy1"]
    assert not host.overlay
    state = host.ssh("systemctl is-system-running --wait", check=False).stdout.strip()
    failed = host.ssh("systemctl --failed --no-legend --plain", check=False).stdout
    assert state in {"running", "degraded"}, failed
    assert not failed.strip(), failed


def test_hosts_reach_each_other_over_the_private_network(two_hosts: HostSet) -> None:
    app, db = two_hosts["app1"], two_hosts["db1"]
    assert app.address != db.address
    for source, target in ((app, db), (db, app)):
        # By address and by the name /etc/hosts gives it; port 22 is the target's sshd.
        for destination in (target.address, target.name):
            connect = (
                "import socket; socket.create_connection"
                f"(({destination!r}, 22), timeout=5).close(); print('ok')"
            )
            result = source.ssh(f'python3 -c "{connect}"')
            assert result.stdout.strip() == "ok", (source.name, destination)


def test_hosts_have_no_route_out_of_the_private_subnet(two_hosts: HostSet) -> None:
    addresses = registry_addresses()
    assert addresses, "could not resolve any registry on the machine to test against"
    for host in two_hosts:
        routes = host.ssh("ip -4 route show table all; ip -6 route show table all").stdout
        assert "default" not in routes, routes
        for address in addresses:
            probe = (
                "import socket\n"
                "try:\n"
                f"    socket.create_connection(({address!r}, 443), timeout=5)\n"
                "    print('connected')\n"
                "except OSError as error:\n"
                "    print(error.errno)\n"
            )
            result = host.ssh(f"python3 -c {shlex.quote(probe)}")
            # ENETUNREACH: refused by the host's own routing table, not lost on the way.
            assert result.stdout.strip() == str(errno.ENETUNREACH), (host.name, address, result)


def test_ansible_pings_every_host_of_the_generated_inventory(two_hosts: HostSet) -> None:
    inventory = yaml.safe_load(two_hosts.inventory.read_text())
    assert set(inventory["all"]["children"]) >= {"app", "database", "cache"}
    result = two_hosts.ansible("all", "-m", "ansible.builtin.ping")
    for host in two_hosts:
        assert re.search(rf"^{host.name} \| SUCCESS", result.stdout, re.M), result.stdout
    assert result.stdout.count('"ping": "pong"') == 2
    only_database = two_hosts.ansible("database", "-m", "ansible.builtin.ping")
    assert "db1 | SUCCESS" in only_database.stdout
    assert "app1" not in only_database.stdout


def test_a_real_inventory_underneath_keeps_its_vars_but_not_its_addresses(
    two_hosts: HostSet, tmp_path: Path
) -> None:
    # Addresses from a documentation range, never to be contacted; `debug` runs on the controller.
    real: dict[str, Any] = {
        "all": {
            "vars": {"enclave_marker": "from the real inventory"},
            "hosts": {"app1": {"ansible_host": "203.0.113.11"}, "db1": {}},
        }
    }
    base = tmp_path / "hosts.yml"
    base.write_text(yaml.safe_dump(real))
    result = two_hosts.ansible(
        "app1", "-m", "ansible.builtin.debug", "-a", "var=enclave_marker", base_inventory=base
    )
    assert '"enclave_marker": "from the real inventory"' in result.stdout

    real["all"]["hosts"]["stranger"] = {"ansible_host": "203.0.113.99"}
    base.write_text(yaml.safe_dump(real))
    with pytest.raises(HostsError, match="stranger"):
        # debug runs on the controller: even without the guard nothing would connect.
        two_hosts.ansible("all", "-m", "ansible.builtin.debug", "-a", "msg=x", base_inventory=base)


COPY_PLAYBOOK = """\
- name: Copy a file onto every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Place the marker file
      ansible.builtin.copy:
        content: "deployed by the test harness\\n"
        dest: /etc/enclave-test-marker
        owner: root
        group: root
        mode: "0644"
"""


def recap_changed(output: str) -> dict[str, int]:
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M)
    }


def test_a_playbook_run_twice_changes_nothing_the_second_time(
    deploy_hosts: DeployHosts, tmp_path: Path
) -> None:
    hosts = deploy_hosts(names=["cache1"], groups={"cache": ["cache1"]})
    playbook = tmp_path / "copy.yml"
    playbook.write_text(COPY_PLAYBOOK)
    first = hosts.ansible_playbook(playbook)
    assert recap_changed(first.stdout) == {"cache1": 1}, first.stdout
    second = hosts.ansible_playbook(playbook)
    assert recap_changed(second.stdout) == {"cache1": 0}, second.stdout
    marker = hosts["cache1"].ssh("cat /etc/enclave-test-marker").stdout
    assert marker == "deployed by the test harness\n"
