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
