"""Small charts as inline SVG, drawn on the server: no JavaScript, no CDN, nothing to download.

The SVG scales to its container (a viewBox and width 100%), so it reads on a phone in the field as
on a desk. Every bar carries a <title>, the browser's tooltip; to a screen reader the chart is one
image (role="img") told by its title and a description that sums it up. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# A small viewBox, so that text stays legible when a phone shrinks the chart to its width.
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 26  # room for the y labels and the x labels
FONT = 12  # in viewBox units
MAX_BAR = 40
BAR_FILL = "#8a4b12"
GRID = "#d8ddd9"
INK = "#5b6661"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_STEPS = (1, 2, 3, 6)  # label every this many months, counted from a January


@dataclass(frozen=True)
class Bar:
    value: int
    tooltip: str  # what hovering over the bar tells
    axis_label: str = ""  # shown under the bar when not empty


def bar_chart(bars: Sequence[Bar], *, title: str, description: str, chart_id: str) -> Markup:
    """A vertical bar chart of non-negative whole numbers, as an inline <svg> element.

    `chart_id` must be unique on the page: the title and description hang off it.
    """
    ticks = y_ticks(max((b.value for b in bars), default=0))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    slot = plot_w / max(len(bars), 1)
    gap = min(slot * 0.2, 4.0) if slot > 3 else 0.0
    bar_w = min(slot - gap, MAX_BAR)
    ident = escape(chart_id)
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" '
            'width="100%" role="img" aria-labelledby="{id}-title {id}-desc" '
            'font-size="{font}">'
        ).format(w=WIDTH, h=HEIGHT, id=ident, font=FONT),
        Markup('<title id="{id}-title">{t}</title>').format(id=ident, t=title),
        Markup('<desc id="{id}-desc">{d}</desc>').format(id=ident, d=description),
        Markup('<g class="y-axis" fill="{ink}" text-anchor="end">').format(ink=INK),
    ]
    for tick in ticks:
        y = base - tick / top * plot_h
        parts.append(
            Markup(
                '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{grid}"/>'
                '<text x="{tx}" y="{ty}">{label}</text>'
            ).format(
                x1=LEFT,
                x2=WIDTH - RIGHT,
                y=_n(y),
                grid=GRID,
                tx=LEFT - 6,
                ty=_n(y + FONT * 0.35),
                label=f"{tick:,}",
            )
        )
    parts.append(Markup('</g><g class="bars">'))
    for i, bar in enumerate(bars):
        x = LEFT + i * slot
        height = max(bar.value, 0) / top * plot_h
        parts.append(
            Markup(
                '<g class="bar-slot"><title>{tip}</title>'
                '<rect class="hit" x="{x}" y="{top}" width="{slot}" height="{plot_h}" '
                'fill="transparent"/>'
                '<rect class="bar" x="{bx}" y="{by}" width="{bw}" height="{bh}" fill="{fill}" '
                'data-value="{value}"/></g>'
            ).format(
                tip=bar.tooltip,
                x=_n(x),
                top=TOP,
                slot=_n(slot),
                plot_h=plot_h,
                bx=_n(x + (slot - bar_w) / 2),
                by=_n(base - height),
                bw=_n(bar_w),
                bh=_n(height),
                fill=BAR_FILL,
                value=bar.value,
            )
        )
    parts.append(Markup('</g><g class="x-axis" fill="{ink}" text-anchor="middle">').format(ink=INK))
    parts.append(
        Markup('<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{ink}"/>').format(
            x1=LEFT, x2=WIDTH - RIGHT, y=base, ink=INK
        )
    )
    for i, bar in enumerate(bars):
        if bar.axis_label:
            parts.append(
                Markup(
                    '<line x1="{x}" x2="{x}" y1="{base}" y2="{tick}" stroke="{ink}"/>'
                    '<text x="{x}" y="{y}">{label}</text>'
                ).format(
                    x=_n(LEFT + (i + 0.5) * slot),
                    base=base,
                    tick=base + 4,
                    ink=INK,
                    y=base + FONT + 6,
                    label=bar.axis_label,
                )
            )
    parts.append(Markup("</g></svg>"))
    return Markup("").join(parts)


def month_chart(
    months: Sequence[tuple[str, int]], *, title: str, what: str, chart_id: str
) -> Markup:
    """Bars for ("YYYY-MM", n) months, in order; `what` names what is counted ("leopard events").

    The axis names a month every one, two, three or six months, or a year every one or more
    years (as many as fit), counted from a January, so the labels fall on the same months
    whatever the first month is.
    """
    step = _month_step(len(months))
    bars = []
    for key, value in months:
        year, month = int(key[:4]), int(key[5:7])
        name = f"{MONTHS[month - 1]} {year}"
        shown = ""
        if (year * 12 + month - 1) % step == 0:
            shown = str(year) if step >= 12 else name
        bars.append(Bar(value, f"{name}: {value:,} {what}", shown))
    return bar_chart(
        bars, title=title, description=describe_months(months, what), chart_id=chart_id
    )


def describe_months(months: Sequence[tuple[str, int]], what: str) -> str:
    """The chart in one sentence, for screen readers: the span, the total and the busiest month."""
    if not months:
        return f"No {what} yet."
    total = sum(n for _, n in months)
    first, last = (_month_name(months[0][0]), _month_name(months[-1][0]))
    text = f"{what.capitalize()} per month from {first} to {last}: {total:,} in all"
    if total:
        busiest, n = max(months, key=lambda m: m[1])
        text += f"; the most, {n:,}, in {_month_name(busiest)}"
    return text + "."


def y_ticks(largest: int, target: int = 4) -> list[int]:
    """Round whole-number ticks from 0 up to at least `largest`: steps of 1, 2 or 5 x 10^k."""
    if largest <= 0:
        return [0, 1]
    raw = largest / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, round(step))
    return list(range(0, math.ceil(largest / step) * step + 1, step))


def _month_step(n: int) -> int:
    """Label every this many months so that labels ("Sep 2025", or "2025") do not overlap."""
    slot = (WIDTH - LEFT - RIGHT) / max(n, 1)
    for step in MONTH_STEPS:
        if step * slot >= _text_width("Sep 2025"):
            return step
    return 12 * math.ceil(_text_width("2025") / (12 * slot))


def _text_width(text: str) -> float:
    """Roughly how wide a label is, with some room either side."""
    return len(text) * FONT * 0.62 + 6


def _month_name(key: str) -> str:
    return f"{MONTHS[int(key[5:7]) - 1]} {key[:4]}"


def _n(x: float) -> str:
    """A coordinate, short: 12, 12.5, 12.33."""
    return f"{x:.2f}".rstrip("0").rstrip(".")
