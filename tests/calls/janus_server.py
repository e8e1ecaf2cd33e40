"""A throwaway Janus for the `janus` tests: Debian's janus with a config directory of its own.

Like the coturn fixture (tests/calls/turn_server.py): a temporary directory holds janus.jcfg
(api_secret, admin_secret, token_auth), the HTTP transport (the API and the admin API, on
loopback) and the WebSocket transport (what browsers talk to), and the VideoRoom plugin with an
admin_key, so that only Enclave creates rooms. Every other plugin and transport is disabled.
ICE candidates are gathered on `ice_ip` only (the machine's address the browsers reach).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

JANUS = "/usr/bin/janus"
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
_OTHER_PLUGINS = (
    "audiobridge duktape echotest lua nosip recordplay sip streaming textroom videocall voicemail"
)
_OTHER_TRANSPORTS = "mqtt nanomsg pfunix rabbitmq"


def janus_installed() -> bool:
    return Path(JANUS).exists()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_ip() -> str:
    """The address of the interface a route out would use (no packet is sent): browsers on
    this machine reach Janus' host candidates there (Janus does not gather on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class JanusServer:
    def __init__(self, *, rtp_ports: tuple[int, int] | None = None) -> None:
        self.api_secret = secrets.token_urlsafe(16)
        self.admin_secret = secrets.token_urlsafe(16)
        self.admin_key = secrets.token_urlsafe(16)
        self.root = Path(tempfile.mkdtemp(prefix="enclave-janus-"))
        self.http_port = free_tcp_port()
        self.admin_port = free_tcp_port()
        self.ws_port = free_tcp_port()
        self.ice_ip = machine_ip()
        low = 20000 + (self.http_port % 200) * 100
        self.rtp_ports = rtp_ports or (low, low + 99)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/admin"

    @property
    def public_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    @property
    def log_path(self) -> Path:
        return self.root / "janus.log"

    def settings(self) -> dict[str, str]:
        """The ENCLAVE_JANUS_* settings of an Enclave that uses this Janus."""
        return {
            "ENCLAVE_JANUS_API_URL": self.api_url,
            "ENCLAVE_JANUS_ADMIN_URL": self.admin_url,
            "ENCLAVE_JANUS_API_SECRET": self.api_secret,
            "ENCLAVE_JANUS_ADMIN_SECRET": self.admin_secret,
            "ENCLAVE_JANUS_ADMIN_KEY": self.admin_key,
            "ENCLAVE_JANUS_PUBLIC_URL": self.public_url,
        }

    def _write_config(self) -> None:
        plugins = ",".join(f"libjanus_{name}.so" for name in _OTHER_PLUGINS.split())
        transports = ",".join(f"libjanus_{name}.so" for name in _OTHER_TRANSPORTS.split())
        (self.root / "janus.jcfg").write_text(
            f"""general: {{
    configs_folder = "{self.root}"
    plugins_folder = "{LIBDIR / "plugins"}"
    transports_folder = "{LIBDIR / "transports"}"
    events_folder = "{LIBDIR / "events"}"
    loggers_folder = "{LIBDIR / "loggers"}"
    log_to_stdout = false
    log_to_file = "{self.log_path}"
    debug_level = 4
    api_secret = "{self.api_secret}"
    admin_secret = "{self.admin_secret}"
    token_auth = true
    session_timeout = 30
    server_name = "Enclave test Janus"
}}
plugins: {{
    disable = "{plugins}"
}}
transports: {{
    disable = "{transports}"
}}
events: {{
    broadcast = false
}}
media: {{
    rtp_port_range = "{self.rtp_ports[0]}-{self.rtp_ports[1]}"
}}
nat: {{
    ice_enforce_list = "{self.ice_ip}"
    ignore_mdns = true
}}
"""
        )
        (self.root / "janus.transport.http.jcfg").write_text(
            f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {self.http_port}
    interface = "lo"
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_port = {self.admin_port}
    admin_ip = "127.0.0.1"
    admin_https = false
}}
"""
        )
        (self.root / "janus.transport.websockets.jcfg").write_text(
            f"""general: {{
    json = "compact"
    ws = true
    ws_port = {self.ws_port}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
"""
        )
        (self.root / "janus.plugin.videoroom.jcfg").write_text(
            f"""general: {{
    admin_key = "{self.admin_key}"
    lock_rtp_forward = true
}}
"""
        )

    def start(self, timeout: float = 30.0) -> None:
        self._write_config()
        self.process = subprocess.Popen(
            [JANUS, "--configs-folder", str(self.root), "--config", str(self.root / "janus.jcfg")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"janus exited: {self.log_tail()}")
            if self._answers_info() and self._ws_listening():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"janus did not answer on {self.http_port}: {self.log_tail()}")

    def _answers_info(self) -> bool:
        try:
            url = f"{self.api_url}/info"
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                return json.loads(response.read()).get("janus") == "server_info"
        except (OSError, ValueError):
            return False

    def _ws_listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.ws_port)) == 0

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_janus() -> Iterator[JanusServer]:
    """A started throwaway Janus for a module's tests (skipped with the reason when Janus is
    not installed; the suite's gate fails instead in CI), cleaned up afterwards."""
    import pytest

    if not janus_installed():
        pytest.skip("[janus] needs Janus (apt-get install janus)")
    server = JanusServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
