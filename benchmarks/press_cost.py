"""What one press of `g` costs the UI thread: the training screen in a short terminal (two charts at a time) holding
40 epochs, no new events, `g` pressed N times. The figure is the UI thread's CPU time over the presses less the same
time idle, per press; the frame's conversion to the terminal's text (which a headless app skips) is done and counted.

Why it matters: at two presses a second while training, the UI thread's share of a core is what the app's training
throughput loses (benchmarks/README.md, responsiveness round 11). With `--base DIR` another checkout's screen is
measured in the same run, the two alternating process by process, and the ratio printed with its interval.

    python benchmarks/press_cost.py [--presses 200] [--rounds 6] [--base /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def child(root: Path, presses: int) -> None:
    """Measure `root`'s training screen in this process and print one line: `ms a press <figure>`."""
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(HERE / "tests"))
    from collections import deque

    from textual._compositor import CompositorUpdate
    from textual.app import App

    from still_session import StillSession
    from tui.core import config as cfg
    from tui.core.datasets import DatasetInfo
    from tui.core.events import BatchEnd, EpochEnd, LayerInfo, ModelSummary, RunStarted
    from tui.ui.screens.training import TrainingScreen

    output = [0.0]
    display = App._display

    def display_and_convert(self, screen, renderable):  # type: ignore[no-untyped-def]
        if isinstance(renderable, CompositorUpdate) and not self._batch_count:
            started = time.thread_time()
            renderable.render_segments(self.console)  # what a terminal's app writes (headless: skipped)
            output[0] += time.thread_time() - started
        return display(self, screen, renderable)

    App._display = display_and_convert  # type: ignore[method-assign]
    config = cfg.ExperimentConfig().with_values({"training.epochs": 10_000})
    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple(str(i) for i in range(10)), 4000, 1000, 10000,
                       (400,) * 10)
    layers = tuple(LayerInfo(f"layer{i}", "Conv2D", "(26, 26, 32)", 320, True) for i in range(6))
    events: deque = deque([RunStarted("runs/x", config, info, ModelSummary("simple_cnn", layers, 1, 1), 10_000, 36,
                                      128)])
    for epoch in range(1, 41):
        for batch in range(1, 37, 9):
            events.append(BatchEnd(epoch, batch, 36, 1 / epoch, 0.8, 1 / epoch, 3000.0, 0.1))
        loss = 1.5 / epoch
        events.append(EpochEnd(epoch, 10_000, {"loss": loss, "accuracy": 1 - loss / 2, "val_loss": loss * 1.2,
                                               "val_accuracy": 0.9 - loss / 3}, 0.001, 1.0, 3000.0))
    screen = TrainingScreen(StillSession(), events)

    class Host(App[None]):
        CSS_PATH = str(root / "tui" / "ui" / "app.tcss")

        def on_mount(self) -> None:
            self.push_screen(screen)

    async def run() -> float:
        async with Host().run_test(size=(100, 32)) as pilot:
            await pilot.pause(2.0)
            for _ in range(4):  # each pair drawn once at this size
                screen.action_switch_charts()
                await pilot.pause(0.3)
            cpu = time.thread_time()
            for _ in range(presses):
                screen.action_switch_charts()  # (the key's own dispatch, ~0.1 ms, is left out with Pilot's)
                await pilot.pause(0.05)
            pressing = time.thread_time() - cpu
            cpu = time.thread_time()
            for _ in range(presses):
                await pilot.pause(0.05)
            idle = time.thread_time() - cpu
            return (pressing - idle) / presses

    print(f"ms a press {1000 * asyncio.run(run()):.3f}")


def measure(root: Path, presses: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), "--presses", str(presses)],
                         capture_output=True, text=True, timeout=600)
    found = re.search(r"ms a press ([0-9.\-]+)", out.stdout)
    if out.returncode or not found:
        raise SystemExit(f"the measurement of {root} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6, help="processes for each checkout, alternating")
    parser.add_argument("--base", metavar="DIR", help="another checkout measured in the same run")
    parser.add_argument("--child", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.presses)
        return
    sys.path.insert(0, str(HERE / "benchmarks"))
    from _stats import mean_ci, ratios

    roots = [HERE] + ([Path(args.base).resolve()] if args.base else [])
    figures: dict[Path, list[float]] = {root: [] for root in roots}
    for n in range(args.rounds):
        for root in roots if n % 2 == 0 else roots[::-1]:
            figures[root].append(measure(root, args.presses))
        print(f"round {n + 1}/{args.rounds}: " + ", ".join(f"{root.name} {figures[root][-1]:.2f} ms"
                                                           for root in roots), flush=True)
    for root in roots:
        mean, lo, hi = mean_ci(figures[root])
        print(f"{root} : {mean:.2f} ms a press of g (95% CI {lo:.2f}–{hi:.2f}, N={args.rounds} processes × "
              f"{args.presses} presses)")
    if args.base:
        mean, lo, hi = mean_ci(ratios(figures[HERE], figures[roots[1]]))
        print(f"this checkout / base: {mean:.2f} × a press (95% CI {lo:.2f}–{hi:.2f}, N={args.rounds} pairs)")


if __name__ == "__main__":
    main()
