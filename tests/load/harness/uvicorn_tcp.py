"""`uvicorn --fd N` with the inherited listening socket adopted as what it is (TCP).

uvicorn wraps a descriptor given with `--fd` as an AF_UNIX socket (`socket.fromfd(fd,
AF_UNIX, ...)`), so asyncio and uvloop take its connections for Unix-socket ones and leave
Nagle's algorithm on. A response written in two parts (headers, then body) then waits for
the client's delayed ACK: every request of the read benchmark took 48 ms at one client for
5 ms of CPU. A production server bound with `--host/--port` or `--workers` gets TCP_NODELAY
from asyncio; this shim gives the harness's SO_REUSEPORT servers the same (as the relay's
`socket.socket(fileno=...)` always had). Usage: exactly uvicorn's command line.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any


def _adopt(fd: int, family: Any = None, type: Any = None, proto: int = 0) -> socket.socket:
    """socket.fromfd, but with the family, type and protocol the descriptor really has."""
    return socket.socket(fileno=os.dup(fd))


def main() -> None:
    from uvicorn.main import main as uvicorn_main

    socket.fromfd = _adopt  # this process is only the server: uvicorn is its one caller
    sys.argv[0] = "uvicorn"
    uvicorn_main()


if __name__ == "__main__":
    main()
