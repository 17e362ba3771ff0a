"""Small hand-written SVG figures for ``report.html``: a forest plot and a strip plot.

Plain strings rather than a plotting library: ten thousand dots cost milliseconds, the page
needs no image file or network, and every label is escaped here (names come from study
files and may hold anything). Figures scale with their box (``viewBox``); hovering a mark
shows its ``<title>``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

from ..evaluators.plots import short
from .numbers import fmt, fmt_signed

WIDTH = 540
FONT = 13
GRID = "#e4e4e4"
INK = "#222222"
MUTED = "#666666"
BAND = "#e6eef8"
GOLDEN = 0.6180339887498949


def esc(text: object) -> str:
    """Text for an SVG/HTML text node or attribute value."""
    return escape(str(text), quote=True)


def num(x: float) -> str:
    """A coordinate with at most one decimal ("12", "12.5"): short, and precise enough."""
    s = f"{x:.1f}"
    s = s[:-2] if s.endswith(".0") else s
    return "0" if s == "-0" else s


@dataclass
class ForestRow:
    """One contrast: a point estimate and its interval (None: no estimate, say ``note``)."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    color: str
    pooled: bool = False
    title: str = ""
    note: str | None = None
    sub: str = ""          # a second, smaller label line (the scenario)


@dataclass
class StripRow:
    """One condition in one scenario: every run's value, and the mean with its CI."""

    label: str
    color: str
    points: list[tuple[float, str, int]] = field(default_factory=list)  # value, tooltip, run
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    shape: str = "o"
    sub: str = ""


class _Scale:
    """A linear map from data to x pixels over a padded, zero-safe domain."""

    def __init__(self, values: Sequence[float], x0: float, x1: float) -> None:
        vals = [v for v in values if v is not None and math.isfinite(v)]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            pad = abs(hi) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        pad = (hi - lo) * 0.06
        self.lo, self.hi, self.x0, self.x1 = lo - pad, hi + pad, x0, x1

    def __call__(self, v: float) -> float:
        return self.x0 + (v - self.lo) / (self.hi - self.lo) * (self.x1 - self.x0)

    def ticks(self, target: int = 5) -> tuple[list[float], float]:
        raw = (self.hi - self.lo) / target
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if raw <= m * mag * 1.0000001)
        first = math.ceil(self.lo / step - 1e-9)
        out = []
        k = first
        while k * step <= self.hi + 1e-9 * step:
            out.append(k * step)
            k += 1
        return out, step


def tick_text(v: float, step: float) -> str:
    """A tick label with as many decimals as the step needs (0.25 → 2 decimals)."""
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-4:
        return f"{v:.3g}"
    decimals = next((d for d in range(8) if abs(round(step, d) - step) <= step * 1e-6), 8)
    return f"{v:,.{decimals}f}"


def _axis(scale: _Scale, y: float, top: float, label: str, width: int) -> list[str]:
    """Grid lines, tick labels and the axis title below ``y``."""
    ticks, step = scale.ticks()
    out = [f'<g stroke="{GRID}">']
    out += [f'<line x1="{num(scale(t))}" x2="{num(scale(t))}" y1="{num(top)}" '
            f'y2="{num(y)}"/>' for t in ticks]
    out.append(f'</g><line x1="{num(scale.x0)}" x2="{num(scale.x1)}" y1="{num(y)}" '
               f'y2="{num(y)}" stroke="#999"/>')
    out.append(f'<g font-size="11" fill="{MUTED}" text-anchor="middle">')
    out += [f'<text x="{num(scale(t))}" y="{num(y + 14)}">{esc(tick_text(t, step))}</text>'
            for t in ticks]
    out.append("</g>")
    if label:
        out.append(f'<text x="{num((scale.x0 + scale.x1) / 2)}" y="{num(y + 32)}" '
                   f'font-size="12" fill="{INK}" text-anchor="middle">'
                   f'{esc(short(label, width // 7))}</text>')
    return out


def _open(height: float, width: int, label: str) -> str:
    return (f'<svg viewBox="0 0 {width} {num(height)}" '
            f'width="{width}" height="{num(height)}" role="img" aria-label="{esc(label)}" '
            f'font-family="system-ui, sans-serif" font-size="{FONT}">')


def shape(kind: str, x: float, y: float, r: float) -> tuple[str, str]:
    """(opening tag without its ``>``, closing tag) of a marker: o s ^ v D, else a circle."""
    if kind == "s":
        return (f'<rect x="{num(x - r)}" y="{num(y - r)}" width="{num(2 * r)}" '
                f'height="{num(2 * r)}"', "</rect>")
    if kind in ("^", "v", "D"):
        k = 1.25 * r
        pts = {"^": ((0, -k), (k, k * 0.8), (-k, k * 0.8)),
               "v": ((0, k), (k, -k * 0.8), (-k, -k * 0.8)),
               "D": ((0, -k), (k, 0), (0, k), (-k, 0))}[kind]
        d = "M" + "L".join(f"{num(x + dx)} {num(y + dy)}" for dx, dy in pts) + "Z"
        return f'<path d="{d}"', "</path>"
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}"', "</circle>"


def forest(rows: Sequence[ForestRow], *, delta: float | None = None, axis_label: str = "",
           width: int = WIDTH) -> str:
    """Each contrast as a point with its interval; a dashed zero line; ±δ shaded."""
    label_w, text_w, top = 150, 150, 22.0
    two = any(r.sub for r in rows)
    row_h = 36.0 if two else 26.0
    values: list[float] = [0.0]
    for r in rows:
        values += [v for v in (r.estimate, r.low, r.high) if v is not None]
    if delta:
        values += [-abs(delta), abs(delta)]
    scale = _Scale(values, label_w + 12, width - text_w - 8)
    bottom = top + row_h * len(rows) + 4
    out = [_open(bottom + 42, width, f"forest plot: {axis_label}")]
    if delta:
        a, b = scale(-abs(delta)), scale(abs(delta))
        out.append(f'<rect x="{num(a)}" y="{num(top - 4)}" width="{num(b - a)}" '
                   f'height="{num(bottom - top + 4)}" fill="{BAND}"><title>±δ = '
                   f'±{esc(fmt(delta))}: differences inside this band are too small to matter'
                   f'</title></rect>')
        out.append(f'<text x="{num((a + b) / 2)}" y="{num(top - 8)}" font-size="11" '
                   f'fill="{MUTED}" text-anchor="middle">±δ</text>')
    out += _axis(scale, bottom, top - 4, axis_label, width)
    z = scale(0.0)
    out.append(f'<line x1="{num(z)}" x2="{num(z)}" y1="{num(top - 4)}" y2="{num(bottom)}" '
               f'stroke="#555" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{width - 2}" y="{num(top - 8)}" font-size="11" '
               f'fill="{MUTED}" text-anchor="end">estimate [interval]</text>')
    chars = int(label_w / (FONT * 0.56))
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        weight = ' font-weight="700"' if r.pooled else ""
        out.append(f"<g><title>{esc(r.title or r.label)}</title>")
        if r.pooled:
            out.append(f'<rect x="0" y="{num(y - row_h / 2)}" width="{width}" '
                       f'height="{num(row_h)}" fill="#f3f3f3" fill-opacity="0.7"/>')
        dy = -3.0 if r.sub else 4.5
        out.append(f'<text x="4" y="{num(y + dy)}"{weight}>{esc(short(r.label, chars))}</text>')
        if r.sub:
            out.append(f'<text x="4" y="{num(y + 11)}" font-size="11" fill="{MUTED}">'
                       f'{esc(short(r.sub, chars + 4))}</text>')
        if r.estimate is None:
            out.append(f'<text x="{num(scale.x0 + 4)}" y="{num(y + 4.5)}" font-size="12" '
                       f'font-style="italic" fill="{MUTED}">'
                       f'{esc(short("no estimate: " + (r.note or "not enough data"), 40))}'
                       f'</text></g>')
            continue
        if r.low is not None and r.high is not None:
            out.append(f'<line x1="{num(scale(r.low))}" x2="{num(scale(r.high))}" '
                       f'y1="{num(y)}" y2="{num(y)}" stroke="{r.color}" '
                       f'stroke-width="{4 if r.pooled else 2.5}" stroke-linecap="round"/>')
        head, close = shape("D" if r.pooled else "o", scale(r.estimate), y, 7 if r.pooled else 5)
        out.append(f'{head} fill="{r.color}" stroke="{INK if r.pooled else "#fff"}" '
                   f'stroke-width="1.2"/>')
        interval = (f" [{fmt(r.low)}, {fmt(r.high)}]" if r.low is not None
                    and r.high is not None else "")
        out.append(f'<text x="{width - 2}" y="{num(y + 4.5)}" font-size="11" '
                   f'text-anchor="end"{weight}>{esc(fmt_signed(r.estimate) + interval)}'
                   f'</text></g>')
    out.append("</svg>")
    return "".join(out)


def strip(rows: Sequence[StripRow], *, axis_label: str = "", width: int = WIDTH,
          lazy: bool = False) -> str:
    """Every run as a dot (deterministic vertical jitter), the mean as a diamond with its CI
    below the dots; one row per condition. ``lazy``: each dot carries its run's index
    (``data-i``) instead of a ``<title>``, and the page's script writes the tooltip from the
    run table's data on first hover (huge studies: the page must stay small)."""
    label_w, top, row_h = 128, 8.0, 42.0
    values: list[float] = []
    for r in rows:
        values += [p[0] for p in r.points]
        values += [v for v in (r.mean, r.low, r.high) if v is not None]
    scale = _Scale(values, label_w + 10, width - 16)
    bottom = top + row_h * len(rows) + 2
    out = [_open(bottom + 42, width, f"strip plot: {axis_label}")]
    out += _axis(scale, bottom, top, axis_label, width)
    chars = int(label_w / (FONT * 0.56))
    for i, r in enumerate(rows):
        y0 = top + row_h * i
        band, mid = y0 + 14, y0 + 31
        out.append(f'<text x="4" y="{num(y0 + 18)}">{esc(short(r.label, chars))}'
                   f'<title>{esc(r.label)}</title></text>')
        if r.sub:
            out.append(f'<text x="4" y="{num(y0 + 33)}" font-size="11" fill="{MUTED}">'
                       f'{esc(short(r.sub, chars + 4))}</text>')
        if not r.points and r.mean is None:
            out.append(f'<text x="{num(scale.x0 + 4)}" y="{num(y0 + 22)}" font-size="12" '
                       f'font-style="italic" fill="{MUTED}">no values</text>')
            continue
        out.append(f'<g fill="{r.color}" fill-opacity="0.62" stroke="#fff" '
                   f'stroke-width="0.5">')
        for k, (v, tip, run) in enumerate(r.points):
            jitter = ((k * GOLDEN) % 1.0 - 0.5) * 16
            head, close = shape(r.shape, round(scale(v)), round(band + jitter), 3.6)
            out.append(f'{head} data-i="{run}"/>' if lazy else
                       f"{head}><title>{esc(tip)}</title>{close}")
        out.append("</g>")
        if r.mean is not None:
            tip = f"{r.label}: mean {fmt(r.mean)}"
            if r.low is not None and r.high is not None:
                tip += f", 95% CI [{fmt(r.low)}, {fmt(r.high)}]"
                out.append(f'<line x1="{num(scale(r.low))}" x2="{num(scale(r.high))}" '
                           f'y1="{num(mid)}" y2="{num(mid)}" stroke="{r.color}" '
                           f'stroke-width="3" stroke-linecap="round"/>')
            head, close = shape("D", scale(r.mean), mid, 5.5)
            out.append(f'{head} fill="{r.color}" stroke="{INK}" stroke-width="1.2">'
                       f'<title>{esc(tip)}</title>{close}')
    out.append("</svg>")
    return "".join(out)
