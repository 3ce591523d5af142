"""Command line: `cnn-tui` (the app), `cnn-tui train` (headless), `cnn-tui sweep`, `cnn-tui presets`, `runs`,
`compare`, `predict`, `resume`, `lr-find`.

Start-up stays cheap: neither TensorFlow nor Textual is imported until a command needs it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.core import presets as presets_mod
from tui.core.params import ConfigError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", metavar="FILE", help="preset TOML file, or the name of one in presets/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one configuration key (repeatable), e.g. --set training.epochs=5")
    p.add_argument("--runs-dir", metavar="DIR", default=None, help="where run directories go (default: ./runs)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="local data directory searched before any download (same as dataset.data_dir / "
                        "$CNN_TUI_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-tui", description="Train convolutional networks in the terminal and see what goes wrong, live.")
    _common(parser)
    parser.add_argument("--start", action="store_true", help="start training as soon as the app opens")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="run an experiment headless, with progress in the terminal")
    _common(train)
    sub.add_parser("presets", help="list the presets")
    runs = sub.add_parser("runs", help="list the runs in the runs folder")
    runs.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder (default: ./runs)")
    comp = sub.add_parser("compare", help="compare 2–8 runs: the configuration keys that differ, best metrics")
    comp.add_argument("run_dirs", nargs="+", metavar="RUN", help="a run directory, or a run's name in --runs-dir")
    comp.add_argument("--runs-dir", metavar="DIR", default=None,
                      help="where run names are looked up (default: ./runs)")
    comp.add_argument("--markdown", metavar="FILE", default=None, help="also write the comparison as Markdown")
    sweep = sub.add_parser("sweep", help="train a grid of one or two keys' values, with a live heatmap")
    _common(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=VALUES",
                       help="a key and its values: 2..11, 2,4,...,256 or a list like relu,sigmoid (once or twice; "
                            "default: the preset's [sweep] grid)")
    sweep.add_argument("--epochs", type=int, default=None, help="epochs per cell")
    sweep.add_argument("--train-size", type=int, default=None, help="training samples per cell (0 = all)")
    sweep.add_argument("--workers", default="auto", help="cells at once: a number, or auto (the default)")
    sweep.add_argument("--resume", metavar="SWEEP_DIR", default=None,
                       help="continue an interrupted sweep; finished cells are not run again")
    from tui.headless_lrfind import add_parser as add_lr_find

    add_lr_find(sub, _common)
    resume = sub.add_parser("resume", help="continue an interrupted run (killed, crashed) in its own directory")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    predict = sub.add_parser("predict", help="the top classes for image files, with a run's saved model")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    predict.add_argument("--top-k", type=int, default=3, metavar="K", help="how many classes to show (default 3)")
    return parser


def load_config(args: argparse.Namespace) -> Any:
    """The experiment described by --preset, --set and --data-dir (defaults when no preset is given)."""
    return presets_mod.load_experiment(args.preset, args.overrides, args.data_dir)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "presets":
            return cmd_presets()
        if args.command == "runs":
            return cmd_runs(args.runs_dir)
        if args.command == "predict":
            return cmd_predict(args.run_dir, args.images, args.top_k)
        if args.command == "compare":
            return cmd_compare(args.run_dirs, args.runs_dir, args.markdown)
        if args.command == "resume":
            return cmd_train(None, None, resume_dir=args.run_dir)
        if args.command == "sweep":
            from tui.headless_sweep import cmd_sweep

            return cmd_sweep(args)
        config = load_config(args)
        if args.command == "train" and args.preset:
            _note_sweep_table(presets_mod.resolve(args.preset))
    except (ConfigError, presets_mod.PresetNotFound) as exc:
        print(f"cnn-tui: {exc}", file=sys.stderr)
        return 2
    if args.command == "train":
        return cmd_train(config, args.runs_dir)
    if args.command == "lr-find":
        from tui.headless_lrfind import cmd_lr_find

        code, trained, lr_find = cmd_lr_find(config, args)
        return code if trained is None else cmd_train(trained, args.runs_dir, lr_find=lr_find)
    from tui.ui.app import run_app

    return run_app(config, runs_dir=args.runs_dir, start=args.start,
                   preset=str(presets_mod.resolve(args.preset)) if args.preset else None)


def _note_sweep_table(path: Any) -> None:
    """A sweep preset trains its base experiment once under `train`; say so rather than ignore it silently."""
    from tui.core.params import tomllib

    try:
        has_sweep = "sweep" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    if has_sweep:
        print(f"cnn-tui: note: {path.name} has a [sweep] grid, which only `cnn-tui sweep --preset {path.stem}` "
              "runs; training its base experiment once", file=sys.stderr)


def cmd_presets() -> int:
    from rich.console import Console
    from rich.table import Column, Table

    table = Table(Column("name", no_wrap=True), "description", "expected", "file", title="cnn-tui presets")
    for p in presets_mod.list_presets():
        table.add_row(p.name, p.description, p.expected, str(p.path))
    Console().print(table)
    return 0


def cmd_runs(runs_dir: str | None) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from tui.core.runs import list_runs

    folder = Path(runs_dir or "runs")
    table = Table("run", "started", "dataset", "architecture", "status", "best val_acc", "epochs", "wall",
                  title=f"runs in {folder}")
    for r in list_runs(folder):
        table.add_row(r.name, r.started.strftime("%Y-%m-%d %H:%M"), r.dataset, r.architecture,
                      r.status + (" (cnn-tui resume)" if r.resumable else ""),
                      f"{r.best_val_accuracy:.4f}" if r.best_val_accuracy is not None else "–", str(r.epochs),
                      f"{r.wall_seconds:.0f} s" if r.wall_seconds else "–")
    Console().print(table)
    return 0


def cmd_predict(run_dir: str, images: list[str], top_k: int) -> int:
    """Print the top-k classes of each image; 1 if any image could not be read, 2 if the run has no model."""
    from rich.console import Console

    from tui.core.predict import PredictError, load_run_model, predict_files
    from tui.core.tfenv import move_native_stderr, quiet_environment

    quiet_environment()
    move_native_stderr()  # TensorFlow's C++ log lines go to its log file, not between the predictions
    try:
        run = load_run_model(run_dir)
    except PredictError as exc:
        print(f"cnn-tui predict: {exc}", file=sys.stderr)
        return 2
    console = Console(highlight=False, soft_wrap=True)  # one line per image, however long its path
    console.print(f"[dim]model {run.model_file}, input {'x'.join(map(str, run.input_shape))}[/]")
    failed = 0
    for p in predict_files(run, images, top_k):
        if p.error:
            failed += 1
            print(f"cnn-tui predict: {p.path}: {p.error}", file=sys.stderr)
            continue
        console.print(f"[bold]{p.path}[/]: " + ", ".join(
            f"[{'green' if i == 0 else 'default'}]{name}[/] {prob:.1%}" for i, (name, prob) in enumerate(p.top)))
    return 1 if failed else 0


def cmd_compare(runs: list[str], runs_dir: str | None, markdown: str | None) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tui.core.compare import CompareError, compare, export_markdown

    try:
        comparison = compare(runs, runs_dir)
    except CompareError as exc:
        print(f"cnn-tui compare: {exc}", file=sys.stderr)
        return 2
    console = Console()
    for title, corner, rows in (("configuration keys that differ", "key", comparison.diff),
                                ("best metrics", "metric", comparison.metrics)):
        table = Table(corner, title=title)
        for name in comparison.names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(row.label, *(Text(v, style="bold green" if i == row.best else "")
                                       for i, v in enumerate(row.values)))
        console.print(table if rows else f"[dim]{title}: none — the runs have the same configuration[/]")
    for flag in comparison.flags():
        console.print(Text(f"⚠ {flag}", style="yellow"))
    if markdown:
        console.print(f"Markdown written to {export_markdown(comparison, markdown)}")
    return 0


def cmd_train(config: Any, runs_dir: str | None, resume_dir: str | None = None,
              lr_find: dict[str, Any] | None = None) -> int:
    """Run the session in a worker thread; the main thread draws progress and turns Ctrl+C into a stop."""
    from rich.console import Console

    from tui.core.session import TrainingSession
    from tui.core.tfenv import move_native_stderr, quiet_environment
    from tui.headless import HeadlessView, stop_on_signals

    quiet_environment()
    tf_log = move_native_stderr()  # TensorFlow's C++ chatter goes to a log file, not over the progress bars
    console = Console(stderr=False)
    view = HeadlessView(console)
    if resume_dir:
        session = TrainingSession.resume_from(resume_dir, listeners=[view.handle])
    else:
        session = TrainingSession(config, runs_dir=runs_dir, listeners=[view.handle], lr_find=lr_find)

    stop_on_signals(console, session, "Stopping at the next batch (Ctrl+C again to quit at once)…",
                    "Second interrupt: exiting now.")
    with view:
        session.start()
        while not session.join(0.2):
            pass
    result = session.result
    view.print_result(result)
    console.print(f"[dim]TensorFlow's own log: {tf_log}[/]")
    return 0 if result is not None and result.status in ("finished", "stopped") else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
