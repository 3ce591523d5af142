"""Chart redraw time against history length: cnn-tui's LineChart drawing a history of 100 … 100,000 points held in the
store the app uses (a BoundedSeries per curve: two curves, as on the loss chart), against plotext drawing every
point. The target: a redraw at 100,000 points ≤ 1.5 × the redraw at 100 points.

Rounds interleave the sizes (100, 1k, 10k, 100k, then again), so the machine's load falls on every size alike; in a
round the sizes are redrawn in turn REPEATS times and each size's fastest kept, as timeit does (one redraw is ~20 ms,
and one in four or five on this machine takes 30-45 ms of CPU at any size: a single timing, or a median of five, left
the interval at 7 rounds spanning the target with a control just as wide). The figure is the mean over rounds of the
per-round ratio, with its 95 % interval. The control is the 100-point redraw timed twice per round. Also printed, not
timed: the number of points handed to plotext per frame (bounded by the chart's width per curve whatever the history)
and the CPU time of a redraw (less inflated by other processes).

    python benchmarks/chart_redraw.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import control_line, mean_ci, ratios, target_line
from textual.app import App

from tui.core.series import BoundedSeries
from tui.ui.widgets.chart import LineChart

SIZES = (100, 1_000, 10_000, 100_000)
RAW_UP_TO = 10_000
"""plotext with every point is timed only up to here (100k points take seconds)."""
REPEATS = 5
"""Redraws of one size in a round, of which the fastest is kept."""


def history(n: int, shape: str = "noisy") -> dict[str, BoundedSeries]:
    """A loss and a validation-loss curve of n points, as the app holds them (appended one by one): a falling
    trend with point-to-point noise ("noisy", as a loss is), or with a slow oscillation of period 44 points
    ("wave": drawn as a thin line at 100 points, as a filled band of its extremes at 100,000)."""
    rng = random.Random(1)
    loss, val = BoundedSeries(), BoundedSeries()
    for i in range(1, n + 1):
        trend = 1 / (1 + 10 * i / n)
        y = trend + (0.05 * math.sin(i / 7) if shape == "wave" else rng.gauss(0, 0.03))
        loss.append(i, y)
        val.append(i, y * 1.1)
    return {"loss": loss, "val_loss": val}


class Bench(App):
    def compose(self):
        yield LineChart("loss", id="chart")


def redraw(chart: LineChart, data: dict[str, BoundedSeries]) -> tuple[float, float]:
    """Wall and CPU seconds of one redraw (show() marks the data new: the frame cache does not answer)."""
    w0, c0 = time.perf_counter(), time.process_time()
    chart.show(data)
    chart.render()
    return time.perf_counter() - w0, time.process_time() - c0


def one_round(chart: LineChart, data: dict[int, dict[str, BoundedSeries]]) -> dict[object, tuple[float, float]]:
    """Each size's least wall and CPU seconds over REPEATS passes, a pass redrawing every size once and the
    100 points again (the control, key "again")."""
    times: dict[object, list[tuple[float, float]]] = {}
    for _ in range(REPEATS):
        for key, n in [*((n, n) for n in SIZES), ("again", 100)]:
            times.setdefault(key, []).append(redraw(chart, data[n]))
    return {key: (min(t[0] for t in ts), min(t[1] for t in ts)) for key, ts in times.items()}


def raw_plotext(chart: LineChart, n: int) -> float:
    xs = list(range(1, n + 1))
    ys = [1 / (1 + 0.01 * i) + 0.05 * math.sin(i / 7) for i in xs]
    plt = chart.plt
    t0 = time.perf_counter()
    plt.clear_data()
    plt.clear_figure()
    plt.plot(xs, ys, marker="braille")
    plt.plot(xs, [y * 1.1 for y in ys], marker="braille")
    plt.plotsize(chart.size.width, chart.size.height)
    plt.build()
    return time.perf_counter() - t0


async def main(rounds: int) -> None:
    app = Bench()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        data = {n: history(n) for n in SIZES}
        redraw(chart, data[100])  # warm-up: plotext's first build, NumPy-free path
        wall: dict[int, list[float]] = {n: [] for n in SIZES}
        cpu: dict[int, list[float]] = {n: [] for n in SIZES}
        control: list[float] = []
        points: dict[int, int] = {}
        for n in SIZES:
            redraw(chart, data[n])
            points[n] = chart.points_drawn
        for _ in range(rounds):
            best = one_round(chart, data)
            for n in SIZES:
                wall[n].append(best[n][0])
                cpu[n].append(best[n][1])
            control.append(best["again"][0])
        raw = {n: raw_plotext(chart, n) for n in SIZES if n <= RAW_UP_TO}
        print(f"chart {chart.size.width}x{chart.size.height}, two curves, {rounds} interleaved rounds")
        print(f"{'points':>8}{'to plotext':>12}{'redraw ms':>11}{'CPU ms':>9}{'plotext, all points ms':>24}"
              f"{'ratio vs 100':>14}{'95% CI':>14}")
        for n in SIZES:
            m, lo, hi = mean_ci(ratios(wall[n], wall[100]))
            r = f"{raw[n] * 1000:.1f}" if n in raw else "–"
            print(f"{n:>8}{points[n]:>12}{statistics.median(wall[n]) * 1000:>11.1f}"
                  f"{statistics.median(cpu[n]) * 1000:>9.1f}{r:>24}{m:>14.2f}{f'{lo:.2f}–{hi:.2f}':>14}")
        print(target_line("chart redraw 100k / 100 points", *mean_ci(ratios(wall[100_000], wall[100])), rounds,
                          at_most=1.5, digits=2))
        print(target_line("chart redraw 100k / 100 points, CPU", *mean_ci(ratios(cpu[100_000], cpu[100])),
                          rounds, at_most=1.5, digits=2))
        print(control_line("chart redraw 100 / 100 points again", ratios(control, wall[100]), digits=2))
        wave = {n: history(n, "wave") for n in (100, 100_000)}
        w100, w100k = [], []
        for _ in range(rounds):
            w100.append(redraw(chart, wave[100])[1])
            w100k.append(redraw(chart, wave[100_000])[1])
        m, lo, hi = mean_ci(ratios(w100k, w100))
        print(f"(info) a slow wave instead of noise: CPU 100k / 100 points {m:.2f} (95% CI {lo:.2f}–{hi:.2f}); "
              "its 100k chart is a filled band")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args().rounds))
