"""A throwaway clamd for the `clamav` tests: Debian's clamav-daemon, our signatures only.

`ClamdServer.start()` is `make run`'s runner (`apps.files.local_clamd.LocalClamd`) in a temp
directory: a local unix socket there, a database directory holding only the signature files
shipped in tests/files/signatures (an MD5 line for the EICAR test file and a body signature
that also finds it inside archives), /usr/sbin/clamd in the foreground, ready once it answers
PING. No signature is downloaded.

`ClamdServerWithoutLimitAlerts` is the same clamd configured the way clamd ships (no
`AlertExceedsMax`): it answers OK for what it stopped scanning at a limit, so Enclave must not
believe its OKs.

`ClamdServer.answers_held()` puts a proxy on the same socket path that holds clamd's answers
until the test releases them: the scan of an upload stays in flight, and the file `pending`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from apps.files.local_clamd import CLAMD, LocalClamd, LocalClamdError

SIGNATURES = Path(__file__).parent / "signatures"
# Small on purpose, so the "stream limit exceeded" path is cheap to test.
STREAM_MAX_BYTES = 1024 * 1024


def clamd_installed() -> bool:
    return Path(CLAMD).exists()


class ClamdServer(LocalClamd):
    """`make run`'s clamd runner (apps/files/local_clamd.py) with our signatures only, in a
    temporary directory: no system database, so results never depend on the machine."""

    def __init__(self) -> None:
        super().__init__(
            Path(tempfile.mkdtemp(prefix="enclave-clamd-")),
            stream_max_bytes=STREAM_MAX_BYTES,
            system_database=Path("/nonexistent/enclave-no-system-signatures"),
            shipped_signatures=SIGNATURES,
        )

    def start(self, timeout: float = 60.0) -> None:
        try:
            super().start(timeout)
        except LocalClamdError as error:
            raise RuntimeError(f"{error}: {self._log()}") from error

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
        return self.log_tail(lines=20)


class ClamdServerWithoutLimitAlerts(ClamdServer):
    """A clamd that silently passes what exceeds its limits (clamd's own default)."""

    def prepare(self) -> None:
        super().prepare()
        conf = self.root / "clamd.conf"
        lines = conf.read_text().splitlines()
        kept = [line for line in lines if not line.startswith("AlertExceedsMax")]
        conf.write_text("\n".join([*kept, "AlertExceedsMax no", ""]))


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
