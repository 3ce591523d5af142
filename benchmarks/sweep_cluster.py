"""Sweep cells per hour: serial (one cell at a time in the process), an embedded Dask cluster of 2 workers, and a
standing `dask scheduler` + 2 `dask worker` processes on 127.0.0.1 — the same small grid, interleaved per round —
and the scheduling overhead per cell (from one cell's end to the next cell's start on the freed slot).

Each serial / embedded measurement is a fresh driver process (Python, TensorFlow's import, the cluster's start-up:
what a person waits for). The standing cluster is started once before the rounds, as a user keeps one running: its
workers are warm (TensorFlow imported) from the second round on; its first round is reported too.

    python benchmarks/sweep_cluster.py                    # digits, 2 × 2 cells, 2 epochs, 2 rounds
    python benchmarks/sweep_cluster.py --rounds 3 --epochs 3

Everything listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}

DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
from tui.core import config as cfg
from tui.core.sweep import SweepRunner, make_spec
a = json.loads(sys.argv[1])
base = cfg.ExperimentConfig().with_values({"dataset.name": "digits", "model.architecture": "simple_cnn",
                                           "training.batch_size": 64, "training.gradient_every": 0})
spec = make_spec(base, [("model.conv_filters", a["filters"]), ("model.dense_units", a["units"])],
                 epochs=a["epochs"], train_size=a["train_size"])
marks = []
seen = {}
def listen(e):
    for c in e.state.cells:
        if seen.get(c.index) != c.status:
            seen[c.index] = c.status
            if c.status == "running" or c.done:
                marks.append(("start" if c.status == "running" else "end", time.perf_counter() - t0))
runner = SweepRunner.create(spec, a["runs"], workers=a["workers"], scheduler=a["scheduler"], listeners=[listen])
state = runner.run()
print("RESULT " + json.dumps({"wall": time.perf_counter() - t0, "status": state.status, "marks": marks,
                              "cells": len(state.cells), "seconds": [c.seconds for c in state.cells],
                              "placement": state.placement}))
"""


def measure(args: argparse.Namespace, workers: int, scheduler: str | None) -> dict:
    with tempfile.TemporaryDirectory() as runs:
        spec = {"filters": args.filters, "units": args.units, "epochs": args.epochs, "train_size": args.train_size,
                "workers": workers, "scheduler": scheduler, "runs": runs}
        out = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(spec)], capture_output=True, text=True,
                             cwd=ROOT, env={**ENV, "XDG_STATE_HOME": runs}, timeout=1800)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode or not line:
        sys.exit(f"workers={workers} scheduler={scheduler} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    result = json.loads(line[7:])
    if result["status"] != "finished":
        sys.exit(f"the sweep did not finish: {result}")
    return result


def overheads(marks: list[tuple[str, float]], slots: int) -> list[float]:
    """For each cell start after the first `slots` ones: seconds since the latest cell end before it (the slot
    that cell freed), i.e. the time a freed worker waited for its next cell to start training."""
    out, ends, starts = [], [], 0
    for kind, t in marks:
        if kind == "end":
            ends.append(t)
        else:
            starts += 1
            if starts > slots and ends:
                out.append(t - ends.pop(0))
    return out


class StandingCluster:
    def __init__(self, tmp: Path, workers: int = 2) -> None:
        file = tmp / "scheduler.json"
        self.procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                        "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                                        "--scheduler-file", str(file)], env=ENV,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        deadline = time.monotonic() + 60
        while not (file.is_file() and file.read_text().strip()):
            if time.monotonic() > deadline:
                raise SystemExit("the scheduler did not start")
            time.sleep(0.2)
        self.address = json.loads(file.read_text())["address"]
        threads = str(max(1, (os.cpu_count() or 2) // workers))
        for i in range(workers):
            self.procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", f"bench{i}"],
                env={**ENV, "OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
                     "TF_NUM_INTEROP_THREADS": threads}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(self.address, set_as_default=False, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--filters", default="4,8")
    parser.add_argument("--units", default="16,32")
    args = parser.parse_args()
    modes = {"serial (1 in-process)": (1, None), "embedded cluster, 2 workers": (2, None)}
    walls: dict[str, list[float]] = {m: [] for m in [*modes, "scheduler + 2 workers"]}
    cells_s: dict[str, list[float]] = {m: [] for m in walls}
    gaps: dict[str, list[float]] = {m: [] for m in walls}
    n_cells = 0
    print(f"cores: {os.cpu_count()}; grid conv_filters={args.filters} × dense_units={args.units} on digits, "
          f"{args.epochs} epochs, {args.train_size} samples per cell; {args.rounds} rounds, interleaved")
    with tempfile.TemporaryDirectory() as tmp:
        standing = StandingCluster(Path(tmp))
        try:
            for r in range(args.rounds):
                for name, (workers, _) in [*modes.items(), ("scheduler + 2 workers", (2, standing.address))]:
                    result = measure(args, workers, standing.address if name.startswith("scheduler") else None)
                    n_cells = result["cells"]
                    walls[name].append(result["wall"])
                    cells_s[name] += [s for s in result["seconds"] if s]
                    gaps[name] += overheads([tuple(m) for m in result["marks"]], 1 if workers == 1 else 2)
                    print(f"round {r + 1}  {name:28s} wall {result['wall']:6.1f} s  "
                          f"cells/h {n_cells / result['wall'] * 3600:6.0f}  ({result['placement']})", flush=True)
        finally:
            standing.close()
    print()
    print(f"{'mode':28s} {'median wall':>11s} {'cells/hour':>10s} {'vs serial':>9s} {'cell s':>7s} "
          f"{'overhead/cell':>13s}")
    base = statistics.median(walls["serial (1 in-process)"])
    for name in walls:
        wall = statistics.median(walls[name])
        gap = f"{statistics.median(gaps[name]):.2f} s" if gaps[name] else "–"
        print(f"{name:28s} {wall:9.1f} s {n_cells / wall * 3600:10.0f} {base / wall:8.2f}× "
              f"{statistics.median(cells_s[name]):6.1f} {gap:>13s}")
    print("\n(overhead/cell: from a cell's end to the next cell's start on the freed slot — includes that cell's data "
          "loading and model build, which a cell does before training starts; wall includes the driver's Python and "
          "TensorFlow import and, for the embedded cluster, starting its workers)")


if __name__ == "__main__":
    main()
