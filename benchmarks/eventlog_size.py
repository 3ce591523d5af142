"""Bytes per hour of training that events.jsonl grows by (the event log's bound on a long run).

Trains the default experiment (digits, simple_cnn, gradient flow on) for a few epochs in this process, with the
session's default throttling, and prints the log's size per hour of training wall time and per epoch.
Usage: PYTHONPATH=. python benchmarks/eventlog_size.py [--epochs 6]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time

from tui.core import config as cfg
from tui.core.rundir import RunDir
from tui.core.session import TrainingSession


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    config = cfg.ExperimentConfig().with_values({"training.epochs": args.epochs})
    with tempfile.TemporaryDirectory() as runs:
        session = TrainingSession(config, runs_dir=runs)
        t0 = time.perf_counter()
        result = session.run()
        wall = time.perf_counter() - t0
        log = RunDir(session.run_dir).events_file
        size = log.stat().st_size
        kinds: collections.Counter[str] = collections.Counter()
        stamps = {}
        for line in log.read_text().splitlines():
            record = json.loads(line)
            kinds[record["event"]] += len(line) + 1
            stamps.setdefault(record["event"], record["time"])
        training = stamps["RunEnded"] - stamps["RunStarted"]  # fit + test evaluation, no start-up
    per_hour = (kinds["BatchEnd"] + kinds["GradientNorms"] + kinds["EpochEnd"] + kinds["Diagnosis"]) / training * 3600
    print(f"run {result.status}: {args.epochs} epochs, {training:.1f} s of training ({wall:.1f} s in all)")
    print(f"events.jsonl: {size} bytes, {size / args.epochs / 1e3:.1f} kB per epoch; "
          f"the events that recur: {per_hour / 1e6:.2f} MB per hour of training")
    for kind, n in kinds.most_common():
        print(f"  {kind:14s} {n:8d} bytes  {n / training * 3600 / 1e6:6.2f} MB/h")


if __name__ == "__main__":
    main()
