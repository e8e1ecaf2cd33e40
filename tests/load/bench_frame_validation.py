"""Microseconds per `message.send` frame to validate it: by hand (the consumer's checks before
it shared the REST serializer), through DRF (`validated(MessageSendFrame, frame)`), and through
the serializer's compiled fast path (`FrameValidator`, what the socket runs).

    PYTHONPATH=. .venv/bin/python tests/load/bench_frame_validation.py [--frames N]

`by_hand_and_parsed` adds the UUID parsing the services then did later (the serializer's UUID
fields now do it up front, and the services take the UUIDs as they are). Prints one JSON line
per way, for a plain frame (no thread, no files) and one with two files:
the best of five runs of N frames each, on one core. At the reference peak (1,000 sends a
second on 2 cores) 10 µs a frame is 1 % of one core. docs/architecture/realtime.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from apps.chat import serializers as s  # noqa: E402
from apps.core.api import DB_INT_MAX, DB_INT_MIN, validated  # noqa: E402
from apps.core.inputs import FrameValidator  # noqa: E402


def _is_db_int(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and DB_INT_MIN <= value <= DB_INT_MAX
    )


def by_hand(frame: dict[str, Any]) -> dict[str, Any]:
    """The consumer's `_send_request` checks as they were (a frozen copy, for comparison)."""
    client_msg_id = frame.get("client_msg_id")
    if client_msg_id is None or client_msg_id == "":
        raise ValueError("client_msg_id_required")
    channel_id, body = frame.get("channel_id"), frame.get("body")
    thread_root_id, attachment_ids = frame.get("thread_root_id"), frame.get("attachment_ids")
    if not _is_db_int(channel_id) or not isinstance(body, str):
        raise ValueError("invalid_field")
    if not isinstance(client_msg_id, str):
        raise ValueError("invalid_field")
    if thread_root_id is not None and not _is_db_int(thread_root_id):
        raise ValueError("invalid_field")
    if attachment_ids is None:
        attachment_ids = []
    elif not isinstance(attachment_ids, list) or not all(
        isinstance(item, str) for item in attachment_ids
    ):
        raise ValueError("invalid_field")
    return {
        "channel_id": channel_id,
        "body": body,
        "client_msg_id": client_msg_id,
        "thread_root_id": thread_root_id,
        "attachment_ids": attachment_ids,
    }


def by_hand_and_parsed(frame: dict[str, Any]) -> dict[str, Any]:
    """`by_hand` and the UUID parse the send services then did (`_parse_client_msg_id`, the
    files' claim): the same work the serializer's UUID fields now do up front."""
    checked = by_hand(frame)
    checked["client_msg_id"] = uuid.UUID(str(checked["client_msg_id"]))
    checked["attachment_ids"] = [uuid.UUID(str(item)) for item in checked["attachment_ids"]]
    return checked


def _time(check: Callable[[dict[str, Any]], Any], frame: dict[str, Any], frames: int) -> float:
    best = float("inf")
    for _run in range(5):
        started = time.perf_counter()
        for _ in range(frames):
            check(frame)
        best = min(best, time.perf_counter() - started)
    return best / frames * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    plain = {
        "v": 1,
        "type": "message.send",
        "ref": "r1",
        "channel_id": 1234,
        "body": "Did the deploy go out? The dashboard still shows the old build for me.",
        "client_msg_id": str(uuid.uuid4()),
    }
    with_files = {**plain, "attachment_ids": [str(uuid.uuid4()), str(uuid.uuid4())]}
    fast = FrameValidator(s.MessageSendFrame)
    ways: dict[str, Callable[[dict[str, Any]], Any]] = {
        "by_hand": by_hand,
        "by_hand_and_parsed": by_hand_and_parsed,
        "drf_serializer": lambda frame: validated(s.MessageSendFrame, frame),
        "compiled_fast_path": fast,
    }
    for frame_name, frame in (("plain", plain), ("two_files", with_files)):
        for name, check in ways.items():
            micros = _time(check, frame, args.frames)
            print(json.dumps({"frame": frame_name, "way": name, "us_per_frame": round(micros, 2)}))


if __name__ == "__main__":
    main()
