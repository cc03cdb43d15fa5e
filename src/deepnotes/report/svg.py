"""Line charts as inline SVG text: no plotting library, no script, every label escaped.

A chart maps data to pixels with the affine map ``px = left + (x - x_lo) / (x_hi - x_lo) · w``
(and the same for y, flipped); a y range spanning more than three decades of positive values
is drawn on a log₁₀ scale instead.
"""

from __future__ import annotations

import math
from html import escape

Series = dict[str, tuple[list[float], list[float]]]  # name -> (xs, ys)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
MAX_POINTS = 400  # a series with more points is thinned to this many (the last point kept)
LOG_RANGE = 1e3  # max/min above this (all values > 0): log scale


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 × 10ᵏ) covering [lo, hi].

    Example:
        >>> nice_ticks(0.0, 1.0)
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [float(f"{k * step:.12g}") for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def fmt_tick(v: float) -> str:
    """A tick label: 4 significant digits, a short exponent (``2.5e-4``, ``1e6``)."""
    text = f"{v:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def _thin(xs: list[float], ys: list[float], most: int) -> tuple[list[float], list[float]]:
    if len(xs) <= most:
        return xs, ys
    stride = math.ceil(len(xs) / most)
    keep = list(range(0, len(xs), stride))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def line_chart(series: Series, title: str, xlabel: str, width: int = 440, height: int = 250,
               max_points: int = MAX_POINTS) -> str:
    """An ``<svg>`` element drawing each series as a polyline, with axes, ticks and a legend.

    Points whose x or y is not a finite number are left out. Returns ``""`` when no series
    has a point.

    Args:
        series: name -> (xs, ys), both the same length.
        title: chart title (also the SVG's accessible ``<title>``).
        xlabel: x-axis label.
        width, height: size of the plot area with its axes, in CSS pixels; the legend adds
            a line per two series below it.
        max_points: thin each series to at most this many points.
    """
    clean: Series = {}
    for name, (xs, ys) in series.items():
        pts = [(float(x), float(y)) for x, y in zip(xs, ys)
               if _finite(x) and _finite(y)]
        if pts:
            clean[name] = _thin([p[0] for p in pts], [p[1] for p in pts], max_points)
    if not clean:
        return ""
    all_x = [x for xs, _ in clean.values() for x in xs]
    all_y = [y for _, ys in clean.values() for y in ys]
    log = min(all_y) > 0 and max(all_y) / min(all_y) > LOG_RANGE
    if log:
        clean = {k: (xs, [math.log10(y) for y in ys]) for k, (xs, ys) in clean.items()}
        all_y = [math.log10(y) for y in all_y]
    x_lo, x_hi = min(all_x), max(all_x)
    y_lo, y_hi = min(all_y), max(all_y)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    if y_hi == y_lo:
        pad = abs(y_lo) * 0.1 or 1.0
    else:  # keep the extreme points off the frame
        pad = (y_hi - y_lo) * (0.02 if log else 0.04)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    left, right, top, bottom = 62, 22, 26, 40
    w, h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * w

    def py(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * h

    legend_rows = math.ceil(len(clean) / 2)
    total_h = height + 18 * legend_rows + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
           f'height="{total_h}" viewBox="0 0 {width} {total_h}" role="img">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="#fff"/>',
           f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{escape(title)}</text>']
    if log:
        ticks = [float(k) for k in range(math.ceil(y_lo), math.floor(y_hi) + 1)]
        stride = max(1, math.ceil(len(ticks) / 6))
        y_ticks = [(t, f"1e{int(t)}") for t in ticks[::stride]]
    else:
        y_ticks = [(t, fmt_tick(t)) for t in nice_ticks(y_lo, y_hi, 6)]
    for t, label in y_ticks:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" '
                   f'stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{escape(label)}</text>')
    for t in nice_ticks(x_lo, x_hi, 6):
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{top + h}" x2="{x:.1f}" y2="{top + h + 4}" '
                   f'stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle" '
                   f'font-size="11">{escape(fmt_tick(t))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" '
               f'stroke="#333"/>')
    out.append(f'<text x="{left + w / 2:.1f}" y="{top + h + 31}" text-anchor="middle" '
               f'font-size="12">{escape(xlabel)}{" (y: log scale)" if log else ""}</text>')
    for i, (name, (xs, ys)) in enumerate(clean.items()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" '
                   f'points="{points}"><title>{escape(name)}</title></polyline>')
        if len(xs) <= 30:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>'
                    for x, y in zip(xs, ys)]
        lx = 10 + (i % 2) * (width / 2)
        ly = height + 18 * (i // 2) + 12  # the legend's text baseline, below the x label
        out.append(f'<rect x="{lx:.1f}" y="{ly - 6}" width="14" height="4" fill="{color}"/>')
        out.append(f'<text x="{lx + 19:.1f}" y="{ly}" font-size="11">'
                   f'{escape(_shorten(name, 34))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
