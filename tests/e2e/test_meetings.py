"""Meetings in the browser: three Chromiums with fake camera and microphone meet through a real
throwaway Janus (tests/calls/janus_server.py), each page talking to Janus' WebSocket itself.

Media is checked with getStats(): every RTCPeerConnection a page makes is recorded by an init
script, and an `inbound-rtp` stat is attributed to the tile (user and camera or screen) whose
<video> plays its track. Waits poll those numbers (generous: ICE and Janus on a loaded 2-core
CI machine); a failure prints what each page saw, and Janus' log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.calls.janus_server import JanusServer, running_janus
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

pytestmark = [pytest.mark.browser, pytest.mark.janus]

# Media through Janus on a loaded 2-core CI machine: ICE, DTLS, the first keyframes.
MEDIA_TIMEOUT_S = 60.0
# What "grows" means between two samples (bytes): a few packets of Opus, a few frames of VP8.
AUDIO_GROWTH = 1_500
VIDEO_GROWTH = 10_000

RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__peerConnections.push(this);
    }
  };
})();
"""

# Bytes received per "<user id>/<camera|screen>/<audio|video>" and sent per kind, over every
# connection of the page that is not closed.
MEDIA_STATS = """
async () => {
  const owners = new Map();
  for (const tile of document.querySelectorAll("#meeting-tiles .meeting-tile")) {
    const stream = tile.querySelector("video").srcObject;
    for (const track of stream?.getTracks() ?? []) {
      owners.set(track.id, `${tile.dataset.userId}/${tile.dataset.kind}`);
    }
  }
  const inbound = {};
  const outbound = {};
  for (const pc of window.__peerConnections ?? []) {
    if (pc.connectionState === "closed") continue;
    for (const stat of (await pc.getStats()).values()) {
      if (stat.type === "inbound-rtp") {
        const owner = owners.get(stat.trackIdentifier);
        if (owner) {
          const key = `${owner}/${stat.kind}`;
          inbound[key] = (inbound[key] ?? 0) + (stat.bytesReceived ?? 0);
        }
      } else if (stat.type === "outbound-rtp") {
        outbound[stat.kind] = (outbound[stat.kind] ?? 0) + (stat.bytesSent ?? 0);
      }
    }
  }
  return { inbound, outbound };
}
"""

# The rids of the video layers the page sends (one connection sends the camera).
SIMULCAST_LAYERS = """
async () => {
  const rids = new Set();
  for (const pc of window.__peerConnections ?? []) {
    if (pc.connectionState === "closed") continue;
    for (const stat of (await pc.getStats()).values()) {
      if (stat.type === "outbound-rtp" && stat.kind === "video" && stat.rid) rids.add(stat.rid);
    }
  }
  return [...rids].sort();
}
"""


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusServer]:
    with running_janus() as server:
        yield server


@pytest.fixture(scope="module")
def meetings_server(
    tmp_path_factory: pytest.TempPathFactory, janus: JanusServer
) -> Iterator[LiveServer]:
    with own_server(
        tmp_path_factory, "e2e-meetings", env=janus.settings(), shell=flag_on("calls")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def meeting_browser(playwright: Any, meetings_server: LiveServer) -> Iterator[Any]:
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


@pytest.fixture
def api(meeting_browser: Any, meetings_server: LiveServer) -> Iterator[Callable[[str], Api]]:
    context = meeting_browser.new_context()
    clients: dict[str, Api] = {}

    def for_user(username: str) -> Api:
        if username not in clients:
            clients[username] = Api(context.request, meetings_server.url, username)
        return clients[username]

    yield for_user
    context.close()


@pytest.fixture
def open_tab(
    request: pytest.FixtureRequest,
    meeting_browser: Any,
    meetings_server: LiveServer,
    janus: JanusServer,
) -> Iterator[Callable[..., AppPage]]:
    tabs = ChannelTabs(meeting_browser, init_script=RECORD_PEER_CONNECTIONS)

    def open_(username: str, channel_id: int, width: int = 1280) -> AppPage:
        return tabs.open(meetings_server.url, username, channel_id, width=width)

    yield open_
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(what_happened(janus, *tabs.pages))
    tabs.close_and_check()


def what_happened(janus: JanusServer, *tabs: AppPage) -> str:
    """Janus' log, and for each tab: the meeting view's state, its tiles, the media stats,
    and what it said and got on its sockets (call.* frames, Janus' frames, the console)."""
    lines = [f"janus' log:\n{janus.log_tail(60)}"]
    for tab in tabs:
        try:
            view = tab.page.evaluate(
                "() => ({...document.querySelector('#meeting-view').dataset,"
                " status: document.querySelector('#meeting-status').textContent,"
                " tiles: [...document.querySelectorAll('.meeting-tile')].map("
                "   t => `${t.dataset.userId}/${t.dataset.kind} muted=${t.dataset.muted}`),"
                " pcs: (window.__peerConnections ?? []).map(pc => pc.connectionState)})"
            )
            stats = media(tab)
        except Exception as error:  # the page may be gone: say so, go on with the others
            view, stats = {"error": str(error)}, {}
        said = [
            line
            for line in tab.journal
            if '"call.' in line or "console." in line or "janus" in line or "videoroom" in line
        ]
        lines.append(f"--- {tab.username}: view {view}\nstats {stats}\n" + "\n".join(said[-60:]))
    return "\n".join(lines)


def media(tab: AppPage) -> dict[str, dict[str, int]]:
    return dict(tab.page.evaluate(MEDIA_STATS))


def wait_growing(tab: AppPage, keys: list[str], *, timeout_s: float = MEDIA_TIMEOUT_S) -> None:
    """Until the inbound bytes of every key grew past their threshold since they first showed
    up (so media is flowing now, not only once)."""
    first: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        inbound = media(tab)["inbound"]
        for key in keys:
            if key in inbound and key not in first:
                first[key] = inbound[key]
        growing = [
            key
            for key in keys
            if key in first
            and inbound.get(key, 0) - first[key]
            >= (AUDIO_GROWTH if key.endswith("audio") else VIDEO_GROWTH)
        ]
        if len(growing) == len(keys):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{tab.username}: media not flowing for {sorted(set(keys) - set(growing))}; "
                f"inbound {inbound}"
            )
        tab.page.wait_for_timeout(500)


def sent_audio_over(tab: AppPage, seconds: float) -> int:
    before = media(tab)["outbound"].get("audio", 0)
    tab.page.wait_for_timeout(int(seconds * 1000))
    return int(media(tab)["outbound"].get("audio", 0) - before)


def outside_360(tab: AppPage) -> list[str]:
    """The meeting view's visible controls and tiles that reach past a 360-px screen."""
    return list(
        tab.page.evaluate(
            """() => [...document.querySelectorAll(
                '#meeting-view button, #meeting-view select, #meeting-view .meeting-tile,'
                + ' #meeting-people li')]
              .filter(e => e.offsetParent !== null)
              .filter(e => {
                const box = e.getBoundingClientRect();
                return box.left < 0 || box.right > 360;
              })
              .map(e => e.id || e.className || e.tagName)"""
        )
    )


@pytest.fixture
def team_channel(api: Callable[[str], Api]) -> Callable[..., tuple[int, dict[str, int]]]:
    def make(host: str, *members: str, private: bool = True) -> tuple[int, dict[str, int]]:
        channel = api(host).create_channel(members=members, private=private)
        ids = {name: api(host).user_id(name) for name in (host, *members)}
        return int(channel["id"]), ids

    return make


def test_three_people_meet_share_a_screen_get_muted_and_one_is_removed(
    open_tab: Callable[..., AppPage],
    team_channel: Callable[..., tuple[int, dict[str, int]]],
    janus: JanusServer,
    artifacts: Path,
) -> None:
    channel_id, ids = team_channel("alice", "bob", "carol")
    alice, bob, carol = (open_tab(name, channel_id) for name in ("alice", "bob", "carol"))
    tabs = {"alice": alice, "bob": bob, "carol": carol}

    alice.page.click("#meeting-start")
    alice.page.click("#meeting-start-video")
    alice.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    live_mark = f'.conversation-link[data-channel-id="{channel_id}"] .meeting-live-mark'
    message_join = ".meeting-message-join"
    for tab in (bob, carol):
        # The others' sidebar and conversation show the meeting going on, with a Join on the
        # bar and on the "Meeting started" message: Bob takes the bar's, Carol the message's.
        tab.page.wait_for_selector(live_mark, state="attached")
        tab.page.wait_for_selector("#meeting-banner:not([hidden])")
        tab.message("Meeting started").locator(message_join).wait_for()
        tab.page.click("#meeting-banner-join" if tab is bob else message_join)
        tab.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)

    try:
        # Each page receives the other two's audio and video.
        for name, tab in tabs.items():
            others = [ids[other] for other in tabs if other != name]
            wait_growing(
                tab, [f"{uid}/camera/{kind}" for uid in others for kind in ("audio", "video")]
            )

        # The camera goes to Janus in three simulcast layers (Chromium supports it).
        assert alice.page.evaluate(SIMULCAST_LAYERS) == ["h", "l", "m"]

        # Alice shares her screen: it reaches both others as a tile of its own.
        alice.page.click("#meeting-screen")
        alice.page.wait_for_selector('#meeting-screen[aria-pressed="true"]')
        for tab in (bob, carol):
            tab.page.wait_for_selector(
                f'.meeting-tile[data-user-id="{ids["alice"]}"][data-kind="screen"]'
            )
            wait_growing(tab, [f"{ids['alice']}/screen/video"])
        # Speaker view: the shared screen is the large tile.
        bob.page.click("#meeting-layout")
        bob.page.wait_for_selector(
            f'#meeting-tiles[data-layout="speaker"] .is-featured[data-user-id="{ids["alice"]}"]'
            '[data-kind="screen"]'
        )
        bob.page.screenshot(path=str(artifacts / "meeting-screen-share.png"))
        # The device picker lists the (fake) microphone and camera in use.
        bob.page.click("#meeting-devices-toggle")
        assert bob.page.locator("#meeting-mic-select option").count() >= 1
        assert bob.page.locator("#meeting-camera-select option").count() >= 1

        # The host mutes everyone: the others' microphones stop sending, and show muted.
        alice.page.click("#meeting-mute-all")
        for name in ("bob", "carol"):
            tabs[name].page.wait_for_selector('#meeting-mic[aria-pressed="true"]')
            assert sent_audio_over(tabs[name], 3) < 200, f"{name} still sends audio"
            alice.page.wait_for_selector(
                f'.meeting-tile[data-user-id="{ids[name]}"][data-kind="camera"][data-muted="true"]',
                timeout=15_000,
            )
        # Alice's own microphone stays on.
        assert alice.page.get_attribute("#meeting-mic", "aria-pressed") == "false"
        assert sent_audio_over(alice, 2) > AUDIO_GROWTH

        # The host removes Carol: her meeting closes and her media stops; her tiles go away.
        alice.page.click("#meeting-people-toggle")
        alice.page.click(f'#meeting-people-list li[data-user-id="{ids["carol"]}"] .meeting-remove')
        carol.page.wait_for_selector("#meeting-view", state="hidden", timeout=15_000)
        assert carol.page.locator("#notices", has_text="removed from the meeting").count() == 1
        carol.page.wait_for_function(
            "() => window.__peerConnections.every(pc => pc.connectionState === 'closed')"
        )
        for tab in (alice, bob):
            tab.page.wait_for_selector(
                f'.meeting-tile[data-user-id="{ids["carol"]}"]', state="detached", timeout=15_000
            )
        # Bob still gets Alice.
        wait_growing(bob, [f"{ids['alice']}/camera/video"])
        # Carol's conversation offers to join again (she is still a member of the channel).
        carol.page.wait_for_selector("#meeting-banner:not([hidden])")

        # The host ends it for everyone.
        alice.page.click("#meeting-end")
        for tab in (alice, bob):
            tab.page.wait_for_selector("#meeting-view", state="hidden", timeout=15_000)
        bob.page.wait_for_selector("#meeting-banner", state="hidden")
        bob.page.wait_for_selector(live_mark, state="detached")
        bob.page.wait_for_selector(message_join, state="detached")
        bob.message("Meeting ended").wait_for()
        assert "Carol Johnson" in bob.message("Meeting ended").inner_text()
    except Exception as error:
        raise AssertionError(f"{error}\n{what_happened(janus, alice, bob, carol)}") from error


def test_a_non_member_sees_no_meeting_and_is_refused(
    open_tab: Callable[..., AppPage],
    api: Callable[[str], Api],
    team_channel: Callable[..., tuple[int, dict[str, int]]],
    artifacts: Path,
) -> None:
    """Zhang Wei's public channel has a meeting going on: Wang Fang (a member, on a phone, in
    Chinese) may join it and sees the whole view within 360 px; Li Na, who only previews the
    channel, gets no join control, and the server refuses her socket's join."""
    channel_id, _ids = team_channel("zhangwei", "wangfang", private=False)
    started = api("zhangwei").post(f"channels/{channel_id}/meetings/", {"media": "audio"})
    call_id = started["call"]["id"]

    wang = open_tab("wangfang", channel_id, width=360)
    wang.page.wait_for_selector("#meeting-banner:not([hidden])")
    wang.page.click("#meeting-banner-join")
    wang.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    # Everything of the view, its participant list and device picker open, fits in 360 px.
    wang.page.click("#meeting-people-toggle")
    wang.page.wait_for_selector("#meeting-people-list li")
    wang.page.screenshot(path=str(artifacts / "meeting-phone-zh-CN.png"))
    assert outside_360(wang) == []
    wang.page.click("#meeting-people-toggle")
    wang.page.click("#meeting-devices-toggle")
    assert outside_360(wang) == []
    wang.page.click("#meeting-leave")
    wang.page.wait_for_selector("#meeting-view", state="hidden")

    lina = open_tab("lina", channel_id)
    lina.page.wait_for_selector("#join-bar:not([hidden])")  # a preview: not a member
    assert lina.page.locator("#meeting-start").is_hidden()
    assert lina.page.locator("#meeting-banner").is_hidden()
    refused = lina.page.evaluate(
        """(callId) => new Promise((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/ws/`);
          ws.onmessage = (event) => {
            const frame = JSON.parse(event.data);
            if (frame.type === "hello") {
              ws.send(JSON.stringify({v: 1, ref: "probe", type: "call.join", call_id: callId}));
            } else if (frame.ref === "probe") {
              ws.close();
              resolve(frame);
            }
          };
        })""",
        call_id,
    )
    assert (refused["type"], refused["code"]) == ("error", "call_not_found")
    api("zhangwei").post(f"calls/{call_id}/hangup/", {})


def test_a_classroom_listener_only_watches_until_the_host_brings_them_on_stage(
    open_tab: Callable[..., AppPage],
    team_channel: Callable[..., tuple[int, dict[str, int]]],
    janus: JanusServer,
) -> None:
    channel_id, ids = team_channel("admin", "liuyang")
    host, listener = open_tab("admin", channel_id), open_tab("liuyang", channel_id)

    host.page.click("#meeting-start")
    host.page.click("#meeting-start-classroom")
    host.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    listener.page.wait_for_selector("#meeting-banner:not([hidden])")
    listener.page.click("#meeting-banner-join")
    listener.page.wait_for_selector('#meeting-view[data-state="connected"]', timeout=30_000)
    try:
        # The listener watches and hears the host, and sends nothing.
        wait_growing(listener, [f"{ids['admin']}/camera/audio", f"{ids['admin']}/camera/video"])
        assert media(listener)["outbound"] == {}
        assert listener.page.locator("#meeting-mic").is_hidden()

        # A raised hand shows in the host's list; the host brings the listener on stage.
        listener.page.click("#meeting-hand")
        host.page.click("#meeting-people-toggle")
        person = f'#meeting-people-list li[data-user-id="{ids["liuyang"]}"]'
        host.page.wait_for_selector(f'{person}[data-hand="raised"]')
        host.page.click(f"{person} .meeting-stage")

        # Now the listener publishes: the host gets their audio and video.
        listener.page.wait_for_selector("#meeting-mic:not([hidden])", timeout=30_000)
        wait_growing(host, [f"{ids['liuyang']}/camera/audio", f"{ids['liuyang']}/camera/video"])
        host.page.wait_for_selector(f'{person}[data-role="presenter"]:not([data-hand])')

        # Back to the audience: their media stops reaching the host.
        host.page.click(f"{person} .meeting-stage")
        host.page.wait_for_selector(
            f'.meeting-tile[data-user-id="{ids["liuyang"]}"]', state="detached", timeout=15_000
        )
        listener.page.wait_for_selector("#meeting-mic", state="hidden")
        host.page.click("#meeting-end")
        listener.page.wait_for_selector("#meeting-view", state="hidden", timeout=15_000)
    except Exception as error:
        raise AssertionError(f"{error}\n{what_happened(janus, host, listener)}") from error
