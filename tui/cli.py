"""Command line: `cnn-tui` (the app), `cnn-tui train` (headless), `cnn-tui sweep`, `cnn-tui presets`, `runs`,
`compare`, `predict`, `resume`, `attach`.

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


def _detach_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detach", action="store_true",
                   help="run in the background, in its own session (survives the terminal closing); prints the run "
                        "directory and the `cnn-tui attach` command, output goes to output.log in the run directory")
    p.add_argument("--notify", action="store_true",
                   help="notify at the run's end and at its first warning (terminal bell + desktop notification; "
                        "the webhook of the settings file or $CNN_TUI_WEBHOOK_URL)")
    p.add_argument("--detached-child", action="store_true", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-tui", description="Train convolutional networks in the terminal and see what goes wrong, live.")
    _common(parser)
    parser.add_argument("--start", action="store_true", help="start training as soon as the app opens")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="run an experiment headless, with progress in the terminal")
    _common(train)
    _detach_options(train)
    train.add_argument("--in-run-dir", metavar="DIR", default=None, help=argparse.SUPPRESS)  # --detach's child
    sub.add_parser("presets", help="list the presets")
    runs = sub.add_parser("runs", help="list the runs in the runs folder")
    runs.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder (default: ./runs)")
    runs.add_argument("--delete", nargs="+", metavar="RUN", default=None,
                      help="delete these runs (directory or name in --runs-dir); a live run is refused")
    runs.add_argument("--archive", nargs="+", metavar="RUN", default=None,
                      help="pack these runs into RUNS_DIR/archive/NAME.tar.gz and remove them")
    attach = sub.add_parser("attach", help="follow a run (or sweep) that another process writes, live; stop or "
                                           "pause it from there")
    attach.add_argument("target", metavar="RUN_DIR|SWEEP_DIR|latest")
    attach.add_argument("--runs-dir", metavar="DIR", default=None, help="where `latest` looks (default: ./runs)")
    attach.add_argument("--notify", action="store_true", help="bell and desktop notification at the run's end and "
                                                              "first warning")
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
    sweep.add_argument("--notify", action="store_true", help="notify (terminal, webhook) when the sweep ends")
    resume = sub.add_parser("resume", help="continue an interrupted run (killed, crashed) in its own directory")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    _detach_options(resume)
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
            if args.delete or args.archive:
                return cmd_runs_remove(args.delete or [], args.archive or [], args.runs_dir)
            return cmd_runs(args.runs_dir)
        if args.command == "attach":
            from tui.ui.attach import cmd_attach

            return cmd_attach(args.target, args.runs_dir, args.notify)
        if args.command == "predict":
            return cmd_predict(args.run_dir, args.images, args.top_k)
        if args.command == "compare":
            return cmd_compare(args.run_dirs, args.runs_dir, args.markdown)
        if args.command == "resume":
            if args.detach:
                return cmd_detach(None, None, args.notify, resume_dir=args.run_dir)
            return cmd_train(None, None, resume_dir=args.run_dir, notify=args.notify, child=args.detached_child)
        if args.command == "train" and args.in_run_dir:
            return cmd_train(None, None, notify=args.notify, child=args.detached_child, in_run_dir=args.in_run_dir)
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
        if args.detach:
            return cmd_detach(config, args.runs_dir, args.notify)
        return cmd_train(config, args.runs_dir, notify=args.notify)
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


def cmd_runs_remove(delete: list[str], archive: list[str], runs_dir: str | None) -> int:
    """Delete or archive ended runs; a live run (or a name that is not a run) is refused, the rest go."""
    from tui.core.runs import RunRemoveError, archive_run, delete_run, resolve_run

    failed = 0
    for names, act, verb in ((delete, delete_run, "deleted"), (archive, archive_run, "archived")):
        for name in names:
            try:
                done = act(resolve_run(name, runs_dir))
            except RunRemoveError as exc:
                print(f"cnn-tui runs: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(f"{verb}: {done}")
    return 2 if failed else 0


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


def cmd_detach(config: Any, runs_dir: str | None, notify: bool, resume_dir: str | None = None) -> int:
    """Start the run detached, say where it is and how to follow it, and return at once."""
    from pathlib import Path

    from tui.core import detach
    from tui.core.rundir import RunDir
    from tui.core.settings import SettingsError

    try:
        if resume_dir:
            from tui.core.runs import read_run

            record = read_run(Path(resume_dir))
            if record is None or not record.resumable:
                print(f"cnn-tui resume: {resume_dir} is " + (f"{record.status}; only an interrupted run can be resumed"
                      if record else "not a run directory (no config.toml)"), file=sys.stderr)
                return 2
            detach.resume(Path(resume_dir), notify=notify)
            run_dir = Path(resume_dir)
        else:
            run_dir = detach.start_train(config, runs_dir, notify=notify)
        run_dir = run_dir.resolve()  # the attach command works from any directory
    except (detach.DetachRefused, SettingsError) as exc:
        print(f"cnn-tui: {exc}", file=sys.stderr)
        return 2
    print(f"Detached run: {run_dir}\n"
          f"  follow it:  cnn-tui attach {run_dir}\n"
          f"  its output: {RunDir(run_dir).output_log}")
    return 0


def cmd_train(config: Any, runs_dir: str | None, resume_dir: str | None = None, notify: bool = False,
              child: bool = False, in_run_dir: str | None = None) -> int:
    """Run the session in a worker thread; the main thread draws progress and turns Ctrl+C into a stop."""
    from rich.console import Console

    from tui.core.session import TrainingSession
    from tui.core.tfenv import move_native_stderr, quiet_environment
    from tui.headless import HeadlessView, stop_on_signals

    quiet_environment()
    tf_log = move_native_stderr()  # TensorFlow's C++ chatter goes to a log file, not over the progress bars
    console = Console(stderr=False)
    view = HeadlessView(console)
    from tui.core.notify import notifier_for
    from tui.core.settings import SettingsError

    try:
        notifier, hook = notifier_for(notify, terminal=not child)  # tui.core.notify
    except SettingsError as exc:
        print(f"cnn-tui: {exc}", file=sys.stderr)
        return 2
    if resume_dir:
        session = TrainingSession.resume_from(resume_dir, listeners=[view.handle])
    elif in_run_dir:
        session = TrainingSession.in_run_dir(in_run_dir, listeners=[view.handle])
    else:
        session = TrainingSession(config, runs_dir=runs_dir, listeners=[view.handle])
    session.detached = child
    if notifier is not None:
        session.subscribe(notifier)

    stop_on_signals(console, session, "Stopping at the next batch (Ctrl+C again to quit at once)…",
                    "Second interrupt: exiting now.")
    with view:
        session.start()
        while not session.join(0.2):
            pass
    result = session.result
    view.print_result(result)
    console.print(f"[dim]TensorFlow's own log: {tf_log}[/]")
    if hook is not None:
        hook.wait(hook.timeout)  # the end notice gets its few seconds; training is over by now
    return 0 if result is not None and result.status in ("finished", "stopped") else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
