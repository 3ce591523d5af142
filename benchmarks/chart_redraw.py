"""Chart redraw time at 100, 1k, 10k and 100k points: cnn-tui's LineChart (downsampled to twice its width)
against plotext drawing every point. The target is 10k points within 1.5× of 100 points.

    python benchmarks/chart_redraw.py
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App

from tui.ui.widgets.chart import LineChart

SIZES = (100, 1_000, 10_000, 100_000)
REPEATS = 7


def series(n: int) -> tuple[list[float], list[float]]:
    xs = list(range(1, n + 1))
    return xs, [1 / (1 + 0.01 * i) + 0.05 * math.sin(i / 7) for i in xs]


class Bench(App):
    def compose(self):
        yield LineChart("loss", id="chart")


def time_render(chart: LineChart, n: int, downsample: bool) -> float:
    xs, ys = series(n)
    if downsample:
        data = {"loss": (xs, ys), "val_loss": (xs, [y * 1.1 for y in ys])}

        def fn():  # new data each time: the frame cache must not answer
            chart.show(data)
            return chart.render()
    else:
        def fn():
            plt = chart.plt
            plt.clear_data()
            plt.clear_figure()
            plt.plot(xs, ys, marker="braille")
            plt.plot(xs, [y * 1.1 for y in ys], marker="braille")
            plt.plotsize(chart.size.width, chart.size.height)
            return plt.build()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def main() -> None:
    app = Bench()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        print(f"chart {chart.size.width}x{chart.size.height}, two series, median of {REPEATS} renders")
        print(f"{'points':>8}{'LineChart ms':>14}{'plotext all points ms':>24}{'LineChart / 100 pts':>22}")
        base = None
        for n in SIZES:
            ours = time_render(chart, n, True)
            raw = time_render(chart, n, False) if n <= 10_000 else float("nan")
            base = base or ours
            print(f"{n:>8}{ours * 1000:>14.1f}{raw * 1000:>24.1f}{ours / base:>22.2f}")


if __name__ == "__main__":
    asyncio.run(main())
