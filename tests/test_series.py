"""Downsampling keeps what a person looks for in a long curve: its extremes, its end, and its order."""

import math

from tui.core.series import downsample


def test_short_series_are_untouched_and_nan_points_are_dropped():
    assert downsample([1, 2, 3], [0.5, float("nan"), 0.25], 100) == ([1.0, 3.0], [0.5, 0.25])


def test_long_series_keep_their_shape_their_last_point_and_x_order():
    n = 10_000
    xs = list(range(n))
    ys = [1 / (1 + i / 1000) + 0.05 * math.sin(i) for i in xs]  # a falling, noisy loss trace
    x, y = downsample(xs, ys, 200)
    assert len(x) == 200
    assert x[-1] == n - 1 and y[-1] == ys[-1]
    assert x == sorted(x)
    assert abs(y[0] - 1.0) < 0.05 and abs(y[-2] - ys[-50]) < 0.05  # the trend is kept, the noise averaged
