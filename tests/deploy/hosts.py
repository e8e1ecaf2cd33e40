"""Throwaway Debian 12 hosts for testing the Ansible playbooks: systemd as PID 1, sshd, no internet.

What it does (as root, on a Linux machine with debootstrap, util-linux and iproute2):

* **Root file system, built once.** `ensure_rootfs()` debootstraps bookworm (`--variant=minbase`
  plus `ROOTFS_PACKAGES`) from the Debian mirror this machine's apt uses into
  `var/deploy/rootfs-bookworm/`, masks the units that make no sense in a container (gettys,
  kernel file systems) and drops the .deb cache and the SSH host keys. A stamp file holds a hash of
  everything that shapes the root (suite, mirror, packages, the preparation steps): a change of any
  of them rebuilds it. About a minute on this project's machines; later runs reuse it.
* **Hosts.** `boot_hosts()` gives each host an overlayfs copy of that root (`cp -a` where overlayfs
  cannot be mounted) with its own hostname, machine-id, SSH host keys and /etc/hosts naming every
  host of the set, and the session's public key in root's authorized_keys. Each host lives in its
  own network namespace with a veth pair onto a bridge on the machine: subnet `10.231.S.0/24` (S is
  the "slot", one per concurrent set of hosts, claimed with a lock under /run so two pytest workers
  never collide), the machine side `10.231.S.1`, host i `10.231.S.(10+i)`. There is no default
  route and no DNS: a host reaches the other hosts and the machine's bridge address, nothing else.
* **Boot.** Per host, as the issue describes, `unshare --fork --pid --mount --uts --ipc
  --mount-proc=ROOT/proc`, then ROOT becomes the root (pivot_root: a chroot would refuse user
  namespaces, which Debian's units use) and `/lib/systemd/systemd --system` runs, inside the
  host's network namespace, with three additions that make it safe to run several at once: the
  host gets its own cgroup (`.../enclave-test-hosts/slotS/NAME`) and a cgroup namespace
  (`--cgroup`), and before the pivot_root a read-only sysfs, that cgroup2 subtree and a small
  /dev tmpfs (null, zero, random, ...; no real terminals or disks) are mounted under ROOT.
  Without them systemd mounts the machine's devtmpfs (it started gettys on the machine's serial
  console) and creates its slices in the machine's shared cgroup hierarchies, where two hosts
  would manage the same cgroups. systemd sees `container=enclave-test` and behaves as in a
  container.
* **Ready.** `boot_hosts()` returns once every host's sshd accepted the session key.
* **Teardown** (also when the test failed): SIGKILL to each PID 1 (the kernel ends the rest of its
  PID namespace), `cgroup.kill` as a backstop, then the cgroups, the overlay, the netns/veth, the
  bridge and the per-host directories are removed. A run killed before its teardown leaves its slot
  to be cleaned by the next run that claims it.

The API (fixtures in tests/deploy/conftest.py)::

    @pytest.mark.deploy
    def test_something(deploy_hosts):
        hosts = deploy_hosts(
            names=["app1", "db1", "cache1"],
            groups={"app": ["app1"], "database": ["db1"], "cache": ["cache1"]},
            host_vars=lambda host: {"enclave_private_address": host.address},  # optional
        )
        hosts["app1"].ssh("systemctl is-system-running --wait")   # CompletedProcess, check=True
        hosts["app1"].address                                      # "10.231.0.10"
        hosts.inventory                                            # Path of the YAML inventory
        hosts.ansible("all", "-m", "ping")                         # ansible ... -i inventory
        hosts.ansible_playbook(Path("site.yml"), "--diff", cwd=REPO_ROOT / "ansible")  # its .cfg

`deploy_hosts` boots the set and tears it down after the test; for hosts shared by a module use
`boot_hosts(...)` (a context manager) in a module-scoped fixture with the session's
`deploy_ssh_key`. The inventory (YAML) puts every host in `all` with `ansible_host`, `ansible_user:
root`, `ansible_ssh_private_key_file`, host-key checking off, `/usr/bin/python3`; the groups the
playbooks use (`app`, `database`, `cache`) always exist, empty when no host is in them. To keep the
group_vars of a real inventory, pass `base_inventory=REPO_ROOT / "ansible/inventories/three-server"`
to `ansible`/`ansible_playbook`: it goes before ours, so our addresses win, and the call is refused
unless every host of the merge is one of ours (boot hosts named as in that inventory): the real
inventories' example addresses must never be contacted.

`deploy_problem()` says why hosts cannot be booted here (not root, a tool missing), or None; the
`deploy` marker skips with that reason locally and fails under ENCLAVE_REQUIRE_SERVICES=1.

Run `python -m tests.deploy.hosts --cleanup` to remove what killed runs left behind (slots no live
run holds), or `--build` to (re)build the root alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "var" / "deploy"
ROOTFS_DIR = DEPLOY_DIR / "rootfs-bookworm"
ROOTFS_STAMP = ROOTFS_DIR / ".enclave-rootfs-stamp"
ROOTFS_LOCK = DEPLOY_DIR / "rootfs.lock"
RUN_DIR = DEPLOY_DIR / "run"
# Machine-wide (not per checkout): the slot locks and the kernel objects they guard are global.
SLOT_LOCK_DIR = Path("/run/enclave-test-hosts")
SLOT_COUNT = 64

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What a freshly installed, minimal Debian server with SSH has, plus what Ansible modules use on
# the target: python3 (every module), python3-apt (apt), acl (become_user without pipelining),
# dbus (hostnamectl, logind), sudo (become). Anything else is for the playbooks to bring.
ROOTFS_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "procps",
    "acl",
)
# Units that need real hardware or the machine's kernel file systems; masked in the root.
MASKED_UNITS = (
    "getty.target",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "systemd-udevd.service",
    "dev-hugepages.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
)
# Bump when the preparation steps below change: the stamp then differs and the root is rebuilt.
ROOTFS_RECIPE = 1

SUBNET_PREFIX = "10.231"
FIRST_HOST_OCTET = 10
HOST_TOOLS = ("debootstrap", "unshare", "nsenter", "chroot", "ip", "ssh", "ssh-keygen", "mount")
CONTAINER_ENV = "enclave-test"
BOOT_TIMEOUT = 120.0
PLAYBOOK_GROUPS = ("app", "database", "cache")

# Runs on the machine (before the pivot_root): joins the host's cgroup, then becomes its PID 1.
BOOT_SCRIPT = r"""
set -eu
root=$1
cgroup=$2
echo $$ > "$cgroup/cgroup.procs"
exec unshare --fork --pid --mount --uts --ipc --cgroup --propagation private \
  --mount-proc="$root/proc" /bin/sh -eu -c '
root=$1
# The root must be a mount point (an overlay is; a cp -a copy is made one), or systemd cannot set
# up the mount namespaces of sandboxed units (PrivateTmp=, ProtectSystem=, ...).
mountpoint -q "$root" || mount --rbind "$root" "$root"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid,size=16m tmpfs "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
mknod -m 666 "$root/dev/tty" c 5 0
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
# pivot_root, not chroot: in a chroot the kernel refuses new user namespaces with EPERM, and
# units of Debian use them, e.g. redis-server with PrivateUsers=yes.
mkdir -p "$root/.machine-root"
cd "$root"
pivot_root . .machine-root
exec /bin/sh -eu -c "umount -l /.machine-root && rmdir /.machine-root \
  && exec /lib/systemd/systemd --system"
' boot "$root"
"""


class HostsError(RuntimeError):
    """A host could not be built, booted or reached; the message says what and shows the logs."""


def deploy_problem() -> str | None:
    """Why throwaway hosts cannot run on this machine, or None when they can."""
    if sys.platform != "linux":
        return "needs Linux (network and PID namespaces)"
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts, veth and bridges)"
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"needs {', '.join(missing)} (apt-get install debootstrap util-linux iproute2"
            " openssh-client)"
        )
    if cgroup2_root() is None:
        return "needs a cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)"
    if shutil.which("ansible", path=str(Path(sys.executable).parent)) is None:
        return "needs ansible-core in the virtualenv (pip install -r requirements/local.txt)"
    return None


def cgroup2_root() -> Path | None:
    """The machine's cgroup2 mount: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid)."""
    for candidate in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (candidate / "cgroup.subtree_control").exists():  # a file only cgroup2 has
            return candidate
    return None


def _run(
    argv: Sequence[str | os.PathLike[str]], *, check: bool = True, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kw,
    )
    if check and result.returncode != 0:
        command = " ".join(map(str, argv))
        output = result.stdout + result.stderr
        raise HostsError(f"{command} exited {result.returncode}:\n{output}")
    return result


# --- the root file system -------------------------------------------------------------------


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (the one registry it reaches), for debootstrap."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if path.suffix not in {".list", ".sources"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            # deb822: the stanza whose Suites include ours.
            for stanza in re.split(r"\n\s*\n", text):
                if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and "Types: deb" in stanza:
                    uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                    if uris and "security" not in uris.group(1):
                        return uris.group(1)
        else:
            for line in text.splitlines():
                match = re.match(rf"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", line.strip() + " ")
                if match and "security" not in match.group(1):
                    return match.group(1)
    return DEFAULT_MIRROR


def rootfs_stamp(mirror: str) -> str:
    recipe = repr((SUITE, mirror, ROOTFS_PACKAGES, MASKED_UNITS, ROOTFS_RECIPE))
    return hashlib.sha256(recipe.encode()).hexdigest()


@contextlib.contextmanager
def _rootfs_shared_lock() -> Iterator[None]:
    """Hold the root shared while hosts run on it; build it (exclusively) first if it is stale."""
    DEPLOY_DIR.mkdir(parents=True, exist_ok=True)
    with open(ROOTFS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        if not _rootfs_current():
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _rootfs_current():
                _build_rootfs()
            fcntl.flock(lock, fcntl.LOCK_SH)  # hosts of other workers may now share it
        yield


def _rootfs_current() -> bool:
    return ROOTFS_STAMP.exists() and ROOTFS_STAMP.read_text().strip() == rootfs_stamp(apt_mirror())


def ensure_rootfs() -> Path:
    """Build the cached root if it is missing or its recipe changed; returns its directory."""
    with _rootfs_shared_lock():
        return ROOTFS_DIR


def _build_rootfs() -> None:
    mirror = apt_mirror()
    building = DEPLOY_DIR / "rootfs-bookworm.building"
    log = DEPLOY_DIR / "rootfs-build.log"
    _remove_tree(building)
    started = time.monotonic()
    with open(log, "w") as log_file:
        # Its own mount namespace: debootstrap leaves ROOT/proc mounted; it goes with the namespace.
        result = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(ROOTFS_PACKAGES)}",
                SUITE,
                str(building),
                mirror,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=1800,
            check=False,
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise HostsError(f"debootstrap {SUITE} from {mirror} failed ({result.returncode}):\n{tail}")
    _prepare_rootfs(building)
    (building / ROOTFS_STAMP.name).write_text(rootfs_stamp(mirror) + "\n")
    _remove_tree(ROOTFS_DIR)
    building.rename(ROOTFS_DIR)
    with open(log, "a") as log_file:
        log_file.write(f"built in {time.monotonic() - started:.1f} s\n")


def _prepare_rootfs(root: Path) -> None:
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Every host gets its own keys and machine-id when it is created.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("# Test host: no DNS, no route out (offline install).\n")
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


# --- hosts ------------------------------------------------------------------------------------


@dataclass
class Host:
    """One booted host. `pid1` is its systemd as the machine sees it."""

    name: str
    address: str
    groups: tuple[str, ...]
    private_key: Path
    directory: Path
    netns: str
    veth: str
    cgroup: Path
    root: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None
    pid1: int | None = None
    overlay: bool = False

    def __post_init__(self) -> None:
        self.root = self.directory / "root"

    def ssh_argv(self, command: str) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.private_key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            f"root@{self.address}",
            command,
        ]

    def ssh(
        self, command: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host as root over SSH (as Ansible will)."""
        return _run(self.ssh_argv(command), check=check, timeout=timeout)

    def run_inside(
        self, argv: Sequence[str], *, check: bool = False, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the host's namespaces without SSH (diagnostics when SSH fails)."""
        if self.pid1 is None:
            raise HostsError(f"{self.name} is not running")
        return _run(
            [
                "nsenter",
                "-t",
                str(self.pid1),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "-C",
                "-r",
                "-w",
                *argv,
            ],
            check=check,
            timeout=timeout,
        )

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"


@dataclass
class HostSet:
    """The hosts of one `boot_hosts()`, their subnet and the inventory written for them."""

    slot: int
    hosts: list[Host]
    inventory: Path
    private_key: Path
    bridge: str
    gateway: str
    subnet: str

    def __getitem__(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def ansible(
        self, pattern: str, *args: str, check: bool = True, timeout: float = 600, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        """`ansible PATTERN ARGS -i inventory` from the virtualenv.

        Options: `cwd` (default the repository), `env` (added to ours), `base_inventory` (a real
        inventory put before ours, for its group_vars; every host must then be one of ours)."""
        return self._ansible_tool(
            "ansible", pattern, *args, check=check, timeout=timeout, **options
        )

    def ansible_playbook(
        self, playbook: Path, *args: str, check: bool = True, timeout: float = 1800, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        """`ansible-playbook -i inventory PLAYBOOK ARGS` from the virtualenv; options as `ansible`.

        Run with `cwd=REPO_ROOT / "ansible"` to use ansible/ansible.cfg."""
        return self._ansible_tool(
            "ansible-playbook", str(playbook), *args, check=check, timeout=timeout, **options
        )

    def _ansible_tool(
        self,
        tool: str,
        *args: str,
        check: bool,
        timeout: float,
        cwd: Path = REPO_ROOT,
        env: Mapping[str, str] | None = None,
        base_inventory: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        binary = Path(sys.executable).parent / tool
        inventories = ["-i", str(self.inventory)]
        if base_inventory is not None:
            # Ours last, so our addresses win; the real inventory brings its group_vars.
            inventories = ["-i", str(base_inventory), *inventories]
            self._check_every_address_is_ours(inventories, cwd)
        full_env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.inventory.parent / "ansible-tmp"),
            **(env or {}),
        }
        return _run(
            [str(binary), *inventories, *args],
            check=check,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
        )

    def _check_every_address_is_ours(self, inventories: list[str], cwd: Path) -> None:
        """Refuse a merged inventory with a host outside our subnet: the real inventories name
        addresses (192.0.2.x) that may be this machine's own network, never a test host."""
        listed = _run(
            [str(Path(sys.executable).parent / "ansible-inventory"), *inventories, "--list"],
            cwd=cwd,
        )
        hostvars = json.loads(listed.stdout).get("_meta", {}).get("hostvars", {})
        subnet = ipaddress.ip_network(self.subnet)
        strangers = {
            name: values.get("ansible_host", name)
            for name, values in hostvars.items()
            if not _address_in(values.get("ansible_host", name), subnet)
        }
        if strangers:
            raise HostsError(
                f"the merged inventory has hosts outside the test subnet {self.subnet}:"
                f" {strangers}; boot a host of each of those names or use our inventory alone"
            )


def _address_in(address: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(address) in subnet
    except ValueError:  # a name, not an address
        return False


# What the `deploy_hosts` fixture is: deploy_hosts(names=[...], groups={...}, host_vars=...).
DeployHosts = Callable[..., HostSet]


def generate_ssh_key(directory: Path) -> Path:
    """A fresh ed25519 key pair (no passphrase) in `directory`; returns the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "enclave-test", "-f", key])
    return key


@contextlib.contextmanager
def boot_hosts(
    names: Sequence[str],
    *,
    private_key: Path,
    groups: Mapping[str, Sequence[str]] | None = None,
    host_vars: Callable[[Host], Mapping[str, Any]] | None = None,
    shared: Mapping[str, Sequence[str]] | None = None,
    boot_timeout: float = BOOT_TIMEOUT,
) -> Iterator[HostSet]:
    """Boot one host per name (systemd PID 1, sshd up), write an inventory, tear all down after.

    `groups` maps an inventory group to host names (each must be in `names`); `host_vars(host)`
    adds inventory variables per host. `shared` maps an absolute path to host names: one empty
    directory of the machine is bind-mounted there in each of them before boot (a stand-in for a
    file system shared over a SAN or a cluster: this machine's kernel may have no NFS). Raises
    HostsError when a host does not come up in time.
    """
    problem = deploy_problem()
    if problem:
        raise HostsError(problem)
    _check_names(names, groups or {})
    _check_names(names, shared or {})
    with _rootfs_shared_lock(), _claim_slot() as slot:
        hostset = _make_hostset(slot, names, private_key, groups or {})
        try:
            _create_network(hostset)
            for host in hostset:
                _create_host(hostset, host)
            _mount_shared(hostset, shared or {})
            for host in hostset:
                _start_host(host)
            deadline = time.monotonic() + boot_timeout
            for host in hostset:
                _wait_for_ssh(host, deadline)
            write_inventory(hostset, host_vars)
            yield hostset
        finally:
            _teardown(hostset)


def _check_names(names: Sequence[str], groups: Mapping[str, Sequence[str]]) -> None:
    if not names or len(names) > 200 or len(set(names)) != len(names):
        raise HostsError(f"need 1-200 distinct host names, got {list(names)}")
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
            raise HostsError(f"host name {name!r}: lowercase letters, digits and '-' only")
    for group, members in groups.items():
        unknown = set(members) - set(names)
        if unknown:
            raise HostsError(f"group {group}: {sorted(unknown)} are not among the hosts")


def _make_hostset(
    slot: int, names: Sequence[str], private_key: Path, groups: Mapping[str, Sequence[str]]
) -> HostSet:
    slot_dir = RUN_DIR / f"slot{slot}"
    slot_dir.mkdir(parents=True, exist_ok=True)
    cgroup_root = _slot_cgroup(slot)
    hosts = [
        Host(
            name=name,
            address=f"{SUBNET_PREFIX}.{slot}.{FIRST_HOST_OCTET + index}",
            groups=tuple(g for g, members in groups.items() if name in members),
            private_key=private_key,
            directory=slot_dir / name,
            netns=f"enclave-test-{slot}-{name}",
            veth=f"encl{slot}h{index}",
            cgroup=cgroup_root / name,
        )
        for index, name in enumerate(names)
    ]
    return HostSet(
        slot=slot,
        hosts=hosts,
        inventory=slot_dir / "inventory.yml",
        private_key=private_key,
        bridge=f"enclbr{slot}",
        gateway=f"{SUBNET_PREFIX}.{slot}.1",
        subnet=f"{SUBNET_PREFIX}.{slot}.0/24",
    )


def _slot_cgroup(slot: int) -> Path:
    root = cgroup2_root()
    assert root is not None  # deploy_problem() checked
    return root / "enclave-test-hosts" / f"slot{slot}"


@contextlib.contextmanager
def _claim_slot() -> Iterator[int]:
    """A slot (subnet, bridge, cgroup, directory) no other live run holds, cleaned before use.

    The lock is an flock: it dies with its process, so a killed run's slot is free again and the
    next claimer removes what that run left.
    """
    SLOT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOT_COUNT):
        lock: IO[str] = open(SLOT_LOCK_DIR / f"slot{slot}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            _clean_slot(slot)
            yield slot
            return
        finally:
            lock.close()
    raise HostsError(f"all {SLOT_COUNT} host slots are in use")


def _create_network(hostset: HostSet) -> None:
    bridge = hostset.bridge
    _run(["ip", "link", "add", bridge, "type", "bridge"])
    _run(["ip", "addr", "add", f"{hostset.gateway}/24", "dev", bridge])
    _run(["ip", "link", "set", bridge, "up"])
    for host in hostset:
        _run(["ip", "netns", "add", host.netns])
        _run(
            [
                "ip",
                "link",
                "add",
                host.veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.netns,
            ]
        )
        _run(["ip", "link", "set", host.veth, "master", bridge, "up"])
        _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
        _run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        _run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
        routes = _run(["ip", "-n", host.netns, "route", "show", "table", "all"]).stdout
        if "default" in routes:
            raise HostsError(f"{host.name} has a default route, it must be offline:\n{routes}")


def _create_host(hostset: HostSet, host: Host) -> None:
    upper, work, root = host.directory / "upper", host.directory / "work", host.root
    for path in (upper, work, root):
        path.mkdir(parents=True)
    host.overlay = mount_overlay(lower=ROOTFS_DIR, upper=upper, work=work, target=root)
    if not host.overlay:  # e.g. var/ on a file system overlayfs cannot use as upper
        _run(["cp", "-a", "--reflink=auto", f"{ROOTFS_DIR}/.", root], timeout=600)
    etc = root / "etc"
    (etc / "hostname").write_text(f"{host.name}\n")
    (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    hosts_lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{hostset.gateway}\tdeploy-controller",
        *(f"{other.address}\t{other.name}" for other in hostset),
    ]
    (etc / "hosts").write_text("\n".join(hosts_lines) + "\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(Path(f"{host.private_key}.pub").read_text())
    authorized.chmod(0o600)
    _run(["chroot", root, "ssh-keygen", "-A"])


def _mount_shared(hostset: HostSet, shared: Mapping[str, Sequence[str]]) -> None:
    for index, (path, members) in enumerate(shared.items()):
        if not path.startswith("/") or ".." in path.split("/"):
            raise HostsError(f"shared path {path!r}: an absolute path without '..'")
        source = hostset.inventory.parent / "shared" / str(index)
        source.mkdir(parents=True)
        for name in members:
            target = hostset[name].root / path.lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            _run(["mount", "--bind", source, target])


def mount_overlay(*, lower: Path, upper: Path, work: Path, target: Path) -> bool:
    """Mount `lower` with a writable `upper` layer at `target`; False where overlayfs fails."""
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = _run(["mount", "-t", "overlay", "overlay", "-o", options, target], check=False)
    return mounted.returncode == 0


def _start_host(host: Host) -> None:
    host.cgroup.mkdir(parents=True, exist_ok=True)
    script = host.directory / "boot.sh"
    script.write_text(textwrap.dedent(BOOT_SCRIPT).lstrip())
    env = {
        "container": CONTAINER_ENV,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }
    with open(host.console_log, "wb") as console:
        host.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{host.netns}",
                "/bin/sh",
                str(script),
                str(host.root),
                str(host.cgroup),
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    # The Popen child ends up as `unshare`; its forked child becomes the host's systemd.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = _children(host.process.pid)
        if children and _comm(children[0]) == "systemd":
            host.pid1 = children[0]
            return
        if host.process.poll() is not None:
            break
        time.sleep(0.05)
    raise HostsError(f"{host.name}: systemd did not start\n{_tail(host.console_log)}")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _wait_for_ssh(host: Host, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if host.process is not None and host.process.poll() is not None:
            raise HostsError(f"{host.name}: PID 1 exited\n{_tail(host.console_log)}")
        try:
            result = host.ssh("true", check=False, timeout=15)
        except subprocess.TimeoutExpired:
            continue
        if result.returncode == 0:
            return
        last = result.stderr
        time.sleep(0.3)
    status = host.run_inside(["systemctl", "status", "--no-pager", "ssh.service"]).stdout
    failed = host.run_inside(["systemctl", "--failed", "--no-pager"]).stdout
    raise HostsError(
        f"{host.name} ({host.address}): sshd did not answer in time; last ssh error: {last}\n"
        f"{status}\n{failed}\nconsole:\n{_tail(host.console_log)}"
    )


def write_inventory(
    hostset: HostSet, host_vars: Callable[[Host], Mapping[str, Any]] | None = None
) -> Path:
    """The YAML inventory of the set (see the module docstring); returns its path."""
    import yaml  # PyYAML comes with ansible-core; imported here so deploy_problem() never needs it

    group_names = list(PLAYBOOK_GROUPS) + [
        g for host in hostset for g in host.groups if g not in PLAYBOOK_GROUPS
    ]
    children: dict[str, Any] = {}
    for group in dict.fromkeys(group_names):
        members = {host.name: None for host in hostset if group in host.groups}
        children[group] = {"hosts": members} if members else {}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(hostset.private_key),
                "ansible_ssh_common_args": (
                    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                ),
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "hosts": {
                host.name: {"ansible_host": host.address, **(host_vars(host) if host_vars else {})}
                for host in hostset
            },
            "children": children,
        }
    }
    hostset.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return hostset.inventory


# --- teardown ---------------------------------------------------------------------------------


def _teardown(hostset: HostSet) -> None:
    """Stop every host and remove what the set made; goes on past errors, raises the first."""
    errors: list[str] = []
    for host in hostset:
        if host.pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(host.pid1, signal.SIGKILL)
        if host.process is not None:
            try:
                host.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                host.process.kill()
                errors.append(f"{host.name}: unshare did not exit after its PID 1 was killed")
    try:
        _clean_slot(hostset.slot)
    except HostsError as error:
        errors.append(str(error))
    if errors:
        raise HostsError("teardown: " + "; ".join(errors))


def _clean_slot(slot: int) -> None:
    """Remove everything slot `slot` may hold: processes, cgroups, mounts, netns, links, files.

    Only called by the holder of the slot's lock."""
    problems: list[str] = []
    cgroup = _slot_cgroup(slot)
    if cgroup.exists():
        _kill_cgroup_tree(cgroup)
        for directory in sorted(
            (p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
        ):
            _rmdir_retrying(directory, problems)
        _rmdir_retrying(cgroup, problems)
    slot_dir = (RUN_DIR / f"slot{slot}").resolve()
    for mountpoint in reversed(_mounts_under(slot_dir)):
        if _run(["umount", mountpoint], check=False).returncode != 0:
            _run(["umount", "-l", mountpoint], check=False)
    for netns in _run(["ip", "netns", "list"]).stdout.split("\n"):
        name = netns.split(" ")[0]
        if name.startswith(f"enclave-test-{slot}-"):
            _run(["ip", "netns", "del", name], check=False)
    links = _run(["ip", "-o", "link", "show"]).stdout
    for match in re.finditer(rf"^\d+: (encl{slot}h\d+)[@:]", links, re.M):
        _run(["ip", "link", "del", match.group(1)], check=False)
    if re.search(rf"^\d+: enclbr{slot}:", links, re.M):
        _run(["ip", "link", "del", f"enclbr{slot}"], check=False)
    if _mounts_under(slot_dir):
        problems.append(f"still mounted under {slot_dir}; left the directory in place")
    else:
        _remove_tree(slot_dir)
    if problems:
        raise HostsError("; ".join(problems))


def _kill_cgroup_tree(cgroup: Path) -> None:
    with contextlib.suppress(OSError):
        (cgroup / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(
            (p / "cgroup.procs").read_text().strip()
            for p in [cgroup, *cgroup.rglob("*")]
            if p.is_dir() and (p / "cgroup.procs").exists()
        ):
            return
        time.sleep(0.05)


def _rmdir_retrying(directory: Path, problems: list[str]) -> None:
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    problems.append(f"could not remove cgroup {directory}")


def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mountpoint = line.split(" ")[4].encode().decode("unicode_escape")
        if mountpoint.startswith(prefix) or mountpoint == prefix.rstrip("/"):
            found.append(mountpoint)
    return found


def _remove_tree(path: Path) -> None:
    """rm -rf that never crosses into a mounted file system (a host's /proc, /dev, ...)."""
    if path.exists():
        _run(["rm", "-rf", "--one-file-system", path], timeout=600)


def cleanup_stale() -> list[int]:
    """Clean every slot that no live run holds; returns the slots that held something."""
    SLOT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    cleaned = []
    for slot in range(SLOT_COUNT):
        with open(SLOT_LOCK_DIR / f"slot{slot}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if (RUN_DIR / f"slot{slot}").exists() or _slot_cgroup(slot).exists():
                cleaned.append(slot)
            _clean_slot(slot)
    return cleaned


def main(argv: Sequence[str]) -> int:
    problem = deploy_problem()
    if problem:
        print(f"cannot run test hosts here: {problem}")
        return 1
    if "--build" in argv:
        started = time.monotonic()
        ensure_rootfs()
        print(f"root file system ready in {time.monotonic() - started:.1f} s: {ROOTFS_DIR}")
    if "--cleanup" in argv:
        print(f"cleaned slots: {cleanup_stale()}")
    if "--boot" in argv:
        with tempfile.TemporaryDirectory() as keys:
            started = time.monotonic()
            key = generate_ssh_key(Path(keys))
            with boot_hosts(["app1", "db1", "cache1"], private_key=key) as hostset:
                print(f"3 hosts up in {time.monotonic() - started:.1f} s")
                for host in hostset:
                    print(host.name, host.address, host.ssh("hostname").stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
