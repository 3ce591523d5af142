"""Training throughput: the app (headless Pilot, live charts) and the headless CLI session against bare
`model.fit(verbose=0)` on the same model, data, batch size and seed.

Each measurement runs in its own fresh process, interleaved (bare, session, app, bare, ...), and the figure
is training samples per second from the median *epoch cycle*: the time from one epoch's end to the next's (so
it holds the validation pass and everything done between epochs: the session's checkpoints, backups and CSV row
of the epoch before; the first epoch, with its tracing, is in none). The session's and the app's epoch ends are
read from the run's event log (each EpochEnd is stamped when the training thread emits it), the bare fit's from
a callback. Ratios are against the bare runs of the same rounds. The session's and the app's saving callbacks
are also timed directly (`DIRECT` lines: their share of the epoch cycle), which the rounds' noise does not swamp.

    python benchmarks/throughput.py            # Fashion-MNIST from ../shared/data if present, else digits
    python benchmarks/throughput.py --rounds 3 --train-size 20000 --epochs 4
    python benchmarks/throughput.py --compare /tmp/variant   # also another checkout's app, in the same rounds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _child import run_child
from _stats import control_line, mean_ci, ratios, target_line

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CNN_TUI_BENCH_DATA") or ROOT.parent / "shared" / "data")
"""The real datasets (CNN_TUI_BENCH_DATA overrides: a worktree's ../shared/data may not exist)."""


def experiment_values(args: argparse.Namespace) -> dict[str, object]:
    """The set-up every mode trains (also what benchmarks/latency.py passes to the app as --set)."""
    values: dict[str, object] = {"model.architecture": "simple_cnn", "model.conv_filters": 32,
                                 "model.dense_units": 128, "training.epochs": args.epochs,
                                 "training.batch_size": args.batch_size, "training.seed": 1}
    if getattr(args, "dataset", "auto") != "digits" and (SHARED / "fashion-mnist").is_dir():
        values.update({"dataset.name": "fashion_mnist", "dataset.data_dir": str(SHARED),
                       "dataset.train_size": args.train_size})
    else:
        values.update({"dataset.name": "digits"})
    return values


def experiment(args: argparse.Namespace):
    from tui.core import config as cfg

    return cfg.ExperimentConfig().with_values(experiment_values(args))


def bare_parts(config):
    """What a user's own script would fit: the model (compiled), the train and validation pipelines and the steps
    per epoch, built as the session builds them, with nothing of the session around them."""
    from tui.core import datasets, keras_parts, tfenv

    tf = tfenv.import_tensorflow()
    import keras

    from models import build_model

    data = datasets.load_dataset(config.dataset)
    keras.utils.set_random_seed(config.training.seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(config, data.info.input_shape, data.info.num_classes)
    model.compile(optimizer=keras_parts.make_optimizer(config), loss=config.training.loss, metrics=["accuracy"])
    n = data.info.num_classes
    train = keras_parts.make_dataset(data.x_train, data.y_train, n, config, shuffle=True)
    val = keras_parts.make_dataset(data.x_val, data.y_val, n, config, shuffle=False)
    return model, train, val, keras_parts.steps_for(len(data.x_train), config.training.batch_size)


def run_bare(config) -> list[float]:
    """The wall times of a bare fit's epoch ends."""
    import keras

    model, train, val, steps = bare_parts(config)
    ends: list[float] = []

    class EpochTimer(keras.callbacks.Callback):  # one call per epoch: nothing per batch
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.time())

    model.fit(train, validation_data=val, epochs=config.training.epochs, steps_per_epoch=steps, verbose=0,
              shuffle=False, callbacks=[EpochTimer()])
    return ends


def cycles(ends: list[float]) -> list[float]:
    """Epoch cycles: the seconds from each epoch's end to the next's."""
    return [b - a for a, b in zip(ends, ends[1:])]


def logged_ends(runs: Path) -> list[float]:
    """The wall times of the epoch ends of the one run under `runs`, from the EpochEnd stamps of its event log."""
    log = next(Path(runs).glob("*/events.jsonl"))
    return [rec["time"] for rec in map(json.loads, log.read_text().splitlines())
            if rec.get("event") == "EpochEnd" and not rec.get("partial")]


def run_session(config, runs: Path) -> list[float]:
    """The wall times of the headless session's epoch ends (from its event log)."""
    from tui.core.session import TrainingSession
    from tui.headless import HeadlessView
    from rich.console import Console

    view = HeadlessView(Console(file=open(os.devnull, "w"), force_terminal=True))
    session = TrainingSession(config, runs_dir=runs, listeners=[view.handle])
    with view:
        session.start()
        session.join()
    assert session.result.status == "finished", session.result.error
    return logged_ends(runs)


def run_app(config, runs: Path) -> list[float]:
    """The wall times of the app's epoch ends (from its run's event log)."""
    import asyncio

    from tui.ui.app import CnnTuiApp

    sample_clock(ui_cpu, time.pthread_getcpuclockid(threading.get_ident()))

    async def go() -> list[float]:
        app = CnnTuiApp(config, runs_dir=runs, start=True)
        async with app.run_test(size=(120, 45)):
            # the run starts after the first frame: wait for its screen, then for its end (not for the workers,
            # which may all be done before the training worker has started on a busy machine)
            while getattr(app.screen, "monitor", None) is None or app.screen.monitor.ended is None:
                await asyncio.sleep(0.2)  # (Pilot.pause makes every widget answer: work the app never does)
            await app.workers.wait_for_complete()
            assert app.session.result.status == "finished", app.session.result.error
            return logged_ends(runs)

    return asyncio.run(go())


ui_cpu: list[tuple[float, float]] = []
"""(time, CPU seconds of the app's UI thread) samples, for the app's DIRECT line."""


def sample_clock(samples: list[tuple[float, float]], clock: int) -> None:
    """Appends to `samples`, every 50 ms from now on, (wall time, `clock`): the CPU time of the app's UI thread
    (its own clock: what drawing costs the run, training has its own worker thread), or of the whole process
    (CLOCK_PROCESS_CPUTIME_ID: what an epoch costs in work, which the machine's drift moves less than its wall
    time)."""
    def sample() -> None:
        while True:
            samples.append((time.time(), time.clock_gettime(clock)))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True, name="cpu-sampler").start()


def cpu_between(samples: list[tuple[float, float]], t0: float, t1: float) -> float:
    """CPU seconds used between wall times t0 and t1 (the nearest samples)."""
    def at(t: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - t))[1]
    return at(t1) - at(t0)


SAVERS = ("ModelCheckpoint", "BackupAndRestore", "CSVLogger")
"""The Keras callbacks whose `on_epoch_end` writes the run's files (the bare fit has none): the session's best
model and backup (tui.core.keras.saving.BestModel, SpacedBackup) inherit theirs."""


def time_saves() -> dict[int, float]:
    """Times the saving callbacks' `on_epoch_end` from now on in this process: {epoch: seconds in them}. The
    direct measure of what the per-epoch saves cost, which the rounds' noise can swamp in the ratios."""
    import keras

    spent: dict[int, float] = {}
    for cls in (getattr(keras.callbacks, n) for n in SAVERS):
        def timed(cb, epoch, logs=None, _real=cls.on_epoch_end):
            t0 = time.perf_counter()
            _real(cb, epoch, logs)
            spent[epoch + 1] = spent.get(epoch + 1, 0.0) + time.perf_counter() - t0
        cls.on_epoch_end = timed
    return spent


def child(mode: str, args: argparse.Namespace) -> None:
    config = experiment(args)
    spent = time_saves() if mode != "bare" else {}
    process_cpu: list[tuple[float, float]] = []
    sample_clock(process_cpu, time.CLOCK_PROCESS_CPUTIME_ID)
    with tempfile.TemporaryDirectory() as runs:
        ends = {"bare": lambda: run_bare(config), "session": lambda: run_session(config, Path(runs)),
                "app": lambda: run_app(config, Path(runs))}[mode]()
        times = cycles(ends)
        cpu = [cpu_between(process_cpu, a, b) for a, b in zip(ends, ends[1:])]
        # cycle i runs from epoch i + 1's end to epoch i + 2's: it holds epoch i + 1's saves
        shares = [spent.get(i + 1, 0.0) / t for i, t in enumerate(times)] if spent else []
        ui = []
        if ui_cpu:
            ui = [cpu_between(ui_cpu, a, b) / (b - a) for a, b in zip(ends, ends[1:])]
    print("RESULT " + json.dumps({"mode": mode, "epoch_seconds": times, "save_shares": shares, "ui_shares": ui,
                                  "cpu_seconds": cpu}))


MODES = ("bare", "bare2", "session", "app")
"""bare2 is a second bare run in the same round: bare / bare2 is the control that shows the machine's noise."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="at least 2: the figure is over epochs 2..N")
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto",
                        help="auto: Fashion-MNIST from ../shared/data when present, else digits")
    parser.add_argument("--child", choices=("bare", "session", "app"))
    parser.add_argument("--compare", metavar="DIR", action="append", default=[],
                        help="also the app of another checkout (before/after, a variant), in the same rounds")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the figure is the time from one epoch's end to the next's)")
    if args.child:
        child(args.child, args)
        return
    config = experiment(args)
    others = {f"app@{Path(d).name}": str(Path(d).resolve() / "benchmarks" / "throughput.py") for d in args.compare}
    modes = MODES + tuple(others)
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    saves: dict[str, list[float]] = {"session": [], "app": []}
    ui: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for r in range(args.rounds):
        # the order turns each round (a Latin square over 4 rounds): the first process of a round ran slower
        # here, right after the last one's exit, which a fixed order charged to bare every round
        for mode in modes[r % len(modes):] + modes[:r % len(modes)]:
            script, kind = (others[mode], "app") if mode in others else (__file__, mode.rstrip("2"))
            res = run_child(script, kind, args, extra=["--dataset", args.dataset])
            results[mode].append(statistics.median(res["epoch_seconds"]))
            cpu[mode].append(statistics.median(res["cpu_seconds"]))
            line = (f"round {r + 1} {mode:<12} median epoch cycle {results[mode][-1]:.3f} s, "
                    f"{cpu[mode][-1]:.3f} CPU s")
            if res.get("save_shares"):
                saves.setdefault(mode, []).append(100 * statistics.median(res["save_shares"]))
                line += f", {saves[mode][-1]:.2f}% of it in the per-epoch saves"
            if res.get("ui_shares"):
                ui.setdefault(mode, []).append(100 * statistics.median(res["ui_shares"]))
                line += f", the UI thread busy {ui[mode][-1]:.1f}% of it"
            print(line, flush=True)
    from tui.core import datasets

    n_train = datasets.load_dataset(config.dataset).info.train
    print(f"\n{config.dataset.name}, {n_train} training samples, simple_cnn, batch {config.training.batch_size}, "
          f"{args.epochs} epochs, {args.rounds} interleaved rounds, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':<14}{'samples/s':>12}{'ratio vs bare':>16}{'95% CI':>16}")
    for mode in modes:
        t = statistics.median(results[mode])
        m, lo, hi = mean_ci(ratios(results["bare"], results[mode]))  # per round: bare time / mode time
        print(f"{mode:<14}{n_train / t:>12,.0f}{m:>16.3f}{f'{lo:.3f}–{hi:.3f}':>16}")
    for mode in ("session", "app"):
        print(target_line(f"throughput {mode}/bare", *mean_ci(ratios(results["bare"], results[mode])),
                          args.rounds, at_least=0.98))
    print(control_line("throughput bare/bare again", ratios(results["bare"], results["bare2"])))
    for mode, shares in saves.items():  # what the ratios cannot resolve: the saves' own share, measured directly
        m, lo, hi = mean_ci(shares)
        print(f"DIRECT {mode}: per-epoch saves ({', '.join(SAVERS)}) {m:.2f}% of the epoch cycle "
              f"(95% CI {lo:.2f}–{hi:.2f}, N={len(shares)})")
    for mode in ("session", "app", *others, "bare2"):  # work per epoch, which the machine's drift moves far less
        # (a round whose epochs are shorter than the CPU sampler's 50 ms can read 0 CPU seconds: left out)
        per_round = [a / b for a, b in zip(cpu["bare"], cpu[mode]) if b > 0]
        if not per_round:
            print(f"DIRECT {mode}: CPU per epoch cycle not resolved (epochs too short for the 50 ms CPU sampler)")
            continue
        m, lo, hi = mean_ci(per_round)
        print(f"DIRECT {mode}: bare's CPU seconds per epoch cycle / {mode}'s {m:.3f} (95% CI {lo:.3f}–{hi:.3f}, "
              f"N={len(per_round)}; all threads of the process{'; the control' if mode == 'bare2' else ''})")
    for mode, shares in ui.items():
        m, lo, hi = mean_ci(shares)
        print(f"DIRECT {mode}: the UI thread's CPU (drawing, Textual) {m:.1f}% of one core over the epoch cycle "
              f"(95% CI {lo:.1f}–{hi:.1f}, N={len(shares)}), i.e. {m / (os.cpu_count() or 1):.1f}% of the machine")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
