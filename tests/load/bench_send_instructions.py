"""Instructions per message of the send batch path, counted by valgrind: steady on a busy box.

    createdb -h 127.0.0.1 -U postgres enclave_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/enclave_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/enclave_bench \\
        PYTHONPATH=. .venv/bin/python tests/load/bench_send_instructions.py

Runs itself twice under `valgrind --tool=callgrind`, sending 2 and then 12 batches of 200
plain messages (the load harness's kind of body) through `messages_send_batch` in rooms of 10,
and prints the difference of the two instruction counts divided by the 2,000 messages between
them: start-up, imports and warm-up cancel out. Seconds on a shared machine vary with its load
(and a server's batches grow with it); instruction counts do not, so two codes compare on any
day (docs/performance.md, "first cuts"). The publish after commit goes to a stand-in for the
server's real-time hub (its encoding is counted, its Redis round trip is not); PostgreSQL's own
work is in another process and is not counted. Each run takes a minute or two.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BATCH = 200
SIZES = (2, 12)
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"


def send(batches: int) -> None:
    """The counted run: `batches` batches of BATCH messages after one of warm-up."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from apps.chat import services
    from apps.core.runtime import realtime
    from tests.load.bench_send_batch import bench_rooms, random_requests

    class StandInHub:
        """Takes what a server's hub would publish (after `realtime.publish` encoded it)."""

        running = True
        url = realtime.realtime_url()
        channel = realtime.channel_name()

        def publish_threadsafe(self, payload: bytes) -> bool:
            return True

    realtime._hub_list.append(StandInHub())  # type: ignore[arg-type]
    rooms = bench_rooms(users=200, room_size=10)
    randomness = random.Random(1)

    def batch(number: int) -> list[services.SendRequest]:
        return [
            dataclasses.replace(request, body=f"LOADTEST {number}:{index} {FILLER}")
            for index, request in enumerate(random_requests(rooms, BATCH, randomness))
        ]

    services.messages_send_batch(requests=batch(0))
    work = [batch(number) for number in range(1, batches + 1)]
    for requests in work:
        outcomes = services.messages_send_batch(requests=requests)
        if not all(isinstance(o, services.SendResult) and o.created for o in outcomes):
            raise SystemExit(f"a send failed: {outcomes}")


def counted(batches: int) -> int:
    """Instructions of one run of this script with `batches`, under callgrind."""
    with tempfile.TemporaryDirectory() as scratch:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(scratch) / 'callgrind.out'}",
                sys.executable,
                __file__,
                "--send",
                str(batches),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise SystemExit(f"the run of {batches} batches failed:\n{completed.stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--send", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.send:
        send(arguments.send)
        return
    few, many = (counted(size) for size in SIZES)
    messages = (SIZES[1] - SIZES[0]) * BATCH
    print(
        json.dumps(
            {
                "benchmark": "send batch path, instructions per message",
                "instructions_per_message": round((many - few) / messages),
                "messages_counted": messages,
                "batch_size": BATCH,
            }
        )
    )


if __name__ == "__main__":
    main()
