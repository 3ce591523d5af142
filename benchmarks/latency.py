"""Key-to-screen latency while a run is training, in a real terminal (tmux), and the training throughput the app
keeps meanwhile, side by side with a bare `model.fit` of the same pipeline.

Each round: a bare `model.fit` in a fresh process (benchmarks/throughput.py's child, same model, data, batch size
and seed), a second bare run (the control: bare vs bare shows the machine's noise), then `cnn-tui --start` in a
tmux pane (100×32: two charts at a time) with the same set-up. While it trains, `g` (switch the chart pair:
"loss/accuracy" ↔ "learning rate/batch loss", two plotext charts redrawn) is pressed and the screen looked at
every 5 ms until it changes (through one tmux control client, benchmarks/_tmux.py: a `tmux capture-pane` process
per look took CPU from the run it timed). Then `s` stops the run; if the test results replace the charts, `t`
brings the charts back; the same presses give the idle figure. The app's epoch times are read from its event log
(epoch cycles, one epoch's end to the next's as in throughput.py, that ended while the keys were being pressed).

The bare runs train while the same presses and looks go to a pane where a small loop answers them (TOGGLE): the
harness's own cost (tmux, its control client, polling every 5 ms) is borne by both sides, and app / bare is what the
app costs.

Targets: p95 < 100 ms and p99 < 200 ms while training, with throughput ≥ 0.98 × bare (95 % intervals: order
statistics for the percentiles over every press of every round; Student's t over the rounds for the ratio).

    python benchmarks/latency.py [--rounds 3 --presses 30]   # Fashion-MNIST from ../shared/data, else digits
    python benchmarks/latency.py --dataset digits --rounds 1 --presses 5   # smallest (the smoke test)
    python benchmarks/latency.py --compare /tmp/base   # also another checkout's app (before/after), same rounds
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _child import run_child
from _stats import control_line, mean_ci, percentile, percentile_ci, ratios, target_line
from _tmux import Tmux

ROOT = Path(__file__).resolve().parents[1]
THROUGHPUT = str(Path(__file__).resolve().with_name("throughput.py"))
S = f"cnn-tui-latency-{os.getpid()}"
ALT_MARK = "learning rate"
"""Shown only while the second chart pair is on screen."""
POLL = 0.005
"""Seconds between two looks at the screen while waiting for a key's answer (the latency's resolution)."""
MISSED = 5.0
"""A key not answered in this many seconds is a missed key."""


def presses(tmux: Tmux, n: int, key: str = "g") -> list[float]:
    """Seconds from each press to the screen showing the other chart pair. A press not answered in MISSED seconds
    counts as MISSED (in the percentiles, as the user would feel it) and is reported with the screen it left."""
    out = []
    for _ in range(n):
        before = ALT_MARK in tmux.screen()
        t0 = time.perf_counter()
        tmux.send(key)
        while (ALT_MARK in tmux.screen()) == before:
            if time.perf_counter() - t0 > MISSED:
                print(f"no response to {key!r} in {MISSED:.0f} s ({tmux.name}); the screen:\n{tmux.screen()}",
                      file=sys.stderr)
                break
            time.sleep(POLL)
        out.append(min(time.perf_counter() - t0, MISSED))
        time.sleep(0.15)
    return out


TOGGLE = str(Path(__file__).resolve().with_name("_answer_keys.py"))
"""What the bare runs' harness pane runs: it answers each key as the app answers `g`."""


HARNESS_PRESSES: list[float] = []
"""The bare side's presses (seconds to the answer), for the count of its missed keys."""


@contextmanager
def harness_load() -> Iterator[None]:
    """The harness's own load without the app, while a bare run trains: the same presses and looks, through the
    same kind of control client, into a pane where TOGGLE answers them. The bare runs bear what pressing and
    looking cost (tmux, its control client, this process's polling every 5 ms), so app / bare charges the app
    with what the app does, not with the harness that times it."""
    stop = threading.Event()
    with Tmux(f"{S}-bare", 100, 32) as tmux:
        tmux.send(f"{shlex.quote(sys.executable)} {shlex.quote(TOGGLE)}", "Enter")
        tmux.wait_for(lambda s: s.strip() == "loss", "the key-answering pane")
        time.sleep(0.5)

        def press() -> None:
            while not stop.is_set():
                HARNESS_PRESSES.extend(presses(tmux, 1))

        pressing = threading.Thread(target=press, daemon=True, name="harness-load")
        pressing.start()
        try:
            yield
        finally:
            stop.set()
            pressing.join()


def app_command(args: argparse.Namespace, runs: Path, root: Path = ROOT) -> str:
    from throughput import experiment_values

    values = {**experiment_values(args), "training.epochs": 10_000}  # trains until stopped
    sets = " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in values.items())
    return (f"cd {shlex.quote(str(root))} && TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH={shlex.quote(str(root))} "
            f"{shlex.quote(sys.executable)} -m tui.cli {sets} --runs-dir {shlex.quote(str(runs))} --start")


def app_round(args: argparse.Namespace, root: Path = ROOT) -> tuple[list[float], list[float], list[float]]:
    """Training presses, idle presses, and the app's epoch seconds for epochs that ended during the presses."""
    with tempfile.TemporaryDirectory() as runs, Tmux(S, 100, 32) as tmux:
        wait_for = tmux.wait_for
        tmux.send(app_command(args, Path(runs), root), "Enter")
        wait_for(lambda s: "samples/s" in s, "training to start")
        log = next(Path(runs).glob("*/events.jsonl"))
        # the first epoch (tracing, warm-up) is left out of both the bare and the app figure
        # (padded to the total's width; with short epochs the screen may skip some: drawing waits for its budget)
        wait_for(lambda s: any(int(n) >= 2 for n in re.findall(r"epoch +(\d+)/", s)), "the second epoch")
        t0 = time.time()
        training = presses(tmux, args.presses)
        # let a few epochs end inside the window: at least --min-seconds, and on until one has (a busy machine's
        # epochs can outlast the smallest size's one second), for at most two minutes
        while time.time() - t0 < args.min_seconds or (not epoch_ends(log, t0) and time.time() - t0 < 120):
            training += presses(tmux, 1)
        t1 = time.time()
        tmux.send("s")
        wait_for(lambda s: "stopped" in s, "the run to stop")
        # the stop is heard at once; the test split is evaluated after it, then its results replace the charts
        # (the end's notification, which says so, can be on the terminal a frame before them)
        wait_for(lambda s: "Test:" in s or "test split" in s
                 or ("Training ended" in s and "switches between test results" not in s), "the run's end", 120)
        if "Test:" in tmux.screen() or "test split" in tmux.screen():
            tmux.send("t")
            wait_for(lambda s: "loss" in s and "Test:" not in s, "the charts after t")
        idle = presses(tmux, args.presses)
        # epoch cycles (one epoch's end to the next's, as throughput.py measures them) that ended while pressing
        ends = epoch_ends(log)
        epochs = [b - a for a, b in zip(ends, ends[1:]) if t0 <= b <= t1]
    return training, idle, epochs


def epoch_ends(log: Path, since: float = 0.0) -> list[float]:
    """The wall times of the run's (whole) epoch ends at or after `since`, from its event log (a line being
    written is left for the next look)."""
    ends = []
    for line in log.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "EpochEnd" and not rec.get("partial") and rec["time"] >= since:
            ends.append(rec["time"])
    return ends


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presses", type=int, default=30, help="presses per phase and round")
    parser.add_argument("--min-seconds", type=float, default=8.0, help="keep pressing at least this long")
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto")
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--compare", metavar="DIR", default=None,
                        help="also run the app of another checkout (before/after) in each round")
    args = parser.parse_args()
    args.epochs = 3  # the bare child's epochs: its figure is the median of the two epoch cycles after the first
    if subprocess.run(["tmux", "-V"], capture_output=True).returncode:
        raise SystemExit("needs tmux")
    train_all, idle_all, bare_s, bare2_s, app_s = [], [], [], [], []
    other_train, other_idle, other_s = [], [], []
    for r in range(args.rounds):
        for store in (bare_s, bare2_s):
            with harness_load():
                res = run_child(THROUGHPUT, "bare", args, extra=["--dataset", args.dataset])
            store.append(statistics.median(res["epoch_seconds"]))
        training, idle, epochs = app_round(args)
        if not epochs:
            raise SystemExit("no epoch ended while the keys were pressed: raise --min-seconds")
        app_s.append(statistics.median(epochs))
        train_all += training
        idle_all += idle
        print(f"round {r + 1}: bare epoch {bare_s[-1]:.3f} s, bare again {bare2_s[-1]:.3f} s, app epoch "
              f"{app_s[-1]:.3f} s ({len(epochs)} epochs while pressing); training p95 "
              f"{percentile(training, 95) * 1000:.0f} ms, idle p95 {percentile(idle, 95) * 1000:.0f} ms",
              flush=True)
        if args.compare:
            o_training, o_idle, o_epochs = app_round(args, Path(args.compare).resolve())
            other_train += o_training
            other_idle += o_idle
            other_s.append(statistics.median(o_epochs) if o_epochs else float("nan"))
            print(f"round {r + 1}, {args.compare}: app epoch {other_s[-1]:.3f} s; training p95 "
                  f"{percentile(o_training, 95) * 1000:.0f} ms, idle p95 {percentile(o_idle, 95) * 1000:.0f} ms",
                  flush=True)
    print(f"\n{len(train_all)} presses of 'g' while training, {len(idle_all)} after the run stopped, "
          f"{args.rounds} rounds, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    missed = {name: sum(x >= MISSED for x in xs) for name, xs in
              (("this checkout", train_all + idle_all), (args.compare, other_train + other_idle)) if name}
    print("missed keys (no answer in 5 s, counted as 5 s): "
          + ", ".join(f"{name} {count}" for name, count in missed.items())
          + f"; the bare runs' harness pane {sum(x >= MISSED for x in HARNESS_PRESSES)} of {len(HARNESS_PRESSES)}")
    rows = [("training", train_all), ("idle", idle_all)]
    if args.compare:
        rows += [(f"training, {args.compare}", other_train), (f"idle, {args.compare}", other_idle)]
    w = max(10, *(len(name) + 2 for name, _ in rows))
    print(f"{'state':<{w}}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, vals in rows:
        print(f"{name:<{w}}{percentile(vals, 50) * 1000:>9.0f}{percentile(vals, 95) * 1000:>9.0f}"
              f"{percentile(vals, 99) * 1000:>9.0f}{max(vals) * 1000:>9.0f}")
    thr = ratios(bare_s, app_s)  # samples/s ratio = bare epoch time / app epoch time
    print(f"training throughput meanwhile: app / bare {statistics.fmean(thr):.3f} "
          f"(each round: {', '.join(f'{x:.3f}' for x in thr)})")
    p95, lo, hi = percentile_ci([v * 1000 for v in train_all], 95)
    print(target_line("key p95 while training (ms)", p95, lo, hi, len(train_all), at_most=100, digits=0))
    p99, lo, hi = percentile_ci([v * 1000 for v in train_all], 99)
    print(target_line("key p99 while training (ms)", p99, lo, hi, len(train_all), at_most=200, digits=0))
    print(target_line("throughput app/bare while pressing", *mean_ci(thr), len(thr), at_least=0.98))
    print(control_line("bare/bare again", ratios(bare_s, bare2_s)))
    if args.compare:
        for p in (95, 99):
            fig, lo, hi = percentile_ci([v * 1000 for v in other_train], p)
            print(f"COMPARE {args.compare}: key p{p} while training (ms)  {fig:.0f}  95% CI {lo:.0f}–{hi:.0f}  "
                  f"N={len(other_train)}")
        m, lo, hi = mean_ci(ratios(bare_s, other_s))
        print(f"COMPARE {args.compare}: throughput app/bare while pressing  {m:.3f}  95% CI {lo:.3f}–{hi:.3f}  "
              f"N={len(other_s)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
