"""Enclave deployed onto throwaway Debian 12 hosts, as the converge tests and the deployed load
benchmark both need it: the offline bundle, the inventories, the test secrets, the converge.

The bundle's wheelhouse and apt repository are built once and cached under
var/deploy/bundle-cache/ (keyed by the contents of requirements/ and ansible/bundle/); each
release only adds the app archive of HEAD. `three_server_deployment()` boots app1, app2, db1 and
cache1 (tests/deploy/hosts.py) and converges ansible/site.yml onto them with the three-server
inventory, its monitoring group (app1) kept: site.yml imports monitoring.yml, so every exporter
and Prometheus converge too (Grafana is left out: it needs the customer's .deb).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.deploy.hosts import REPO_ROOT, HostSet, boot_hosts

ANSIBLE = REPO_ROOT / "ansible"
DOMAIN = "chat.example.com"
BUNDLE_CACHE = REPO_ROOT / "var" / "deploy" / "bundle-cache"
BUNDLES = REPO_ROOT / "var" / "deploy" / "bundles"
SECRETS = {
    "vault_enclave_app_secret_key": "converge-test-secret-" + "k" * 40,
    "vault_enclave_postgresql_password": "converge-test-postgres",
    "vault_enclave_redis_password": "converge-test-redis-0",
    "vault_enclave_metrics_token": "converge-test-metrics",
    "vault_enclave_backup_key": "Y29udmVyZ2UtdGVzdC1iYWNrdXAta2V5LTAxMjM0NTY=",  # 32 bytes
    "vault_enclave_turn_secret": "converge-test-turn-secret",
    "vault_enclave_janus_api_secret": "converge-test-janus-api",
    "vault_enclave_janus_admin_secret": "converge-test-janus-admin",
}
THREE_SERVER = {"app": ["app1", "app2"], "database": ["db1"], "cache": ["cache1"]}
# ansible/roles/enclave_postgresql/defaults/main.yml: the role and database the app hosts use.
DATABASE_NAME = DATABASE_USER = "enclave"

Timing = Callable[[str, float], None]


def _no_timing(_label: str, _seconds: float) -> None:
    pass


# --- the bundle ---------------------------------------------------------------------------------


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "enclave_bundle_build", ANSIBLE / "bundle/build.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bundle_cache_key() -> str:
    """What the wheelhouse and the apt repository depend on: requirements/ and ansible/bundle/."""
    digest = hashlib.sha256()
    for path in sorted([*REPO_ROOT.glob("requirements/*.txt"), *ANSIBLE.glob("bundle/*.py")]):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached_dependencies() -> Path:
    """wheelhouse.tar and debs.tar of a full `make bundle`, built once per cache key."""
    cache = BUNDLE_CACHE / bundle_cache_key()
    BUNDLE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(BUNDLE_CACHE / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "debs.tar").exists():
            scratch = BUNDLE_CACHE / f"{cache.name}.building"
            shutil.rmtree(scratch, ignore_errors=True)
            subprocess.run(
                [REPO_ROOT / ".venv/bin/python", ANSIBLE / "bundle/build.py", "--output", scratch],
                check=True,
                capture_output=True,
                timeout=1800,
            )
            built = (scratch / "current").resolve()
            cache.mkdir()
            for name in ("wheelhouse.tar", "debs.tar"):
                (built / name).rename(cache / name)
            shutil.rmtree(scratch)
    return cache


def make_release(version: str, *, marker: str | None = None) -> Path:
    """A bundle of HEAD named `version` (optionally with a marker file in the app)."""
    build = _build_module()
    dependencies = cached_dependencies()
    bundle = BUNDLES / f"enclave-{version}"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    (bundle / "VERSION").write_text(version + "\n")
    build.build_app(bundle)
    if marker is not None:
        archive = bundle / "app.tar.gz"
        with tarfile.open(archive) as original:
            members = [(m, original.extractfile(m)) for m in original.getmembers()]
            contents = [(m, f.read() if f else None) for m, f in members]
        with tarfile.open(archive, "w:gz") as rewritten:
            for member, data in contents:
                rewritten.addfile(member, io.BytesIO(data) if data is not None else None)
            info = tarfile.TarInfo("RELEASE_MARKER")
            info.size = len(marker.encode())
            rewritten.addfile(info, io.BytesIO(marker.encode()))
    for name in ("wheelhouse.tar", "debs.tar"):
        (bundle / name).hardlink_to(dependencies / name)
    build.write_manifest(bundle, "")
    return bundle


def release_bundle_of_head() -> Path:
    """A bundle of HEAD under its release version (dependencies from the cache)."""
    return make_release(_build_module().release_version())


# --- inventories, playbooks -----------------------------------------------------------------------


def inventory_with_monitoring(name: str, target: Path) -> Path:
    """A copy of ansible/inventories/NAME (its group_vars too), its monitoring group kept."""
    shutil.copytree(ANSIBLE / "inventories" / name, target)
    return target


def inventory_without_monitoring(name: str, target: Path) -> Path:
    """A copy of ansible/inventories/NAME (its group_vars too) without the monitoring group."""
    shutil.copytree(ANSIBLE / "inventories" / name, target)
    hosts = yaml.safe_load((target / "hosts.yml").read_text())
    hosts["all"].get("children", {}).pop("monitoring", None)
    (target / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return target


def write_vars(path: Path, bundle: Path, **extra: Any) -> Path:
    values = {
        **SECRETS,
        "enclave_offline": True,
        "enclave_bundle_dir": str(bundle),
        "enclave_clamav_test_signatures": True,
        **extra,
    }
    path.write_text(yaml.safe_dump(values))
    return path


class ConvergeFailed(AssertionError):
    """A playbook failed; the message holds its failed tasks and the end of its output."""


class Deployment:
    """A host set, the real inventory underneath it and the vars it was converged with."""

    def __init__(self, hosts: HostSet, base_inventory: Path, vars_file: Path) -> None:
        self.hosts, self.base_inventory, self.vars_file = hosts, base_inventory, vars_file

    def playbook(
        self, name: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = self.hosts.ansible_playbook(
            Path(name),
            "-e",
            f"@{self.vars_file}",
            *args,
            cwd=ANSIBLE,
            base_inventory=self.base_inventory,
            check=False,
        )
        if check and result.returncode != 0:
            raise ConvergeFailed(
                f"{name} failed ({result.returncode}):\n{failed_tasks(result.stdout)}\n"
                f"...\n{tail(result.stdout)}"
            )
        return result


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def failed_tasks(output: str, before: int = 12) -> str:
    """Each failure of a playbook's output with the lines before it (the task's name and the
    hosts it passed on): the tail alone shows only the last host's, and a run stops every
    host's play at the first failure of that host."""
    lines = output.splitlines()
    shown: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith(("fatal: [", "failed: [")) or "[ERROR]" in line:
            shown.extend(["--", *lines[max(index - before, 0) : index + 1]])
    return "\n".join(shown[-200:])


# --- the three servers --------------------------------------------------------------------------


@contextlib.contextmanager
def three_server_deployment(
    *,
    private_key: Path,
    bundle: Path,
    work: Path,
    timing: Timing = _no_timing,
    extra_vars: Mapping[str, Any] | None = None,
) -> Iterator[Deployment]:
    """app1, app2, db1 and cache1 booted and converged with site.yml; torn down on exit.
    `timing(label, seconds)` hears how long the boot and the converge took; `extra_vars` go
    to every playbook run beside the test secrets."""
    work.mkdir(parents=True, exist_ok=True)
    base = inventory_with_monitoring("three-server", work / "inventory")
    # Two app hosts share the file store through a mount the hosts get at boot
    # (enclave_files_shared_by: mount): this machine's kernel has no NFS.
    vars_file = write_vars(
        work / "vars.yml",
        bundle,
        enclave_files_host="app1",
        enclave_files_shared_by="mount",
        **(extra_vars or {}),
    )
    started = time.monotonic()
    with boot_hosts(
        ["app1", "app2", "db1", "cache1"],
        private_key=private_key,
        groups={**THREE_SERVER, "monitoring": ["app1"]},
        host_vars=lambda host: {"enclave_private_address": host.address},
        shared={"/srv/enclave/media": ["app1", "app2"]},
    ) as hosts:
        timing("three-server: boot 4 hosts", time.monotonic() - started)
        deployment = Deployment(hosts, base, vars_file)
        started = time.monotonic()
        deployment.playbook("site.yml")
        timing("three-server: site.yml, first run", time.monotonic() - started)
        yield deployment
