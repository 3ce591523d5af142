"""Long series made short enough to draw: a chart never needs more points than about twice its width."""

from __future__ import annotations

from typing import Sequence


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """Keep at most `max_points` points: each bucket keeps its minimum and maximum (so spikes stay visible)
    in x order, and the last point is always kept."""
    n = len(ys)
    if n <= max_points or max_points < 4:
        return list(xs), list(ys)
    buckets = max_points // 2
    size = n / buckets
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = int(b * size), max(int((b + 1) * size), int(b * size) + 1)
        idx = range(lo, min(hi, n))
        i_min = min(idx, key=ys.__getitem__)
        i_max = max(idx, key=ys.__getitem__)
        for i in sorted({i_min, i_max}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    if out_x[-1] != xs[-1]:
        out_x.append(xs[-1])
        out_y.append(ys[-1])
    return out_x, out_y
