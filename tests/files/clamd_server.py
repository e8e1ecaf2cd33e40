"""A throwaway clamd for the `clamav` tests: Debian's clamav-daemon, our signatures only.

`ClamdServer.start()` writes a clamd.conf into a temp directory (a local unix socket there, a
database directory holding the signature files shipped in tests/files/signatures: an MD5 line
for the EICAR test file and a body signature that also finds it inside archives), runs
/usr/sbin/clamd in the foreground and waits until it answers PING. No signature is downloaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CLAMD = "/usr/sbin/clamd"
SIGNATURES = Path(__file__).parent / "signatures"
# Small on purpose, so the "stream limit exceeded" path is cheap to test.
STREAM_MAX_BYTES = 1024 * 1024

CLAMD_CONF = """\
Foreground yes
LocalSocket {root}/clamd.sock
DatabaseDirectory {root}/db
TemporaryDirectory {root}/tmp
PidFile {root}/clamd.pid
LogFile {root}/clamd.log
StreamMaxLength {stream_max}
ScanArchive yes
SelfCheck 0
MaxThreads 4
"""


def clamd_installed() -> bool:
    return Path(CLAMD).exists()


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook: clamd gets SIGTERM when the test process dies (Linux), so no clamd
    outlives a killed run. Everything is looked up here; the child only makes one libc call."""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)


class ClamdServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="enclave-clamd-"))
        self.socket_path = self.root / "clamd.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 60.0) -> None:
        (self.root / "db").mkdir(exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        for signature_file in SIGNATURES.iterdir():
            shutil.copy(signature_file, self.root / "db" / signature_file.name)
        conf = self.root / "clamd.conf"
        conf.write_text(CLAMD_CONF.format(root=self.root, stream_max=STREAM_MAX_BYTES))
        self.process = subprocess.Popen(
            [CLAMD, "--foreground", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent_hook(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self._log()
                raise RuntimeError(f"clamd exited with {self.process.returncode}: {log}")
            if self.ping():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clamd did not answer within {timeout}s: {self._log()}")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"zPING\x00")
                return sock.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log(self) -> str:
        try:
            return (self.root / "clamd.log").read_text()[-2000:]
        except OSError:
            return ""
