"""Long series made short enough to draw: a chart never needs more points than about twice its width."""

from __future__ import annotations

import math
from array import array
from typing import Sequence


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """Drop non-finite points, then keep at most `max_points`: the lowest and the highest point of each of
    `(max_points - 1) // 2` equal buckets (in x order), then the last point. The spikes and dips of a noisy trace
    survive (a mean per bucket would hide the one bad batch a person looks for); the last point is exact.

    Linear in the length (vectorised): a chart of a long history should draw from a BoundedSeries, whose
    `view()` costs the same however long the history. NumPy is imported only when there is something to
    shorten, which keeps it off the first paint."""
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
    if n <= max_points:
        return x.tolist(), y.tolist()
    buckets = (max_points - 1) // 2
    size = -(-(n - 1) // buckets)  # the last point is kept on its own
    body = y[:n - 1]
    padded = np.full(buckets * size, np.nan)
    padded[:n - 1] = body
    grid = padded.reshape(buckets, size)
    filled = ~np.isnan(grid).all(axis=1)
    base = np.arange(buckets) * size
    lo = base + np.nanargmin(np.where(np.isnan(grid), np.inf, grid), axis=1)
    hi = base + np.nanargmax(np.where(np.isnan(grid), -np.inf, grid), axis=1)
    idx = np.unique(np.concatenate([lo[filled], hi[filled], [n - 1]]))
    return x[idx].tolist(), y[idx].tolist()


class BoundedSeries:
    """A series of any length held in a bounded number of real points, for drawing, with O(1) amortised append.

    The history is cut into buckets of `size` consecutive points; each bucket keeps its lowest and its highest
    point (so a spike or a dip is never averaged away). When the closed buckets reach their limit, neighbours
    merge pairwise and `size` doubles. `view(max_points)` merges neighbouring buckets further to fit a chart's
    width: its cost depends on `capacity`, never on the length of the history. The newest point is always
    kept exact. At most `capacity` points are held or returned.

    The closed buckets live in flat arrays of doubles allocated once, at their full size: the memory a series
    holds is fixed from its first point (~28 KB at the default capacity), not grown point by point until the first
    merge (a list of tuples per bucket grew ~250 bytes a point per curve for the first 500 epochs of a run)."""

    __slots__ = ("capacity", "size", "_limit", "_closed", "_lo_x", "_lo_y", "_hi_x", "_hi_y", "_sum_x", "_sum_y",
                 "_count", "_open_lo", "_open_hi", "_open_sum", "_n", "_last", "_version")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 8 or capacity % 2:
            raise ValueError(f"capacity must be an even number ≥ 8, got {capacity}")
        self.capacity = capacity
        self.size = 1
        """How many original points each closed bucket stands for."""
        self._limit = max(2, (capacity // 2 - 2) & ~1)
        """Closed buckets before a pairwise merge: even, and small enough that buckets (2 points each), the open
        bucket (2) and the newest point (1) stay within `capacity`."""
        zeros = bytes(8 * self._limit)
        self._closed = 0
        """Closed buckets held: slots 0 .. _closed - 1 of the arrays below."""
        self._lo_x, self._lo_y = array("d", zeros), array("d", zeros)  # each closed bucket's lowest point
        self._hi_x, self._hi_y = array("d", zeros), array("d", zeros)  # ... and its highest point
        self._sum_x, self._sum_y = array("d", zeros), array("d", zeros)  # the sums of its points' x and y
        self._count = array("d", zeros)  # ... and how many points it holds
        self._open_sum = [0.0, 0.0]
        self._open_lo: tuple[float, float] | None = None
        self._open_hi: tuple[float, float] | None = None
        self._n = 0
        self._last: tuple[float, float] | None = None
        self._version = 0

    @property
    def version(self) -> int:
        """Grows with every point kept: a chart redraws only when it changed."""
        return self._version

    def append(self, x: float, y: float) -> None:
        if not math.isfinite(y):
            return
        p = (x, y)
        self._last = p
        self._version += 1
        if self._open_lo is None or y < self._open_lo[1]:
            self._open_lo = p
        if self._open_hi is None or y > self._open_hi[1]:
            self._open_hi = p
        self._n += 1
        self._open_sum[0] += x
        self._open_sum[1] += y
        if self._n < self.size:
            return
        c = self._closed
        assert self._open_lo is not None and self._open_hi is not None
        self._lo_x[c], self._lo_y[c] = self._open_lo
        self._hi_x[c], self._hi_y[c] = self._open_hi
        self._sum_x[c], self._sum_y[c] = self._open_sum
        self._count[c] = self._n
        self._closed = c + 1
        self._open_lo = self._open_hi = None
        self._open_sum = [0.0, 0.0]
        self._n = 0
        if self._closed >= self._limit:
            self._halve()
            self.size *= 2

    def _halve(self) -> None:
        """Every two neighbouring closed buckets as one, in place (the first of equal extremes kept)."""
        lx, ly, hx, hy, sx, sy, cn = (self._lo_x, self._lo_y, self._hi_x, self._hi_y, self._sum_x, self._sum_y,
                                      self._count)
        for j in range(self._closed // 2):
            a, b = 2 * j, 2 * j + 1
            k = b if ly[b] < ly[a] else a
            lx[j], ly[j] = lx[k], ly[k]
            k = b if hy[b] > hy[a] else a
            hx[j], hy[j] = hx[k], hy[k]
            sx[j], sy[j], cn[j] = sx[a] + sx[b], sy[a] + sy[b], cn[a] + cn[b]
        self._closed //= 2

    def __len__(self) -> int:
        return len(self.points()[0])

    def points(self) -> tuple[list[float], list[float]]:
        """Every held point in x order: each bucket's lowest and highest, then the newest point itself."""
        return self.view(self.capacity)

    def view(self, max_points: int) -> tuple[list[float], list[float]]:
        """At most `max_points` (≥ 8) points in x order for a chart: neighbouring buckets merged until they fit,
        each kept as its lowest and highest point, then the newest point exact. Costs O(capacity)."""
        lo, hi, _ = self._buckets(max(1, (max(8, max_points) - 1) // 2))
        pts: list[tuple[float, float]] = []
        for a, b in zip(lo, hi):
            if a[0] > b[0]:
                a, b = b, a
            pts.append(a)
            if b is not a and b[0] != a[0]:
                pts.append(b)
        last = self._last
        if last is not None and (not pts or pts[-1][0] != last[0]):
            if pts and pts[-1][0] > last[0]:  # never: appends come in x order; keep the order anyway
                pts.sort()
            pts.append(last)
        return [p[0] for p in pts], [p[1] for p in pts]


    def _buckets(self, room: int) -> tuple[list[Point], list[Point], list[Sums]]:
        """The closed buckets and the open one, merged until at most `room` are left."""
        c = self._closed
        lo = list(zip(self._lo_x[:c], self._lo_y[:c]))
        hi = list(zip(self._hi_x[:c], self._hi_y[:c]))
        mean = list(zip(self._sum_x[:c], self._sum_y[:c], self._count[:c]))
        if self._open_lo is not None and self._open_hi is not None:
            lo, hi = [*lo, self._open_lo], [*hi, self._open_hi]
            mean = [*mean, (self._open_sum[0], self._open_sum[1], self._n)]
        if len(lo) > room:
            lo, hi, mean = _merge(lo, hi, mean, -(-len(lo) // room))
        return lo, hi, mean

    def envelope(self, max_points: int) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
        """For a chart of long histories: a line through the mean of each bucket (ending at the newest point,
        exact), and each bucket's lowest and highest point, to be drawn as dots. At most about `max_points`
        points in all; a history that fits is the line itself, with no dots. Costs O(capacity).

        Drawing the extremes as dots instead of joining them keeps a noisy history from becoming a filled band,
        which plotext takes twice as long to draw: the spikes stay visible, the cost stays flat."""
        total = self.points()
        if len(total[0]) <= max_points:
            return total, ([], [])
        lo, hi, mean = self._buckets(max(1, max(8, max_points) // 3))
        line = [(sx / n, sy / n) for sx, sy, n in mean]
        last = self._last
        if last is not None and line and line[-1][0] < last[0]:
            line.append(last)
        elif last is not None and line:
            line[-1] = last
        dots = sorted({p for pair in zip(lo, hi) for p in pair})
        return ([p[0] for p in line], [p[1] for p in line]), ([p[0] for p in dots], [p[1] for p in dots])


Point = tuple[float, float]
Sums = tuple[float, float, float]


def _merge(lo: list[Point], hi: list[Point], mean: list[Sums],
           k: int) -> tuple[list[Point], list[Point], list[Sums]]:
    """Every `k` neighbouring buckets as one: the lowest of their lows, the highest of their highs, their sums."""
    return ([min(lo[i:i + k], key=_y) for i in range(0, len(lo), k)],
            [max(hi[i:i + k], key=_y) for i in range(0, len(hi), k)],
            [(sum(m[0] for m in mean[i:i + k]), sum(m[1] for m in mean[i:i + k]), sum(m[2] for m in mean[i:i + k]))
             for i in range(0, len(mean), k)])


def _y(p: tuple[float, float]) -> float:
    return p[1]
