"""A 1:1 video call between two browsers, relayed through a real coturn.

Its own Enclave (daphne, the demo company, the `calls` flag on) whose ICE servers point at a
throwaway coturn on loopback (tests/calls/turn_server.py) with iceTransportPolicy "relay":
the browsers gather relay candidates only, so reaching RTCPeerConnection's "connected" proves
that the TURN credentials Enclave issued got both of them an allocation and that media flows
through TURN. Chromium runs with fake camera and microphone and no permission prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

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

pytestmark = [pytest.mark.browser, pytest.mark.turn]

SECRET = "enclave-e2e-turn-secret"
# ICE through the relay on a loaded 2-core CI machine (the deploy tests converge beside it).
CONNECT_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def coturn() -> Iterator[TurnServer]:
    if not turnserver_installed():
        pytest.skip("[turn] needs coturn's turnserver (apt-get install coturn)")
    server = TurnServer(secret=SECRET)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def calls_server(
    tmp_path_factory: pytest.TempPathFactory, coturn: TurnServer
) -> Iterator[LiveServer]:
    env = {
        "ENCLAVE_TURN_SECRET": SECRET,
        "ENCLAVE_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp",
        "ENCLAVE_CALL_ICE_TRANSPORT_POLICY": "relay",
    }
    with own_server(tmp_path_factory, "e2e-calls", env=env, shell=flag_on("calls")) as server:
        yield server


@pytest.fixture(scope="module")
def call_browser(playwright: Any, calls_server: LiveServer) -> Iterator[Any]:
    # A Chromium of its own (fake camera and microphone), from the worker's one Playwright.
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ],
    )
    yield chromium
    chromium.close()


@pytest.fixture
def open_tab(
    call_browser: Any, calls_server: LiveServer
) -> Iterator[Callable[[str, int], AppPage]]:
    tabs = ChannelTabs(call_browser)
    yield lambda username, channel_id: tabs.open(calls_server.url, username, channel_id)
    tabs.close_and_check()


@pytest.fixture
def dm_of(call_browser: Any, calls_server: LiveServer) -> Iterator[Callable[[str, str], int]]:
    """The DM of two demo people. Each test calls between people of its own, so that a call
    one test leaves behind (a failure before the hang-up) cannot make the next one `busy`."""
    context = call_browser.new_context()

    def dm(caller: str, callee: str) -> int:
        api = Api(context.request, calls_server.url, caller)
        return int(api.post("direct/", {"user_ids": [api.user_id(callee)]})["id"])

    yield dm
    context.close()


@pytest.fixture
def dm_id(dm_of: Callable[[str, str], int]) -> int:
    return dm_of("bob", "carol")


def what_happened(coturn: TurnServer, *tabs: AppPage) -> str:
    """coturn's log (why ICE found no relay path) and each tab's signalling and console."""
    lines = [f"coturn's log:\n{coturn.log_tail(60)}"]
    for tab in tabs:
        panel = tab.page.evaluate("() => ({...document.querySelector('#call-panel').dataset})")
        said = [line for line in tab.journal if '"call.' in line or "console." in line]
        lines.append(f"{tab.username}: panel {panel}\n" + "\n".join(said[-40:]))
    return "\n".join(lines)


def test_a_video_call_connects_through_turn_and_ends_for_both(
    open_tab: Callable[[str, int], AppPage], dm_id: int, coturn: TurnServer
) -> None:
    bob, carol = open_tab("bob", dm_id), open_tab("carol", dm_id)

    bob.page.click("#call-video")
    carol.page.wait_for_selector('#call-panel[data-state="ringing"]')
    assert "Bob Smith" in carol.page.inner_text("#call-status")
    carol.page.click("#call-accept")

    for tab in (bob, carol):
        try:
            tab.page.wait_for_selector(
                '#call-panel[data-connection="connected"]', timeout=CONNECT_TIMEOUT_MS
            )
        except Exception as error:
            raise AssertionError(f"not connected; {what_happened(coturn, bob, carol)}") from error
        assert tab.page.get_attribute("#call-panel", "data-state") == "connected"
    # Relay only: both browsers were given a TURN allocation by coturn with Enclave's credentials.
    assert coturn.log_tail(lines=500).count("ALLOCATE processed, success") >= 2
    # The fake camera's frames arrive on the other side.
    carol.page.wait_for_function(
        "() => document.querySelector('#call-remote-video').videoWidth > 0",
        timeout=CONNECT_TIMEOUT_MS,
    )

    bob.page.click("#call-hangup")

    carol.page.wait_for_selector('#call-panel[data-state="ended"]')
    assert bob.page.get_attribute("#call-panel", "data-state") == "ended"
    carol.message("Video call ended").wait_for()


def test_a_call_whose_relay_restarts_reconnects_by_itself(
    open_tab: Callable[[str, int], AppPage],
    dm_of: Callable[[str, str], int],
    coturn: TurnServer,
) -> None:
    """The relay goes away under a connected call (a TURN server restarted: every allocation is
    lost, as when a laptop changes network): both sides restart ICE and the call goes on."""
    dm_id = dm_of("zhangwei", "wangfang")
    zhang, wang = open_tab("zhangwei", dm_id), open_tab("wangfang", dm_id)
    zhang.page.click("#call-audio")
    wang.page.wait_for_selector('#call-panel[data-state="ringing"]')
    wang.page.click("#call-accept")
    for tab in (zhang, wang):
        tab.page.wait_for_selector(
            '#call-panel[data-connection="connected"]', timeout=CONNECT_TIMEOUT_MS
        )

    coturn.stop()
    coturn.start()

    try:
        zhang.page.wait_for_selector("#call-panel[data-ice-restarts]", timeout=CONNECT_TIMEOUT_MS)
        for tab in (zhang, wang):
            tab.page.wait_for_selector(
                '#call-panel[data-state="connected"][data-connection="connected"]',
                timeout=CONNECT_TIMEOUT_MS,
            )
    except Exception as error:
        raise AssertionError(f"not reconnected; {what_happened(coturn, zhang, wang)}") from error
    zhang.page.click("#call-hangup")
    wang.page.wait_for_selector('#call-panel[data-state="ended"]')


def test_a_declined_call_ends_for_the_caller(
    open_tab: Callable[[str, int], AppPage], dm_of: Callable[[str, str], int]
) -> None:
    dm_id = dm_of("alice", "lina")
    alice, lina = open_tab("alice", dm_id), open_tab("lina", dm_id)

    alice.page.click("#call-audio")
    lina.page.wait_for_selector('#call-panel[data-state="ringing"]')
    lina.page.click("#call-decline")

    alice.page.wait_for_selector('#call-panel[data-state="ended"]')
    assert "declined" in alice.page.inner_text("#call-status")
    alice.message("Declined call").wait_for()
