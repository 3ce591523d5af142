"""Command line: `cnn-tui` (the app), `cnn-tui train` (headless), `cnn-tui sweep`, `cnn-tui presets`, `runs`,
`compare`, `predict`, `inspect`, `resume`, `serve` (the app in a browser), `attach`, `lr-find`.

Start-up stays cheap: neither TensorFlow nor Textual is imported until a command needs it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


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


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The whole command line; without `commands`, the app's own options only (see _app_args)."""
    parser = argparse.ArgumentParser(
        prog="cnn-tui", description="Train convolutional networks in the terminal and see what goes wrong, live.")
    _common(parser)
    parser.add_argument("--start", action="store_true", help="start training as soon as the app opens")
    if not commands:
        return parser
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="run an experiment headless, with progress in the terminal")
    _common(train)
    _detach_options(train)
    train.add_argument("--in-run-dir", metavar="DIR", default=None, help=argparse.SUPPRESS)  # --detach's child
    sub.add_parser("presets", help="list the presets")
    runs = sub.add_parser("runs", help="list the runs in the runs folder")
    runs.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder (default: ./runs)")
    runs.add_argument("--filter", metavar="TEXT", default="", help="only runs whose row contains TEXT (any column)")
    runs.add_argument("--sort", metavar="COLUMN", default="started",
                      help="order by a column: run, started (the default), dataset, architecture, status, best, "
                           "epochs, wall; largest first except for text columns")
    runs.add_argument("--reverse", action="store_true", help="the other order")
    shown = runs.add_mutually_exclusive_group()
    shown.add_argument("-n", "--limit", type=int, default=None, metavar="N",
                       help="how many runs to show (default: a screenful)")
    shown.add_argument("--all", action="store_true", help="show every run")
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
    sweep.add_argument("--workers", default="auto", help="cells at once: a number, or auto (the default); 2 or more "
                                                         "start an embedded Dask cluster on 127.0.0.1")
    sweep.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="send the cells to an existing Dask cluster, e.g. tls://10.0.0.5:8786 (see the README)")
    sweep.add_argument("--tls-ca-file", default=None, help="CA certificate for a tls:// scheduler")
    sweep.add_argument("--tls-cert", default=None, help="this client's certificate for a tls:// scheduler")
    sweep.add_argument("--tls-key", default=None, help="this client's private key for a tls:// scheduler")
    sweep.add_argument("--no-models", action="store_true",
                       help="cells on other machines ship back their run directories without the saved models")
    sweep.add_argument("--resume", metavar="SWEEP_DIR", default=None,
                       help="continue an interrupted sweep; finished cells are not run again")
    sweep.add_argument("--notify", action="store_true", help="notify (terminal, webhook) when the sweep ends")
    from tui.headless_lrfind import add_parser as add_lr_find

    add_lr_find(sub, _common)
    resume = sub.add_parser("resume", help="continue an interrupted run (killed, crashed) in its own directory")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    _detach_options(resume)
    predict = sub.add_parser("predict", help="the top classes for image files, with a run's saved model")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    predict.add_argument("--top-k", type=int, default=3, metavar="K", help="how many classes to show (default 3)")
    serve = sub.add_parser("serve", help="the app in a browser, one app per tab (needs the [web] extra)",
                           description="Serve the app to a browser through textual-serve. The URL carries a secret "
                           "token (random, or $CNN_TUI_SERVE_TOKEN); only 127.0.0.1 unless --host says otherwise.")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; any other needs TLS or --insecure)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--certfile", default=None, help="TLS certificate (PEM), with --keyfile")
    serve.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow plain HTTP on a non-loopback address (the token and screens travel in clear)")
    serve.add_argument("target", nargs="?", default=None, metavar="ATTACH_TARGET",
                       help="open each tab on `cnn-tui attach ATTACH_TARGET` instead of the set-up")

    inspect = sub.add_parser("inspect", help="inside a run's model: filters, feature maps and Grad-CAM as PNG files")
    inspect.add_argument("run_dir", metavar="RUN_DIR")
    inspect.add_argument("image", metavar="IMAGE", nargs="?", default=None,
                         help="an image file (default: the run's most confident test mistake)")
    return parser


def load_config(args: argparse.Namespace) -> Any:
    """The experiment described by --preset, --set and --data-dir (defaults when no preset is given)."""
    from tui.core import presets as presets_mod

    return presets_mod.load_experiment(args.preset, args.overrides, args.data_dir)


def _app_args(argv: list[str]) -> argparse.Namespace | None:
    """The app's options when `argv` names no command (None otherwise, or for --help): building every command's
    parser took ~20 ms of the app's start, before its first frame."""
    if "-h" in argv or "--help" in argv:
        return None
    args, rest = build_parser(commands=False).parse_known_args(argv)
    if rest:  # a command (or a mistyped one: the whole parser says what it should be)
        return None
    args.command = None
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _app_args(argv) or build_parser().parse_args(argv)
    if args.command is None:  # the app: no garbage collection until its first frame (tui.ui.app.run_app)
        import gc

        gc.disable()
    if args.command == "runs":  # the run history needs neither the presets nor the configuration: a short start
        if args.delete or args.archive:
            return cmd_runs_remove(args.delete or [], args.archive or [], args.runs_dir)
        return cmd_runs(args.runs_dir, args.filter, args.sort, args.reverse, args.limit, args.all)
    from tui.core import presets as presets_mod
    from tui.core.params import ConfigError

    try:
        if args.command == "presets":
            return cmd_presets()
        if args.command == "attach":
            from tui.ui.attach import cmd_attach

            return cmd_attach(args.target, args.runs_dir, args.notify)
        if args.command == "predict":
            return cmd_predict(args.run_dir, args.images, args.top_k)
        if args.command == "inspect":
            return cmd_inspect(args.run_dir, args.image)
        if args.command == "compare":
            return cmd_compare(args.run_dirs, args.runs_dir, args.markdown)
        if args.command == "resume":
            if args.detach:
                return cmd_detach(None, None, args.notify, resume_dir=args.run_dir)
            return cmd_train(None, None, resume_dir=args.run_dir, notify=args.notify, child=args.detached_child)
        if args.command == "serve":
            from tui.serve import cmd_serve

            return cmd_serve(args, serve_app_args(args, build_parser()))
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
    if args.command == "lr-find":
        from tui.headless_lrfind import cmd_lr_find

        code, trained, lr_find = cmd_lr_find(config, args)
        return code if trained is None else cmd_train(trained, args.runs_dir, lr_find=lr_find)
    from tui.ui.app import run_app

    return run_app(config, runs_dir=args.runs_dir, start=args.start,
                   preset=str(presets_mod.resolve(args.preset)) if args.preset else None)


def serve_app_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The options each served tab's app runs with: checked here once, folders made absolute."""
    from pathlib import Path

    runs_dir = str(Path(args.runs_dir or "runs").resolve())
    if args.target:
        target = Path(args.target)
        return ["attach", str(target.resolve()) if target.exists() else args.target, "--runs-dir", runs_dir]
    from tui.core import presets as presets_mod

    load_config(args)  # a bad preset or --set fails now, not in every tab
    out = ["--runs-dir", runs_dir]
    if args.preset:
        out += ["--preset", str(presets_mod.resolve(args.preset).resolve())]
    for item in args.overrides:
        out += ["--set", item]
    if args.data_dir:
        out += ["--data-dir", str(Path(args.data_dir).resolve())]
    return out


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

    from tui.core import presets as presets_mod

    table = Table(Column("name", no_wrap=True), "description", "expected", "file", title="cnn-tui presets")
    for p in presets_mod.list_presets():
        table.add_row(p.name, p.description, p.expected, str(p.path))
    Console().print(table)
    return 0


def cmd_runs(runs_dir: str | None, needle: str = "", sort: str = "started", reverse: bool = False,
             limit: int | None = None, show_all: bool = False) -> int:
    """The runs folder as a table, newest first by default; a screenful unless --all or --limit says otherwise,
    with a count of the rest. The filter and the order work on the folder's index (tui.core.runs.RunIndex.query):
    only the runs shown are made into rows."""
    import os
    from pathlib import Path

    from tui.core.runs import RunIndex, sort_column

    try:
        col = sort_column(sort)
    except ValueError as exc:
        print(f"cnn-tui runs: {exc}", file=sys.stderr)
        return 2
    if limit is None and not show_all:
        lines = _terminal_size()[1]
        limit = max(10, lines - 7)  # title, header, rule and the notes below
    folder = Path(runs_dir or "runs")
    listing = _query_with_progress(RunIndex(folder), needle, col, reverse, limit)
    rows = [(*c[:4], c[4] + ("*" if r.resumable else ""), *c[5:]) for r in listing.records for c in [r.row]]
    notes = []
    if any(r.resumable for r in listing.records):
        notes.append("* interrupted: `cnn-tui resume RUN_DIR` continues it")
    if len(rows) < listing.matching:
        notes.append(f"{len(rows):,} of {listing.matching:,} runs{' matching ' + repr(needle) if needle else ''} "
                     "shown · --all lists every one, -n N that many, --filter TEXT narrows, --sort COLUMN orders")
    tty = sys.stdout.isatty()
    _print_table(f"runs in {folder}", rows, notes, _terminal_size()[0] if tty else 200,  # piped: whole rows
                 styled=tty and "NO_COLOR" not in os.environ)
    return 0


def _terminal_size() -> tuple[int, int]:
    """(columns, lines) of the terminal ($COLUMNS / $LINES first), 80x24 when there is none."""
    import os

    try:
        if sys.__stdout__ is None:
            raise OSError("no standard output")
        size = os.get_terminal_size(sys.__stdout__.fileno())
        columns, lines = size.columns, size.lines
    except (AttributeError, ValueError, OSError):
        columns, lines = 80, 24
    env = os.environ
    return (int(env["COLUMNS"]) if env.get("COLUMNS", "").isdigit() else columns or 80,
            int(env["LINES"]) if env.get("LINES", "").isdigit() else lines or 24)


def _print_table(title: str, rows: list[tuple[str, ...]], notes: list[str], width: int, styled: bool) -> None:
    """The run table as plain text: a header line, a rule, one line a row (numbers right-aligned), fitted to
    `width`: the columns least needed go first (started, architecture, dataset), then the run name is cut with
    "…". Written without Rich: importing it was most of a warm `cnn-tui runs` process's own work."""
    import unicodedata

    from tui.core.runs import COLUMNS

    bold, dim, plain = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if styled else ("", "", "")

    def cells(text: str) -> int:  # terminal cells: East Asian wide characters take two
        return len(text) + sum(unicodedata.east_asian_width(ch) in "WF" for ch in text if ord(ch) >= 0x1100)

    widths = [max([cells(name)] + [cells(row[i]) for row in rows]) for i, name in enumerate(COLUMNS)]
    keep = list(range(len(COLUMNS)))
    for drop in (1, 3, 2):  # one line a row, so that a screenful fits a screen
        if sum(widths[i] + 2 for i in keep) <= width:
            break
        keep.remove(drop)
    widths[0] = max(len(COLUMNS[0]), widths[0] - max(0, sum(widths[i] + 2 for i in keep) - width))

    def fit(text: str, i: int) -> str:
        while cells(text) > widths[i]:
            text = text[:-2] + "…"
        pad = " " * (widths[i] - cells(text))
        return pad + text if i >= 5 else text + pad

    def line(texts: tuple[str, ...]) -> str:
        return " " + "  ".join(fit(texts[i], i) for i in keep)

    total = sum(widths[i] + 2 for i in keep)
    out = [title.center(total).rstrip(), bold + line(COLUMNS).rstrip() + plain, " " + "─" * (total - 2)]
    out += [line(row).rstrip() for row in rows]
    if len(keep) < len(COLUMNS):
        notes.insert(0, f"({', '.join(COLUMNS[i] for i in range(len(COLUMNS)) if i not in keep)} left out: the "
                        f"terminal is {width} columns wide)")
    if styled or width < 200:  # a terminal: long notes wrap between words
        import textwrap

        notes = [textwrap.fill(note, width) for note in notes]
    out += [dim + note + plain for note in notes]
    sys.stdout.write("\n".join(out) + "\n")


def _query_with_progress(index: Any, needle: str, col: int, reverse: bool, limit: int | None) -> Any:
    """index.query(), saying on the terminal how far it got when it takes a while (the first scan of a big folder
    reads every run once; later ones come from the index)."""
    import time

    t0 = time.perf_counter()
    status: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal status
        if status is None and sys.stderr.isatty() and time.perf_counter() - t0 > 0.3:
            from rich.console import Console  # only now: a listing from the index is over before this

            status = Console(stderr=True).status("")
            status.start()
        if status is not None:
            status.update(f"reading {done:,}/{total:,} runs once to index them "
                          f"(later listings read {index.path.name})")

    try:
        return index.query(needle, col, reverse, limit, progress)
    finally:
        if status is not None:
            status.stop()


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


def cmd_inspect(run_dir: str, image: str | None) -> int:
    """Write the inside view as PNG files into RUN_DIR/inspect/ and print their paths; 2 when it cannot."""
    from rich.console import Console

    from tui.core.inside import InspectError, inspect_run
    from tui.core.tfenv import move_native_stderr, quiet_environment

    quiet_environment()
    move_native_stderr()
    try:
        result = inspect_run(run_dir, image)
    except InspectError as exc:
        print(f"cnn-tui inspect: {exc}", file=sys.stderr)
        return 2
    console = Console(highlight=False, soft_wrap=True)
    v = result.view
    console.print(f"[dim]model {result.model_file}[/]\nimage: {result.choice.source}")
    console.print("top classes: " + ", ".join(f"{name} {p:.1%}" for name, p in v.top))
    for note in v.notes:
        console.print(f"[yellow]{note}[/]")
    for lm in v.maps:
        console.print(f"{lm.layer}: output {'x'.join(map(str, lm.shape))}, most active channels "
                      + " ".join(f"#{c}" for c in lm.order[:8]))
    for path in result.paths:
        print(path)
    return 0


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
              child: bool = False, in_run_dir: str | None = None,
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
        session = TrainingSession(config, runs_dir=runs_dir, listeners=[view.handle], lr_find=lr_find)
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
