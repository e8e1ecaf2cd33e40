"""How many watchers of one 720p presenter a Janus host carries: a live classroom's fan-out.

One presenter publishes as the web client does (static/js/meeting.js: camera 1280x720 in its
three simulcast layers, plus the microphone): a headless Chromium with the fake camera and
microphone, signalling through the web client's own static/js/janus.js. Watchers subscribe to
that feed through Janus in a room made by Enclave's own apps/calls/janus.py. A watcher is an
aiortc peer connection that really completes ICE and DTLS (its first packets are checked to
decrypt with the DTLS-derived SRTP keys), then counts the SRTP packets that arrive without
decrypting or decoding them: the RTP header (sequence number, SSRC) is in the clear, which is
enough for bytes, packets and loss, and keeps hundreds of watchers cheap on a small machine.

The watcher count is stepped (`--steps`); per step the watchers join, settle, and over
`--window` seconds Janus' own CPU (utime + stime of its process in /proc, so the numbers hold
on a loaded machine), its RSS, the watchers' received bytes and packets, and the presenter's
sent layers are measured. Steps stop at the first one Janus did not keep up with (`healthy`).
A least-squares line through Janus' CPU over the packets it forwarded per second, times the
packets a watcher receives at the full rate, gives the CPU per watcher, from which the
watchers per core and the watchers a 2-core Janus host carries at 70% CPU are extrapolated
(docs/deployment.md, "SFU sizing"). `--event-loops N` runs Janus with N shared event loops
instead of a thread per handle; `--substream 0|1` watches a lower layer.

Run:  PYTHONPATH=. .venv/bin/python tests/load/bench_janus_watchers.py [--steps 50,100,200,300]
Prints one line per step (stderr), then one JSON line with every step and the derived sizing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.calls.janus_server import JanusServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Janus' substream number of each of the web client's simulcast layers (by rid).
LAYER_RIDS = {2: "h", 1: "m", 0: "l"}
# A watcher receives "at the expected rate" when it gets this share of the packets the
# presenter sent on the layer it watches plus the audio.
EXPECTED_RATE_SHARE = 0.9
JOIN_TIMEOUT_S = 30.0
KEEPALIVE_S = 10.0
# Janus' CPU budget on a host, leaving headroom for bursts (keyframes, joins, retransmissions).
CPU_BUDGET = 0.7
HOST_CORES = 2

PRESENTER_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>presenter</title>
<script type="module">
import { JanusSession } from "/static/js/janus.js";

window.startPresenter = async ({ url, token, room, pin, feed, simulcast }) => {
  const session = new JanusSession({ url, token });
  await session.connect();
  const handle = await session.attach("janus.plugin.videoroom", "bench-presenter");
  const join = { request: "join", ptype: "publisher", room, pin, id: feed, display: "presenter" };
  await handle.message(join);
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: { width: { exact: 1280 }, height: { exact: 720 }, frameRate: 30 },
  });
  const pc = new RTCPeerConnection();
  pc.addEventListener("icecandidate", ({ candidate }) => handle.trickle(candidate));
  for (const track of stream.getTracks()) {
    const init = { direction: "sendonly", streams: [stream] };
    if (track.kind === "video") pc.addTransceiver(track, { ...init, sendEncodings: simulcast });
    else pc.addTransceiver(track, init);
  }
  await pc.setLocalDescription(await pc.createOffer());
  const offer = { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
  const { jsep } = await handle.message({ request: "publish" }, offer);
  await pc.setRemoteDescription(jsep);
  window.presenter = { session, handle, pc, stream };
};

window.presenterStats = async () => {
  const sent = {};
  for (const stat of (await window.presenter.pc.getStats()).values()) {
    if (stat.type !== "outbound-rtp") continue;
    sent[stat.rid ?? stat.kind] = {
      packets: stat.packetsSent,
      bytes: stat.bytesSent + (stat.headerBytesSent ?? 0),
      width: stat.frameWidth ?? null,
      height: stat.frameHeight ?? null,
      fps: stat.framesPerSecond ?? null,
      limited_by: stat.qualityLimitationReason ?? null,
    };
  }
  return sent;
};
</script>
"""


def web_client_simulcast() -> list[dict[str, Any]]:
    """The camera's simulcast layers exactly as static/js/meeting.js sends them."""
    source = (ROOT / "static/js/meeting.js").read_text()
    found = re.search(r"const SIMULCAST = (\[.*?\]);", source, re.DOTALL)
    if found is None:
        raise RuntimeError("static/js/meeting.js has no SIMULCAST layers any more")
    # JavaScript object literals -> JSON: quote the keys, drop digit separators.
    text = re.sub(r"(\w+):", r'"\1":', found.group(1)).replace("_", "")
    return list(json.loads(re.sub(r",\s*]", "]", text)))


def raise_open_files_limit() -> None:
    """Hundreds of peer connections need more sockets than the default 1,024 descriptors
    (Janus, started from here, inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


class BenchJanus(JanusServer):
    """The tests' throwaway Janus, optionally with shared event loops (`event_loops` in
    janus.jcfg) instead of a thread per handle."""

    def __init__(self, *, rtp_ports: tuple[int, int], event_loops: int) -> None:
        super().__init__(rtp_ports=rtp_ports)
        self.event_loops = event_loops

    def _write_config(self) -> None:
        super()._write_config()
        if self.event_loops:
            config = self.root / "janus.jcfg"
            text = config.read_text()
            config.write_text(
                text.replace("general: {", f"general: {{\n    event_loops = {self.event_loops}", 1)
            )


# --- watchers (in worker processes) --------------------------------------------------------------


@dataclass
class Watcher:
    """One subscriber's counters, fed by the hook on its ICE connection."""

    session_id: int = 0
    connected: bool = False
    bytes: int = 0
    packets: int = 0
    decrypted: int = 0
    # SSRC -> [first extended sequence number, highest, packets received]
    streams: dict[int, list[int]] = field(default_factory=dict)

    def count(self, data: bytes) -> None:
        self.bytes += len(data)
        self.packets += 1
        ssrc = int.from_bytes(data[8:12], "big")
        sequence = int.from_bytes(data[2:4], "big")
        state = self.streams.get(ssrc)
        if state is None:
            self.streams[ssrc] = [sequence, sequence, 1]
            return
        ahead = (sequence - state[1]) & 0xFFFF
        if ahead < 0x8000:  # newer; an older (reordered) packet does not move the highest
            state[1] += ahead
        state[2] += 1

    def snapshot(self) -> tuple[bool, int, int, int, int, int]:
        """connected, bytes, packets, packets expected (by sequence numbers), received,
        packets that decrypted."""
        expected = sum(highest - first + 1 for first, highest, _ in self.streams.values())
        received = sum(state[2] for state in self.streams.values())
        return self.connected, self.bytes, self.packets, expected, received, self.decrypted


class JanusSocket:
    """One WebSocket to Janus carrying every session of a worker; answers by transaction."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.pending: dict[str, tuple[asyncio.Future[dict[str, Any]], bool]] = {}
        self.websocket: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        import websockets

        self.websocket = await websockets.connect(
            self.url,
            subprotocols=["janus-protocol"],
            max_size=None,  # type: ignore[list-item]
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.websocket:
            frame = json.loads(text)
            waiting = self.pending.get(frame.get("transaction", ""))
            if waiting is None or (frame.get("janus") == "ack" and not waiting[1]):
                continue
            del self.pending[frame["transaction"]]
            if not waiting[0].done():
                waiting[0].set_result(frame)

    async def request(self, frame: dict[str, Any], *, ack: bool = False) -> dict[str, Any]:
        """Send `frame`; its answer (for a plugin message, the event after the ack)."""
        transaction = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[transaction] = (future, ack)
        await self.websocket.send(
            json.dumps({**frame, "transaction": transaction, "token": self.token})
        )
        answer = await asyncio.wait_for(future, JOIN_TIMEOUT_S)
        if answer.get("janus") == "error":
            raise RuntimeError(f"janus: {answer.get('error')}")
        data = (answer.get("plugindata") or {}).get("data") or {}
        if data.get("error_code"):
            raise RuntimeError(f"videoroom: {data.get('error')}")
        return answer

    async def send(self, frame: dict[str, Any]) -> None:
        """Send `frame` without waiting for an answer."""
        transaction = secrets.token_hex(8)
        await self.websocket.send(
            json.dumps({**frame, "transaction": transaction, "token": self.token})
        )

    async def close(self) -> None:
        await self.websocket.close()


@dataclass
class Subscription:
    room: int
    pin: str
    feed: int
    substream: int


async def watch(socket: JanusSocket, subscription: Subscription, watcher: Watcher) -> Any:
    """Join as a subscriber of the feed, answer Janus' offer with aiortc, hook the counters
    onto the ICE connection, and wait until ICE and DTLS are up. The peer connection."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    session = (await socket.request({"janus": "create"}))["data"]["id"]
    watcher.session_id = session
    attached = await socket.request(
        {"janus": "attach", "session_id": session, "plugin": "janus.plugin.videoroom"}
    )
    handle = {"session_id": session, "handle_id": attached["data"]["id"]}
    joined = await socket.request(
        {
            "janus": "message",
            **handle,
            "body": {
                "request": "join",
                "ptype": "subscriber",
                "room": subscription.room,
                "pin": subscription.pin,
                "streams": [{"feed": subscription.feed}],
            },
        }
    )
    pc = RTCPeerConnection()
    up = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState in ("connected", "failed", "closed"):
            up.set()

    await pc.setRemoteDescription(RTCSessionDescription(**joined["jsep"]))
    await pc.setLocalDescription(await pc.createAnswer())
    dtls = pc.getTransceivers()[0].receiver.transport
    hook_counters(dtls, watcher)
    answer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    await socket.request(
        {"janus": "message", **handle, "body": {"request": "start"}, "jsep": answer}
    )
    video = [s["mid"] for s in joined["plugindata"]["data"]["streams"] if s.get("type") == "video"]
    await socket.request(
        {
            "janus": "message",
            **handle,
            "body": {
                "request": "configure",
                "streams": [{"mid": mid, "substream": subscription.substream} for mid in video],
            },
        }
    )
    await asyncio.wait_for(up.wait(), JOIN_TIMEOUT_S)
    watcher.connected = pc.connectionState == "connected"
    return pc


def hook_counters(dtls: Any, watcher: Watcher) -> None:
    """RTP off the ICE connection goes to the counters instead of aiortc's receivers (no SRTP
    decryption, no jitter buffer, no decoder); DTLS and RTCP take aiortc's usual path. The
    first three packets are decrypted with the DTLS-derived keys: proof of real media."""
    connection = dtls.transport.iceGatherer._connection
    original = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        # RTP, not RTCP (RFC 5761: RTCP packet types 192-223 in the second byte).
        if 127 < data[0] < 192 and not 191 < data[1] < 224:
            watcher.count(data)
            if watcher.decrypted < 3 and dtls._rx_srtp is not None:
                with contextlib.suppress(Exception):
                    dtls._rx_srtp.unprotect(data)
                    watcher.decrypted += 1
            return
        original(data, component)

    connection.data_received = data_received


async def keep_alive(socket: JanusSocket, watchers: list[Watcher]) -> None:
    """Every session's keepalive at once, without waiting for the acks: one by one, hundreds
    of round trips on a loaded machine outlast Janus' session_timeout (30 s here)."""
    while True:
        await asyncio.sleep(KEEPALIVE_S)
        for watcher in list(watchers):
            if watcher.session_id:
                with contextlib.suppress(Exception):
                    await socket.send({"janus": "keepalive", "session_id": watcher.session_id})


async def serve_watchers(
    pipe: multiprocessing.connection.Connection, url: str, token: str, subscription: Subscription
) -> None:
    """A worker's loop: ("add", n) joins n more watchers, ("snapshot", None) reports every
    watcher's counters and this process' CPU seconds, ("stop", None) ends."""
    socket = JanusSocket(url, token)
    await socket.connect()
    watchers: list[Watcher] = []
    connections: list[Any] = []
    alive = asyncio.create_task(keep_alive(socket, watchers))
    loop = asyncio.get_running_loop()
    joins = asyncio.Semaphore(8)

    async def add_one() -> None:
        watcher = Watcher()
        watchers.append(watcher)
        async with joins:
            with contextlib.suppress(Exception):
                connections.append(await watch(socket, subscription, watcher))

    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        if command == "add":
            await asyncio.gather(*(add_one() for _ in range(argument)))
            pipe.send(sum(w.connected for w in watchers))
        elif command == "snapshot":
            pipe.send(
                (
                    time.monotonic(),
                    process_cpu_seconds(os.getpid()),
                    [w.snapshot() for w in watchers],
                )
            )
        else:
            alive.cancel()
            await asyncio.gather(*(pc.close() for pc in connections), return_exceptions=True)
            await socket.close()
            pipe.send(None)
            return


def watcher_worker(
    pipe: multiprocessing.connection.Connection, url: str, token: str, subscription: Subscription
) -> None:
    raise_open_files_limit()
    try:
        import uvloop

        uvloop.run(serve_watchers(pipe, url, token, subscription))
    except ImportError:
        asyncio.run(serve_watchers(pipe, url, token, subscription))


class WatcherPool:
    """Worker processes (one per core by default) sharing the watchers evenly."""

    def __init__(self, workers: int, url: str, token: str, subscription: Subscription) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        for _ in range(workers):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=watcher_worker, args=(theirs, url, token, subscription), daemon=True
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        self.count = 0

    def _ask_all(self, commands: list[tuple[str, Any]]) -> list[Any]:
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def grow_to(self, total: int) -> int:
        """Add watchers up to `total` in all; how many are connected."""
        extra = total - self.count
        share = [
            extra // len(self.pipes) + (i < extra % len(self.pipes)) for i in range(len(self.pipes))
        ]
        self.count = total
        return sum(self._ask_all([("add", n) for n in share]))

    def snapshot(self) -> tuple[float, list[tuple[bool, int, int, int, int, int]]]:
        """Every worker's CPU seconds summed, every watcher's counters."""
        answers = self._ask_all([("snapshot", None)] * len(self.pipes))
        return sum(cpu for _, cpu, _ in answers), [w for _, _, ws in answers for w in ws]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ask_all([("stop", None)] * len(self.pipes))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


# --- the presenter and the measurement -----------------------------------------------------------


def serve_presenter_page() -> str:
    """The presenter page and the web client's janus.js on a loopback port (a daemon thread):
    the server's URL."""
    pages = {
        "/presenter": (PRESENTER_PAGE.encode(), "text/html"),
        "/static/js/janus.js": ((ROOT / "static/js/janus.js").read_bytes(), "text/javascript"),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, content_type = pages.get(self.path, (b"", "text/plain"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


async def start_presenter(
    playwright: Any, janus: Any, token: str, subscription: Subscription
) -> Any:
    """A headless Chromium publishing the fake camera (1280x720) and microphone like the web
    client. The page."""
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    )
    page = await browser.new_page()
    # The page from a loopback server of its own (127.0.0.1 is a secure context, which
    # getUserMedia needs, and may open Janus' loopback WebSocket).
    await page.goto(f"{serve_presenter_page()}/presenter")
    await page.evaluate(
        "options => window.startPresenter(options)",
        {
            "url": janus.public_url,
            "token": token,
            "room": subscription.room,
            "pin": subscription.pin,
            "feed": subscription.feed,
            "simulcast": web_client_simulcast(),
        },
    )
    return page


def _rate(
    after: dict[str, Any], before: dict[str, Any], key: str, name: str, seconds: float
) -> float:
    if key not in after or key not in before:
        return 0.0
    return float(after[key][name] - before[key][name]) / seconds


async def measure_step(
    *, pool: WatcherPool, page: Any, janus_pid: int, substream: int, window: float
) -> dict[str, Any]:
    """One measurement window at the current watcher count."""
    sent_before = await page.evaluate("window.presenterStats()")
    cpu_before = process_cpu_seconds(janus_pid)
    started = time.monotonic()
    workers_before, before = pool.snapshot()
    await asyncio.sleep(window)
    sent_after = await page.evaluate("window.presenterStats()")
    cpu_after = process_cpu_seconds(janus_pid)
    seconds = time.monotonic() - started
    workers_after, after = pool.snapshot()

    rid = LAYER_RIDS[substream]
    expected_pps = _rate(sent_after, sent_before, rid, "packets", seconds) + _rate(
        sent_after, sent_before, "audio", "packets", seconds
    )
    rates_kbps = []
    rates_pps = []
    at_rate = 0
    lost = expected = 0
    decrypted = 0
    for old, new in zip(before, after, strict=False):
        if not new[0]:
            continue
        rates_kbps.append((new[1] - old[1]) * 8 / seconds / 1000)
        rates_pps.append((new[2] - old[2]) / seconds)
        if rates_pps[-1] >= EXPECTED_RATE_SHARE * expected_pps > 0:
            at_rate += 1
        expected += new[3] - old[3]
        lost += (new[3] - old[3]) - (new[4] - old[4])
        decrypted += new[5] > 0
    connected = len(rates_kbps)
    layers = {
        key: {
            "kbps": round(_rate(sent_after, sent_before, key, "bytes", seconds) * 8 / 1000),
            "size": f"{value['width']}x{value['height']}" if value.get("width") else None,
            "fps": value.get("fps"),
            "limited_by": value.get("limited_by"),
        }
        for key, value in sent_after.items()
    }
    return {
        "watchers": pool.count,
        "substream": substream,
        "connected": connected,
        "decrypted": decrypted,
        "receiving": sum(rate > 0 for rate in rates_pps),
        "janus_cpu_cores": round((cpu_after - cpu_before) / seconds, 4),
        "janus_rss_mb": round(process_rss_bytes(janus_pid) / 2**20, 1),
        "egress_mbps": round(sum(rates_kbps) / 1000, 2),
        "egress_pps": round(sum(rates_pps)),
        "watcher_kbps_median": round(statistics.median(rates_kbps), 1) if rates_kbps else 0.0,
        "watcher_pps_median": round(statistics.median(rates_pps), 1) if rates_pps else 0.0,
        "presenter_pps_expected": round(expected_pps, 1),
        "at_expected_rate": round(at_rate / connected, 3) if connected else 0.0,
        "packet_loss": round(lost / expected, 5) if expected else None,
        "watchers_cpu_cores": round((workers_after - workers_before) / seconds, 3),
        "presenter_layers": layers,
        "loadavg_1m": os.getloadavg()[0],
    }


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: (slope, intercept) of y over x."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return slope, mean_y - slope * mean_x


def healthy(step: dict[str, Any]) -> bool:
    """Janus kept up: the presenter still sends the watched layer at the rate its encoder
    chose (an SFU that falls behind delays the publisher's packets, and the browser's
    bandwidth estimate then switches the top layer off), and 90% of the watchers get it."""
    watched = step["presenter_layers"].get(LAYER_RIDS[step["substream"]], {})
    return (
        step["connected"] > 0
        and watched.get("limited_by") != "bandwidth"
        and step["at_expected_rate"] >= EXPECTED_RATE_SHARE
    )


def sizing(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Janus' CPU per watcher, extrapolated to a 2-core host at 70%.

    Janus' work is per packet it forwards (SRTP encryption and a send per watcher), and on a
    loaded machine the presenter's encoder may fall behind at some steps (fewer frames on the
    top layer), so the line is fitted through Janus' CPU over the packets it sent per second;
    a watcher's cost is that per-packet CPU times the packets a watcher receives at the full
    720p rate (the step whose watchers received the most)."""
    measured = [s for s in steps if healthy(s)]
    if len(measured) < 2:
        return {}
    per_packet, base = fit_line([(float(s["egress_pps"]), s["janus_cpu_cores"]) for s in measured])
    full_rate = max(measured, key=lambda s: s["watcher_kbps_median"])
    per_watcher = per_packet * full_rate["watcher_pps_median"]
    if per_watcher <= 0:
        return {}
    carried = int((HOST_CORES * CPU_BUDGET - base) / per_watcher)
    by_count, _ = fit_line([(float(s["connected"]), s["janus_cpu_cores"]) for s in measured])
    saturated = [s["watchers"] for s in steps if not healthy(s)]
    return {
        "healthy_steps": [s["watchers"] for s in measured],
        "first_unhealthy_step": saturated[0] if saturated else None,
        "janus_cpu_us_per_packet": round(per_packet * 1e6, 2),
        "janus_cpu_base_cores": round(base, 4),
        "watcher_pps_full_rate": full_rate["watcher_pps_median"],
        "watcher_kbps_full_rate": full_rate["watcher_kbps_median"],
        "janus_cpu_per_watcher_millicores": round(per_watcher * 1000, 3),
        "janus_cpu_per_watcher_millicores_unnormalised": round(by_count * 1000, 3),
        "watchers_per_janus_core": int(1 / per_watcher),
        "watchers_2_core_host_at_70pct": carried,
        "nic_mbps_at_that_count": round(carried * full_rate["watcher_kbps_median"] / 1000),
        "note": "extrapolated from Janus' measured CPU per forwarded packet (least squares over "
        "the steps) at a full-rate watcher's packets per second",
    }


async def run(
    *,
    steps: list[int],
    window: float,
    settle: float,
    workers: int,
    substream: int,
    event_loops: int = 0,
) -> dict[str, Any]:
    """Start Janus, a room, the presenter and the watcher workers; measure every step."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from django.test import override_settings
    from playwright.async_api import async_playwright

    from apps.calls import janus as janus_api

    raise_open_files_limit()
    janus = BenchJanus(rtp_ports=(20000, 40000), event_loops=event_loops)
    janus.start()
    results: list[dict[str, Any]] = []
    pool: WatcherPool | None = None
    try:
        assert janus.process is not None
        subscription = Subscription(
            room=secrets.randbelow(1 << 40) + 1,
            pin=secrets.token_hex(8),
            feed=secrets.randbelow(1 << 40) + 1,
            substream=substream,
        )
        token = secrets.token_urlsafe(24)
        with override_settings(**janus.settings()):
            janus_api.room_create(
                room=subscription.room,
                pin=subscription.pin,
                secret=secrets.token_hex(8),
                description="watchers benchmark",
                publishers=6,
            )
            janus_api.token_add(token)
        pool = WatcherPool(workers, janus.public_url, token, subscription)
        async with async_playwright() as playwright:
            page = await start_presenter(playwright, janus, token, subscription)
            await asyncio.sleep(settle)
            for count in steps:
                connected = await asyncio.to_thread(pool.grow_to, count)
                await asyncio.sleep(settle)
                step = await measure_step(
                    pool=pool,
                    page=page,
                    janus_pid=janus.process.pid,
                    substream=substream,
                    window=window,
                )
                results.append(step)
                print(
                    f"watchers={step['watchers']} connected={connected} "
                    f"janus_cpu={step['janus_cpu_cores']} rss={step['janus_rss_mb']}MB "
                    f"egress={step['egress_mbps']}Mbit/s ({step['egress_pps']} packets/s) "
                    f"presenter_720p_fps={step['presenter_layers'].get('h', {}).get('fps')} "
                    f"healthy={healthy(step)} at_rate={step['at_expected_rate']} "
                    f"loss={step['packet_loss']} load={step['loadavg_1m']}",
                    file=sys.stderr,
                    flush=True,
                )
                if not healthy(step):
                    break  # past what Janus carries on this machine
    finally:
        if pool is not None:
            await asyncio.to_thread(pool.stop)
        janus.cleanup()
    return {
        "machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg()},
        "substream": substream,
        "event_loops": event_loops,
        "steps": results,
        "sizing": sizing(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="25,50,100,200,300", help="watcher counts, rising")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per step")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after joining")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--substream", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument(
        "--event-loops",
        type=int,
        default=0,
        help="Janus' event_loops (0: a thread per handle, as deployed; N: N shared loops)",
    )
    options = parser.parse_args()
    summary = asyncio.run(
        run(
            steps=[int(n) for n in options.steps.split(",")],
            window=options.window,
            settle=options.settle,
            workers=options.workers,
            substream=options.substream,
            event_loops=options.event_loops,
        )
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
