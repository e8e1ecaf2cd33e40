"""A throwaway clamd for the `clamav` tests: Debian's clamav-daemon, our signatures only.

`ClamdServer.start()` writes a clamd.conf into a temp directory (a local unix socket there, a
database directory holding the signature files shipped in tests/files/signatures: an MD5 line
for the EICAR test file and a body signature that also finds it inside archives), runs
/usr/sbin/clamd in the foreground and waits until it answers PING. No signature is downloaded.

`ClamdServer.answers_held()` puts a proxy on the same socket path that holds clamd's answers
until the test releases them: the scan of an upload stays in flight, and the file `pending`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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

    @contextlib.contextmanager
    def answers_held(self) -> Iterator[HeldAnswers]:
        """Until `release()` (or the end of the block), clamd's answers wait in a proxy.

        The real clamd's socket is renamed aside (a bound unix socket keeps working under its
        new name) and the proxy binds the old path, so the scanner's address does not change.
        """
        behind = self.root / "clamd-behind-proxy.sock"
        os.rename(self.socket_path, behind)
        held = HeldAnswers(listen=self.socket_path, upstream=behind)
        try:
            yield held
        finally:
            held.close()
            os.rename(behind, self.socket_path)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log(self) -> str:
        try:
            return (self.root / "clamd.log").read_text()[-2000:]
        except OSError:
            return ""


class HeldAnswers:
    """A unix-socket proxy in front of clamd: requests go through at once, answers wait."""

    def __init__(self, *, listen: Path, upstream: Path) -> None:
        self.upstream = upstream
        self.listen_path = listen
        self.released = threading.Event()
        # Set once clamd has answered a request that the proxy now holds back.
        self.holding = threading.Event()
        self.closed = False
        self.threads: list[threading.Thread] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(listen))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self._spawn(self._accept_loop)

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.closed = True
        for thread in list(self.threads):
            thread.join(timeout=10)
        self.server.close()
        with contextlib.suppress(FileNotFoundError):
            self.listen_path.unlink()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _address = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        clamd = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            clamd.connect(str(self.upstream))
            self._spawn(self._forward_requests, client, clamd)
            while answer := clamd.recv(65536):
                if not self.released.is_set():
                    self.holding.set()
                    self.released.wait(timeout=60)
                client.sendall(answer)
        except OSError:
            pass
        finally:
            for sock in (client, clamd):  # shutdown wakes the other thread's recv
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @staticmethod
    def _forward_requests(client: socket.socket, clamd: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                clamd.sendall(data)
