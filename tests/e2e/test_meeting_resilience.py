"""Meetings that survive the network: Chromiums with fake camera and microphone meet through a
real throwaway Janus behind a TCP proxy that the tests cut (a blip: every connection to Janus'
WebSocket drops), on the production server (uvicorn) that the tests restart (a blip of the chat
socket); and a meeting whose media all goes through a throwaway coturn (relay only). Media is
checked as in test_meetings.py: inbound-rtp bytes of each tile's tracks must grow.

The connection quality indicator (static/js/meeting-quality.js): "good" on loopback, and its
thresholds through the module itself in the page.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.calls.janus_server import JanusServer, running_janus
from tests.calls.turn_server import TurnServer, turnserver_installed
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Api,
    AppPage,
    ChannelTabs,
    LiveServer,
    flag_on,
    own_server,
)
from tests.e2e.test_meetings import RECORD_PEER_CONNECTIONS, wait_growing, what_happened

pytestmark = [pytest.mark.browser, pytest.mark.janus]

# The pages' reconnect window on the proxied server: long enough for the blips below, short
# enough that the longer outage ends the meeting within a test's patience.
RECONNECT_SECONDS = 15
BLIP_SECONDS = 5
# Reconnecting: backoff, a new session, publishing again, ICE on a loaded 2-core machine.
RECOVERY_TIMEOUT_MS = 45_000
TURN_SECRET = "enclave-e2e-meeting-turn-secret"

# Whether each open connection of the page sends and receives through a TURN relay: the local
# candidate of its selected pair.
SELECTED_CANDIDATE_TYPES = """
async () => {
  const types = [];
  for (const pc of window.__peerConnections ?? []) {
    if (pc.connectionState !== "connected") continue;
    const report = await pc.getStats();
    for (const stat of report.values()) {
      if (stat.type !== "transport" || !stat.selectedCandidatePairId) continue;
      const pair = report.get(stat.selectedCandidatePairId);
      types.push(report.get(pair.localCandidateId).candidateType);
    }
  }
  return types;
}
"""


class JanusProxy:
    """A TCP proxy in front of Janus' WebSocket. `cut()` drops every connection through it and
    refuses new ones (accepted and closed at once) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.down = threading.Event()
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def public_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return  # closed
            if self.down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self.lock:
            self.connections -= set(sockets)

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            connections = list(self.connections)
        self._drop(*connections)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusServer]:
    with running_janus() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(janus: JanusServer) -> Iterator[JanusProxy]:
    front = JanusProxy(janus.ws_port)
    yield front
    front.close()


@pytest.fixture(scope="module")
def proxied_server(
    tmp_path_factory: pytest.TempPathFactory, janus: JanusServer, proxy: JanusProxy
) -> Iterator[LiveServer]:
    env = {
        **janus.settings(),
        "ENCLAVE_JANUS_PUBLIC_URL": proxy.public_url,
        "ENCLAVE_MEETING_RECONNECT_SECONDS": str(RECONNECT_SECONDS),
    }
    with own_server(
        tmp_path_factory,
        "e2e-meeting-blips",
        env=env,
        shell=flag_on("calls"),
        kind="uvicorn",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def coturn(janus: JanusServer) -> Iterator[TurnServer]:
    if not turnserver_installed():
        pytest.skip("[turn] needs coturn's turnserver (apt-get install coturn)")
    # Relayed addresses where Janus gathers: it takes no loopback candidates.
    server = TurnServer(secret=TURN_SECRET, relay_ip=janus.ice_ip)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def relay_server(
    tmp_path_factory: pytest.TempPathFactory, janus: JanusServer, coturn: TurnServer
) -> Iterator[LiveServer]:
    env = {
        **janus.settings(),
        "ENCLAVE_TURN_SECRET": TURN_SECRET,
        "ENCLAVE_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp",
        "ENCLAVE_CALL_ICE_TRANSPORT_POLICY": "relay",
    }
    with own_server(
        tmp_path_factory, "e2e-meeting-relay", env=env, shell=flag_on("calls"), kind="uvicorn"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def meeting_browser(playwright: Any) -> Iterator[Any]:
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    yield chromium
    chromium.close()


Opener = Callable[[LiveServer, str, int], AppPage]


@pytest.fixture
def open_tab(
    request: pytest.FixtureRequest, meeting_browser: Any, janus: JanusServer
) -> Iterator[Opener]:
    tabs = ChannelTabs(meeting_browser, init_script=RECORD_PEER_CONNECTIONS)
    yield lambda server, username, channel_id: tabs.open(server.url, username, channel_id)
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(what_happened(janus, *tabs.pages))
    tabs.close_and_check()


@pytest.fixture
def api_of(meeting_browser: Any) -> Iterator[Callable[[LiveServer, str], Api]]:
    context = meeting_browser.new_context()

    def api(server: LiveServer, username: str) -> Api:
        return Api(context.request, server.url, username)

    yield api
    context.close()


def meet(
    server: LiveServer,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    host: str,
    *others: str,
) -> tuple[list[AppPage], dict[str, int], int]:
    """`host` starts a video meeting in a new channel of them all; the others join from the
    conversation's bar. The tabs, the user ids by name, and the channel's id."""
    api = api_of(server, host)
    channel_id = int(api.create_channel(members=others, private=True)["id"])
    ids = {name: api.user_id(name) for name in (host, *others)}
    tabs = [open_tab(server, name, channel_id) for name in (host, *others)]
    tabs[0].page.click("#meeting-start")
    tabs[0].page.click("#meeting-start-video")
    tabs[0].page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    for tab in tabs[1:]:
        tab.page.wait_for_selector("#meeting-banner:not([hidden])")
        tab.page.click("#meeting-banner-join")
        tab.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    return tabs, ids, channel_id


def wait_everyone_gets_everyone(tabs: list[AppPage], ids: dict[str, int]) -> None:
    for tab in tabs:
        others = [uid for name, uid in ids.items() if name != tab.username]
        wait_growing(tab, [f"{uid}/camera/{kind}" for uid in others for kind in ("audio", "video")])


def call_of(api: Api, channel_id: int) -> dict[str, Any]:
    live = [call for call in api.get("calls/live/") if call["channel_id"] == channel_id]
    assert len(live) == 1, live
    return dict(live[0])


@pytest.mark.skip(
    reason="known defect, issue Calls: after a blip one side sometimes got no subscription to "
    "the other's camera (no inbound-rtp at all: 1 of about 6 runs, clean-clone CI 2026-12-08, "
    "commit 1a59aba); a probable fix (refreshCall in meeting.js) passed 4 of 4 runs: un-skip "
    "once it passes ten in a row"
)
def test_a_media_server_blip_reconnects_without_leaving_the_meeting(
    proxied_server: LiveServer,
    proxy: JanusProxy,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    janus: JanusServer,
) -> None:
    """Every connection to Janus drops for a few seconds: both pages say "Reconnecting…" and
    keep the meeting on screen, get back in by themselves, and the media flows both ways
    again; each person is in the meeting (and on the other's screen) once. Bob's muted
    microphone stays muted."""
    tabs, ids, channel_id = meet(proxied_server, open_tab, api_of, "alice", "bob")
    alice, bob = tabs
    try:
        wait_everyone_gets_everyone(tabs, ids)
        bob.page.click("#meeting-mic")
        bob.page.wait_for_selector('#meeting-mic[aria-pressed="true"]')

        proxy.cut()
        try:
            for tab in tabs:
                tab.page.wait_for_selector('#meeting-view[data-state="reconnecting"]')
                assert tab.page.locator("#meeting-status").inner_text() == "Reconnecting…"
            time.sleep(BLIP_SECONDS)
            for tab in tabs:
                assert tab.page.locator("#meeting-view").is_visible()
        finally:
            proxy.restore()

        for tab in tabs:
            tab.page.wait_for_selector(
                '#meeting-view[data-state="connected"]', timeout=RECOVERY_TIMEOUT_MS
            )
        wait_growing(alice, [f"{ids['bob']}/camera/video"])
        wait_growing(bob, [f"{ids['alice']}/camera/audio", f"{ids['alice']}/camera/video"])
        assert bob.page.get_attribute("#meeting-mic", "aria-pressed") == "true"
        alice.page.wait_for_selector(
            f'.meeting-tile[data-user-id="{ids["bob"]}"][data-muted="true"]', timeout=15_000
        )
        for tab in tabs:
            for uid in ids.values():
                tiles = f'.meeting-tile[data-user-id="{uid}"][data-kind="camera"]'
                assert tab.page.locator(tiles).count() == 1
        joined = [
            p["user_id"]
            for p in call_of(api_of(proxied_server, "alice"), channel_id)["participants"]
            if p["state"] == "joined"
        ]
        assert sorted(joined) == sorted(ids.values())

        alice.page.click("#meeting-end")
        for tab in tabs:
            tab.page.wait_for_selector("#meeting-view", state="hidden", timeout=15_000)
    except Exception as error:
        raise AssertionError(f"{error}\n{what_happened(janus, *tabs)}") from error


def test_a_chat_socket_blip_leaves_the_meeting_on_and_the_end_still_ends_it(
    proxied_server: LiveServer,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    janus: JanusServer,
) -> None:
    """The chat server restarts under a meeting (every page's /ws/ drops and comes back): the
    media, which goes through Janus, flows on and nobody leaves; the host's end, a push on the
    new socket, closes the others' meeting at once."""
    tabs, ids, _channel_id = meet(proxied_server, open_tab, api_of, "admin", "carol")
    host, carol = tabs
    try:
        wait_everyone_gets_everyone(tabs, ids)
        proxied_server.stop()
        for tab in tabs:
            tab.page.wait_for_selector("#connection-banner", state="visible")
        time.sleep(BLIP_SECONDS)
        proxied_server.start()
        for tab in tabs:
            tab.page.wait_for_selector("#connection-banner", state="hidden", timeout=40_000)
            assert tab.page.get_attribute("#meeting-view", "data-state") == "connected"
        wait_everyone_gets_everyone(tabs, ids)

        host.page.click("#meeting-end")
        carol.page.wait_for_selector("#meeting-view", state="hidden", timeout=15_000)
        assert carol.page.locator("#notices", has_text="The meeting has ended.").count() == 1
    except Exception as error:
        raise AssertionError(f"{error}\n{what_happened(janus, *tabs)}") from error


def test_an_outage_longer_than_the_window_ends_the_meeting_saying_so(
    proxied_server: LiveServer,
    proxy: JanusProxy,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
) -> None:
    (zhang,), _ids, channel_id = meet(proxied_server, open_tab, api_of, "zhangwei")

    proxy.cut()
    try:
        zhang.page.wait_for_selector('#meeting-view[data-state="reconnecting"]')
        # Still trying within the window.
        zhang.page.wait_for_timeout((RECONNECT_SECONDS - 5) * 1000)
        assert zhang.page.locator("#meeting-view").is_visible()
        zhang.page.wait_for_selector(
            "#meeting-view", state="hidden", timeout=(RECONNECT_SECONDS + 15) * 1000
        )
    finally:
        proxy.restore()
    # In Zhang Wei's language (zh-hans): "could not be restored, so you have left it".
    notice = zhang.page.locator("#notices", has_text="无法恢复与会议的连接")
    assert notice.count() == 1
    # The page told the server it left: the meeting (Zhang Wei alone) is over.
    api = api_of(proxied_server, "zhangwei")
    assert [c for c in api.get("calls/live/") if c["channel_id"] == channel_id] == []


@pytest.mark.turn
def test_a_relay_only_meeting_carries_everyones_media_through_turn(
    relay_server: LiveServer,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    janus: JanusServer,
    coturn: TurnServer,
) -> None:
    tabs, ids, _channel_id = meet(relay_server, open_tab, api_of, "alice", "bob", "carol")
    try:
        wait_everyone_gets_everyone(tabs, ids)
        for tab in tabs:
            types = tab.page.evaluate(SELECTED_CANDIDATE_TYPES)
            # One publisher and one subscription, each through the relay.
            assert len(types) >= 2, types
            assert set(types) == {"relay"}, f"{tab.username}: {types}"
        tabs[0].page.click("#meeting-end")
    except Exception as error:
        raise AssertionError(
            f"{error}\ncoturn's log:\n{coturn.log_tail(40)}\n{what_happened(janus, *tabs)}"
        ) from error


@pytest.mark.turn
def test_a_relay_restart_under_a_meeting_is_healed_by_ice_restarts(
    relay_server: LiveServer,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    janus: JanusServer,
    coturn: TurnServer,
) -> None:
    """The TURN server restarts (every allocation is lost, as when a laptop changes network)
    while Janus' socket stays up: the pages restart ICE and the media flows again, in the
    same meeting."""
    tabs, ids, _channel_id = meet(relay_server, open_tab, api_of, "lina", "liuyang")
    try:
        wait_everyone_gets_everyone(tabs, ids)

        coturn.stop()
        coturn.start()

        for tab in tabs:
            tab.page.wait_for_selector("#meeting-view[data-ice-restarts]", timeout=30_000)
        wait_everyone_gets_everyone(tabs, ids)
        for tab in tabs:
            assert tab.page.get_attribute("#meeting-view", "data-state") == "connected"
            assert set(tab.page.evaluate(SELECTED_CANDIDATE_TYPES)) == {"relay"}
            # Healed in the same Janus session: no reconnection was needed.
            created = [line for line in tab.journal if 'ws sent {"janus":"create"' in line]
            assert len(created) == 1, created
        tabs[0].page.click("#meeting-end")
    except Exception as error:
        raise AssertionError(
            f"{error}\ncoturn's log:\n{coturn.log_tail(40)}\n{what_happened(janus, *tabs)}"
        ) from error


def test_the_quality_indicator_says_good_on_loopback(
    proxied_server: LiveServer,
    open_tab: Opener,
    api_of: Callable[[LiveServer, str], Api],
    janus: JanusServer,
    artifacts: Path,
) -> None:
    tabs, ids, _channel_id = meet(proxied_server, open_tab, api_of, "wangfang", "liuyang")
    wang, _liu = tabs
    try:
        wait_everyone_gets_everyone(tabs, ids)
        own = wang.page.locator("#meeting-quality")
        own.and_(wang.page.locator('[data-quality="good"]')).wait_for(timeout=30_000)
        # Wang Fang reads zh-hans: "Your connection: good".
        assert own.get_attribute("aria-label") == "你的连接：良好"
        assert own.get_attribute("title") == "你的连接：良好"
        theirs = wang.page.locator(
            f'.meeting-tile[data-user-id="{ids["liuyang"]}"][data-kind="camera"]'
            ' .meeting-tile-quality[data-quality="good"]'
        )
        theirs.wait_for(timeout=30_000)
        assert theirs.get_attribute("aria-label") == "刘洋 的连接：良好"
        wang.page.screenshot(path=str(artifacts / "meeting-quality.png"))
        wang.page.click("#meeting-end")
    except Exception as error:
        raise AssertionError(f"{error}\n{what_happened(janus, *tabs)}") from error


CLASSIFY = """
async (samples) => {
  const { classify, qualityLabel } = await import("/static/js/meeting-quality.js");
  return samples.map((sample) => {
    const quality = classify(sample);
    return [quality.level, qualityLabel(quality)];
  });
}
"""


def test_the_quality_thresholds_from_measures_to_words(
    proxied_server: LiveServer, open_tab: Opener, api_of: Callable[[LiveServer, str], Api]
) -> None:
    channel_id = int(api_of(proxied_server, "alice").create_channel(members=())["id"])
    page = open_tab(proxied_server, "alice", channel_id).page
    samples = [
        {},
        {"loss": 0.005, "rtt": 0.02, "jitter": 0.004, "outgoingBitrate": 2_000_000, "fps": 30},
        {"loss": 0.12, "rtt": 0.05},
        {"loss": 0.04, "rtt": 0.35},
        {"loss": 0.04, "rtt": 0.7, "jitter": 0.1},
        {"outgoingBitrate": 80_000, "fps": 24},
        {"fps": 7},
    ]

    assert page.evaluate(CLASSIFY, samples) == [
        ["good", "Your connection: good"],
        ["good", "Your connection: good"],
        ["poor", "Your connection: poor (12% packet loss)"],
        ["fair", "Your connection: fair (4% packet loss and 350 ms round-trip time)"],
        ["poor", "Your connection: poor (700 ms round-trip time and 100 ms jitter)"],
        ["poor", "Your connection: poor (only 80 kb/s to send)"],
        ["fair", "Your connection: fair (7 frames per second)"],
    ]
