"""The minimal relay of issue #6: the ceiling the socket layer allows on this machine.

A WebSocket server that speaks the part of Enclave's protocol the load harness uses (`hello`,
`message.send` → `ack` then `message.new` to every member of the room, `presence.subscribe`,
`ping`) and nothing else: no database write, no Django, no Redis. `websockets` on uvloop, one
frame serialised per event and handed to every member's socket with `broadcast`. Users,
tokens and rooms are read once at start from the harness's load database.

Run by the harness with `--server relay` (same data set, same generator, same summary; the
audit checks deliveries against the acks, as there are no stored rows), so that Enclave and
the relay are measured side by side on the same machine:

    .venv/bin/python -m tests.load.harness --server relay --users 5000 --rate 1000 ...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import socket
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import psycopg
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

CLOSE_UNAUTHENTICATED = 4401


def load(conninfo: str) -> tuple[dict[str, int], dict[int, list[int]]]:
    """Token digests → user ids, and each room's member ids."""
    with psycopg.connect(conninfo) as conn:
        tokens = dict(
            conn.execute(
                "SELECT digest, user_id FROM accounts_apitoken WHERE revoked_at IS NULL"
            ).fetchall()
        )
        members: dict[int, list[int]] = {}
        for channel_id, user_id in conn.execute(
            "SELECT channel_id, user_id FROM chat_membership ORDER BY channel_id, user_id"
        ):
            members.setdefault(channel_id, []).append(user_id)
    return tokens, members


class Relay:
    def __init__(self, tokens: dict[str, int], members: dict[int, list[int]]) -> None:
        self.tokens = tokens
        self.members = members
        self.member_sets = {room: set(users) for room, users in members.items()}
        self.sockets: dict[int, set[ServerConnection]] = {}
        self.message_ids = itertools.count(1)
        self.seqs: Counter[int] = Counter()

    def health(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/healthz"):
            return connection.respond(200, "ok\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        raw = (query.get("token") or [""])[0]
        user_id = self.tokens.get(hashlib.sha256(raw.encode()).hexdigest())
        if user_id is None:
            await ws.close(CLOSE_UNAUTHENTICATED)
            return
        mine = self.sockets.setdefault(user_id, set())
        mine.add(ws)
        try:
            await ws.send(
                _frame(
                    type="hello",
                    user_id=user_id,
                    connection_id=uuid.uuid4().hex,
                    server_time=time.time(),
                )
            )
            async for raw_frame in ws:
                await self.operation(ws, user_id, orjson.loads(raw_frame))
        finally:
            mine.discard(ws)

    async def operation(self, ws: ServerConnection, user_id: int, frame: dict[str, Any]) -> None:
        kind, ref = frame.get("type"), frame.get("ref")
        if kind == "message.send":
            channel_id = frame.get("channel_id")
            if user_id not in self.member_sets.get(channel_id, ()):  # type: ignore[arg-type]
                await ws.send(_frame(type="error", ref=ref, code="not_member", message=""))
                return
            message_id = next(self.message_ids)
            self.seqs[channel_id] += 1
            seq = self.seqs[channel_id]
            await ws.send(
                _frame(type="ack", ref=ref, message_id=message_id, channel_id=channel_id, seq=seq)
            )
            event = _frame(
                type="message.new",
                channel_id=channel_id,
                channel_seq=seq,
                message={
                    "id": message_id,
                    "channel_id": channel_id,
                    "seq": seq,
                    "client_msg_id": frame.get("client_msg_id"),
                    "sender_id": user_id,
                    "body": frame.get("body", ""),
                },
            )
            broadcast(
                [s for member in self.members[channel_id] for s in self.sockets.get(member, ())],
                event,
            )
        elif kind in ("presence.subscribe", "ping"):
            await ws.send(_frame(type="ack" if kind != "ping" else "pong", ref=ref))


def _frame(**fields: Any) -> str:
    return orjson.dumps({"v": 1, **fields}).decode()


async def serve_on(fd: int, conninfo: str) -> None:
    relay = Relay(*load(conninfo))
    listening = socket.socket(fileno=fd)
    async with serve(
        relay.handle,
        sock=listening,
        process_request=relay.health,
        compression=None,
        max_queue=None,
        ping_interval=20,
        ping_timeout=60,
    ):
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="listening socket to serve on")
    parser.add_argument("--database-url", required=True, help="the harness's load database")
    arguments = parser.parse_args()
    conninfo = arguments.database_url.replace("postgres://", "postgresql://", 1)
    import uvloop

    uvloop.run(serve_on(arguments.fd, conninfo))


if __name__ == "__main__":
    main()
