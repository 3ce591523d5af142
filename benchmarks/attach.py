"""`cnn-tui attach`, measured in a real terminal (tmux), each pair of modes interleaved:

1. latency: an epoch record appended to a run's events.jsonl by its writer -> the row on the attached screen
   (median, p95; target <= 1 s);
2. cost to the writer: a real training run's samples/s per epoch with 3 attached viewers running vs. the same
   viewers frozen (SIGSTOP), alternating epoch by epoch in one run (target >= 0.99x);
3. replay: opening a finished synthetic 5,000-epoch run (batch records at a real run's density: about 4 per second
   of a 60 s epoch, i.e. 240 per epoch, 1.2 million lines) to a painted screen, vs. a 10-epoch run written the same
   way (target <= 1.5x).

    python benchmarks/attach.py [--latency-epochs 20] [--cost-epochs 16] [--replays 3]

The machine is shared (2 cores, several other jobs): figures are noisy; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


# -- synthetic runs ---------------------------------------------------------------------------------------------
def header(run_dir: Path, epochs: int, steps: int) -> str:
    """The log's first lines as the session writes them (tui.core.eventlog): its header and a RunStarted."""
    from tui.core.config import ExperimentConfig
    from tui.core.datasets import DatasetInfo
    from tui.core.eventlog import HEADER, SCHEMA_VERSION, encode
    from tui.core.events import ModelSummary, RunStarted

    config = ExperimentConfig().with_values({"dataset.name": "cifar10", "training.epochs": epochs})
    info = DatasetInfo("cifar10", (32, 32, 3), 10, tuple(str(i) for i in range(10)), 45000, 5000, 10000,
                       (6000,) * 10)
    started = RunStarted(str(run_dir), config, info, ModelSummary("simple_cnn", (), 1_000_000, 1_000_000), epochs,
                         steps, 64)
    return (json.dumps({"event": HEADER, "version": SCHEMA_VERSION, "time": time.time()}) + "\n"
            + json.dumps(encode(started)) + "\n")


def loss_of(e: int) -> float:
    """A loss that tells each epoch's table row apart (4 decimals shown)."""
    return 0.5 + e / 1000


def epoch_record(e: int, epochs: int) -> str:
    loss = loss_of(e)
    return json.dumps({"event": "EpochEnd", "time": time.time(), "epoch": e, "epochs": epochs,
                       "logs": {"loss": loss, "accuracy": 0.5, "val_loss": loss + 0.1, "val_accuracy": 0.45},
                       "lr": 0.001, "seconds": 60.0, "samples_per_second": 750.0}) + "\n"


def batch_record(e: int, b: int, steps: int) -> str:
    return (f'{{"event": "BatchEnd", "time": 1700000000.0, "epoch": {e}, "batch": {b}, "steps": {steps}, '
            f'"loss": 1.2345678, "accuracy": 0.5432, "window_loss": 1.2233445, "samples_per_second": 751.25, '
            f'"epoch_seconds": {b / 4:.2f}}}\n')


def write_run(run_dir: Path, epochs: int, batches_per_epoch: int = 240, ended: bool = True,
              planned: int | None = None, indexed: bool = True) -> Path:
    """A run directory whose log holds `epochs` epochs of a run planned for `planned` (default: as many), with its
    offsets index as the session writes it (`indexed=False`: a log from a version before the index)."""
    from tui.core.config import ExperimentConfig
    from tui.core.rundir import RunDir

    from tui.core.eventlog import index_path

    run_dir.mkdir(parents=True, exist_ok=True)
    RunDir(run_dir).write_config(ExperimentConfig().with_values({"dataset.name": "cifar10"}))
    steps = 703
    log_file = RunDir(run_dir).events_file
    offset = 0
    with open(log_file, "w") as fh, open(index_path(log_file), "w") as index:
        def put(text: str) -> None:  # as EventLogWriter does: a record but BatchEnd indexed, before it is written
            nonlocal offset
            for line in text.splitlines(keepends=True):
                kind = json.loads(line)["event"]
                if kind != "BatchEnd":
                    index.write(f"{offset} {kind}\n")
                offset += len(line.encode())
            fh.write(text)

        put(header(run_dir, planned or epochs, steps))
        for e in range(1, epochs + 1):
            batches = "".join(batch_record(e, min(steps, (i + 1) * 3), steps) for i in range(batches_per_epoch))
            fh.write(batches)
            offset += len(batches.encode())
            put(epoch_record(e, epochs))
        if ended:
            put(json.dumps({"event": "RunEnded", "time": time.time(), "status": "finished", "error": None,
                            "run_dir": str(run_dir), "summary": {}}) + "\n")
    if not indexed:
        index_path(log_file).unlink()
    return run_dir


# -- tmux ---------------------------------------------------------------------------------------------------------
class Pane:
    def __init__(self, name: str, command: str) -> None:
        self.name = name
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True,
                       env=ENV)

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-t", self.name, "-p"], capture_output=True,
                              text=True).stdout

    def wait_for(self, needle: str, timeout: float = 120, every: float = 0.01) -> float:
        t0 = time.perf_counter()
        while needle not in self.text():
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"timed out waiting for {needle!r} in {self.name}:\n{self.text()}")
            time.sleep(every)
        return time.perf_counter()

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def attach_command(run_dir: Path) -> str:
    return f"cd {ROOT} && {sys.executable} -m tui.cli attach {run_dir}"


def row(e: int) -> str:
    """How epoch e's row starts in the attached screen's epoch table."""
    return f" {e:<5}  {loss_of(e):.4f}"


# -- 1. latency ---------------------------------------------------------------------------------------------------
def latency(tmp: Path, n: int) -> list[float]:
    from tui.core.rundir import RunDir

    run_dir = tmp / "latency"
    write_run(run_dir, 0, ended=False, planned=1000)
    RunDir(run_dir).mark_running()  # this process plays the writer
    pane = Pane("cnn-tui-bench-latency", attach_command(run_dir))
    out = []
    try:
        pane.wait_for("attached")
        time.sleep(1.0)
        with open(RunDir(run_dir).events_file, "a") as fh:
            for e in range(1, n + 1):
                for b in range(1, 5):
                    fh.write(batch_record(e, b * 175, 703))
                record = epoch_record(e, 1000)
                t0 = time.perf_counter()
                fh.write(record)
                fh.flush()
                seen = pane.wait_for(row(e), timeout=10)
                out.append(seen - t0)
                time.sleep(0.3)
    finally:
        pane.close()
    return out


# -- 2. cost to the writer ----------------------------------------------------------------------------------------
def writer_cost(tmp: Path, epochs: int) -> tuple[list[float], list[float]]:
    """samples/s of the epochs trained while 3 viewers ran, and of those trained while they were frozen."""
    runs = tmp / "cost-runs"
    shared = ROOT.parent / "shared" / "data"
    # Epochs of a few seconds (a real run's are longer still): MNIST from the shared data when present.
    data = (["--set", "dataset.name=mnist", "--set", f"dataset.data_dir={shared}", "--set", "dataset.train_size=6000"]
            if (shared / "mnist.npz").is_file() else ["--set", "dataset.train_size=1400", "--set",
                                                       "model.conv_filters=64", "--set", "model.dense_units=256"])
    trainer = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "train", "--runs-dir", str(runs), "--set", f"training.epochs={epochs}",
         "--set", "training.batch_size=32", "--set", "training.gradient_every=0", *data],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    panes: list[Pane] = []
    try:
        deadline = time.time() + 300
        while not runs.is_dir() or not any(runs.iterdir()):
            time.sleep(0.2)
            if time.time() > deadline:
                raise SystemExit("the training run did not start")
        run_dir = next(runs.iterdir())
        panes = [Pane(f"cnn-tui-bench-viewer{i}", attach_command(run_dir)) for i in range(3)]
        for p in panes:
            p.wait_for("attached")
        pids = [int(subprocess.run(["tmux", "list-panes", "-t", p.name, "-F", "#{pane_pid}"], capture_output=True,
                                   text=True).stdout.strip()) for p in panes]
        viewers = [_children(pid) for pid in pids]
        # Epoch k (1-based) trains with the viewers running when k is even, frozen when odd.
        from tui.core.eventlog import EventLogFollower
        from tui.core.events import EpochEnd
        from tui.core.rundir import RunDir

        follower = EventLogFollower(RunDir(run_dir).events_file)
        on, off, seen = [], [], 0
        running = True
        _signal(viewers, signal.SIGSTOP)
        running = False
        while trainer.poll() is None or seen < epochs:
            for ev in follower.read().events:
                if isinstance(ev, EpochEnd) and not ev.partial:
                    seen = ev.epoch
                    if ev.epoch > 1:  # the first epoch includes tracing
                        (on if running else off).append(ev.samples_per_second)
                    want = (ev.epoch + 1) % 2 == 0
                    if want != running:
                        _signal(viewers, signal.SIGCONT if want else signal.SIGSTOP)
                        running = want
            if trainer.poll() is not None and seen >= epochs:
                break
            if trainer.poll() is not None and not follower.read().events:
                break
            time.sleep(0.05)
        _signal(viewers, signal.SIGCONT)
        return on, off
    finally:
        trainer.kill()
        for p in panes:
            p.close()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [c for child in out for c in _children(int(child))]


def _signal(groups: list[list[int]], sig: int) -> None:
    for group in groups:
        for pid in group:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


# -- 3. replay ----------------------------------------------------------------------------------------------------
def replay(run_dir: Path, last_epoch: int) -> float:
    """Seconds from starting `cnn-tui attach` to the last epoch's row and the finished status on screen."""
    t0 = time.perf_counter()
    pane = Pane("cnn-tui-bench-replay", attach_command(run_dir))
    try:
        pane.wait_for(row(last_epoch), timeout=300)
        t1 = pane.wait_for("finished", timeout=300)
    finally:
        pane.close()
    return t1 - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-epochs", type=int, default=20)
    ap.add_argument("--cost-epochs", type=int, default=16)
    ap.add_argument("--replays", type=int, default=3)
    ap.add_argument("--skip", action="append", default=[], choices=["latency", "cost", "replay"])
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared with other jobs: "
          "expect noise)")
    with tempfile.TemporaryDirectory(prefix="cnn-tui-attach-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "latency" not in args.skip:
            lat = sorted(latency(tmp, args.latency_epochs))
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
            print(f"attach latency (epoch record written -> row on the attached screen, {len(lat)} epochs): "
                  f"median {statistics.median(lat):.3f} s, p95 {p95:.3f} s, max {lat[-1]:.3f} s "
                  f"(target <= 1 s): {'OK' if p95 <= 1.0 else 'MISSED'}")
        if "replay" not in args.skip:
            t = time.perf_counter()
            runs = {"10": write_run(tmp / "replay-10", 10), "5000": write_run(tmp / "replay-5000", 5000),
                    "5000 unindexed": write_run(tmp / "replay-5000-old", 5000, indexed=False)}
            size = (runs["5000"] / "events.jsonl").stat().st_size
            print(f"replay: wrote a 5,000-epoch run ({size / 1e6:.0f} MB, {5000 * 241 + 2:,} records; once with "
                  f"its offsets index as a run writes it, once without as an older version wrote it) and a "
                  f"10-epoch one in {time.perf_counter() - t:.1f} s")
            times: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(args.replays):  # interleaved
                for key, run in runs.items():
                    times[key].append(replay(run, int(key.split()[0])))
            a, b, c = (statistics.median(times[k]) for k in ("10", "5000", "5000 unindexed"))
            print(f"replay to a painted screen: 10 epochs {a:.2f} s, 5,000 epochs {b:.2f} s (medians of "
                  f"{args.replays}, interleaved): ratio {b / a:.2f}x (target <= 1.5x): "
                  f"{'OK' if b / a <= 1.5 else 'MISSED'}")
            print(f"  the same 5,000 epochs without the offsets index (scanned): {c:.2f} s, ratio {c / a:.2f}x")
        if "cost" not in args.skip:
            on, off = writer_cost(tmp, args.cost_epochs)
            if on and off:
                ratio = statistics.median(on) / statistics.median(off)
                print(f"writer throughput: {statistics.median(off):,.0f} samples/s with 3 viewers frozen "
                      f"({len(off)} epochs), {statistics.median(on):,.0f} with 3 viewers attached ({len(on)} "
                      f"epochs), alternating epoch by epoch: ratio {ratio:.3f} (target >= 0.99): "
                      f"{'OK' if ratio >= 0.99 else 'MISSED'}")
            else:
                print(f"writer throughput: not enough epochs measured ({len(on)} on, {len(off)} off)")


if __name__ == "__main__":
    main()
