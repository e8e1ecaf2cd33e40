"""A throwaway coturn for the `turn` tests: Debian's turnserver on loopback, no config file.

It runs with `use-auth-secret` and `static-auth-secret` (the TURN REST API): the credentials
Enclave hands out (apps.calls.selectors.turn_credentials) are checked against the same secret.
UDP and TCP on one port; no TLS, no DTLS, no CLI. Loopback peers are allowed, so two browsers
on this machine can relay through it (iceTransportPolicy "relay").
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.calls.stun import binding_request, parse_message

TURNSERVER = "/usr/bin/turnserver"
REALM = "enclave.test"


def turnserver_installed() -> bool:
    return Path(TURNSERVER).exists()


def free_port() -> int:
    # A port free for both UDP and TCP on loopback.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class TurnServer:
    def __init__(self, secret: str, *, relay_ip: str = "127.0.0.1") -> None:
        """`relay_ip`: where the relayed addresses are; Janus (which does not take loopback
        candidates) needs the machine's address it gathers on."""
        self.secret = secret
        self.relay_ip = relay_ip
        self.root = Path(tempfile.mkdtemp(prefix="enclave-coturn-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "turnserver.log"

    def start(self, timeout: float = 20.0) -> None:
        # Relay ports above Linux's ephemeral range (32768-60999), so that no browser, server
        # or client socket of the suite holds them, and 200 of them: allocations a closed tab
        # did not release live on for their lifetime (10 min), one or two per transport.
        relay_low = 61000 + (self.port % 20) * 200
        command = [
            TURNSERVER,
            "-n",  # no configuration file
            "--listening-ip=127.0.0.1",
            f"--listening-port={self.port}",
            f"--relay-ip={self.relay_ip}",
            f"--min-port={relay_low}",
            f"--max-port={relay_low + 199}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            f"--realm={REALM}",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            f"--pidfile={self.root / 'turnserver.pid'}",
            f"--log-file={self.log_path}",
            "--simple-log",
            "--verbose",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.log_tail()}")
            if self._answers_binding():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not answer on {self.port}: {self.log_tail()}")

    def _answers_binding(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            request, transaction_id = binding_request()
            try:
                sock.sendto(request, ("127.0.0.1", self.port))
                data, _address = sock.recvfrom(2048)
            except OSError:
                return False
            return parse_message(data).transaction_id == transaction_id

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            logs = sorted(self.root.glob("turnserver*.log"))
            if logs:
                return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:])
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
