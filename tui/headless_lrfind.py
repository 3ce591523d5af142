"""`cnn-tui lr-find`: the learning-rate range test in the terminal, printing the curve and the suggestions;
with --train, a run at the suggested rate follows and keeps the curve in its summary."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

TABLE_ROWS = 12
"""How many points of the curve the table shows (evenly spread, the last one always)."""


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("lr-find", help="learning-rate range test: the loss against a growing learning rate, and "
                                       "the rate to start from")
    common(p)
    p.add_argument("--steps", type=int, default=None, help="mini-batches in the sweep (default 100, at most one "
                                                           "epoch)")
    p.add_argument("--start-lr", type=float, default=None, help="first learning rate (default 1e-7; Adadelta 1e-3)")
    p.add_argument("--end-lr", type=float, default=None, help="last learning rate (default 10; Adadelta 100)")
    p.add_argument("--train", action="store_true",
                   help="then train with optimizer.learning_rate set to the suggestion (the peak, with one_cycle); "
                        "the curve is saved in the run's summary")


def cmd_lr_find(config: Any, args: argparse.Namespace) -> tuple[int, Any, dict[str, Any] | None]:
    """Run and print the range test: (exit status, the configuration to train next or None, the range test as
    summary data); with --train the configuration is `config` at the suggested rate."""
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tui.core import lrfind
    from tui.core.tfenv import move_native_stderr, quiet_environment
    from tui.headless import stop_on_signals

    quiet_environment()
    tf_log = move_native_stderr()
    console = Console(highlight=False)
    settings = lrfind.settings_for(config)
    for name, value in (("steps", args.steps), ("start_lr", args.start_lr), ("end_lr", args.end_lr)):
        if value is not None:
            settings = replace(settings, **{name: value})
    if not 0 < settings.start_lr < settings.end_lr:
        print("cnn-tui lr-find: --start-lr must be above 0 and below --end-lr", file=sys.stderr)
        return 2, None, None
    stop = threading.Event()

    class _Stopper:  # what stop_on_signals asks, and calls on the first Ctrl+C
        @property
        def stop_requested(self) -> bool:
            return stop.is_set()

        def stop(self) -> None:
            stop.set()

    stop_on_signals(console, _Stopper(), "Stopping the range test after this batch…", "Second interrupt: exiting now.")
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), console=console, refresh_per_second=4)
    task = progress.add_task("preparing", total=None, info="")

    def show(event: Any) -> None:
        if isinstance(event, lrfind.RangeTestStatus):
            progress.update(task, description=event.message)
        elif isinstance(event, lrfind.RangeTestStep):
            progress.update(task, description="range test", completed=event.step, total=event.steps,
                            info=f"lr {event.lr:.2e}  loss {event.loss:.4f}  smoothed {event.smoothed:.4f}")

    console.print(f"[bold]Learning-rate range test[/] {config.dataset.name} / {config.model.architecture} / "
                  f"{config.optimizer.name}, batch {config.training.batch_size}")
    try:
        with progress:
            result = lrfind.find_lr(config, emit=show, stop_event=stop, settings=settings)
    except lrfind.RangeTestError as exc:
        print(f"cnn-tui lr-find: {exc}", file=sys.stderr)
        return 1, None, None
    print_result(console, result)
    console.print(f"[dim]TensorFlow's own log: {tf_log}[/]")
    if result.suggestion is None:
        return 1, None, None
    if args.train and not stop.is_set():
        trained = config.with_values({"optimizer.learning_rate": result.suggestion})
        console.print(f"\n[bold]Training[/] with optimizer.learning_rate = {result.suggestion:.3g}"
                      + (" (the one_cycle peak)" if config.schedule.name == "one_cycle" else ""))
        return 0, trained, result.to_dict()
    return 0, None, None


def print_result(console: Any, result: Any) -> None:
    from rich.table import Table

    from tui.core.lrfind import fmt_lr, text_curve

    n = len(result.lrs)
    picks = sorted({round(i * (n - 1) / (TABLE_ROWS - 1)) for i in range(TABLE_ROWS)}) if n else []
    table = Table("step", "learning rate", "loss", "smoothed", title="the curve (every few steps)")
    for i in picks:
        table.add_row(str(i + 1), f"{result.lrs[i]:.2e}", f"{result.losses[i]:.4f}", f"{result.smoothed[i]:.4f}")
    console.print(table)
    chart = text_curve(result)
    if chart:
        console.print(chart, markup=False)
    lines = result.describe()
    console.print(f"[bold]{lines[0]}[/]")
    for line in lines[1:]:
        console.print(line, style="yellow" if line.startswith("note") else ("bold green" if "chosen" in line else ""))
    if result.suggestion is not None:
        console.print(f"suggested: --set optimizer.learning_rate={fmt_lr(result.suggestion)}")
