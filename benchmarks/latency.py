"""Key-to-screen latency while a run trains, in a real terminal (tmux), and the training throughput the app keeps
meanwhile, measured in the same run: epochs paired with a bare `model.fit`, as throughput_paired.py pairs them.

Each process runs throughput_paired.py's trainers in a tmux pane (100×32: two charts at a time): a bare fit, a
second bare fit (the control) and the app, in one process, taking turns an epoch each; the app is the real one,
drawing in the pane. The pane's process writes whose turn it is to a file. While it is the app's turn, `g` (switch
the chart pair: "loss/accuracy" ↔ "learning rate/batch loss") is pressed in the app's pane every `--press-every`
seconds and the screen looked at every 5 ms until it changes (through one tmux control client, benchmarks/_tmux.py);
while a bare fit has its turn the same presses and looks go to a second pane where a small loop answers them
(_answer_keys.py), so the harness's own cost (tmux, its control client, the polling) falls in every turn alike and
app / bare is what the app costs, keys answered included. After the rounds the run is stopped (the app's last turn
ends at its gate); `t` brings the charts back over the test results and the same key gives the idle figure.

Before responsiveness round 10 (benchmarks/README.md) this benchmark timed the app and the bare fits in separate
processes, minutes apart: its throughput line read ±0.13-0.16 at N=4 and could not show 0.98 at any size this
machine allows (responsiveness round 9); paired epochs in one process read ±0.01-0.02 a process.

Targets: p95 < 100 ms and p99 < 200 ms while training (distribution-free intervals from the order statistics, over
every press in the app's turns), with throughput app/bare ≥ 0.98 (Student's t over the rounds of one process, or
over the processes' means with `--processes`), over the rounds after the run's start (`--start-rounds`, 12 by
default: the app spends its saved-up UI budget there, throughput_paired.py; their keys count, their throughput is
printed on a START line of its own).

    python benchmarks/latency.py --processes 16 --rounds 24  # Fashion-MNIST from ../shared/data, else digits
    python benchmarks/latency.py --dataset digits --start-rounds 1 --rounds 2 --presses 3   # smallest (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import control_line, mean_ci, percentile, percentile_ci, ratios, target_line
from _tmux import Tmux

ROOT = Path(__file__).resolve().parents[1]
PAIRED = str(Path(__file__).resolve().with_name("throughput_paired.py"))
S = f"cnn-tui-latency-{os.getpid()}"
ALT_MARK = "learning rate"
"""Shown only while the second chart pair is on screen."""
POLL = 0.005
"""Seconds between two looks at the screen while waiting for a key's answer (the latency's resolution)."""
MISSED = 5.0
"""A key not answered in this many seconds is a missed key."""
TOGGLE = str(Path(__file__).resolve().with_name("_answer_keys.py"))
"""What the bare turns' harness pane runs: it answers each key as the app answers `g`."""


def press(tmux: Tmux, key: str = "g", give_up: Callable[[], bool] = lambda: False) -> float:
    """Seconds from pressing `key` to the screen showing the other chart pair. A press not answered in MISSED
    seconds counts as MISSED (in the percentiles, as the user would feel it) and is reported with the screen it
    left; one whose `give_up()` comes true first counts as missed, unreported (the harness's pane misses a few keys
    while a bare fit trains, _answer_keys.py: waiting out its turn would leave the app's next turn unpressed)."""
    before = ALT_MARK in tmux.screen()
    t0 = time.perf_counter()
    tmux.send(key)
    while (ALT_MARK in tmux.screen()) == before:
        if give_up():
            return MISSED
        if time.perf_counter() - t0 > MISSED:
            print(f"no response to {key!r} in {MISSED:.0f} s ({tmux.name}); the screen:\n{tmux.screen()}",
                  file=sys.stderr)
            break
        time.sleep(POLL)
    return min(time.perf_counter() - t0, MISSED)


def presses(tmux: Tmux, n: int, key: str = "g") -> list[float]:
    """`n` presses, 0.15 s apart."""
    out = []
    for _ in range(n):
        out.append(press(tmux, key))
        time.sleep(0.15)
    return out


def turn_of(state: Path) -> str:
    """Whose turn it is ("bare", "bare2", "subject"; "done" after the rounds; "" before them)."""
    try:
        return state.read_text().strip()
    except OSError:
        return ""


def paired_process(args: argparse.Namespace, index: int) -> dict:
    """One process of paired rounds with presses: {"turns": {trainer: [(wall, cpu), ...]}, "ui_cpu": the app's UI
    thread's CPU seconds over the rounds (the start's included), "training": [s], "idle": [s], "harness": [s]}."""
    with tempfile.TemporaryDirectory() as tmp, Tmux(f"{S}-{index}", 100, 32) as pane, \
            Tmux(f"{S}-{index}-bare", 100, 32) as other:
        state, out_file, log = Path(tmp) / "turn", Path(tmp) / "turns.json", Path(tmp) / "rounds.log"
        other.send(f"{shlex.quote(sys.executable)} {shlex.quote(TOGGLE)}", "Enter")
        other.wait_for(lambda s: s.strip() == "loss", "the key-answering pane")
        command = [sys.executable, PAIRED, "--subject", "app", "--rounds", str(args.rounds), "--train-size",
                   str(args.train_size), "--batch-size", str(args.batch_size), "--dataset", args.dataset,
                   "--json", str(out_file), "--terminal", str(state), "--rounds-log", str(log),
                   "--start-rounds", str(args.start_rounds)]
        pane.send(f"cd {shlex.quote(str(ROOT))} && TF_CPP_MIN_LOG_LEVEL=3 {shlex.join(command)}", "Enter")
        deadline = time.monotonic() + 900  # the data, three models and the first (tracing) epoch
        while turn_of(state) in ("", "done"):
            if time.monotonic() > deadline or (out_file.exists() and turn_of(state) == ""):
                raise SystemExit(f"process {index}: the rounds did not begin; the pane:\n{pane.screen()}")
            time.sleep(0.1)
        training: list[float] = []
        harness: list[float] = []
        deadline = time.monotonic() + 600 * (args.start_rounds + args.rounds)
        while (turn := turn_of(state)) != "done":
            if time.monotonic() > deadline:
                raise SystemExit(f"process {index}: the rounds did not end; the pane:\n{pane.screen()}\n"
                                 f"{log.read_text()[-2000:] if log.exists() else ''}")
            t0 = time.perf_counter()
            if turn == "subject":
                training.append(press(pane))
            else:
                harness.append(press(other, give_up=lambda: turn_of(state) != turn))
            time.sleep(max(0.0, args.press_every - (time.perf_counter() - t0)))
        # the gate stopped the run: the test split is evaluated ("Evaluating on the test split…"), then its results
        # replace the charts (a `t` before they do is answered "Test results show here when the run has ended")
        pane.wait_for(lambda s: "Test:" in s or ("Training ended" in s and "switches between test results" not in s),
                      "the run's end", 300)
        if "Test:" in pane.screen():
            # (not a timed key: the run has ended. Before 34788dd the app's UI thread was held here for up to a minute
            # while a tf.data iterator waited out its autotuner's sleep; responsiveness round 14 and after it)
            pane.send("t")
            took = pane.wait_for(lambda s: "loss" in s and "Test:" not in s, f"process {index}: the charts after t",
                                 120)
            if took > 1.0:
                print(f"process {index}: t after the run's end answered in {took:.1f} s", flush=True)
        idle = presses(pane, args.presses)
        pane.send("q")
        deadline = time.monotonic() + 120
        while not out_file.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"process {index}: no result after q; the pane:\n{pane.screen()}")
            time.sleep(0.2)
        time.sleep(0.2)  # (written at once, but let the writer close it)
        result = json.loads(out_file.read_text())
    return {"turns": result["turns"], "ui_cpu": result["ui_cpu"] + (result.get("ui_cpu_start") or 0.0),
            "training": training, "idle": idle, "harness": harness}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=1, help="processes one after another (the throughput's "
                        "interval is then over the processes' means)")
    parser.add_argument("--rounds", type=int, default=12, help="paired rounds a process (a multiple of 6 balances "
                        "the orders)")
    parser.add_argument("--start-rounds", type=int, default=12,
                        help="rounds first, the run's start: their keys count, their throughput is on a START line "
                             "of its own (the app spends its saved-up UI budget there: throughput_paired.py)")
    parser.add_argument("--press-every", type=float, default=0.5, metavar="S",
                        help="press g every S seconds through the app's turns (0.5: responsiveness rounds 10-11; 0.15: "
                             "as fast as the rounds before it)")
    parser.add_argument("--presses", type=int, default=30, help="presses after the run stopped (the idle figure)")
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    if subprocess.run(["tmux", "-V"], capture_output=True).returncode:
        raise SystemExit("needs tmux")
    from throughput_paired import code_version, split_start, start_line

    print(f"app pressed every {args.press_every:g} s, {args.processes} processes × {args.rounds} rounds after "
          f"{args.start_rounds} at the start, on "
          f"{code_version()}", flush=True)
    train_all: list[float] = []
    idle_all: list[float] = []
    harness_all: list[float] = []
    wall_means: list[float] = []
    control_means: list[float] = []
    every_round: list[float] = []
    every_control: list[float] = []
    start_means: list[float] = []
    every_start: list[float] = []
    ui_cpu = app_seconds = 0.0
    for i in range(args.processes):
        got = paired_process(args, i + 1)
        start, turns = split_start(got["turns"], args.start_rounds)
        if start:
            start_means.append(statistics.fmean(start))
            every_start += start
            app_seconds += sum(w for w, _ in got["turns"]["subject"][:args.start_rounds])
        wall = {n: [w for w, _ in v] for n, v in turns.items()}
        rs, cs = ratios(wall["bare"], wall["subject"]), ratios(wall["bare"], wall["bare2"])
        every_round += rs
        every_control += cs
        wall_means.append(statistics.fmean(rs))
        control_means.append(statistics.fmean(cs))
        train_all += got["training"]
        idle_all += got["idle"]
        harness_all += got["harness"]
        ui_cpu += got["ui_cpu"]
        app_seconds += sum(wall["subject"])
        print(f"process {i + 1}/{args.processes}: {args.rounds} rounds, app/bare {wall_means[-1]:.3f}, bare/bare2 "
              f"{control_means[-1]:.3f}; {len(got['training'])} presses in the app's turns, p95 "
              f"{percentile(got['training'], 95) * 1000:.0f} ms; idle p95 {percentile(got['idle'], 95) * 1000:.0f} ms",
              flush=True)
    if not train_all:
        raise SystemExit("no key was pressed in the app's turns: its epochs were shorter than --press-every")
    print(f"\n{len(train_all)} presses of 'g' in the app's turns (one every {args.press_every:g} s), "
          f"{len(idle_all)} after the run stopped, {len(harness_all)} in the bare fits' turns (to the harness's "
          f"pane); {args.processes} processes × {args.rounds} rounds, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    missed = sum(x >= MISSED for x in train_all + idle_all), sum(x >= MISSED for x in harness_all)
    print(f"missed keys (no answer in {MISSED:.0f} s, counted as {MISSED:.0f} s): the app {missed[0]}, "
          f"the harness's pane {missed[1]}")
    print(f"{'state':<10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, vals in (("training", train_all), ("idle", idle_all)):
        print(f"{name:<10}{percentile(vals, 50) * 1000:>9.0f}{percentile(vals, 95) * 1000:>9.0f}"
              f"{percentile(vals, 99) * 1000:>9.0f}{max(vals) * 1000:>9.0f}")
    # what the keys cost the UI thread, against the no-key figure of benchmarks/live_render.py or
    # throughput_paired.py's DIRECT line (its drain and status timers also run through the bare fits' turns)
    print(f"DIRECT app: the UI thread's CPU over the rounds {ui_cpu:.2f} s: {100 * ui_cpu / app_seconds:.1f}% of one "
          f"core over the app's own turns (if it all fell in them), {1000 * ui_cpu / len(train_all):.1f} ms a press "
          f"if the keys took all of it")
    p95, lo, hi = percentile_ci([v * 1000 for v in train_all], 95)
    print(target_line("key p95 while training (ms)", p95, lo, hi, len(train_all), at_most=100, digits=0))
    p99, lo, hi = percentile_ci([v * 1000 for v in train_all], 99)
    print(target_line("key p99 while training (ms)", p99, lo, hi, len(train_all), at_most=200, digits=0))
    if args.processes > 1:  # the processes' own biases are in the interval (throughput_paired.py, --processes)
        print(target_line(f"throughput app/bare while pressing ({args.processes} processes)", *mean_ci(wall_means),
                          args.processes, at_least=0.98))
        print(control_line(f"bare/bare2 ({args.processes} processes)", control_means))
    else:
        print(target_line("throughput app/bare while pressing (paired epochs)", *mean_ci(every_round),
                          len(every_round), at_least=0.98))
        print(control_line("bare/bare2 (paired epochs)", every_control))
    if every_start:  # (over the processes' means as the TARGET is, or the rounds of one process)
        several = args.processes > 1
        print(start_line("app", args.start_rounds, start_means if several else every_start,
                         f"{args.processes} processes, pressing" if several else "one process, pressing"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
