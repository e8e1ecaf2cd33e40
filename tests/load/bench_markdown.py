"""Throughput of apps.chat.markdown.render_message on typical short chat messages.

Run: PYTHONPATH=. .venv/bin/python tests/load/bench_markdown.py [--messages N]
Prints one JSON line.  The resolver is an in-memory dict, so this measures rendering only.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Mapping

from apps.chat.markdown import MentionTarget, render_message

USERS: dict[str, MentionTarget] = {
    "alice": MentionTarget(user_id=1, display_name="Alice Martin"),
    "bob": MentionTarget(user_id=2, display_name="Bob"),
    "zhangwei": MentionTarget(user_id=3, display_name="张伟"),
    "li.na": MentionTarget(user_id=4, display_name="李娜"),
}

TYPICAL_MESSAGES: tuple[str, ...] = (
    "ok",
    "thanks!",
    "Sounds good, let's ship it :thumbs_up:",
    "@bob can you take a look at the deploy? :eyes:",
    "Meeting moved to 10:30, same room",
    "I think the issue is in `settings.py`, line 42",
    "**Heads up:** the VPN will be down tonight from 22:00 to 23:00",
    "See https://intranet.example.com/wiki/Onboarding for the checklist",
    "@alice @zhangwei please review _before_ Friday",
    "```python\ndef add(a, b):\n    return a + b\n```",
    "- milk\n- eggs\n- ~~bread~~",
    "> did anyone update the certs?\n\nyes, done :white_check_mark:",
    "@all standup in 5 minutes",
    "好的，我下午看一下 :smile:",
    "@zhangwei 明天的会议改到三点了",
    "谢谢@li.na，文档已经更新",
    "这个问题在 `manage.py migrate` 之后就解决了",
    "大家好，今天的发布已经完成 :tada:",
    "1. pull\n2. rebase\n3. push --force-with-lease",
    "@nobody are you there?",
    "mail me at someone@example.com if it breaks again",
    "lol :joy::joy:",
)


def resolve(usernames: set[str]) -> Mapping[str, MentionTarget]:
    return {name: USERS[name] for name in usernames if name in USERS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    random_generator = random.Random(arguments.seed)
    messages = [random_generator.choice(TYPICAL_MESSAGES) for _ in range(arguments.messages)]
    for message in TYPICAL_MESSAGES[:50]:  # warm-up: first-call costs are not steady state
        render_message(message, resolve_usernames=resolve)

    started = time.perf_counter()
    for message in messages:
        render_message(message, resolve_usernames=resolve)
    elapsed = time.perf_counter() - started

    print(
        json.dumps(
            {
                "benchmark": "render_message",
                "messages": len(messages),
                "seconds": round(elapsed, 3),
                "messages_per_second": round(len(messages) / elapsed),
                "microseconds_per_message": round(elapsed / len(messages) * 1_000_000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
