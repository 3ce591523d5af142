"""Soak: resident memory of a long run and of a long in-process sweep, against a bare `model.fit` of the same
model and data. Each measurement runs in a fresh process; the five epoch runs at once, then the sweep.

    python benchmarks/soak.py [EPOCHS] [CELLS]

The measurements, side by side in one run:
- bare: `model.fit` of the default simple CNN on the embedded digits, written by hand (the floor), twice: the two
  figures differ only by the measurement's noise, which the output states;
- headless: a TrainingSession of the same configuration whose events are folded into a RunMonitor (what
  `cnn-tui train` and the app draw from);
- app: `cnn-tui --start` in a real terminal (a tmux pane), sampled by a thread in its own process (APP_SAMPLER) each
  time the run's history.csv passes a mark (so the app's drawing state, the epoch table and the charts are inside
  the figure), twice as well: two app runs of 3,000 epochs on 12-03 grew 1.80 and 1.14 KB/epoch resident over the
  second half, so one app run cannot tell 1.5 × bare from 1 ×;
- sweep: `cnn-tui sweep`'s runner, cells one at a time in-process.

Each process is sampled ~100 times (every EPOCHS/100 epochs, after a gc): its resident size, and the C heap in use
(glibc's mallinfo2). Prints both against epochs / cells, the growth per epoch over the second half of the run (the
steady state: the app's bounded windows, such as the epoch table's last 200 rows, fill in the first) as a
least-squares slope with its standard error, of headless and app against bare (target ≤ 1.5×, floor 1 KB), and the
growth per sweep cell after the first (target ≤ 1 MB). Resident memory moves in page-sized steps of a few hundred KB
that come and go; over a few hundred epochs a couple of them set its slope (the bare fit measured twice has differed
by 3-6 KB/epoch on a loaded machine), so the heap's slope is the one that says what the process keeps.

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
losses instead of all of them. Third round (Dec 2026): the headless run's C heap still grew ~1.5 KB an epoch against
the bare fit's ~0.8; without ModelCheckpoint it grew 0.84 (without the backup and seed states: 1.57, unchanged;
HDF5's free lists emptied every epoch: 1.53, unchanged). ModelCheckpoint compares each epoch's val_loss with the
best through keras.ops, and eager TensorFlow caches a tensor for every distinct Python float it converts, never
trimmed (0.64 KB each, measured on tf.constant alone); a learning-rate schedule's new rate every epoch does the
same. The session's last callback now empties that cache at each epoch's end (tui/core/keras/caches.py). Fourth
round (Dec 2026): the best model and the backup are written within 0.25 % of the training time each
(tui/core/keras/saving.py), so on these short epochs one save in ~100 epochs instead of two an epoch; the headless
heap slope came down to the bare fit's. tracemalloc over the app (tracing from epoch 60, snapshots at 280 and 480,
so that every bounded window has turned over inside the traced span) found no Python object growing: -0.28 KB/epoch
in all, the compact epoch record's 8 doubles an epoch included (a snapshot pair taken before the windows turn over
shows their churn as growth). Fifth round (Dec 3): at 600 epochs the app's slope was Textual's and Rich's bounded
caches still filling (pymalloc's blocks +2.2 KB/epoch from 300 to 600, +0.12 from 1,000 to 3,000); over 3,000 epochs
neither malloc_trim before each sample nor Python's objects moved into the C heap (PYTHONMALLOC=malloc, which then
grew 0.12 KB/epoch) changed the app's remaining ~1 KB/epoch of resident memory, the bare fit's own figure."""

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


def heap_mb() -> float:
    """Bytes the C heap has handed out and not had back (glibc's mallinfo2: uordblks + hblkhd), in MB; NaN off
    glibc. Unlike the resident size it does not move with pages touched, freed or kept by the allocator, so its
    slope is what the process really keeps (TensorFlow's and NumPy's native memory, Python's objects over 512
    bytes); Python's small objects live in pymalloc's own arenas, outside it."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                          "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return float("nan")
    return (info.uordblks + info.hblkhd) / MB


Mark = tuple[int, float, float]
"""(epoch or cell, resident MB, heap in use MB)."""


def child(mode: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import gc

    from tui.core import presets

    marks: list[Mark] = []
    every = mark_every(n)

    def mark(i: int) -> None:
        if i % every == 0 or i == n:
            gc.collect()
            marks.append((i, rss_mb(), heap_mb()))

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
                marks.append((finished, rss_mb(), heap_mb()))

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


def mark_every(n: int) -> int:
    """Epochs between two samples: ~100 samples a run, so the slope is fitted over ~50 points of the second half
    rather than set by one page-sized step between two of them."""
    return max(1, n // 100)


APP_SAMPLER = """
import gc, json, os, runpy, sys, threading, time
sys.path.insert(0, {root!r})
sys.argv = ["cnn-tui", *sys.argv[1:]]
from benchmarks.soak import heap_mb, rss_mb
from pathlib import Path

def sample():
    runs, every, n, out, marks = Path({runs!r}), {every}, {n}, Path({out!r}), []
    while True:
        time.sleep(0.05)
        history = next(runs.glob("*/history.csv"), None)
        epochs = max(0, len(history.read_text().splitlines()) - 1) if history else 0
        if epochs >= (len(marks) + 1) * every or (epochs >= n and (not marks or marks[-1][0] < n)):
            gc.collect()
            marks.append((epochs, rss_mb(), heap_mb()))
            out.with_suffix(".tmp").write_text(json.dumps(marks))
            out.with_suffix(".tmp").replace(out)
            if epochs >= n:
                return

threading.Thread(target=sample, daemon=True).start()
runpy.run_module("tui.cli", run_name="__main__", alter_sys=False)
"""
"""Runs the app (tui.cli) with a sampler thread beside it: at each mark of the run's history.csv it collects
garbage (as the headless child does) and records the process's resident size and C heap in use."""


def measure_app(n: int, tag: str = "") -> list[Mark]:
    """`cnn-tui --start` in a tmux pane (a real terminal), sampled from inside its process (APP_SAMPLER)."""
    import shlex
    import shutil
    import time

    if shutil.which("tmux") is None:
        raise SystemExit("the app measurement needs tmux (apt install tmux)")
    runs = Path(tempfile.mkdtemp())
    out = runs / "soak-marks.json"
    wrapper = runs / "app_sampler.py"
    wrapper.write_text(APP_SAMPLER.format(root=str(ROOT), runs=str(runs), every=mark_every(n), n=n, out=str(out)))
    session = f"cnn-tui-soak-{os.getpid()}{tag}"
    command = (f"cd {ROOT} && TF_CPP_MIN_LOG_LEVEL=3 exec {shlex.quote(sys.executable)} {wrapper} --runs-dir {runs} "
               f"--set training.epochs={n} --set training.early_stopping=false --start")
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command], check=True)
    deadline = time.time() + 60 * 60
    try:
        while time.time() < deadline:
            marks = [tuple(m) for m in json.loads(out.read_text())] if out.is_file() else []
            if marks and marks[-1][0] >= n:
                return marks  # type: ignore[return-value]
            time.sleep(0.5)
        raise SystemExit("app run timed out:\n" + subprocess.run(["tmux", "capture-pane", "-t", session, "-p"],
                                                                 capture_output=True, text=True).stdout)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def measure(mode: str, n: int) -> list[Mark]:
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(n)], capture_output=True, text=True)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return [tuple(p) for p in json.loads(line[7:])]  # type: ignore[misc]


def fit_kb(marks: list[Mark], skip: int, column: int = 1) -> tuple[float, float]:
    """Growth per step (KB) of one column (1: resident, 2: heap in use) and its standard error: the least-squares
    slope of the marks at or after `skip` (every mark counts, so one page more or less anywhere moves it less than
    the two ends alone would; the error understates it when the pages come in steps)."""
    pts = [(p[0], p[column]) for p in marks if p[0] >= skip] or [(p[0], p[column]) for p in marks]
    if len(pts) < 2:
        return 0.0, 0.0
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if not sxx:
        return 0.0, 0.0
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    rss = sum((p[1] - my - b * (p[0] - mx)) ** 2 for p in pts)
    se = (rss / (len(pts) - 2) / sxx) ** 0.5 if len(pts) > 2 else 0.0
    return b * 1024, se * 1024


def slope_kb(marks: list[Mark], skip: int) -> float:
    return fit_kb(marks, skip)[0]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    cells = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    # Side by side: the five processes run at once (memory, not time: sharing the cores changes the pace, not what
    # is kept); the bare fit and the app twice each: their two figures say how noisy the measurement is.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(5) as pool:
        jobs = [pool.submit(measure, "bare", n), pool.submit(measure, "headless", n), pool.submit(measure_app, n),
                pool.submit(measure, "bare", n), pool.submit(measure_app, n, "-again")]
        bare, headless, app, control, app_again = (job.result() for job in jobs)
    sweep = measure("sweep", cells)
    # Steady state: the second half, and after the app's bounded windows have filled (the epoch table's and the
    # monitor's 200 rows) while that leaves a quarter of the run.
    skip = max(1, n // 2, min(220, n - n // 4))
    print(f"digits, default simple_cnn, {n} epochs, no early stopping; each process sampled every {mark_every(n)} "
          f"epochs after a gc (the app from a thread in its own process, in a tmux pane): resident MB / C heap in "
          f"use MB")
    runs = {"bare": bare, "headless": headless, "app": app, "bare again": control, "app again": app_again}
    at = {name: {m[0]: m for m in marks} for name, marks in runs.items()}
    print(f"{'epoch':>6}" + "".join(f"{name:>22}" for name in runs))
    shown = max(1, len(bare) // 12)
    for k, m in enumerate(bare):
        if k % shown and k != len(bare) - 1:
            continue
        cols = [at[name].get(m[0]) for name in runs]
        print(f"{m[0]:>6}" + "".join(f"{c[1]:>13.1f} /{c[2]:>7.1f}" if c else f"{'':>22}" for c in cols))
    samples = sum(1 for p in bare if p[0] >= skip)
    fits = {name: (fit_kb(marks, skip, 1), fit_kb(marks, skip, 2)) for name, marks in runs.items()}
    print(f"growth per epoch after epoch {skip} (least squares over {samples} samples, ± its standard error):")
    for name, ((g, e), (h, he)) in fits.items():
        print(f"  {name:<11} resident {g:6.2f} ± {e:4.2f} KB    C heap in use {h:6.2f} ± {he:4.2f} KB")
    for name in ("bare", "app"):
        (g1, _), (h1, _) = fits[name]
        (g2, _), (h2, _) = fits[f"{name} again"]
        print(f"noise: the same {name} run measured twice differs by {abs(g1 - g2):.2f} KB/epoch resident, "
              f"{abs(h1 - h2):.2f} KB/epoch heap")
    print("(resident memory moves in page-sized steps: its slope is set by a few of them; the heap's is not. The "
          "bare fit and the app are each measured twice, and their mean is what the ratios use.)")

    def mean_slope(names: tuple[str, ...], col: int) -> float:
        return sum(fits[name][col][0] for name in names) / len(names)

    for label, col in (("resident", 0), ("C heap in use", 1)):
        floor = max(mean_slope(("bare", "bare again"), col), 1.0)  # a flat bare fit (≤ 1 KB/epoch): against 1 KB
        print(f"ratio to bare, {label} (floor 1 KB): headless {mean_slope(('headless',), col) / floor:.2f}, "
              f"app {mean_slope(('app', 'app again'), col) / floor:.2f} (target ≤ 1.5 each)")
    print(f"\nsweep of {cells} cells in one process (3 epochs each)")
    for c, r, h in sweep:
        print(f"{'cell':>6} {c:>3}{r:>10.1f} MB resident{h:>10.1f} MB heap")
    print(f"growth per cell after the first: {slope_kb(sweep, 1) / 1024:.2f} MB (target ≤ 1 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
