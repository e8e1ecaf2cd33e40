"""The playbooks against real hosts: site.yml converges, Enclave works through nginx, upgrades.

Throwaway Debian 12 hosts (tests/deploy/hosts.py) with no route out; everything comes from the
offline bundle (`enclave_offline: true`), built and converged by tests/deploy/deployment.py (the
deployed load benchmark, tests/load/deployed.py, converges the same way). Hosts are shared by a
module. The three-server inventory keeps its `monitoring` group (app1), so Prometheus must report
every target up; the all-in-one one leaves the group out. Timings go to the terminal and to
var/deploy/converge-timings.log.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import shlex
import socket as socket_module
import ssl
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deployment import (
    DOMAIN,
    SECRETS,
    Deployment,
    inventory_without_monitoring,
    make_release,
    release_bundle_of_head,
    tail,
    three_server_deployment,
    write_vars,
)
from tests.deploy.hosts import REPO_ROOT, Host, boot_hosts
from tests.load.deployed import (
    database_forward,
    deployed_database_url,
    deployed_figures,
    harness_argv,
)

pytestmark = pytest.mark.deploy

TIMINGS = REPO_ROOT / "var" / "deploy" / "converge-timings.log"
DEMO_PASSWORD = "enclave-demo"  # apps/chat/demo.py, printed by seed_demo
MANAGE = "sudo -u enclave /usr/local/bin/enclave-manage"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# --- timings ------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed(request: pytest.FixtureRequest, label: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report(request, label, time.monotonic() - started)


def report(request: pytest.FixtureRequest, label: str, seconds: float) -> None:
    line = f"{label}: {seconds:.1f} s"
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    with TIMINGS.open("a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[converge] {line}")


# --- the bundle (tests/deploy/deployment.py) ------------------------------------------------------


@pytest.fixture(scope="session")
def release_bundle(request: pytest.FixtureRequest) -> Path:
    with timed(request, "bundle (dependencies cached by key, app archive of HEAD)"):
        return release_bundle_of_head()


# --- playbook output ------------------------------------------------------------------------------


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP per host: {"app1": {"ok": 70, "changed": 0, "failed": 0, ...}}."""
    found: dict[str, dict[str, int]] = {}
    for match in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP")[-1], re.M):
        found[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return found


def changed_tasks(output: str) -> list[str]:
    tasks, current = [], ""
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            current = line.rstrip("* ")
        elif line.startswith("changed:"):
            tasks.append(f"{current} {line}")
    return tasks


def assert_nothing_changed(output: str) -> None:
    per_host = recap(output)
    assert per_host, tail(output)
    changed = {host: v for host, v in per_host.items() if v["changed"] or v["failed"]}
    assert not changed, "\n".join(
        [f"{host}: {v}" for host, v in changed.items()] + changed_tasks(output)
    )


# --- HTTP and WebSocket clients through nginx -------------------------------------------------


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the role's self-signed certificate
    return context


def https(
    address: str,
    method: str,
    path: str,
    *,
    token: str = "",
    body: Any = None,
    raw: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPSConnection(address, 443, context=_tls(), timeout=30)
    sent = {"Host": DOMAIN, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    payload = raw
    if body is not None:
        payload = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload or None, headers=sent)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def api(address: str, method: str, path: str, *, token: str = "", body: Any = None) -> Any:
    status, _headers, data = https(address, method, path, token=token, body=body)
    assert 200 <= status < 300, (method, path, status, data[:500])
    return json.loads(data) if data else None


def login_token(address: str, username: str) -> str:
    answer = api(
        address,
        "POST",
        "/api/v1/auth/token/",
        body={"username": username, "password": DEMO_PASSWORD},
    )
    return str(answer["token"])


def upload(address: str, token: str, name: str, content: bytes) -> dict[str, Any]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _headers, data = https(
        address,
        "POST",
        "/api/v1/files/",
        token=token,
        raw=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 201, (status, data[:500])
    return dict(json.loads(data))


def history_after(
    address: str, token: str, channel_id: int, after_seq: int
) -> list[dict[str, Any]]:
    """Every message created or changed after `after_seq`, paged as README describes."""
    messages: dict[int, dict[str, Any]] = {}
    cursor = after_seq
    while True:
        page = api(
            address,
            "GET",
            f"/api/v1/channels/{channel_id}/messages/?after_seq={cursor}",
            token=token,
        )
        items = page["messages"] if isinstance(page, dict) else page
        for message in items:
            messages[message["id"]] = message
        if not (isinstance(page, dict) and page.get("has_more_after")) or not items:
            return sorted(messages.values(), key=lambda m: m["seq"])
        cursor = max(m.get("version", m["seq"]) for m in items)


async def ws_connect(address: str, token: str) -> Any:
    import websockets

    return await websockets.connect(
        f"wss://{DOMAIN}/ws/",
        host=address,
        port=443,
        ssl=_tls(),
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=15,
    )


async def ws_until(socket: Any, predicate: Any, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if predicate(frame):
            return dict(frame)


def send_frame(channel_id: int, body: str, client_msg_id: str, ref: str) -> str:
    return json.dumps(
        {
            "v": 1,
            "type": "message.send",
            "ref": ref,
            "channel_id": channel_id,
            "body": body,
            "client_msg_id": client_msg_id,
        }
    )


def general_channel(address: str, token: str) -> int:
    channels = api(address, "GET", "/api/v1/channels/", token=token)
    return int(next(c["id"] for c in channels if c.get("name") == "general"))


def can_connect(source: Host | None, address: str, port: int) -> bool:
    probe = (
        "import socket\ntry:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=3).close(); print('open')\n"
        "except OSError as error:\n    print('closed', error)\n"
    )
    if source is None:  # the machine itself, from its bridge address
        return _probe_here(address, port)
    return source.ssh(f"python3 -c {shlex.quote(probe)}").stdout.startswith("open")


def _probe_here(address: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((address, port), timeout=3).close()
    except OSError:
        return False
    return True


# --- three servers: app1, app2, db1, cache1 ----------------------------------------------------


@pytest.fixture(scope="module")
def three_server(
    request: pytest.FixtureRequest,
    deploy_ssh_key: Path,
    release_bundle: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    with three_server_deployment(
        private_key=deploy_ssh_key,
        bundle=release_bundle,
        work=tmp_path_factory.mktemp("three-server"),
        timing=lambda label, seconds: report(request, label, seconds),
    ) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def demo_company(three_server: Deployment) -> dict[str, str]:
    """seed_demo on the deployed system; the API tokens of alice and bob."""
    result = three_server.hosts["app1"].ssh(f"{MANAGE} seed_demo", timeout=300)
    assert "alice" in result.stdout, result.stdout
    address = three_server.hosts["app1"].address
    return {name: login_token(address, name) for name in ("alice", "bob")}


def test_three_server_second_run_changes_nothing(
    request: pytest.FixtureRequest, three_server: Deployment
) -> None:
    with timed(request, "three-server: site.yml, second run"):
        result = three_server.playbook("site.yml")
    assert_nothing_changed(result.stdout)


def test_hosts_install_from_the_bundle_only(three_server: Deployment) -> None:
    for host in three_server.hosts:
        assert "default" not in host.ssh("ip route show table all").stdout
        sources = host.ssh("apt-get indextargets --format '$(SITE)' | sort -u").stdout.split()
        assert sources, host.name
        assert all(site.startswith("file:/opt/enclave-repo/") for site in sources), sources


def test_login_page_answers_over_https_through_each_nginx(three_server: Deployment) -> None:
    for name in ("app1", "app2"):
        address = three_server.hosts[name].address
        status, headers, body = https(address, "GET", "/accounts/login/")
        assert status == 200, (name, status, body[:300])
        assert b'name="password"' in body
        assert "max-age=" in headers.get("Strict-Transport-Security", "")
        ready, _, detail = https(address, "GET", "/readyz")
        assert ready == 200, detail


def test_two_users_exchange_messages_over_websockets_through_nginx(
    three_server: Deployment, demo_company: dict[str, str]
) -> None:
    app1, app2 = (three_server.hosts[n].address for n in ("app1", "app2"))
    channel = general_channel(app1, demo_company["alice"])

    async def exchange() -> None:
        alice = await ws_connect(app1, demo_company["alice"])
        bob = await ws_connect(app2, demo_company["bob"])
        try:
            for socket in (alice, bob):
                await ws_until(socket, lambda f: f.get("type") == "hello")
            for sender, receiver, text in ((alice, bob, "hello bob"), (bob, alice, "hi alice")):
                client_msg_id = str(uuid.uuid4())
                await sender.send(send_frame(channel, text, client_msg_id, "r1"))
                ack = await ws_until(sender, lambda f: f.get("ref") == "r1")
                assert ack["type"] == "ack", ack
                pushed = await ws_until(
                    receiver,
                    lambda f, mid=ack["message_id"]: (
                        f.get("type") == "message.new" and (f.get("message", f).get("id") == mid)
                    ),
                )
                assert text in json.dumps(pushed, ensure_ascii=False)
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(exchange())


def test_load_harness_through_nginx_loses_and_duplicates_nothing(
    three_server: Deployment, tmp_path: Path
) -> None:
    """The deployed load benchmark's path (tests/load/deployed.py), briefly: the harness through
    both nginx over TLS onto both app hosts, its data set beside the deployed data, its audit
    against db1 through app1. Keeps `python -m tests.load.deployed` from rotting."""
    traffic = ["--users", "100", "--room-size", "10", "--rate", "50", "--duration", "10"]
    summary_file = tmp_path / "summary.json"
    with database_forward(three_server) as port:
        argv = harness_argv(three_server, deployed_database_url(port), traffic)
        result = subprocess.run(
            [sys.executable, "-m", "tests.load.harness", *argv, "--output", str(summary_file)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert summary_file.exists(), tail(result.stderr)
    figures = deployed_figures(json.loads(summary_file.read_text()))
    assert result.returncode == 0, (figures, tail(result.stderr))
    assert figures["lost"] == {"acked_not_stored": 0, "unacked": 0, "deliveries_missed": 0}
    assert figures["duplicated"] == {"stored": 0, "deliveries": 0}
    assert figures["clients_converged"], figures
    assert figures["ack_rate"] > 0, figures


def test_uploads_are_scanned_by_clamd(
    three_server: Deployment, demo_company: dict[str, str]
) -> None:
    app1, app2 = (three_server.hosts[n].address for n in ("app1", "app2"))
    token = demo_company["alice"]
    infected = upload(app1, token, "eicar.txt", EICAR)
    clean = upload(app2, token, "notes.txt", b"a perfectly ordinary text file\n" * 20)
    deadline = time.monotonic() + 120
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {
            name: api(app1, "GET", f"/api/v1/files/{attachment['id']}/", token=token)["status"]
            for name, attachment in (("eicar", infected), ("clean", clean))
        }
        if "pending" not in states.values():
            break
        time.sleep(1)
    assert states == {"eicar": "infected", "clean": "clean"}


PROMETHEUS_TARGETS = """
import json, urllib.request
answer = json.load(urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets", timeout=10))
print(json.dumps([
    {"job": t["labels"]["job"], "instance": t["labels"]["instance"], "health": t["health"],
     "error": t.get("lastError", "")}
    for t in answer["data"]["activeTargets"]
]))
"""


def test_prometheus_on_the_monitoring_host_reports_every_target_up(
    three_server: Deployment,
) -> None:
    """monitoring.yml (imported by site.yml) on the three servers: every exporter of every
    host, each app host's /metrics (with the token) and the TLS probes are scraped and up."""
    hosts = three_server.hosts
    addresses = {host.name: host.address for host in hosts}
    expected = {
        ("node", f"{addresses[name]}:9100") for name in ("app1", "app2", "db1", "cache1")
    } | {
        ("postgres", f"{addresses['db1']}:9187"),
        ("redis", f"{addresses['cache1']}:9121"),
        *{("nginx", f"{addresses[name]}:9113") for name in ("app1", "app2")},
        *{("enclave", f"{addresses[name]}:9119") for name in ("app1", "app2")},
        *{("tls", f"https://{addresses[name]}:443/nginx-healthz") for name in ("app1", "app2")},
    }
    deadline = time.monotonic() + 120  # scrapes every 15 s; a target starts "unknown"
    while True:
        answer = subprocess.run(
            hosts["app1"].ssh_argv("python3 -"),
            input=PROMETHEUS_TARGETS,
            capture_output=True,
            text=True,
            check=True,
        )
        targets = json.loads(answer.stdout)
        down = [t for t in targets if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert {(t["job"], t["instance"]) for t in targets} == expected, targets
    assert not down, down


def stun_binding(address: str, port: int = 3478) -> tuple[str, int]:
    """A STUN Binding request over UDP (RFC 5389); the XOR-MAPPED-ADDRESS of the answer."""
    transaction = uuid.uuid4().bytes[:12]
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket_module.socket(socket_module.AF_INET, socket_module.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        for _attempt in range(5):
            udp.sendto(request, (address, port))
            try:
                answer = udp.recv(2048)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError(f"no STUN answer from {address}:{port}")
    kind, length, cookie = struct.unpack("!HHI", answer[:8])
    assert (kind, cookie, answer[8:20]) == (0x0101, 0x2112A442, transaction), answer[:20]
    offset = 20
    while offset < 20 + length:
        attribute, size = struct.unpack("!HH", answer[offset : offset + 4])
        value = answer[offset + 4 : offset + 4 + size]
        if attribute == 0x0020:  # XOR-MAPPED-ADDRESS, IPv4
            mapped_port = struct.unpack("!H", value[2:4])[0] ^ 0x2112
            raw = struct.unpack("!I", value[4:8])[0] ^ 0x2112A442
            return socket_module.inet_ntoa(struct.pack("!I", raw)), mapped_port
        offset += 4 + size + (-size % 4)
    raise AssertionError(f"no XOR-MAPPED-ADDRESS in {answer!r}")


def test_calls_coturn_answers_stun_and_janus_answers_through_nginx(
    three_server: Deployment,
) -> None:
    """The calls group (the app hosts): coturn on each answers a STUN binding on 3478 (the
    firewall lets it through); Janus on app1 answers /janus/info and its WebSocket transport
    through every nginx, and refuses a session without the API secret or a token."""
    from websockets.sync.client import connect

    hosts = three_server.hosts
    for name in ("app1", "app2"):
        mapped, _port = stun_binding(hosts[name].address)
        assert mapped.startswith("10.231."), mapped  # this machine's bridge address
        status, _headers, body = https(hosts[name].address, "GET", "/janus/info")
        assert status == 200, (name, status, body[:300])
        info = json.loads(body)
        assert info["janus"] == "server_info", info
        assert info["api_secret"] is True, info
        assert info["auth_token"] is True, info
        assert set(info["plugins"]) == {"janus.plugin.videoroom"}, info["plugins"]
        assert "janus.transport.websockets" in info["transports"], info["transports"]
        with connect(
            f"wss://{DOMAIN}/janus/",
            sock=socket_module.create_connection((hosts[name].address, 443), timeout=10),
            ssl=_tls(),
            server_hostname=DOMAIN,
            subprotocols=["janus-protocol"],  # type: ignore[list-item]
            proxy=None,
            open_timeout=15,
        ) as janus:
            janus.send(json.dumps({"janus": "create", "transaction": "no-secret"}))
            refused = json.loads(janus.recv(timeout=10))
            assert refused["janus"] == "error", refused
            assert refused["error"]["code"] == 403, refused
            janus.send(
                json.dumps(
                    {
                        "janus": "create",
                        "transaction": "with-secret",
                        "apisecret": SECRETS["vault_enclave_janus_api_secret"],
                    }
                )
            )
            created = json.loads(janus.recv(timeout=10))
            assert created["janus"] == "success", created
    env = hosts["app2"].ssh("cat /etc/enclave/enclave.env").stdout
    assert f"ENCLAVE_TURN_SECRET='{SECRETS['vault_enclave_turn_secret']}'" in env
    assert f"ENCLAVE_JANUS_API_URL='http://{hosts['app1'].address}:8088/janus'" in env
    assert f"ENCLAVE_JANUS_PUBLIC_URL='wss://{DOMAIN}/janus/'" in env


def test_backup_and_restore_drill_on_the_app_host(
    three_server: Deployment, demo_company: dict[str, str]
) -> None:
    """The nightly jobs by hand, as docs/operations.md says, on the Celery beat host: the
    drill restores into <database>_drill, which the app's role owns without CREATEDB."""
    app1, db1 = three_server.hosts["app1"], three_server.hosts["db1"]
    role = db1.ssh(
        'sudo -u postgres psql -XAt -c "SELECT rolcreatedb, rolsuper FROM pg_roles'
        " WHERE rolname = 'enclave'\""
    ).stdout.strip()
    assert role == "f|f", role
    backup = app1.ssh(f"{MANAGE} backup", timeout=600)
    assert "Backup" in backup.stdout, backup.stdout + backup.stderr
    drill = app1.ssh(f"{MANAGE} restore_drill", check=False, timeout=600)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "passed" in drill.stdout, drill.stdout
    # The scratch database is left empty for the next drill.
    tables = db1.ssh(
        "sudo -u postgres psql -XAt -d enclave_drill -c"
        " \"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'\""
    ).stdout.strip()
    assert tables == "0", tables


def test_database_and_redis_refuse_everyone_but_the_app_hosts(three_server: Deployment) -> None:
    hosts = three_server.hosts
    db, cache = hosts["db1"].address, hosts["cache1"].address
    for app in (hosts["app1"], hosts["app2"]):
        assert can_connect(app, db, 5432), app.name
        assert can_connect(app, cache, 6379), app.name
    outsiders: list[tuple[str, Host | None, str, int]] = [
        ("cache1", hosts["cache1"], db, 5432),
        ("the machine's bridge address", None, db, 5432),
        ("db1", hosts["db1"], cache, 6379),
        ("the machine's bridge address", None, cache, 6379),
    ]
    for name, source, address, port in outsiders:
        assert not can_connect(source, address, port), (name, address, port)


# --- three servers: upgrade and rollback under traffic (after the checks above) ----------------


def running_release(host: Host) -> str:
    """The release directory every web worker of HOST runs from (its cwd), and `current`."""
    script = (
        "for unit in $(systemctl list-units --plain --no-legend 'enclave-web@*' | cut -d' ' -f1);"
        " do readlink /proc/$(systemctl show -p MainPID --value $unit)/cwd; done | sort -u;"
        " readlink -f /opt/enclave/current"
    )
    lines = host.ssh(script).stdout.split()
    assert len(set(lines)) == 1, (host.name, lines)  # every worker and `current` agree
    return lines[0]


class Sender(threading.Thread):
    """One client through one nginx: a message every 100 ms over the WebSocket; on a close it
    reconnects and sends every unacknowledged client_msg_id again (the server's delivery
    guarantee makes a resend idempotent)."""

    def __init__(self, address: str, token: str, channel_id: int) -> None:
        super().__init__(daemon=True)
        self.address, self.token, self.channel_id = address, token, channel_id
        self.unacked: dict[str, str] = {}  # client_msg_id -> body
        self.acks: dict[str, dict[str, Any]] = {}  # client_msg_id -> first ack
        self.conflicting_acks: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.errors: list[dict[str, Any]] = []
        self.retry_at: dict[str, float] = {}  # client_msg_id refused with an error: send again
        self.sent = self.resent = self.connections = 0
        self.failures: list[str] = []
        self.stop_sending = threading.Event()
        self.finished = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.finished.is_set():
            try:
                self._session()
            except Exception as error:  # closed, refused, timed out: reconnect
                self.failures.append(f"{time.strftime('%H:%M:%S')} {type(error).__name__}")
                time.sleep(0.2)

    def _session(self) -> None:
        with ws_sync_connect(self.address, self.token) as socket:
            self.connections += 1
            ws_sync_until(socket, lambda f: f.get("type") == "hello")
            with self.lock:
                again = list(self.unacked.items())
            for client_msg_id, body in again:
                socket.send(send_frame(self.channel_id, body, client_msg_id, client_msg_id))
                self.resent += 1
            next_send = time.monotonic()
            while True:
                if self.stop_sending.is_set():
                    with self.lock:
                        if not self.unacked:
                            self.finished.set()
                            return
                due = [k for k, at in self.retry_at.items() if at <= time.monotonic()]
                for client_msg_id in due:
                    del self.retry_at[client_msg_id]
                    again_body = self.unacked.get(client_msg_id)
                    if again_body is not None:
                        socket.send(
                            send_frame(self.channel_id, again_body, client_msg_id, client_msg_id)
                        )
                        self.resent += 1
                if not self.stop_sending.is_set() and time.monotonic() >= next_send:
                    client_msg_id = str(uuid.uuid4())
                    body = f"upgrade traffic {self.sent} {client_msg_id}"
                    with self.lock:  # counted before the send: a close inside it resends this one
                        self.unacked[client_msg_id] = body
                        self.sent += 1
                    socket.send(send_frame(self.channel_id, body, client_msg_id, client_msg_id))
                    next_send = max(next_send + 0.1, time.monotonic())
                wait = 0.1 if self.stop_sending.is_set() else next_send - time.monotonic()
                try:
                    raw = socket.recv(timeout=max(0.01, wait))
                except TimeoutError:
                    continue
                self._received(json.loads(raw))

    def _received(self, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        if frame.get("type") == "error":
            self.errors.append(frame)
            if ref in self.unacked:
                self.retry_at[str(ref)] = time.monotonic() + 1
        if frame.get("type") != "ack" or ref is None:
            return
        with self.lock:
            self.unacked.pop(ref, None)
            first = self.acks.setdefault(ref, frame)
        if (first["message_id"], first["seq"]) != (frame["message_id"], frame["seq"]):
            self.conflicting_acks.append((first, frame))


class Listener(threading.Thread):
    """A second client through another nginx: takes the pushed message.new frames; on every
    (re)connect it first catches up over REST from the last seq it has, as README says."""

    def __init__(self, address: str, token: str, channel_id: int, after_seq: int) -> None:
        super().__init__(daemon=True)
        self.address, self.token, self.channel_id = address, token, channel_id
        self.messages: dict[int, dict[str, Any]] = {}  # seq -> message
        self.after_seq = after_seq
        self.pushed = self.connections = 0
        self.stop = threading.Event()

    def last_seq(self) -> int:
        return max(self.messages, default=self.after_seq)

    def catch_up(self) -> None:
        for message in history_after(self.address, self.token, self.channel_id, self.last_seq()):
            if message["seq"] > self.after_seq:
                self.messages[message["seq"]] = message

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with ws_sync_connect(self.address, self.token) as socket:
                    self.connections += 1
                    ws_sync_until(socket, lambda f: f.get("type") == "hello")
                    self.catch_up()
                    while not self.stop.is_set():
                        try:
                            frame = json.loads(socket.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if frame.get("type") == "message.new":
                            message = frame.get("message", frame)
                            if message.get("channel_id") == self.channel_id:
                                self.messages[message["seq"]] = message
                                self.pushed += 1
            except Exception:  # closed, refused, timed out: reconnect and catch up
                time.sleep(0.2)


class Pinger(threading.Thread):
    """Short WebSocket sessions through one nginx (connect, five pings, close): as tabs come
    and go, nginx's least_conn spreads them over every worker, the canary's included, whose
    gate must count them (nginx logs a socket only when it closes)."""

    def __init__(self, address: str, token: str) -> None:
        super().__init__(daemon=True)
        self.address, self.token = address, token
        self.pongs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with ws_sync_connect(self.address, self.token) as socket:
                    ws_sync_until(socket, lambda f: f.get("type") == "hello")
                    for ref in range(5):
                        socket.send(json.dumps({"v": 1, "type": "ping", "ref": ref}))
                        ws_sync_until(socket, lambda f, r=ref: f.get("ref") == r, 10)
                        self.pongs += 1
                        time.sleep(0.2)
            except Exception:  # closed, refused, timed out: try again
                time.sleep(0.2)


class Reader(threading.Thread):
    """Short HTTP requests through one nginx (a client reading its profile five times a second):
    nginx's least_conn spreads them over every worker, the canary's as soon as it serves, so
    the canary's gate counts HTTP answers too, whatever the long-lived sockets stick to."""

    def __init__(self, address: str, token: str) -> None:
        super().__init__(daemon=True)
        self.address, self.token = address, token
        self.answers: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status = https(self.address, "GET", "/api/v1/users/me/", token=self.token)[0]
            except Exception:  # refused, reset, timed out: a status of its own
                status = -1
            self.answers[status] = self.answers.get(status, 0) + 1
            time.sleep(0.2)


def ws_sync_connect(address: str, token: str) -> Any:
    from websockets.sync.client import connect

    return connect(
        f"wss://{DOMAIN}/ws/",
        sock=socket_module.create_connection((address, 443), timeout=10),
        ssl=_tls(),
        server_hostname=DOMAIN,
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        open_timeout=15,
    )


def ws_sync_until(socket: Any, predicate: Any, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        frame = json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if predicate(frame):
            return dict(frame)


# The app hosts the upgrade test switched: the rollback test goes back from there. Without them
# it has nothing to go back to, and its own failure would only hide the upgrade's.
UPGRADED: dict[str, bool] = {}


def test_upgrade_under_traffic_loses_and_duplicates_nothing(
    request: pytest.FixtureRequest,
    three_server: Deployment,
    demo_company: dict[str, str],
) -> None:
    hosts = three_server.hosts
    app1, app2 = hosts["app1"].address, hosts["app2"].address
    alice, bob = demo_company["alice"], demo_company["bob"]
    channel = general_channel(app1, alice)
    old = {name: running_release(hosts[name]) for name in ("app1", "app2")}
    version = Path(old["app1"]).name + "-next"
    with timed(request, "upgrade: second release bundle"):
        bundle = make_release(version, marker=version)
    start_seq = max((m["seq"] for m in history_after(app1, alice, channel, 0)), default=0)

    sender = Sender(app1, alice, channel)
    listener = Listener(app2, bob, channel, start_seq)
    pingers = [Pinger(app1, bob), Pinger(app2, alice)]
    readers = [Reader(app1, alice), Reader(app2, bob)]
    for thread in (sender, listener, *pingers, *readers):
        thread.start()
    try:
        time.sleep(5)  # traffic before the upgrade too
        with timed(request, "upgrade: upgrade.yml under traffic (canary 60 s)"):
            try:
                result = three_server.playbook(
                    "upgrade.yml",
                    "-e",
                    f"enclave_bundle_dir={bundle}",
                    "-e",
                    "enclave_upgrade_canary_seconds=60",
                )
            except AssertionError as failed:  # what the test's clients saw meanwhile
                raise AssertionError(
                    f"{failed}\ntraffic: {sender.sent} sent, {sender.connections} sender "
                    f"connections, {listener.pushed} pushed, "
                    f"{sum(p.pongs for p in pingers)} pongs, HTTP answers by status "
                    f"{[r.answers for r in readers]}"
                ) from None
        time.sleep(5)  # and after it
    finally:
        sender.stop_sending.set()
        sender.finished.wait(60)
        sender.finished.set()
        sender.join(30)
        listener.stop.set()
        listener.join(30)
        for pinger in (*pingers, *readers):
            pinger.stop.set()
            pinger.join(30)
    (TIMINGS.parent / "upgrade-last.log").write_text(result.stdout)
    canary = re.findall(r"Canary: [^\"\n]*", result.stdout)
    report(
        request,
        f"upgrade: {sender.sent} sent, {sender.resent} resent, {sender.connections} sender "
        f"connections, {listener.connections} listener connections, {listener.pushed} pushed; "
        f"sender failures {sender.failures}; error frames {len(sender.errors)}; "
        f"{sum(p.pongs for p in pingers)} pongs; HTTP answers by status "
        f"{[r.answers for r in readers]}; {canary}",
        0,
    )
    # The canary gate's evidence: the canary's own counters saw the WebSocket traffic.
    gate = re.search(
        r"Canary: (\d+) errors in (\d+) operations \((\d+) HTTP, (\d+) WebSocket\)",
        result.stdout,
    )
    assert gate is not None, canary
    UPGRADED.update((name, True) for name in ("app1", "app2"))
    errors, operations, _http, websocket = map(int, gate.groups())
    assert operations > 0, gate.group(0)
    assert websocket > 0, gate.group(0)
    assert errors <= operations * 0.01, gate.group(0)

    # Both app hosts run the new release: `current`, every web worker's directory, its VERSION.
    for name in ("app1", "app2"):
        running = running_release(hosts[name])
        assert running == f"/opt/enclave/releases/{version}", (name, running, old[name])
        marker = hosts[name].ssh(f"cat {running}/VERSION {running}/RELEASE_MARKER").stdout
        assert marker.split() == [version, version], (name, marker)
    assert "switching it back" not in result.stdout
    # app2 switched only after the canary had served the new release for the whole window.
    canary_ready = max(
        int(stamp.lstrip("@"))
        for stamp in hosts["app1"]
        .ssh(
            "for unit in $(systemctl list-units --plain --no-legend 'enclave-*' | cut -d' ' -f1);"
            " do systemctl show --timestamp=unix -p ActiveEnterTimestamp --value $unit; done"
        )
        .stdout.split()
    )
    app2_switched = int(hosts["app2"].ssh("stat -c %Y /opt/enclave/current").stdout)
    report(request, f"upgrade: app2 switched {app2_switched - canary_ready} s after the canary", 0)
    assert app2_switched - canary_ready >= 60, (canary_ready, app2_switched)

    # Every message was acknowledged (none left unacked), and no ack contradicts another.
    assert sender.sent > 100, sender.sent
    assert not sender.unacked, (len(sender.unacked), sender.errors[:5])
    assert not sender.conflicting_acks, sender.conflicting_acks[:5]
    assert len(sender.acks) == sender.sent
    # The history over REST: each acknowledged client_msg_id exactly once, where its ack said,
    # nothing else, seqs dense.
    history = [m for m in history_after(app1, alice, channel, start_seq) if m["seq"] > start_seq]
    by_client_id: dict[str, list[dict[str, Any]]] = {}
    for message in history:
        by_client_id.setdefault(str(message["client_msg_id"]), []).append(message)
    duplicates = {k: [m["seq"] for m in v] for k, v in by_client_id.items() if len(v) > 1}
    assert not duplicates, duplicates
    assert set(by_client_id) == set(sender.acks), (
        len(set(sender.acks) - set(by_client_id)),
        len(set(by_client_id) - set(sender.acks)),
    )
    for client_msg_id, ack in sender.acks.items():
        (stored,) = by_client_id[client_msg_id]
        assert (stored["id"], stored["seq"]) == (ack["message_id"], ack["seq"]), (stored, ack)
        assert stored["body"] == f"upgrade traffic {stored['body'].split()[2]} {client_msg_id}"
    seqs = [m["seq"] for m in history]
    assert seqs == list(range(start_seq + 1, start_seq + 1 + len(history))), seqs[:20]

    # The second client, through app2 the whole time, converged to the same history.
    listener.catch_up()
    assert {s: m["id"] for s, m in listener.messages.items()} == {
        m["seq"]: m["id"] for m in history
    }
    assert listener.pushed > 0


def test_rollback_switches_back_and_readyz_stays_200(
    request: pytest.FixtureRequest, three_server: Deployment, demo_company: dict[str, str]
) -> None:
    if not UPGRADED:
        pytest.fail("the upgrade test did not switch the app hosts (see its failure above)")
    hosts = three_server.hosts
    before = {name: running_release(hosts[name]) for name in ("app1", "app2")}
    previous = {
        name: hosts[name].ssh("readlink -f /opt/enclave/previous").stdout.strip()
        for name in ("app1", "app2")
    }
    assert all(previous[name] != before[name] for name in before), (before, previous)
    answers: list[tuple[str, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for name in ("app1", "app2"):
                try:
                    answers.append((name, https(hosts[name].address, "GET", "/readyz")[0]))
                except Exception as error:  # refused, reset: not 200 either
                    answers.append((f"{name} {error!r}", -1))
            time.sleep(0.25)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        with timed(request, "rollback: rollback.yml while /readyz is polled"):
            three_server.playbook("rollback.yml")
    finally:
        done.set()
        poller.join(30)
    report(request, f"rollback: {len(answers)} /readyz answers through both nginx", 0)
    assert len(answers) > 20
    assert all(status == 200 for _name, status in answers), [a for a in answers if a[1] != 200]
    for name in ("app1", "app2"):
        assert running_release(hosts[name]) == previous[name], name
        assert hosts[name].ssh("readlink -f /opt/enclave/previous").stdout.strip() == before[name]
    # The old code still serves the migrated schema: a login and the channel list work.
    token = login_token(hosts["app2"].address, "bob")
    assert general_channel(hosts["app2"].address, token) > 0


# --- all-in-one: one host ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_in_one(
    request: pytest.FixtureRequest,
    deploy_ssh_key: Path,
    release_bundle: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("all-in-one")
    base = inventory_without_monitoring("all-in-one", work / "inventory")
    vars_file = write_vars(work / "vars.yml", release_bundle)
    started = time.monotonic()
    with boot_hosts(
        ["enclave1"],
        private_key=deploy_ssh_key,
        groups={"app": ["enclave1"], "database": ["enclave1"], "cache": ["enclave1"]},
        host_vars=lambda host: {"enclave_private_address": host.address},
    ) as hosts:
        report(request, "all-in-one: boot 1 host", time.monotonic() - started)
        deployment = Deployment(hosts, base, vars_file)
        with timed(request, "all-in-one: site.yml, first run"):
            deployment.playbook("site.yml")
        yield deployment


def test_all_in_one_serves_login_and_is_ready(all_in_one: Deployment) -> None:
    address = all_in_one.hosts["enclave1"].address
    status, _headers, body = https(address, "GET", "/accounts/login/")
    assert status == 200, body[:300]
    assert b'name="password"' in body
    ready, _headers, detail = https(address, "GET", "/readyz")
    assert ready == 200, detail


def test_all_in_one_second_run_changes_nothing(
    request: pytest.FixtureRequest, all_in_one: Deployment
) -> None:
    with timed(request, "all-in-one: site.yml, second run"):
        result = all_in_one.playbook("site.yml")
    assert_nothing_changed(result.stdout)
