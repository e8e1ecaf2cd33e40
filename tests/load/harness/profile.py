"""py-spy sampling of one server process and a summary of where its time goes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

# Buckets for the summary, first match wins; matched against a frame's "function (file)".
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("real-time bus and frames", re.compile(r"apps/core/runtime/(realtime|wsframes)")),
    ("redis client", re.compile(r"/redis/")),
    ("database (psycopg, Django ORM/SQL)", re.compile(r"psycopg|django/db/")),
    ("markdown rendering", re.compile(r"markdown|linkify|nh3|apps/chat/markdown")),
    ("thread hops (asgiref sync/async)", re.compile(r"asgiref/|concurrent/futures|threading")),
    ("JSON (orjson/json)", re.compile(r"orjson|json/")),
    ("WebSocket/HTTP server (daphne, twisted, autobahn)", re.compile(r"daphne|twisted|autobahn")),
    ("WebSocket/HTTP server (uvicorn, websockets)", re.compile(r"uvicorn|websockets|httptools")),
    ("channels consumer machinery", re.compile(r"/channels/")),
    ("application code (apps/)", re.compile(r"apps/")),
    ("asyncio event loop", re.compile(r"asyncio|uvloop")),
]
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def record(
    pid: int, seconds: float, output: Path, *, gil_only: bool = False
) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` for `seconds` into `output` (collapsed stacks); None without py-spy.
    `gil_only`: only the thread holding the GIL (a thread waiting for it is not counted)."""
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--threads",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(output),
            *(["--gil"] if gil_only else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


class DelayedRecording:
    """py-spy on `pid` for `seconds`, starting `delay` seconds from `start()`."""

    def __init__(
        self, pid: int, seconds: float, output: Path, delay: float, *, gil_only: bool = False
    ) -> None:
        self.pid = pid
        self.gil_only = gil_only
        self.seconds = seconds
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        self.timer = threading.Timer(delay, self._record)

    def _record(self) -> None:
        self.process = record(self.pid, self.seconds, self.output, gil_only=self.gil_only)

    def start(self) -> None:
        self.timer.start()

    def cancel(self) -> None:
        self.timer.cancel()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> dict[str, object]:
        """Wait for the recording to end and summarise it."""
        self.timer.join()
        if self.process is None:
            return {"error": "py-spy not available or not started"}
        self.process.wait(timeout=self.seconds + 60)
        return {"server_pid": self.pid, "raw_stacks": str(self.output), **summarise(self.output)}


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def _category(frames: list[str]) -> str:
    """Innermost frame that falls in a category decides the sample's category."""
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if pattern.search(frame):
                return name
    return "other"


def _thread_name(frame: str) -> str | None:
    """ "thread (14183): ThreadPoolExecutor-0_0" -> "ThreadPoolExecutor-0_0"; None if no thread."""
    if not frame.startswith(("thread (", "process (")):
        return None
    _head, _sep, name = frame.partition("): ")
    return name or frame


def summarise(path: Path, top: int = 15) -> dict[str, object]:
    """Shares of samples per thread, per category (innermost match), top self and inclusive."""
    if not path.exists():
        return {"error": f"no profile at {path}"}
    threads: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _sep, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "?"
        while frames and (name := _thread_name(frames[0])) is not None:
            thread = name
            frames = frames[1:]
        if not frames:
            continue
        total += count
        threads[thread] += count
        short = [_short(f) for f in frames]
        categories[_category(short)] += count
        self_time[short[-1]] += count
        for frame in set(short):
            inclusive[frame] += count
    if total == 0:
        return {"samples": 0}

    def share(counter: Counter[str], limit: int | None = None) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in counter.most_common(limit)]

    return {
        "samples": total,
        "threads_pct": dict(share(threads)),
        "categories_pct": dict(share(categories)),
        "top_self_pct": share(self_time, top),
        "top_inclusive_pct": share(inclusive, top + 10),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(summarise(Path(sys.argv[1])), indent=2))
