"""Downsampling keeps what a person looks for in a long curve: its extremes, its end, and its order."""

import math
import random

import pytest

from tui.core.series import BoundedSeries, downsample


def test_short_series_are_untouched_and_nan_points_are_dropped():
    assert downsample([1, 2, 3], [0.5, float("nan"), 0.25], 100) == ([1.0, 3.0], [0.5, 0.25])


def test_long_series_keep_their_shape_their_extremes_their_last_point_and_x_order():
    n = 10_000
    xs = list(range(n))
    ys = [1 / (1 + i / 1000) + 0.05 * math.sin(i) for i in xs]  # a falling, noisy loss trace
    ys[4321] = 7.0  # one bad batch
    x, y = downsample(xs, ys, 200)
    assert len(x) <= 200
    assert x[-1] == n - 1 and y[-1] == ys[-1]
    assert x == sorted(x) and len(set(x)) == len(x)
    assert max(y) == 7.0 and min(y) == min(ys)  # the spike and the lowest point survive
    assert all(ys[int(a)] == b for a, b in zip(x, y))  # real points, not averages
    assert abs(y[0] - 1.0) < 0.1 and abs(y[-2] - ys[-50]) < 0.1  # the trend is kept


def _history(n: int, spike_at: int) -> tuple[list[float], list[float]]:
    rng = random.Random(n)
    ys = [1 / (1 + 10 * i / n) + rng.gauss(0, 0.02) for i in range(1, n + 1)]
    ys[spike_at] = 5.0
    ys[spike_at // 2] = -1.0
    return list(range(1, n + 1)), ys


@pytest.mark.parametrize("n", [100, 5_000, 100_000])
def test_a_bounded_series_holds_any_history_in_a_bounded_view_that_keeps_its_extremes(n):
    xs, ys = _history(n, spike_at=n * 2 // 3)
    s = BoundedSeries(1024)
    for x, y in zip(xs, ys):
        s.append(x, y)
    for width in (40, 120):
        vx, vy = s.view(width)
        assert len(vx) <= width
        assert vx == sorted(vx) and vx[-1] == n and vy[-1] == ys[-1]
        assert max(vy) == 5.0 and min(vy) == -1.0
        (lx, ly), (dx, dy) = s.envelope(width)
        assert len(lx) + len(dx) <= width + 1
        assert lx[-1] == n and ly[-1] == ys[-1]
        assert max([*ly, *dy]) == 5.0 and min([*ly, *dy]) == -1.0
    assert len(s) <= 1024


async def test_a_chart_hands_plotext_at_most_about_its_width_whatever_the_history_and_keeps_the_extremes():
    from textual.app import App

    from tui.ui.widgets.chart import LineChart

    class One(App):
        def compose(self):
            yield LineChart("loss", id="chart")

    async with One().run_test(size=(90, 24)) as pilot:
        chart = pilot.app.query_one(LineChart)
        handed: list[tuple[list[float], list[float]]] = []
        for name in ("plot", "scatter"):
            real = getattr(chart.plt, name)

            def spy(x, y, *a, _real=real, **k):
                handed.append((list(x), list(y)))
                return _real(x, y, *a, **k)

            setattr(chart.plt, name, spy)
        counts = {}
        for n in (100, 10_000, 100_000):
            xs, ys = _history(n, spike_at=n // 3)
            curve = BoundedSeries()
            for x, y in zip(xs, ys):
                curve.append(x, y)
            handed.clear()
            chart.show({"loss": curve, "raw": (xs, [y + 1 for y in ys])})
            chart.render()
            counts[n] = sum(len(x) for x, _ in handed)
            drawn = [v for _, y in handed for v in y]
            assert max(drawn) == 6.0 and min(drawn) == -1.0  # the raw series' spike, the store's dip
            # two curves, each cut to about the chart's width, however long the history
            assert counts[n] == chart.points_drawn <= 2 * (chart.size.width + 1)
