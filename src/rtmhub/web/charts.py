"""Geometry of the server-rendered SVG charts (templates/charts.html draws them): the line chart of units per
day and the legend layout the dashboard's bar charts share. Numbers and dates are said in the page's
language through the page context's Babel helpers; no script runs in the browser (the CSP forbids inline
script, and a chart that needs none works everywhere)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import Request

from rtmhub.db import utcnow
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.usage.summary import UsageOverview
from rtmhub.web.support import ENV, Ctx

WIDTH = 720
PLOT_HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 34, 12, 34  # room for the y labels on the left and the dates below
PALETTE = 8  # .series-0 … .series-7 in rtmhub.css; more series than that reuse the colours
CHAR_WIDTH = 7.0  # an estimate of a 12px label's character width, for laying the legend out
LEGEND_ROW = 20
X_TICKS = 6


@dataclass(frozen=True)
class LegendItem:
    css: str
    label: str
    x: float
    y: float


def legend_layout(items: Sequence[tuple[str, str]], width: float = WIDTH) -> list[LegendItem]:
    """Swatch positions for ``(css class, label)`` items, left to right, wrapping into rows."""
    placed: list[LegendItem] = []
    x = y = 0.0
    for css, label in items:
        span = 16 + len(label) * CHAR_WIDTH + 20
        if x > 0 and x + span > width:
            x, y = 0.0, y + LEGEND_ROW
        placed.append(LegendItem(css, label, x, y))
        x += span
    return placed


def legend_height(items: Sequence[LegendItem]) -> float:
    return (max(i.y for i in items) + LEGEND_ROW) if items else 0.0


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    css: str
    points: str  # the polyline's "x,y x,y …"
    units: tuple[int, ...]
    peak: int
    last: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: float
    left: float
    top: float
    right: float
    bottom: float
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[LegendItem]
    legend_top: float
    first_day: date
    last_day: date
    days: list[date]


def nice_step(peak: int, most: int = 5) -> int:
    """The smallest step of 1, 2 or 5 times a power of ten that covers ``peak`` in at most ``most`` steps."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if peak <= m * base * most:
                return m * base
        base *= 10


def line_chart(ctx: Ctx, first_day: date, count: int,
               series: Sequence[tuple[str, str, Sequence[int]]]) -> LineChart:
    """One line per ``(key, label, units per day)`` over the ``count`` days from ``first_day``."""
    count = max(count, 1)
    days = [first_day + timedelta(days=i) for i in range(count)]
    right, bottom = WIDTH - RIGHT, TOP + PLOT_HEIGHT - BOTTOM
    peak = max((max(units, default=0) for _k, _l, units in series), default=0)
    step = nice_step(max(peak, 1))
    top_value = step * -(-max(peak, 1) // step)

    def x(i: int) -> float:
        return LEFT + (right - LEFT) * (i / (count - 1) if count > 1 else 0.5)

    def y(value: int) -> float:
        return bottom - (bottom - TOP) * value / top_value

    lines = []
    for n, (key, label, units) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(units))
        lines.append(Line(key=key, label=label, css=f"series-{n % PALETTE}", points=points, units=tuple(units),
                          peak=max(units, default=0), last=units[-1] if units else 0))
    y_ticks = [Tick(y(v), ctx.num(v)) for v in range(0, top_value + 1, step)]
    marks = sorted({round(i * (count - 1) / (X_TICKS - 1)) for i in range(X_TICKS)}) if count > 1 else [0]
    x_ticks = [Tick(x(i), ctx.day(days[i], "MMMd")) for i in marks]
    legend = legend_layout([(line.css, line.label) for line in lines], WIDTH - LEFT)
    legend_top = TOP + PLOT_HEIGHT + 4
    return LineChart(width=WIDTH, height=legend_top + legend_height(legend) + 4, left=LEFT, top=TOP, right=right,
                     bottom=bottom, lines=lines, x_ticks=x_ticks, y_ticks=y_ticks, legend=legend,
                     legend_top=legend_top, first_day=days[0], last_day=days[-1], days=days)


# --- the usage charts' period and series ------------------------------------------------------

PERIODS = (30, 90, 365)  # ?days= choices; 90 by default (a quarter: what a partner reconciles against)
DEFAULT_DAYS = 90


def usage_period(request: Request) -> tuple[int, date, date]:
    """The chosen number of days and the period they cover, ending today (UTC, so far): the chart shows
    the day in progress too, while billing reports cover finished days only (R50)."""
    try:
        days = int(request.query_params.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    days = days if days in PERIODS else DEFAULT_DAYS
    end = utcnow().date()
    return days, end - timedelta(days=days - 1), end


def usage_chart(ctx: Ctx, usage: UsageOverview) -> LineChart:
    """One line per package of ``usage``: units in use per day."""
    series = [(s.package, display_name(s.package), s.units) for s in usage.series]
    return line_chart(ctx, usage.first_day, usage.days, series)


ENV.globals["legend_layout"] = legend_layout
ENV.globals["legend_height"] = legend_height
