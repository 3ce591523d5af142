"""What the gradient-flow panel costs: the same headless training session with the per-layer gradient norms off
(`training.gradient_every = 0`) and on (the default, and a denser setting), side by side.

Each measurement runs in its own fresh process, interleaved (off, on, dense, off, ...), with the same model,
data, batch size and seed as benchmarks/throughput.py; the figure is training samples per second from the median
epoch cycle (one epoch's end to the next's, as throughput.py measures it: the first epoch is in none). Ratios are
against the "off" runs of the same rounds.

On a shared machine the epoch times of identical runs vary by more than the effect being measured, so the
script also reports the direct figure: the wall time spent inside the gradient callback (the norms computed and
copied back; it runs on the training thread, so training waits for it) as a share of each epoch cycle, median
over the cycles (the first epoch, which traces the tf.function once, is in none).

    python benchmarks/gradient_overhead.py             # Fashion-MNIST from ../shared/data if present, else digits
    python benchmarks/gradient_overhead.py --rounds 5 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _child import run_child

ROOT = Path(__file__).resolve().parents[1]
MODES = {"off": 0, "default": None, "every-5": 5}  # None: the configuration's default


def child(mode: str, args: argparse.Namespace) -> None:
    from throughput import cycles, experiment, run_session

    from tui.core.events import GradientNorms

    config = experiment(args)
    every = MODES[mode]
    if every is not None:
        config = config.with_values({"training.gradient_every": every})
    samples: list[GradientNorms] = []
    from tui.core import session as session_mod

    real = session_mod.TrainingSession._emit

    def counting(self, event):  # count the samples the panel would get
        if isinstance(event, GradientNorms):
            samples.append(event)
        real(self, event)

    session_mod.TrainingSession._emit = counting
    spent: dict[int, float] = {}  # epoch -> seconds inside the gradient callback
    from tui.core.keras import gradients

    real_batch_end = gradients.GradientFlow.on_train_batch_end

    def timed(cb, batch, logs=None):
        t0 = time.perf_counter()
        real_batch_end(cb, batch, logs)
        spent[cb._epoch] = spent.get(cb._epoch, 0.0) + time.perf_counter() - t0

    gradients.GradientFlow.on_train_batch_end = timed
    with tempfile.TemporaryDirectory() as runs:
        times = cycles(run_session(config, Path(runs)))
    shares = [spent.get(e + 2, 0.0) / t for e, t in enumerate(times)]  # cycle e ends with epoch e + 2
    print("RESULT " + json.dumps({"mode": mode, "epoch_seconds": times, "samples": len(samples),
                                  "every": config.training.gradient_every, "shares": shares}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto",
                        help="auto: Fashion-MNIST from ../shared/data when present, else digits")
    parser.add_argument("--child", choices=tuple(MODES))
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    from throughput import experiment

    results: dict[str, list[float]] = {m: [] for m in MODES}
    counts: dict[str, tuple[int, int]] = {}
    shares: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            res = run_child(__file__, mode, args, extra=["--dataset", args.dataset])
            results[mode].append(statistics.median(res["epoch_seconds"]))
            counts[mode] = (res["every"], res["samples"])
            shares[mode].append(statistics.median(res["shares"]))
            print(f"round {r + 1} {mode:<8} median epoch cycle {results[mode][-1]:.3f} s, "
                  f"{res['samples']} gradient samples, {shares[mode][-1] * 100:.2f}% of epoch time in the "
                  "gradient callback", flush=True)
    from tui.core import datasets

    config = experiment(args)
    n_train = datasets.load_dataset(config.dataset).info.train
    steps = -(-n_train // args.batch_size)
    print(f"\n{config.dataset.name}, {n_train} training samples ({steps} batches/epoch), simple_cnn, batch "
          f"{args.batch_size}, {args.epochs} epochs, {args.rounds} interleaved rounds, {os.cpu_count()} cores")
    off = statistics.median(results["off"])
    print(f"{'mode':<10}{'every':>7}{'samples':>9}{'samples/s':>12}{'ratio vs off':>15}{'in callback':>13}")
    for mode in MODES:
        t = statistics.median(results[mode])
        every, n = counts[mode]
        print(f"{mode:<10}{every:>7}{n:>9}{n_train / t:>12,.0f}{off / t:>15.3f}"
              f"{statistics.median(shares[mode]) * 100:>12.2f}%")
    from _stats import mean_ci, target_line

    # the direct measure (time inside the callback / epoch time) is what the noise does not swamp
    share = [x * 100 for x in shares["default"]]
    print(target_line("gradient callback share at default (%)", *mean_ci(share), len(share), at_most=5,
                      digits=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    main()
