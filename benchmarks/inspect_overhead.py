"""What the live inside view costs training: the same headless session with the view closed (the tap's callback
does nothing) and open (weights copied at each epoch end in the training thread; filters, feature maps and
Grad-CAM computed from that copy in another thread, as the app's InsideScreen does), side by side.

Each measurement runs in its own fresh process, interleaved (closed, open, closed, open, ...), with the model,
data, batch size and seed of benchmarks/throughput.py. The figure is training samples per second from the median
wall time between consecutive epoch ends after the first (so the snapshot and the view computed in parallel with
the next epoch are inside it). Target: open >= 0.98 x closed.

The machine these figures come from is shared with other agents (2 cores): identical runs differ by a few per
cent, so the script also prints the direct cost: seconds per epoch spent copying the weights in the training
thread, and seconds spent computing the view in the other thread.

    python benchmarks/inspect_overhead.py             # Fashion-MNIST from ../shared/data if present, else digits
    python benchmarks/inspect_overhead.py --rounds 5 --epochs 4
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _child import run_child

ROOT = Path(__file__).resolve().parents[1]
MODES = ("closed", "open")
POLL_SECONDS = 0.25  # as tui/ui/screens/inside.py


def experiment(args: argparse.Namespace):
    """benchmarks/throughput.py's experiment; --data-dir points at the shared data from a worktree elsewhere."""
    import throughput

    if args.data_dir:
        throughput.SHARED = Path(args.data_dir)
    return throughput.experiment(args)


def child(mode: str, args: argparse.Namespace) -> None:

    from tui.core import inside
    from tui.core.events import EpochEnd
    from tui.core.session import TrainingSession

    config = experiment(args)
    ends: list[float] = []
    copy_seconds: list[float] = []
    view_seconds: list[float] = []
    done = threading.Event()
    with tempfile.TemporaryDirectory() as runs:
        session = TrainingSession(config, runs_dir=Path(runs), listeners=[
            lambda e: ends.append(time.perf_counter()) if isinstance(e, EpochEnd) else None])
        tap = session.inside_tap
        real_callback = tap.callback

        def timed_callback():
            cb = real_callback()
            inner = cb.on_epoch_end

            def wrapped(epoch, logs=None):
                t0 = time.perf_counter()
                inner(epoch, logs)
                copy_seconds.append(time.perf_counter() - t0)

            cb.on_epoch_end = wrapped
            return cb

        tap.callback = timed_callback  # type: ignore[method-assign]

        def viewer() -> None:  # what InsideScreen does while open: poll, compute on a new snapshot
            model = inside.SnapshotModel()
            seen = None
            while not done.is_set():
                snap = tap.latest()
                data = session.data
                if snap is not None and snap.epoch != seen and data is not None:
                    seen = snap.epoch
                    t0 = time.perf_counter()
                    x, y = (data.x_test, data.y_test) if data.x_test is not None else (data.x_val, data.y_val)
                    inside.compute_view(model.load(snap), x[0], data.info.class_names, int(y[0]), epoch=seen)
                    view_seconds.append(time.perf_counter() - t0)
                done.wait(POLL_SECONDS)

        if mode == "open":
            tap.open()
            threading.Thread(target=viewer, daemon=True).start()
        session.start()
        session.join()
        done.set()
        assert session.result is not None and session.result.status == "finished", session.result
    epoch_walls = [b - a for a, b in itertools.pairwise(ends)]
    print("RESULT " + json.dumps({"mode": mode, "epoch_walls": epoch_walls, "copies": tap.snapshots,
                                  "copy_seconds": copy_seconds, "view_seconds": view_seconds}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-dir", default=os.environ.get("CNN_TUI_BENCH_DATA"),
                        help="the shared data folder (default: ../shared/data beside the repository)")
    parser.add_argument("--child", choices=MODES)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    if args.data_dir:
        os.environ["CNN_TUI_BENCH_DATA"] = args.data_dir  # the children read it
    walls: dict[str, list[float]] = {m: [] for m in MODES}
    last: dict[str, dict] = {}
    for r in range(args.rounds):
        for mode in MODES:
            res = run_child(__file__, mode, args)
            walls[mode].append(statistics.median(res["epoch_walls"]))
            last[mode] = res
            views = res["view_seconds"]
            print(f"round {r + 1} {mode:<7} median epoch {walls[mode][-1]:.3f} s, {res['copies']} weight copies, "
                  f"{len(views)} views computed"
                  + (f" (median {statistics.median(views) * 1000:.0f} ms each)" if views else ""), flush=True)
    from tui.core import datasets

    config = experiment(args)
    n_train = datasets.load_dataset(config.dataset).info.train
    print(f"\n{config.dataset.name}, {n_train} training samples, simple_cnn, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.rounds} interleaved rounds, {os.cpu_count()} cores "
          "(machine shared with other agents: expect a few per cent of noise)")
    closed = statistics.median(walls["closed"])
    print(f"{'view':<8}{'samples/s':>12}{'ratio vs closed':>18}{'copy/epoch':>13}{'view/epoch':>13}")
    for mode in MODES:
        t = statistics.median(walls[mode])
        copy = statistics.median(last[mode]["copy_seconds"] or [0.0])
        view = statistics.median(last[mode]["view_seconds"] or [0.0])
        print(f"{mode:<8}{n_train / t:>12,.0f}{closed / t:>18.3f}{copy * 1000:>11.1f}ms{view * 1000:>11.0f}ms")
    open_copy = statistics.median(last["open"]["copy_seconds"] or [0.0])
    open_view = statistics.median(last["open"]["view_seconds"] or [0.0])
    print(f"direct cost bound: (weight copy + view) / closed epoch = ({open_copy * 1000:.1f} + "
          f"{open_view * 1000:.0f} ms) / {closed:.2f} s = {(open_copy + open_view) / closed:.2%} of an epoch "
          "(the view's thread can take at most that from training)")
    ratio = closed / statistics.median(walls["open"])
    print(f"open/closed throughput ratio: {ratio:.3f} (target >= 0.98: {'met' if ratio >= 0.98 else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    main()
