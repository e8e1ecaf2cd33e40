"""A uvicorn websockets-sansio protocol as `apps.core.runtime.wsframes.DirectFrames` sees it,
for tests and benchmarks: only the attributes it reads, around a transport of the caller's."""

from __future__ import annotations

import types
from typing import Any

from websockets.protocol import State


def fake_protocol(transport: Any, **state: Any) -> Any:
    """Open, handshake done, no extension, unless `state` says otherwise (`conn_state`,
    `extensions`, or any protocol attribute)."""
    defaults: dict[str, Any] = {
        "handshake_complete": True,
        "close_sent": False,
        "disconnected": False,
    }
    conn = types.SimpleNamespace(
        state=state.pop("conn_state", State.OPEN), extensions=state.pop("extensions", [])
    )
    return types.SimpleNamespace(**{**defaults, **state}, conn=conn, transport=transport)
