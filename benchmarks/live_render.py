"""The training screen's own cost: CPU seconds of the UI thread per second of a simulated run, and what it spends
them on (layout passes, repaints), with no TensorFlow in the process.

The app's training throughput loses about the share of a core its UI thread takes (TensorFlow's two intra-op
shards per op: a core the UI takes stalls a whole step), so 0.98 × bare needs the UI thread under ~2 % of a core.
This benchmark plays a run's events into a headless app at the rate a Fashion-MNIST run in latency.py makes them
(a batch event every 0.25 s, an epoch every EPOCH_S, gradient norms twice an epoch) and measures the UI thread's
CPU time (time.thread_time: robust on a loaded machine, unlike wall-clock figures).

    python benchmarks/live_render.py [--seconds 20 --size 100x32 --epoch-s 1.5] [--root /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--root" in sys.argv:  # another checkout's screen (before/after), measured by this script
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="100x32", help="terminal columns x rows (latency.py: 100x32)")
    parser.add_argument("--epoch-s", type=float, default=1.5, help="seconds per simulated epoch")
    parser.add_argument("--steps", type=int, default=36, help="batches per epoch")
    parser.add_argument("--press-every", type=float, default=0.0, metavar="S",
                        help="also press g (switch the chart pair) every S seconds, as latency.py does")
    parser.add_argument("--finding", action="store_true", help="the doctor reports a finding from epoch 2 on")
    parser.add_argument("--root", metavar="DIR", help="measure the training screen of another checkout")
    parser.add_argument("--layouts", action="store_true", help="also print which widgets asked for layout passes")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="try another TrainingScreen rate (STATUS_SECONDS, CHART_SECONDS, BATCH_SECONDS)")
    parser.add_argument("--widgets", action="store_true", help="also print the time each widget took to render")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the UI thread while training")
    parser.add_argument("--output", action="store_true",
                        help="also turn each frame into the terminal's text, as a real terminal's app does (headless "
                             "skips it), and print its bytes and CPU time")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))

    from textual.app import App
    from textual.screen import Screen
    from textual.widget import Widget

    from still_session import StillSession
    from tui.core import config as cfg
    from tui.core.datasets import DatasetInfo
    from tui.core.diagnostics import Finding
    from tui.core.events import BatchEnd, Diagnosis, EpochEnd, GradientNorms, LayerInfo, ModelSummary, RunStarted
    from tui.ui.screens.training import TrainingScreen

    counts: Counter[str] = Counter()
    askers: Counter[str] = Counter()
    original_layout = Screen._refresh_layout
    original_refresh = Widget.refresh

    def refresh_layout(self, size=None, scroll=False):  # type: ignore[no-untyped-def]
        counts["scroll-reflow" if scroll and not self._layout_widgets else "layout"] += 1
        if not (scroll and not self._layout_widgets):
            for widget in self._layout_widgets:
                askers[f"(under {type(widget).__name__}#{widget.id})"] += 0
        return original_layout(self, size, scroll)

    def refresh(self, *regions, repaint=True, layout=False, recompose=False):  # type: ignore[no-untyped-def]
        if layout and args.layouts:
            import traceback

            frame = traceback.extract_stack(limit=4)[-2]
            askers[f"{type(self).__name__}#{self.id} <- {Path(frame.filename).name}:{frame.lineno} {frame.name}"] += 1
        return original_refresh(self, *regions, repaint=repaint, layout=layout, recompose=recompose)

    spent: Counter[str] = Counter()
    original_lines = Widget.render_lines

    def render_lines(self, crop):  # type: ignore[no-untyped-def]
        t0 = time.thread_time()
        try:
            return original_lines(self, crop)
        finally:
            spent[f"{type(self).__name__}#{self.id}"] += time.thread_time() - t0

    from textual.app import App as _App
    from textual._compositor import CompositorUpdate

    original_display = _App._display

    def display(self, screen, renderable):  # type: ignore[no-untyped-def]
        if isinstance(renderable, CompositorUpdate) and not self._batch_count:
            t0 = time.thread_time()
            counts["output bytes"] += len(renderable.render_segments(self.console).encode())
            counts["output frames"] += 1
            spent["output"] += time.thread_time() - t0
        return original_display(self, screen, renderable)

    if args.output:
        _App._display = display  # type: ignore[method-assign]
    if args.widgets:
        Widget.render_lines = render_lines  # type: ignore[method-assign]
    from tui.ui.widgets.chart import LineChart

    original_show = LineChart.show

    def show(self, *a, **k):  # type: ignore[no-untyped-def]
        counts[f"drawn {self.id}"] += 1
        return original_show(self, *a, **k)

    LineChart.show = show  # type: ignore[method-assign]
    Screen._refresh_layout = refresh_layout  # type: ignore[method-assign]
    Widget.refresh = refresh  # type: ignore[method-assign]

    config = cfg.ExperimentConfig().with_values({"training.epochs": 10_000})
    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple(str(i) for i in range(10)), 4000, 1000, 10000,
                       (400,) * 10)
    layers = tuple(LayerInfo(f"layer{i}", "Conv2D", "(26, 26, 32)", 320, True) for i in range(6))
    model = ModelSummary("simple_cnn", layers, 225_034, 225_034)
    events: deque = deque([RunStarted("runs/x", config, info, model, 10_000, args.steps, 128)])
    screen = TrainingScreen(StillSession(), events)
    for setting in args.set:
        name, value = setting.split("=")
        setattr(screen, name, float(value))
        if name == "UI_SHARE":  # the budget took the class's share when the screen was made
            screen.budget.share = float(value)
    stop = threading.Event()

    def play() -> None:
        """The training thread's events, in real time."""
        t0 = time.monotonic()
        epoch, batch, next_batch, next_grad = 1, 0, t0, t0
        epoch_started = t0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_batch:
                batch = min(args.steps, int((now - epoch_started) / args.epoch_s * args.steps) + 1)
                loss = 1.0 / epoch + 0.01 * (batch % 5)
                events.append(BatchEnd(epoch, batch, args.steps, loss, 0.8, loss, 3000.0 + batch, now - epoch_started))
                next_batch += 0.25
            if now >= next_grad:
                events.append(GradientNorms(epoch, batch, tuple(l.name for l in layers),
                                            tuple(10.0 ** -(i + epoch % 3) for i in range(len(layers)))))
                next_grad += args.epoch_s / 2
            if now - epoch_started >= args.epoch_s:
                loss = 1.5 / epoch
                events.append(EpochEnd(epoch, 10_000, {"loss": loss, "accuracy": 1 - loss / 2, "val_loss": loss * 1.2,
                                                       "val_accuracy": 0.9 - loss / 3}, 0.001, args.epoch_s, 3000.0))
                if args.finding and epoch >= 2:  # the doctor sends its findings again at each epoch
                    events.append(Diagnosis((Finding("overfitting", "warning", 2, "Overfitting from epoch 2",
                                                     "val_loss rose", "memorising", ()),)))
                epoch += 1
                epoch_started = now
            time.sleep(0.01)

    class Host(App[None]):
        CSS_PATH = str(ROOT / "tui" / "ui" / "app.tcss")

        def on_mount(self) -> None:
            self.push_screen(screen)

    async def run() -> tuple[float, float, int]:
        async with Host().run_test(size=(cols, rows)) as pilot:
            await pilot.pause(1.0)  # past the first frames
            counts.clear()
            askers.clear()
            spent.clear()
            feeder = threading.Thread(target=play, daemon=True)
            profile = None
            if args.profile:
                import cProfile

                profile = cProfile.Profile()
                profile.enable()
            cpu0, wall0 = time.thread_time(), time.monotonic()
            feeder.start()
            pressed = 0
            if args.press_every:
                while time.monotonic() - wall0 < args.seconds:
                    await pilot.press("g")
                    pressed += 1
                    await asyncio.sleep(args.press_every)
            else:
                await asyncio.sleep(args.seconds)
            counts["presses"] = pressed
            cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            stop.set()
            feeder.join()
            return cpu, wall, screen.monitor.epochs_seen

    cpu, wall, epochs = asyncio.run(run())
    print(f"size {cols}x{rows}, {wall:.1f} s simulated ({epochs} epochs of {args.epoch_s} s, batch events at 4 Hz)")
    if counts["presses"]:
        print(f"g pressed {counts['presses']} times")
    print(f"UI thread CPU: {cpu:.3f} s = {100 * cpu / wall:.2f} % of a core (target: under ~2 %)")
    print(f"per epoch: {1000 * cpu / max(1, epochs):.1f} ms; layout passes: {counts['layout']} "
          f"({counts['layout'] / max(1, epochs):.2f}/epoch), scroll reflows: {counts['scroll-reflow']}")
    drawn = {k[len("drawn "):]: n for k, n in counts.items() if k.startswith("drawn ")}
    print("charts given new data: " + ", ".join(f"{k} {n} ({wall / n:.1f} s apart)" for k, n in sorted(drawn.items())))
    if args.output:
        frames = max(1, counts["output frames"])
        print(f"terminal output: {counts['output frames']} frames, {counts['output bytes'] / frames:,.0f} bytes and "
              f"{1000 * spent.pop('output') / frames:.2f} ms of the UI thread a frame (in the CPU figure above)")
    for name, seconds in spent.most_common(12):
        print(f"  {1000 * seconds / max(1, epochs):7.1f} ms/epoch rendering {name}")
    if args.layouts:
        for name, n in askers.most_common(20):
            print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
