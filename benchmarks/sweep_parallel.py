"""Sweep cells one after another (all cores for each cell) against in parallel (one worker process per cell,
each pinned to its share of the threads): the wall time of the same small grid, side by side.

Each measurement is a whole fresh `cnn-tui sweep` process (what a person waits for: Python, TensorFlow's import
in the parent or in each worker, data loading per cell, training), interleaved serial / parallel per round.

    python benchmarks/sweep_parallel.py                  # MNIST subset from ../shared/data if present, else digits
    python benchmarks/sweep_parallel.py --rounds 3 --train-size 5000 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def sweep_command(args: argparse.Namespace, workers: int, runs: str) -> list[str]:
    data = (["--set", "dataset.name=mnist", "--data-dir", str(SHARED)] if (SHARED / "mnist.npz").is_file()
            else ["--set", "dataset.name=digits"])
    return [sys.executable, "-m", "tui.cli", "sweep", *data, "--set", "model.architecture=simple_cnn",
            "--set", f"training.batch_size={args.batch_size}", "--grid", f"model.conv_filters={args.filters}",
            "--grid", f"model.dense_units={args.units}", "--epochs", str(args.epochs), "--train-size",
            str(args.train_size), "--workers", str(workers), "--runs-dir", runs]


def measure(args: argparse.Namespace, workers: int) -> tuple[float, list[float]]:
    """Wall seconds of the whole command, and each cell's own seconds (from sweep.json)."""
    with tempfile.TemporaryDirectory() as runs:
        t0 = time.perf_counter()
        out = subprocess.run(sweep_command(args, workers, runs), capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                  "XDG_STATE_HOME": runs})
        wall = time.perf_counter() - t0
        if out.returncode != 0 or "Sweep finished" not in out.stdout:
            sys.exit(f"workers={workers} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        from tui.core.rundir import list_sweeps

        (sweep_dir,) = list_sweeps(runs)
        cells = sweep_dir.read_state()["cells"]
    return wall, [c["seconds"] for c in cells]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--filters", default="4,8")
    parser.add_argument("--units", default="32,64")
    parser.add_argument("--workers", type=int, default=2, help="processes in the parallel mode")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"serial": [], "parallel": []}
    cells: dict[str, list[float]] = {"serial": [], "parallel": []}
    loads = []
    for r in range(args.rounds):
        for mode, workers in (("serial", 1), ("parallel", args.workers)):
            loads.append(os.getloadavg()[0])
            wall, cell_seconds = measure(args, workers)
            walls[mode].append(wall)
            cells[mode] += cell_seconds
            print(f"round {r + 1} {mode:<8} workers {workers}  wall {wall:6.1f} s  cells "
                  + " ".join(f"{s:.1f}" for s in cell_seconds), flush=True)
    data = "mnist" if (SHARED / "mnist.npz").is_file() else "digits"
    n_cells = len(cells["serial"]) // args.rounds
    print(f"\n{data}, {args.train_size} training samples, simple_cnn filters {args.filters} × units {args.units} "
          f"({n_cells} cells), {args.epochs} epochs per cell, batch {args.batch_size}, {args.rounds} interleaved "
          f"rounds, {os.cpu_count()} cores, load average before runs {min(loads):.1f}–{max(loads):.1f}")
    serial = statistics.median(walls["serial"])
    print(f"{'mode':<10}{'workers':>8}{'wall s':>9}{'cell s (median)':>17}{'speed-up vs serial':>20}")
    for mode, workers in (("serial", 1), ("parallel", args.workers)):
        wall = statistics.median(walls[mode])
        print(f"{mode:<10}{workers:>8}{wall:>9.1f}{statistics.median(cells[mode]):>17.1f}{serial / wall:>20.2f}")


if __name__ == "__main__":
    main()
