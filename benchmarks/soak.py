"""Soak: resident memory of a long run and of a long in-process sweep, against a bare `model.fit` of the same
model and data. Each measurement runs in a fresh process, one after another.

    python benchmarks/soak.py [EPOCHS] [CELLS]

Four measurements, side by side in one run:
- bare: `model.fit` of the default simple CNN on the embedded digits, written by hand (the floor);
- headless: a TrainingSession of the same configuration whose events are folded into a RunMonitor (what
  `cnn-tui train` and the app draw from);
- app: `cnn-tui --start` in a real terminal (a tmux pane), its process's resident memory sampled while the run's
  history.csv grows (so the app's drawing state, the epoch table and the charts are inside the figure);
- sweep: `cnn-tui sweep`'s runner, cells one at a time in-process.

Prints RSS against epochs / cells, the growth per epoch over the second half of the run (the steady state: the
app's bounded windows, such as the epoch table's last 200 rows, fill in the first) of headless and app against bare
(target ≤ 1.5×), and the growth per sweep cell after the first (target ≤ 1 MB). Use EPOCHS ≥ 500 for the app.

What was growing (found with tracemalloc and by bisecting model.fit's callbacks, Dec 2026): Keras 3.15's weight
saves (BackupAndRestore and ModelCheckpoint, every epoch) each kept ~70-80 KB because `keras.saving` re-built its
per-save attribute cache without clearing it (worked around in tui/core/keras_parts.py, keep_save_attribute_cache);
a sweep cell in-process kept ~2 MB of TensorFlow FuncGraphs through the CustomGradient registry even after
keras.backend.clear_session() (released in tui/core/tfenv.py, cell_scope/release_graph_state). Then (issue 22,
second round) the session's own per-epoch records: each epoch's logs kept as a dict by the event callback, again
by the doctor and again value by value in Keras' History, and the RunMonitor's curves (BoundedSeries), whose
list-of-tuples buckets grew ~250 bytes a point per curve until their first merge at ~500 epochs, plus its 500-row
window. Now the record is one compact EpochHistory (tui/core/epochs.py) that fit's History reads, the curves hold
preallocated arrays, the monitor keeps the epoch table's 200 rows, and the doctor keeps two numbers of the batch
losses instead of all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def child(mode: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import gc

    from tui.core import presets

    marks: list[tuple[int, float]] = []
    every = max(1, n // 10)

    def mark(i: int) -> None:
        if i % every == 0 or i == n:
            gc.collect()
            marks.append((i, rss_mb()))

    runs = tempfile.mkdtemp()
    if mode == "sweep":
        from tui.core import sweep

        base = presets.load_experiment("default", ["training.epochs=3"], None)
        spec = sweep.make_spec(base, [("model.dense_units", list(range(16, 16 + n)))], 3, None)
        runner = sweep.SweepRunner.create(spec, runs, workers=1)
        done = [0]

        def on_change(*_: object) -> None:
            finished = sum(1 for c in runner.state.cells if c.done)
            if finished > done[0]:
                done[0] = finished
                gc.collect()
                marks.append((finished, rss_mb()))

        runner._listeners.append(on_change)
        runner.run()
    else:
        config = presets.load_experiment("default", [f"training.epochs={n}"], None)
        if mode == "bare":
            import keras

            from models import build_model
            from tui.core import datasets, keras_parts

            data = datasets.load_dataset(config.dataset)
            model = build_model(config, data.info.input_shape, data.info.num_classes)
            model.compile(optimizer=keras_parts.make_optimizer(config), loss=config.training.loss,
                          metrics=["accuracy"])

            class Mark(keras.callbacks.Callback):
                def on_epoch_end(self, epoch: int, logs: object = None) -> None:
                    mark(epoch + 1)

            def labels(y: object) -> object:
                one_hot = config.training.loss in keras_parts.ONE_HOT_LOSSES
                return keras.utils.to_categorical(y, data.info.num_classes) if one_hot else y

            model.fit(data.x_train, labels(data.y_train), validation_data=(data.x_val, labels(data.y_val)), epochs=n,
                      batch_size=config.training.batch_size, verbose=0, callbacks=[Mark()])
        else:
            from tui.core.events import EpochEnd
            from tui.core.monitor import RunMonitor
            from tui.core.session import TrainingSession

            monitor = RunMonitor()  # what the app folds events into

            def listen(event: object) -> None:
                monitor.apply(event)  # type: ignore[arg-type]
                if isinstance(event, EpochEnd):
                    mark(event.epoch)

            TrainingSession(config, runs_dir=runs, listeners=[listen]).run()
    print("RESULT " + json.dumps(marks), flush=True)


def rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def measure_app(n: int) -> list[tuple[int, float]]:
    """`cnn-tui --start` in a tmux pane; RSS of the app's process each time the run's history.csv passes a mark."""
    import shutil
    import time

    if shutil.which("tmux") is None:
        raise SystemExit("the app measurement needs tmux (apt install tmux)")
    runs = Path(tempfile.mkdtemp())
    session = f"cnn-tui-soak-{os.getpid()}"
    command = (f"cd {ROOT} && TF_CPP_MIN_LOG_LEVEL=3 exec {sys.executable} -m tui.cli --runs-dir {runs} "
               f"--set training.epochs={n} --set training.early_stopping=false --start")
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command], check=True)
    pid = int(subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True,
                             text=True, check=True).stdout.split()[0])
    every, marks, deadline = max(1, n // 10), [], time.time() + 60 * 60
    try:
        while time.time() < deadline:
            history = next(runs.glob("*/history.csv"), None)
            epochs = max(0, len(history.read_text().splitlines()) - 1) if history else 0
            if epochs >= (len(marks) + 1) * every or (epochs >= n and (not marks or marks[-1][0] < n)):
                marks.append((epochs, rss_of(pid)))
                if epochs >= n:
                    return marks
            time.sleep(0.05)
        raise SystemExit("app run timed out:\n" + subprocess.run(["tmux", "capture-pane", "-t", session, "-p"],
                                                                 capture_output=True, text=True).stdout)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def measure(mode: str, n: int) -> list[tuple[int, float]]:
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(n)], capture_output=True, text=True)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return [tuple(p) for p in json.loads(line[7:])]  # type: ignore[misc]


def slope_kb(marks: list[tuple[int, float]], skip: int) -> float:
    """Growth per step (KB): the least-squares slope of the marks at or after `skip` (every mark counts, so one
    page more or less at either end moves it less than the two ends alone would)."""
    pts = [p for p in marks if p[0] >= skip] or marks
    if len(pts) < 2:
        return 0.0
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx * 1024 if sxx else 0.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    cells = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    bare, headless, app = measure("bare", n), measure("headless", n), measure_app(n)
    sweep = measure("sweep", cells)
    skip = max(1, n // 2)  # steady state: the app's bounded windows (TABLE_ROWS = 200 epoch rows) fill first
    print(f"digits, default simple_cnn, {n} epochs, no early stopping")
    print(f"{'epoch':>6}{'bare MB':>10}{'headless MB':>13}{'app MB':>10}")
    app_at = dict(app)
    for (e, rb), (_, rh) in zip(bare, headless):
        ra = app_at.get(e)
        print(f"{e:>6}{rb:>10.1f}{rh:>13.1f}{ra if ra is not None else float('nan'):>10.1f}")
    gb, gh, ga = slope_kb(bare, skip), slope_kb(headless, skip), slope_kb(app, skip)
    floor = max(gb, 1.0)  # a flat bare fit (growth ≤ 1 KB/epoch) is measured against 1 KB, not against noise
    print(f"growth per epoch after epoch {skip}: bare {gb:.1f} KB, headless {gh:.1f} KB, app {ga:.1f} KB")
    print(f"ratio to bare (floor 1 KB): headless {gh / floor:.2f}, app {ga / floor:.2f} (target ≤ 1.5 each)")
    print(f"\nsweep of {cells} cells in one process (3 epochs each)")
    for c, r in sweep:
        print(f"{'cell':>6} {c:>3}{r:>10.1f} MB")
    print(f"growth per cell after the first: {slope_kb(sweep, 1) / 1024:.2f} MB (target ≤ 1 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
