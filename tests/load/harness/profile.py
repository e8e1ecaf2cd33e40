"""py-spy sampling of one server process and a summary of where its time goes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Buckets for the summary, first match wins; matched against a frame's "function (file)".
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("channel layer (channels_redis, msgpack)", re.compile(r"channels_redis|msgpack")),
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


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` for `seconds` into `output` (collapsed stacks); None without py-spy."""
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


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


def summarise(path: Path, top: int = 15) -> dict[str, object]:
    """Totals per thread, per category (innermost match), top self and inclusive frames."""
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
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        total += count
        # The event-loop thread is the one whose stack holds the loop; the rest are workers.
        loop_thread = any("run_forever" in f or "reactor" in f.lower() for f in frames[:6])
        threads["event loop thread" if loop_thread else "worker threads (sync_to_async)"] += count
        short = [_short(f) for f in frames]
        categories[_category(short)] += count
        self_time[short[-1]] += count
        for frame in set(short):
            inclusive[frame] += count
        del thread

    def share(counter: Counter[str], limit: int | None = None) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in counter.most_common(limit)]

    if total == 0:
        return {"samples": 0}
    return {
        "samples": total,
        "threads_pct": dict(share(threads)),
        "categories_pct": dict(share(categories)),
        "top_self_pct": share(self_time, top),
        "top_inclusive_pct": share(inclusive, top + 10),
    }
