"""Tiny self-contained SVG charts for the HTML report: lines with shaded windows, percentiles, bars.

No JavaScript, no fonts or styles from the network: every chart is one
``<svg>`` element with inline attributes, so a report opens offline, in any
browser, years later.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from html import escape

from harness.report.format import round_sig

__all__ = ["bar_chart", "line_chart", "nice_ticks", "percentile_chart"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
FAULT_FILL = "#f4c7c3"
W, H = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 28, 38


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda s: abs((hi - lo) / s - count))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _text(
    x: float, y: float, label: str, size: int = 10, anchor: str = "start", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(label)}</text>"
    )


def _fmt(v: float) -> str:
    a = abs(v)
    if 0 < a < 1:
        return f"{v:g}"
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


class _Frame:
    """Maps data coordinates to pixels inside the plot area and draws axes."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, *, log_y: bool = False) -> None:
        self.log_y = log_y
        if log_y:  # y in decades; the frame holds log10 of the data bounds
            y0, y1 = math.floor(math.log10(y0)), math.ceil(math.log10(y1))
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        if self.log_y:
            y = math.log10(max(y, 10**self.y0))
        return H - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (H - TOP - BOTTOM)

    def y_ticks(self) -> list[float]:
        if self.log_y:
            return [10.0**k for k in range(int(self.y0), int(self.y1) + 1)]
        return nice_ticks(self.y0, self.y1)

    def axes(
        self, title: str, x_label: str, y_label: str, x_ticks: Sequence[tuple[float, str]]
    ) -> list[str]:
        out = [
            f'<text x="{W / 2:.0f}" y="16" text-anchor="middle" font-size="13" font-weight="bold">'
            f"{escape(title)}</text>",
            f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
            'fill="none" stroke="#999"/>',
        ]
        for y in self.y_ticks():
            py = self.py(y)
            out.append(
                f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
            )
            out.append(_text(LEFT - 4, py + 4, _fmt(y), anchor="end"))
        for x, label in x_ticks:
            px = self.px(x)
            out.append(_text(px, H - BOTTOM + 14, label, anchor="middle"))
        out.append(_text((LEFT + W - RIGHT) / 2, H - 6, x_label, size=11, anchor="middle"))
        out.append(
            f'<text x="14" y="{(TOP + H - BOTTOM) / 2:.0f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2:.0f})">{escape(y_label)}</text>'
        )
        return out


def _svg(body: list[str], label: str) -> str:
    return (
        f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{escape(label)}" font-family="sans-serif">'
        + "".join(body)
        + "</svg>"
    )


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = TOP + 8 + i * 15
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{W - RIGHT + 8}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        out.append(
            f'<text x="{W - RIGHT + 22}" y="{y + 1}" font-size="10">{escape(name[:30])}</text>'
        )
    return out


def _finite_pairs(
    xs: Sequence[float | None], ys: Sequence[float | None]
) -> tuple[list[float], list[float]]:
    keep = [
        (x, y)
        for x, y in zip(xs, ys, strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    return [x for x, _ in keep], [y for _, y in keep]


def _fault_windows(frame: _Frame, shaded: Sequence[tuple[float, float, str]]) -> list[str]:
    """Shaded windows, each labelled with its name, written upwards along its left edge.

    Vertical labels stay legible for faults seconds apart (20 chaos faults in 600 s),
    where horizontal ones would overprint each other.
    """
    out = []
    for a, b, label in shaded:
        x = frame.px(a)
        out.append(
            f'<rect x="{x:.1f}" y="{TOP}" width="{max(frame.px(b) - x, 1):.1f}" '
            f'height="{H - TOP - BOTTOM}" fill="{FAULT_FILL}" fill-opacity="0.6">'
            f"<title>{escape(label)}</title></rect>"
        )
        y = TOP + 4
        out.append(
            f'<text x="{x + 9:.1f}" y="{y}" font-size="9" text-anchor="end" fill="#a33" '
            f'class="fault-label" transform="rotate(-90 {x + 9:.1f} {y})">{escape(label)}</text>'
        )
    return out


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str = "time (s)",
    y_label: str = "",
    shaded: Sequence[tuple[float, float, str]] = (),
    x_range: tuple[float, float] | None = None,
    dashed: Collection[str] = (),
) -> str:
    """Lines of (name, xs, ys); ``shaded`` (x0, x1, label) windows drawn behind (fault periods).

    ``x_range`` fixes the x axis (so every chart of a run shares one time axis);
    series named in ``dashed`` are drawn dashed and wider, so a line that runs
    on top of another (acked over queryable) stays visible. Points with a
    missing (None) or non-finite coordinate are skipped.
    """
    series = [(name, *_finite_pairs(sx, sy)) for name, sx, sy in series]
    xs = [x for _, sx, _ in series for x in sx] + [v for a, b, _ in shaded for v in (a, b)]
    ys = [y for _, _, sy in series for y in sy]
    x0, x1 = x_range if x_range is not None else (min(xs, default=0.0), max(xs, default=1.0))
    frame = _Frame(x0, x1, min(0.0, *ys) if ys else 0.0, max(ys, default=1.0) * 1.05 or 1.0)
    body = _fault_windows(frame, shaded)
    body += frame.axes(
        title, x_label, y_label, [(t, _fmt(t)) for t in nice_ticks(frame.x0, frame.x1, 8)]
    )
    for i, (name, sx, sy) in enumerate(series):
        pts = " ".join(
            f"{frame.px(x):.1f},{frame.py(y):.1f}"
            for x, y in zip(sx, sy, strict=True)
            if x0 <= x <= x1
        )
        color = PALETTE[i % len(PALETTE)]
        style = (
            ' stroke-width="2.5" stroke-dasharray="7,4"'
            if name in dashed
            else ' stroke-width="1.5"'
        )
        body.append(f'<polyline fill="none" stroke="{color}"{style} points="{pts}"/>')
    body += _legend([n for n, _, _ in series])
    return _svg(body, title)


def percentile_chart(
    curves: dict[str, Sequence[tuple[float, float]]], *, title: str, unit: str = "ms"
) -> str:
    """Latency by percentile, x = number of nines (p90 = 1, p99 = 2, ...), the HDR way.

    The y axis turns logarithmic when the values span more than two decades,
    so a 30 s outlier curve does not flatten a 10 ms one into the x axis.
    """

    def nines(p: float) -> float:
        return -math.log10(max(1 - p / 100, 1e-5))

    lines = [(name, [nines(p) for p, _ in c], [v for _, v in c]) for name, c in curves.items()]
    ys = [y for _, _, sy in lines for y in sy]
    positive = [y for y in ys if y > 0]
    if positive and max(positive) / min(positive) > 100:
        frame = _Frame(0.0, 5.0, min(positive), max(positive), log_y=True)
    else:
        frame = _Frame(0.0, 5.0, 0.0, max(ys, default=1.0) * 1.05 or 1.0)
    ticks = [
        (nines(p), label)
        for p, label in (
            (0, "p0"),
            (90, "p90"),
            (99, "p99"),
            (99.9, "p99.9"),
            (99.99, "p99.99"),
            (99.999, "max"),
        )
    ]
    body = frame.axes(title, "percentile", unit, ticks)
    for i, (_name, sx, sy) in enumerate(lines):
        pts = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in zip(sx, sy, strict=True))
        body.append(
            f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.5" '
            f'points="{pts}"/>'
        )
    body += _legend(list(curves))
    return _svg(body, title)


def bar_chart(
    values: dict[str, float],
    *,
    title: str,
    unit: str,
    reference: float | None = None,
    reference_label: str = "baseline",
) -> str:
    """One horizontal bar per label, names on the left (long names never overprint);
    an optional dashed reference line (e.g. the compression baseline), its value rounded.

    Unmeasured (None or non-finite) values are left out rather than drawn as garbage.
    """
    values = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if reference is not None and not math.isfinite(reference):
        reference = None
    top = max([*values.values(), reference or 0.0, 1e-9]) * 1.1
    left, right, top_px, row = 200, 70, 42, 20
    height = top_px + max(len(values), 1) * row + BOTTOM

    def px(v: float) -> float:
        return left + v / top * (W - left - right)

    body = [
        f'<text x="{W / 2:.0f}" y="16" text-anchor="middle" font-size="13" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<rect x="{left}" y="{top_px}" width="{W - left - right}" '
        f'height="{height - top_px - BOTTOM}" fill="none" stroke="#999"/>',
    ]
    for t in nice_ticks(0.0, top):
        x = px(t)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_px}" y2="{height - BOTTOM}" stroke="#eee"/>'
        )
        body.append(_text(x, height - BOTTOM + 14, _fmt(t), anchor="middle"))
    body.append(_text((left + W - right) / 2, height - 6, unit, size=11, anchor="middle"))
    for i, (name, v) in enumerate(values.items()):
        y = top_px + i * row + 3
        body.append(
            f'<rect x="{left}" y="{y}" width="{px(v) - left:.1f}" height="{row - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(name)}: {v:g} {escape(unit)}</title></rect>'
        )
        body.append(
            _text(left - 6, y + row / 2 + 1, name[:34], anchor="end", extra=' class="bar-label"')
        )
        body.append(_text(px(v) + 4, y + row / 2 + 1, round_sig(v)))
    if reference is not None:
        x = px(reference)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_px - 4}" y2="{height - BOTTOM}" '
            'stroke="#d62728" stroke-dasharray="5,4"/>'
        )
        label = f"{reference_label} {round_sig(reference)}"
        body.append(_text(x, top_px - 7, label, anchor="middle", extra=' fill="#d62728"'))
    return (
        f'<svg width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif">'
        + "".join(body)
        + "</svg>"
    )
