"""Bar charts as inline SVG, rendered on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 48
PAD_BOTTOM = 22
PAD_TOP = 10


def bar_chart(
    *, title: str, labels: Sequence[str], values: Sequence[float], label_every: int = 1
) -> SafeString:
    """An accessible SVG bar chart: a <title>, one <rect> per value with its own <title>
    (the tooltip), the maximum on the axis and every `label_every`th label below."""
    count = max(len(values), 1)
    top = max(values, default=0) or 1
    plot_width = WIDTH - PAD_LEFT
    plot_height = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_width / count
    bar = max(slot * 0.8, 1)
    parts = [
        format_html(
            '<svg class="analytics-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
            'xmlns="http://www.w3.org/2000/svg"><title>{}</title>',
            WIDTH,
            HEIGHT,
            title,
            title,
        ),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/>'
            '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>'
            '<text x="{}" y="{}" font-size="10" text-anchor="end">0</text>',
            PAD_LEFT,
            HEIGHT - PAD_BOTTOM,
            WIDTH,
            HEIGHT - PAD_BOTTOM,
            PAD_LEFT - 4,
            PAD_TOP + 8,
            _number(top),
            PAD_LEFT - 4,
            HEIGHT - PAD_BOTTOM,
        ),
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_height * value / top
        x = PAD_LEFT + index * slot + (slot - bar) / 2
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#2f6f9f">'
                "<title>{}: {}</title></rect>",
                f"{x:.1f}",
                f"{HEIGHT - PAD_BOTTOM - height:.1f}",
                f"{bar:.1f}",
                f"{height:.1f}",
                label,
                _number(value),
            )
        )
        if index % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text>',
                    f"{x + bar / 2:.1f}",
                    HEIGHT - 6,
                    label,
                )
            )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 - parts escaped above


def _number(value: float) -> str:
    return escape(f"{value:g}" if isinstance(value, float) else str(value))
