"""`cnn-tui sweep`: a sweep run headless, with overall progress, ETA and the heatmap drawn live by rich.

The runner works in a thread (its cells in this process or in worker processes); the main thread only draws
and turns Ctrl+C into a clean stop (sweep.json saved, the sweep resumable with --resume)."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from tui.core.params import ConfigError


def parse_workers(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError("--workers", f"got {text!r}; expected auto or a whole number ≥ 1")
    return n


def cluster_options(args: argparse.Namespace) -> dict[str, Any]:
    """--scheduler (checked, with Dask's Security for tls://) and --no-models as SweepRunner's keywords."""
    from tui.core import cluster

    address = cluster.check_address(args.scheduler) if getattr(args, "scheduler", None) else None
    security = cluster.make_security(address, getattr(args, "tls_ca_file", None), getattr(args, "tls_cert", None),
                                     getattr(args, "tls_key", None))
    return {"scheduler": address, "security": security, "models": not getattr(args, "no_models", False)}


def build_runner(args: argparse.Namespace) -> Any:
    """A SweepRunner for the command line's arguments (a new sweep, or --resume of an existing one)."""
    from pathlib import Path

    from tui.core import presets as presets_mod
    from tui.core import sweep

    workers = parse_workers(args.workers)
    cluster = cluster_options(args)
    if args.resume:
        if args.grid or args.preset or args.overrides or args.epochs is not None or args.train_size is not None:
            raise ConfigError("--resume", "a resumed sweep keeps its grid, base and budget; drop --grid, --preset, "
                                          "--set, --epochs and --train-size")
        return sweep.SweepRunner.resume(args.resume, workers, **cluster)
    config = presets_mod.load_experiment(args.preset, args.overrides, args.data_dir)
    from_preset = sweep.read_preset_sweep(presets_mod.resolve(args.preset)) if args.preset else {}
    grid: list[tuple[str, Any]] = [sweep.parse_grid_option(g) for g in args.grid] or from_preset.get("grid", [])
    if not grid:
        raise ConfigError("--grid", "nothing to sweep; give --grid section.key=values (once or twice), e.g. "
                                    "--grid model.conv_filters=2..11, or a preset with a [sweep] table")
    epochs = args.epochs if args.epochs is not None else from_preset.get("epochs")
    train_size = args.train_size if args.train_size is not None else from_preset.get("train_size")
    spec = sweep.make_spec(config, grid, epochs, train_size)
    return sweep.SweepRunner.create(spec, Path(args.runs_dir or "runs"), workers, **cluster)


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from tui.core import presets as presets_mod
    from tui.core.heatmap import progress_line, render_heatmap
    from tui.core.tfenv import move_native_stderr, quiet_environment
    from tui.headless import stop_on_signals

    from tui.core.settings import SettingsError

    console = Console()
    try:
        runner = build_runner(args)
        from tui.core.notify import notifier_for

        notifier, hook = notifier_for(getattr(args, "notify", False), terminal=True)
    except (ConfigError, presets_mod.PresetNotFound, SettingsError) as exc:
        print(f"cnn-tui: {exc}", file=sys.stderr)
        return 2
    if runner.scheduler:
        from tui.core.cluster import address_warning

        warning = address_warning(runner.scheduler)
        if warning:
            console.print(f"[yellow]{warning}[/]", soft_wrap=True)
    quiet_environment()
    tf_log = move_native_stderr()
    state = runner.state
    console.print(f"[bold]Sweep[/] {state.sweep_dir}: {' × '.join(f'{a.key} ({len(a.values)})' for a in state.axes)}"
                  f" = {state.total} cells, {state.base.training.epochs} epochs each"
                  + (f", {state.base.dataset.train_size} training samples" if state.base.dataset.train_size else "")
                  + (f", on the Dask scheduler {runner.scheduler}" if runner.scheduler else
                     f", {runner.workers} at a time"), soft_wrap=True)

    def view() -> Group:
        s = runner.state
        return Group(Text.from_markup(progress_line(s)), render_heatmap(s))

    stop_on_signals(console, runner,
                    "Stopping the running cells at their next batch (Ctrl+C again to quit at once)…",
                    "Second interrupt: exiting now (run cnn-tui sweep --resume to continue).")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            runner.run()
        except Exception as exc:  # said below, in plain words
            errors.append(exc)

    thread = threading.Thread(target=work, name="cnn-tui-sweep", daemon=True)
    with Live(get_renderable=view, console=console, refresh_per_second=4, transient=False):
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
    console.line()
    if notifier is not None:
        from tui.core.notify import sweep_notice

        notifier.send(sweep_notice(runner.state))
        if hook is not None:
            hook.wait(hook.timeout)
    if errors:
        console.print(f"[red]The sweep failed: {type(errors[0]).__name__}: {errors[0]}[/]")
        return 1
    s = runner.state
    if s.status == "finished":
        console.print(f"[green]Sweep finished[/]: {s.total} cells.")
    else:
        if s.message.startswith(("stopped: the first", "stopped: the Dask", "stopped: --scheduler")):
            console.print(f"[red]{s.message}[/]")
        console.print(f"[yellow]Sweep stopped[/]: {s.done}/{s.total} cells done; continue with "
                      f"[bold]cnn-tui sweep --resume {s.sweep_dir}[/]", soft_wrap=True)
    failed = [c for c in s.cells if c.status == "failed"]
    for c in failed[:5]:
        console.print(f"[red]failed[/] {c.label()}: {c.error}")
    best = s.best()
    if best is not None:
        console.print(f"Best: {best.label()} → val_accuracy {best.best_val_accuracy:.4f} "
                      f"({s.sweep_dir / (best.run_dir or '')})", soft_wrap=True)
    if s.placement:
        console.print(f"Ran on: {s.placement}", soft_wrap=True)
    console.print(f"Results: {s.sweep_dir / 'results.csv'} and {s.sweep_dir / 'results.md'}", soft_wrap=True)
    console.print(f"[dim]TensorFlow's own log: {tf_log}[/]")
    return 0
