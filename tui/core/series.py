"""Long series made short enough to draw: a chart never needs more points than about twice its width."""

from __future__ import annotations

import math
from typing import Sequence


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """Drop non-finite points, then keep at most `max_points`: the mean of each of `max_points - 1` equal
    buckets (at the bucket's mean x), then the last point. A chart of a noisy 10k-point trace stays a readable
    line, and the cost barely grows with the length of the history (vectorised).

    NumPy is imported only when there is something to shorten: the set-up screen's first chart is drawn before
    NumPy's ~0.2 s import, which keeps it off the first paint."""
    if len(ys) <= max_points or max_points < 4:
        pairs = [(float(a), float(b)) for a, b in zip(xs, ys) if math.isfinite(b)]
        return [a for a, _ in pairs], [b for _, b in pairs]
    import numpy as np

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    ok = np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    n = len(y)
    if n <= max_points or max_points < 4:
        return x.tolist(), y.tolist()
    buckets = max_points - 1
    size = n // buckets
    cut = buckets * size
    bx = x[:cut].reshape(buckets, size).mean(axis=1)
    by = y[:cut].reshape(buckets, size).mean(axis=1)
    return np.append(bx, x[-1]).tolist(), np.append(by, y[-1]).tolist()


class BoundedSeries:
    """A series of any length held in at most `capacity` points, for drawing: when full, neighbouring points are
    merged pairwise (their means), and later points arrive in buckets of the new, doubled size. Memory stays
    fixed however long the run; the shape of the curve is kept at a resolution of `capacity` points (the full
    history is on disk). The last point is always exact."""

    __slots__ = ("capacity", "xs", "ys", "size", "_sum_x", "_sum_y", "_n", "_last")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 4 or capacity % 2:
            raise ValueError(f"capacity must be an even number ≥ 4, got {capacity}")
        self.capacity = capacity
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.size = 1
        """How many original points each stored point stands for."""
        self._sum_x = self._sum_y = 0.0
        self._n = 0
        self._last: tuple[float, float] | None = None

    def append(self, x: float, y: float) -> None:
        if not math.isfinite(y):
            return
        self._last = (x, y)
        self._sum_x += x
        self._sum_y += y
        self._n += 1
        if self._n < self.size:
            return
        self.xs.append(self._sum_x / self._n)
        self.ys.append(self._sum_y / self._n)
        self._sum_x = self._sum_y = 0.0
        self._n = 0
        if len(self.xs) >= self.capacity:
            self.xs = [(a + b) / 2 for a, b in zip(self.xs[::2], self.xs[1::2])]
            self.ys = [(a + b) / 2 for a, b in zip(self.ys[::2], self.ys[1::2])]
            self.size *= 2

    def __len__(self) -> int:
        return len(self.xs) + (1 if self._last is not None and self.xs[-1:] != [self._last[0]] else 0)

    def points(self) -> tuple[list[float], list[float]]:
        """The stored points, then the newest point itself (unless the last stored point is exactly it)."""
        if self._last is not None and (not self.xs or self.xs[-1] != self._last[0]):
            return [*self.xs, self._last[0]], [*self.ys, self._last[1]]
        return list(self.xs), list(self.ys)
