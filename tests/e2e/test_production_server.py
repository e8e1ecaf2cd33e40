"""The production ASGI server (uvicorn with uvloop, httptools and websockets-sansio, as in the
README and requirements/production.txt) runs the same application as daphne: REST, the
WebSocket protocol and live delivery between two users, over real sockets."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.asyncio.client import connect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer


def _post(url: str, data: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - a loopback test server
        url, data=json.dumps(data).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _token(server: LiveServer, username: str) -> str:
    answer = _post(
        f"{server.url}/api/v1/auth/token/",
        {"username": username, "password": DEMO_PASSWORD, "name": f"e2e-{uuid.uuid4()}"},
    )
    return str(answer["token"])


async def _frames_until(ws: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame


def test_two_users_talk_through_uvicorn(uvicorn_server: LiveServer) -> None:
    alice, bob = _token(uvicorn_server, "alice"), _token(uvicorn_server, "bob")
    users = {u["username"]: u["id"] for u in _get_users(uvicorn_server, alice)}
    channel = _post(
        f"{uvicorn_server.url}/api/v1/channels/",
        {"name": f"uv-{uuid.uuid4().hex[:8]}", "kind": "private", "member_ids": [users["bob"]]},
        alice,
    )
    ws_url = uvicorn_server.url.replace("http://", "ws://") + "/ws/"

    burst = 40

    async def talk() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Bob's tab asks for compression, which production turns off: his events, like those
        # of a client that never asks, arrive as the frames written once for every socket.
        async with (
            connect(f"{ws_url}?token={alice}", compression=None) as ws_alice,
            connect(f"{ws_url}?token={bob}", compression="deflate") as ws_bob,
        ):
            await _frames_until(ws_alice, "hello")
            await _frames_until(ws_bob, "hello")
            assert not ws_bob.protocol.extensions
            # A burst, sent without waiting: several frames per socket leave in one write
            # (apps/core/wsframes.Cork), and each must still arrive whole and in order.
            for ref in range(burst):
                frame = {
                    "v": 1,
                    "type": "message.send",
                    "ref": ref,
                    "channel_id": channel["id"],
                    "body": f"over uvicorn {ref}",
                    "client_msg_id": str(uuid.uuid4()),
                }
                await ws_alice.send(json.dumps(frame))
            acks = [await _frames_until(ws_alice, "ack") for _ in range(burst)]
            pushed = [await _frames_until(ws_bob, "message.new") for _ in range(burst)]
            return acks, pushed

    # A thread of its own: Playwright's loop may be marked running in this one (browser tests).
    with ThreadPoolExecutor(1) as pool:
        acks, pushed = pool.submit(asyncio.run, talk()).result()

    assert [ack["ref"] for ack in acks] == list(range(burst))
    assert [p["message"]["id"] for p in pushed] == [ack["message_id"] for ack in acks]
    assert [p["message"]["body"] for p in pushed] == [f"over uvicorn {n}" for n in range(burst)]
    assert [p["channel_seq"] for p in pushed] == [ack["seq"] for ack in acks]
    assert [ack["seq"] for ack in acks] == list(range(acks[0]["seq"], acks[0]["seq"] + burst))


def _get_users(server: LiveServer, token: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - a loopback test server
        f"{server.url}/api/v1/users/?limit=500", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = json.loads(response.read())
    return list(body["results"] if isinstance(body, dict) else body)
