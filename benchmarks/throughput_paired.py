"""Training throughput paired epoch by epoch in one process: a bare `model.fit`, a second bare fit (the control)
and the session or the app take turns, one epoch each, so each round compares epochs trained seconds apart, in
the same process, on the same TensorFlow thread pools.

throughput.py compares separate processes, minutes apart; on a shared 2-core machine two bare fits measured that
way differ by ~10 % (its bare/bare control: 0.90, interval ±0.09 at N=6), five times the 2 % the target leaves.
Here the machine's drift and each process's own luck (memory layout, thread placement) are common to the three
epochs of a round, and a run gives as many rounds as it has epochs.

How a turn works: each trainer waits at the end of each epoch (the bare fits in a callback, the session in a
listener that gets the run's EpochEnd before anything else, the app's own listener included) until its turn
comes again. A turn is timed from its release to its arrival at the next epoch's end: it holds the epoch's
batches, its validation pass, and what the trainer does after the previous epoch's end (the session's saves, CSV
row and event log; the app draws that epoch's row and charts as its listener gets the event at the release).
The first epoch (tracing) is in no turn, and the three fits begin it together, once the subject has built its
model. (In throughput round 13, bare, which then began while bare2 and the subject were still being built, carried
most of the spread between processes: over 16 processes the means of subject/bare and bare/bare2 correlated at
0.86; begun together, at 0.63, near the 0.5 of three trainers with biases alike.) Each round takes the next of the
six orders of the three, so each trainer follows each other as often (over a multiple of 6 rounds).

What it does not charge: the app's idle timers during the other trainers' turns (its 4 Hz drain with nothing
queued, the 1 Hz status line): that work is in their turns, against bare as much as the subject.

The run's start (`--start-rounds S`, 12 by default): the app's screen starts a run with UI_BURST (0.3 s) of its
CPU budget saved up, so that the first epochs of a run are drawn as they end (tui.ui.screens.training); that is
spent in the app's first ~10 turns (13.5 ms of the UI thread a turn against 3.7 ms after them, and the app's epoch
7 % longer than bare's: benchmarks/README.md, throughput round 19). A fixed cost of a run's start is a larger
share of a shorter benchmark (24 rounds of 0.75 s epochs: ~1.7 %; of 2 s epochs: ~0.6 %), so the first S rounds
are reported on a START line of their own and the TARGET is over the `--rounds` after them, as the first (tracing)
epoch is left out of every turn. (S a multiple of 6 keeps the orders balanced in both parts.)

Several processes (`--processes P`): each process carries a bias of its own, per trainer, of a percent or two
(memory and thread placement stay put for all of a trainer's epochs): at 150 rounds in one process the bare/bare2
control read 1.019 (1.000-1.037), and the app read 0.993 where the session alone, an hour earlier, read 0.976. No
number of rounds in one process averages that out, so the interval of one process is narrower than the truth.
With P processes (one after another, each its own rounds) the figure is the mean of the processes' means and its
interval is taken over those P means (Student's t, P-1 degrees of freedom): that interval holds the processes'
own biases. Runs of one subject and size on the same code can be taken together afterwards, over all their
processes: benchmarks/pool_processes.py reads their printed output.

    python benchmarks/throughput_paired.py                     # the app, Fashion-MNIST 6,000 when present
    python benchmarks/throughput_paired.py --subject session --rounds 30
    python benchmarks/throughput_paired.py --subject session --processes 6 --rounds 24
    python benchmarks/throughput_paired.py --processes 16 --rounds 24 --start-rounds 12   # throughput round 19
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import control_line, mean_ci, ratios, target_line  # noqa: E402
from throughput import bare_parts, experiment  # noqa: E402


class Turns:
    """Trainers that take turns an epoch each: `arrive(name)` (on the trainer's thread, at an epoch's end) blocks
    until `turn(name)` (the conductor's thread) releases it, and `turn` returns once it has arrived again."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._at_gate: dict[str, float] = {}
        """Trainers waiting at an epoch's end: when they arrived."""
        self._released: str | None = None
        self.over = False
        """Set by `finish()`: every trainer is let go and told to stop."""

    def arrive(self, name: str) -> bool:
        """Wait here until it is `name`'s turn (True) or the benchmark is over (False: stop training)."""
        with self._cv:
            self._at_gate[name] = time.perf_counter()
            self._cv.notify_all()
            self._cv.wait_for(lambda: self._released == name or self.over)
            self._released = None
            return not self.over

    def wait_all(self, names: list[str], timeout: float) -> None:
        """Until every trainer has reached its first gate (the end of its first epoch)."""
        with self._cv:
            if not self._cv.wait_for(lambda: all(n in self._at_gate for n in names), timeout):
                raise SystemExit(f"not every trainer finished its first epoch in {timeout:.0f} s: "
                                 f"{sorted(set(names) - set(self._at_gate))} did not")

    def turn(self, name: str) -> tuple[float, float]:
        """One epoch of `name`: (wall seconds, process CPU seconds) from its release to its next arrival."""
        with self._cv:
            assert name in self._at_gate and self._released is None
            del self._at_gate[name]
            cpu0, t0 = time.process_time(), time.perf_counter()
            self._released = name
            self._cv.notify_all()
            self._cv.wait_for(lambda: name in self._at_gate)
            return self._at_gate[name] - t0, time.process_time() - cpu0

    def finish(self) -> None:
        with self._cv:
            self.over = True
            self._cv.notify_all()


def bare_trainer(name: str, config: Any, turns: Turns, ready: threading.Event) -> threading.Thread:
    """A bare fit in a thread of its own, built now, fitting once `ready` is set (the subject has built its model
    too), waiting for its turn at each epoch's end."""
    import keras

    model, train, val, steps = bare_parts(config)

    class Gate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not turns.arrive(name):
                self.model.stop_training = True

    def fit() -> None:
        ready.wait()
        model.fit(train, validation_data=val, epochs=config.training.epochs, steps_per_epoch=steps, verbose=0,
                  shuffle=False, callbacks=[Gate()])

    thread = threading.Thread(target=fit, name=name, daemon=True)
    thread.start()
    return thread


def gated_session_class(turns: Turns, ready: threading.Event):
    """TrainingSession that waits for its turn when its EpochEnd is published, before any other listener, and sets
    `ready` when it is about to fit (RunStarted; or ends without)."""
    from tui.core.events import EpochEnd, RunEnded, RunStarted
    from tui.core.session import TrainingSession

    class GatedSession(TrainingSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

            def gate(event: Any) -> None:
                if isinstance(event, EpochEnd) and not turns.arrive("subject"):
                    self.stop()

            def start(event: Any) -> None:
                if isinstance(event, (RunStarted, RunEnded)):
                    ready.set()

            self.bus.subscribe(gate, name="benchmark turns", first=True)
            self.bus.subscribe(start, name="benchmark start")

    return GatedSession


def conduct(turns: Turns, names: list[str], rounds: int, out: dict[str, list[tuple[float, float]]],
            ui: dict[str, float], log: TextIO | None = None, state: Path | None = None, start: int = 0) -> None:
    """`start` rounds and then `rounds` more, each printed to `log` (this process's stdout by default); with
    ui["clock"] (the app's UI thread's CPU clock), ui["cpu"] is that thread's CPU seconds over the `rounds` after
    the start and ui["cpu_start"] over the `start` rounds (neither holds the app's start-up, nor its end).
    With `state`, the name of the trainer whose turn it is is written there as each turn begins, and "done" after
    the last (what benchmarks/latency.py presses keys by)."""
    log = log or sys.__stdout__  # (the headless view's rich Progress takes over sys.stdout while it shows)
    turns.wait_all(names, timeout=600)
    clock = int(ui["clock"]) if "clock" in ui else None
    cpu0 = time.clock_gettime(clock) if clock is not None else 0.0
    orders = list(itertools.permutations(names))  # each trainer follows each other as often (a turned order
    # alone kept who follows whom: bare always came after the subject, and bare/bare2 read 1.03-1.05)
    for r in range(start + rounds):
        if r == start and clock is not None and start:
            ui["cpu_start"] = time.clock_gettime(clock) - cpu0
            cpu0 = time.clock_gettime(clock)
        order = orders[(r if r < start else r - start) % len(orders)]
        for name in order:
            if state is not None:
                state.write_text(name)
            out[name].append(turns.turn(name))
        print(f"round {r + 1:>2} " + ", ".join(f"{n} {out[n][-1][0]:.3f} s" for n in order), flush=True, file=log)
    if clock is not None:
        ui["cpu"] = time.clock_gettime(clock) - cpu0
    if state is not None:
        state.write_text("done")
    turns.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subject", choices=("app", "session"), default="app")
    parser.add_argument("--rounds", type=int, default=24, help="a multiple of 6 balances the orders")
    parser.add_argument("--start-rounds", type=int, default=12,
                        help="rounds first, the run's start, reported apart (the app's saved-up UI budget)")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto",
                        help="auto: Fashion-MNIST from ../shared/data when present, else digits")
    parser.add_argument("--processes", type=int, default=1,
                        help="run the rounds in this many processes, one after another; the interval is then taken "
                             "over the processes' means")
    parser.add_argument("--json", default=None, help=argparse.SUPPRESS)  # a child of --processes: its turns, here
    # benchmarks/latency.py's child: the app in this terminal, whose turn it is written to a file, the rounds to another
    parser.add_argument("--terminal", metavar="STATE", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rounds-log", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processes > 1:
        several_processes(args)
        return
    # the first epoch is in no turn; the trainers are stopped after the last round
    args.epochs = args.start_rounds + args.rounds + 2
    config = experiment(args)
    turns = Turns()
    names = ["bare", "bare2", "subject"]
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    ready = threading.Event()  # the three fits start together, once all three models are built (below)
    threads = [bare_trainer("bare", config, turns, ready), bare_trainer("bare2", config, turns, ready)]
    ui: dict[str, float] = {}
    log = open(args.rounds_log, "w") if args.rounds_log else None  # (closed once the rounds are over)
    state = Path(args.terminal) if args.terminal else None
    conductor = threading.Thread(target=conduct, args=(turns, names, args.rounds, out, ui, log, state,
                                                       args.start_rounds), daemon=True)
    session_class = gated_session_class(turns, ready)
    with tempfile.TemporaryDirectory() as runs:
        if args.subject == "session":
            run_session(session_class, config, Path(runs), conductor)
        else:
            ui["clock"] = time.pthread_getcpuclockid(threading.get_ident())  # the app runs on this thread
            run_app(session_class, config, Path(runs), conductor, in_terminal=state is not None)
    for t in threads:
        t.join(timeout=60)
    if log is not None:
        log.close()
    report(args, config, out, ui)
    if args.json:
        result = {"turns": out, "ui_cpu": ui.get("cpu"), "ui_cpu_start": ui.get("cpu_start")}
        Path(args.json).write_text(json.dumps(result))


def several_processes(args: argparse.Namespace) -> None:
    """`--processes P`: P child processes, one after another, each the one-process benchmark with `--rounds`;
    the figures are over the processes' means."""
    subject = args.subject
    means: dict[str, list[float]] = {"wall": [], "control": [], "cpu": [], "both": [], "start": []}
    pooled: list[float] = []
    print(f"{subject}, {args.processes} processes × {args.rounds} rounds, on {code_version()}", flush=True)
    # (the lines a run prints are what benchmarks/pool_processes.py reads back: RUN_LINE, PROCESS_LINE)
    for i in range(args.processes):
        with tempfile.TemporaryDirectory() as tmp:
            out_file = Path(tmp) / "turns.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--subject", subject, "--rounds", str(args.rounds),
                   "--train-size", str(args.train_size), "--batch-size", str(args.batch_size),
                   "--dataset", args.dataset, "--json", str(out_file), "--start-rounds", str(args.start_rounds)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not out_file.is_file():
                raise SystemExit(f"process {i + 1} failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
                                 f"{done.stderr[-2000:]}")
            turns = json.loads(out_file.read_text())["turns"]
        start, turns = split_start(turns, args.start_rounds)
        if start:
            means["start"].append(statistics.fmean(start))
        wall = {n: [w for w, _ in v] for n, v in turns.items()}
        cpu = {n: [c for _, c in v] for n, v in turns.items()}
        rs = ratios(wall["bare"], wall["subject"])
        pooled += rs
        means["wall"].append(statistics.fmean(rs))
        means["control"].append(statistics.fmean(ratios(wall["bare"], wall["bare2"])))
        means["cpu"].append(statistics.fmean(ratios(cpu["bare"], cpu["subject"])))
        means["both"].append(statistics.fmean(ratios(both_bares(wall), wall["subject"])))
        print(f"process {i + 1}/{args.processes}: {args.rounds} rounds, {subject}/bare {means['wall'][-1]:.3f}, "
              f"bare/bare2 {means['control'][-1]:.3f}, CPU bare/{subject} {means['cpu'][-1]:.3f}, "
              f"{subject}/both bares {means['both'][-1]:.3f}", flush=True)
    summarize_processes(subject, args.rounds, means, f"{os.cpu_count()} cores", pooled)
    if means["start"]:
        print(start_line(subject, args.start_rounds, means["start"], f"{len(means['start'])} processes"))


RUN_LINE = re.compile(r"^\w+, \d+ processes × \d+ rounds, on (?P<code>.+)$")
"""A `--processes` run's first line, as printed above: which code it measured."""
PROCESS_LINE = re.compile(r"^process \d+/\d+: (?P<rounds>\d+) rounds, (?P<subject>\w+)/bare (?P<wall>[\d.]+), "
                          r"bare/bare2 (?P<control>[\d.]+), CPU bare/\w+ (?P<cpu>[\d.]+), "
                          r"\w+/both bares (?P<both>[\d.]+)$")
"""A process's line, as printed above: its means ("wall", "control", "cpu", "both")."""


def summarize_processes(subject: str, rounds: int, means: dict[str, list[float]], where: str,
                        pooled: list[float] | None = None) -> None:
    """The figures over the processes' means (`means`: "wall", "control", "cpu", "both", one value a process);
    with `pooled` (every round's ratio), the figure as if all the rounds were one process's."""
    p = len(means["wall"])
    print(f"\n{p} processes × {rounds} rounds (bare, bare2, {subject}; one epoch each), {where}; "
          f"each figure is the mean of the processes' means, its interval over those {p} means")
    print(target_line(f"throughput {subject}/bare ({p} processes)", *mean_ci(means["wall"]), p, at_least=0.98))
    print(control_line(f"throughput bare/bare2 ({p} processes)", means["control"]))
    m, lo, hi = mean_ci(means["cpu"])
    print(f"DIRECT {subject}: bare's process CPU per epoch / {subject}'s {m:.3f} (95% CI {lo:.3f}–{hi:.3f}, "
          f"N={p} processes)")
    m, lo, hi = mean_ci(means["both"])
    print(f"AGAINST BOTH BARES: {subject} / the mean of bare's and bare2's epoch in each round {m:.3f} (95% CI "
          f"{lo:.3f}–{hi:.3f}, N={p} processes; each bare fit carries a bias of its own in a process, and two "
          "estimate bare better than one: benchmarks/README.md, throughput round 13)")
    if pooled is not None:
        m, lo, hi = mean_ci(pooled)
        print(f"(all {len(pooled)} rounds pooled, as if one process: {m:.3f}, 95% CI {lo:.3f}–{hi:.3f}; this "
              "interval leaves out the processes' own biases)")


def split_start(turns: dict[str, list[Any]], start: int) -> tuple[list[float], dict[str, list[Any]]]:
    """A process's turns split at the end of its `start` rounds: subject/bare of each of those rounds, and the
    turns after them (what the TARGET is taken over)."""
    wall = {n: [w for w, _ in v[:start]] for n, v in turns.items()}
    return ratios(wall["bare"], wall["subject"]), {n: v[start:] for n, v in turns.items()}


def start_line(subject: str, start: int, ratios_: list[float], over: str) -> str:
    """The START line: the subject over the `start` rounds before the TARGET's (the app spends its saved-up UI
    budget there), beside the target, for the record: a run's fixed start cost, not its throughput."""
    m, lo, hi = mean_ci(ratios_)
    return (f"START {subject}/bare over the first {start} rounds ({over}): {m:.3f} (95% CI {lo:.3f}–{hi:.3f}); "
            "the TARGET is over the rounds after them")


def code_version() -> str:
    """The commit measured, and whether the checkout differs from it (what pooling runs must agree on)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "code outside git"
    dirty = git("status", "--porcelain", "--", "tui", "models", "benchmarks")
    return f"commit {commit}" + (" with changes to tui/, models/ or benchmarks/" if dirty else "")


def both_bares(wall: dict[str, list[float]]) -> list[float]:
    """Each round's bare epoch as the mean of the two bare fits' (bare and bare2)."""
    return [(a + b) / 2 for a, b in zip(wall["bare"], wall["bare2"])]


def run_session(session_class: Any, config: Any, runs: Path, conductor: threading.Thread) -> None:
    from rich.console import Console

    from tui.headless import HeadlessView

    view = HeadlessView(Console(file=open(os.devnull, "w"), force_terminal=True))  # as `cnn-tui train` shows it
    session = session_class(config, runs_dir=runs, listeners=[view.handle])
    conductor.start()
    with view:
        session.start()
        session.join()
    conductor.join()


def run_app(session_class: Any, config: Any, runs: Path, conductor: threading.Thread,
            in_terminal: bool = False) -> None:
    """The app under Pilot (120×45, no terminal); `in_terminal`: the app in this process's terminal, as a user
    runs it, until a key quits it (benchmarks/latency.py's child)."""
    import asyncio

    import tui.core.session
    from tui.ui.app import CnnTuiApp
    from tui.ui.app import run_app as run_in_terminal

    tui.core.session.TrainingSession = session_class  # the app makes its session from here when F5 starts it
    if in_terminal:
        conductor.start()  # (it waits for the three fits' first epoch: the app's starts once the app is up)
        # as `cnn-tui` runs it: the terminal asked what it can draw before the app takes it (tui/ui/graphics.py); run
        # without that, the test results' pictures asked it later and the answer ate the harness's first `t`
        run_in_terminal(config, runs_dir=str(runs), start=True)
        conductor.join(timeout=1)  # (done before q, unless the app was quit before the rounds ended)
        return

    async def go() -> None:
        app = CnnTuiApp(config, runs_dir=runs, start=True)
        async with app.run_test(size=(120, 45)):
            conductor.start()
            while conductor.is_alive():
                await asyncio.sleep(0.2)  # (Pilot.pause makes every widget answer: work the app never does)
            while getattr(app.screen, "monitor", None) is None or app.screen.monitor.ended is None:
                await asyncio.sleep(0.2)
            await app.workers.wait_for_complete()

    asyncio.run(go())


def report(args: argparse.Namespace, config: Any, out: dict[str, list[tuple[float, float]]],
           ui: dict[str, float]) -> None:
    from tui.core import datasets

    start, out = split_start(out, args.start_rounds)
    ui_cpu = ui.get("cpu")
    n_train = datasets.load_dataset(config.dataset).info.train
    wall = {n: [w for w, _ in v] for n, v in out.items()}
    cpu = {n: [c for _, c in v] for n, v in out.items()}
    subject = args.subject
    print(f"\n{config.dataset.name}, {n_train} training samples, simple_cnn, batch {config.training.batch_size}, "
          f"{args.rounds} rounds of one epoch each after {args.start_rounds} at the start (bare, bare2, {subject}; "
          f"the 6 orders in turn), one process, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for n in wall:
        print(f"  {n:<8} median epoch {statistics.median(wall[n]):.3f} s  {n_train / statistics.median(wall[n]):>9,.0f}"
              f" samples/s  median CPU {statistics.median(cpu[n]):.3f} s")
    print(target_line(f"throughput {subject}/bare (paired epochs)", *mean_ci(ratios(wall["bare"], wall["subject"])),
                      args.rounds, at_least=0.98))
    print(control_line("throughput bare/bare2 (paired epochs)", ratios(wall["bare"], wall["bare2"])))
    for n in ("subject", "bare2"):
        m, lo, hi = mean_ci(ratios(cpu["bare"], cpu[n]))
        label = subject if n == "subject" else "bare2 (the control)"
        print(f"DIRECT {label}: bare's process CPU per epoch / {label}'s {m:.3f} (95% CI {lo:.3f}–{hi:.3f}, "
              f"N={len(cpu[n])})")
    if ui_cpu is not None:
        own = 100 * ui_cpu / sum(wall["subject"])
        print(f"DIRECT app: the UI thread's CPU over the rounds {ui_cpu:.2f} s: {own:.1f}% "
              f"of one core over the app's own turns (if it all fell in them; "
              f"{100 * ui_cpu / sum(sum(w) for w in wall.values()):.1f}% over every turn)")
    if args.start_rounds:
        print(start_line(subject, args.start_rounds, start, "one process"))
        if ui_cpu is not None and "cpu_start" in ui:
            print(f"DIRECT app: the UI thread's CPU a round, {1000 * ui['cpu_start'] / args.start_rounds:.1f} ms over "
                  f"the first {args.start_rounds}, {1000 * ui_cpu / args.rounds:.1f} ms over the {args.rounds} after")


if __name__ == "__main__":
    main()
