"""Small statistics helpers: exact percentiles over collected samples, CPU accounting."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 < fraction <= 1)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples: Iterable[float]) -> dict[str, float | int | None]:
    """count, p50/p95/p99/max and mean of latencies in seconds, reported in milliseconds."""
    values = sorted(samples)
    if not values:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}

    def ms(value: float) -> float:
        return round(value * 1000.0, 2)

    return {
        "count": len(values),
        "mean_ms": ms(sum(values) / len(values)),
        "p50_ms": ms(percentile(values, 0.50)),
        "p95_ms": ms(percentile(values, 0.95)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(values[-1]),
    }


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU use over a wall-clock window; 100 means one core fully busy."""
    if wall_seconds <= 0:
        return 0.0
    return round(100.0 * cpu_seconds / wall_seconds, 1)
