"""Markdown table of harness summaries: `python -m tests.load.harness.table out/*.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    "server",
    "users",
    "connected",
    "rate",
    "sent/s",
    "acks",
    "ack p50/p95/p99 ms",
    "delivery p50/p99 ms",
    "missed",
    "dup",
    "errors",
    "server CPU%",
    "pg CPU%",
    "redis CPU%",
    "gen CPU%",
    "verdict",
)


def _ms(summary: dict[str, Any], *keys: str) -> str:
    return "/".join(
        "–" if summary.get(k) is None else f"{summary[k]:.0f}" for k in (f"{k}_ms" for k in keys)
    )


def row(summary: dict[str, Any]) -> list[str]:
    topology = summary["topology"]
    resources = summary["resources"]
    server_cpu = [v["cpu_pct_send"] for k, v in resources.items() if k.startswith("server-")]
    errors = {**summary["send"]["errors_by_code"], **summary["connections"]["connect_errors"]}
    verdict = "FAIL" if not summary["audit"]["ok"] else ("sat." if summary["saturated"] else "ok")
    return [
        f"{topology['servers']}x {topology['server']}",
        str(summary["data"]["users"]),
        str(summary["connections"]["connected"]),
        f"{summary['send']['target_rate']:.0f}",
        f"{summary['send']['achieved_rate']:.0f}",
        f"{summary['send']['acks']}/{summary['send']['sent']}",
        _ms(summary["latency"]["ack"], "p50", "p95", "p99"),
        _ms(summary["latency"]["delivery"], "p50", "p99"),
        str(summary["deliveries"]["missed"]),
        str(summary["deliveries"]["duplicates"]),
        ", ".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "–",
        " + ".join(f"{c:.0f}" for c in server_cpu),
        f"{resources['postgres']['cpu_pct_send']:.0f}",
        f"{resources['redis']['cpu_pct_send']:.0f}",
        f"{resources['generator']['cpu_pct_send']:.0f}",
        verdict,
    ]


def main(paths: list[str]) -> int:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for path in paths:
        summary = json.loads(Path(path).read_text())
        print("| " + " | ".join(row(summary)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
