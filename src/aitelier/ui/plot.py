"""A small text line plot for loss curves: plain characters, no dependency, the same on any terminal or log.

>>> print("\\n".join(line_plot({"train": [(1, 2.0), (10, 1.0)]}, width=20, height=4)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..providers.base import LossPoint

MARKERS = "*o+x"
BOTH = "#"  # where two series meet


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.1f}"


def _interp(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """y at ``x`` on the polyline through ``points`` (sorted by x); None outside its x range."""
    if not points or x < points[0][0] or x > points[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1] if x == points[-1][0] else None


def line_plot(
    series: Mapping[str, Sequence[tuple[float, float]]], *, width: int = 60, height: int = 12
) -> list[str]:
    """Lines of text drawing each series (name -> (step, y) points) with its own marker, axes and a legend.

    A series with one point is drawn as that point. Empty input gives an empty list.
    """
    data = {name: sorted((float(x), float(y)) for x, y in pts) for name, pts in series.items() if pts}
    if not data:
        return []
    width = max(width, 10)
    height = max(height, 3)
    xs = [x for pts in data.values() for x, _ in pts]
    ys = [y for pts in data.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5 if y0 else -0.5, y1 + 0.5 if y1 else 0.5
    grid = [[" "] * width for _ in range(height)]

    def row_of(y: float) -> int:
        return round((y1 - y) / (y1 - y0) * (height - 1))

    def col_of(x: float) -> int:
        return 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))

    overlap = False
    for i, pts in enumerate(data.values()):
        mark = MARKERS[i % len(MARKERS)]
        cells = {(row_of(y), col_of(x)) for x, y in pts}  # the measured points themselves, always drawn
        if len(pts) > 1 and x1 > x0:
            for c in range(width):
                y = _interp(pts, x0 + (x1 - x0) * c / (width - 1))
                if y is not None:
                    cells.add((row_of(y), c))
        for r, c in cells:
            if grid[r][c] == " ":
                grid[r][c] = mark
            elif grid[r][c] != mark:  # another series is already here
                grid[r][c] = BOTH
                overlap = True
    labels = {0: _fmt(y1), height - 1: _fmt(y0), (height - 1) // 2: _fmt((y0 + y1) / 2)}
    pad = max(len(s) for s in labels.values())
    out = [f"{labels.get(r, ''):>{pad}} |{''.join(row).rstrip()}" for r, row in enumerate(grid)]
    out.append(" " * pad + " +" + "-" * width)
    left, right = _fmt(x0) if x0 != int(x0) else str(int(x0)), _fmt(x1) if x1 != int(x1) else str(int(x1))
    middle = "step"
    gap = width - len(left) - len(right) - len(middle)
    axis = f"{left}{' ' * max(1, gap // 2)}{middle}{' ' * max(1, gap - gap // 2)}{right}"
    out.append(" " * (pad + 2) + axis)
    legend = "   ".join(f"{MARKERS[i % len(MARKERS)]} {name}" for i, name in enumerate(data))
    if overlap:
        legend += f"   {BOTH} both"
    out.append(" " * (pad + 2) + legend)
    return out


def loss_plot(points: Sequence[LossPoint], *, width: int = 60, height: int = 12) -> list[str]:
    """The training and validation loss of :class:`~aitelier.providers.base.LossPoint` items (a series with no
    point is left out by :func:`line_plot`)."""
    series = {
        "training loss": [(p.step, p.train) for p in points if p.train is not None],
        "validation loss": [(p.step, p.val) for p in points if p.val is not None],
    }
    return line_plot(series, width=width, height=height)
