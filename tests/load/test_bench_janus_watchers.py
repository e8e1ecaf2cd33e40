"""The Janus watchers benchmark stays runnable: one presenter, three watchers, a few seconds."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.load import bench_janus_watchers

pytestmark = [pytest.mark.janus, pytest.mark.browser]


def test_every_watcher_completes_dtls_and_receives_the_presenters_media() -> None:
    # A thread of its own: the suite may already run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(
            asyncio.run,
            bench_janus_watchers.run(steps=[3], window=3.0, settle=2.0, workers=1, substream=2),
        ).result()

    [step] = summary["steps"]
    assert step["connected"] == 3
    assert step["decrypted"] == 3  # SRTP with the keys of a real DTLS handshake
    assert step["receiving"] == 3
    assert step["egress_mbps"] > 0
    assert step["janus_cpu_cores"] > 0
    assert set(step["presenter_layers"]) == {"audio", "h", "m", "l"}  # the web client's layers


def test_the_presenter_sends_the_web_clients_simulcast_layers() -> None:
    layers = bench_janus_watchers.web_client_simulcast()

    assert [layer["rid"] for layer in layers] == ["h", "m", "l"]
    assert all(layer["maxBitrate"] > 0 for layer in layers)
