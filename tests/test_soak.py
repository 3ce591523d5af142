"""Long runs hold their memory flat: what a viewer keeps for drawing is bounded, however many epochs arrive
(the full history stays on disk), and a sweep cell run in this process releases its model when it ends."""

import gc
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tui.core.events import BatchEnd, EpochEnd
from tui.core.monitor import BATCH_POINTS, HISTORY_WINDOW, SERIES_POINTS, RunMonitor
from tui.core.series import BoundedSeries

ROOT = Path(__file__).resolve().parents[1]


def epoch(i: int, epochs: int) -> EpochEnd:
    return EpochEnd(i, epochs, {"loss": 1 / i, "accuracy": 1 - 1 / i, "val_loss": 2 / i, "val_accuracy": 0.9},
                    lr=1e-3, seconds=0.5, samples_per_second=1000.0)


def test_a_ten_thousand_epoch_run_keeps_a_fixed_number_of_points_per_curve_and_rows():
    epochs = 10_000
    monitor = RunMonitor()
    tracemalloc.start()
    for i in range(1, epochs + 1):
        monitor.apply(epoch(i, epochs))
        monitor.apply(BatchEnd(i, 1, 1, 1.0, None, 1.0, 1.0, 0.1))
        if i == 6000:
            gc.collect()
            before = tracemalloc.take_snapshot()
    gc.collect()
    growth = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()

    assert len(monitor.history) == HISTORY_WINDOW and monitor.history[-1]["epoch"] == epochs
    assert monitor.epochs_seen == epochs
    for key, curve in monitor.curves.items():
        assert len(curve) <= SERIES_POINTS, key
    xs, ys = monitor.series("loss")["loss"]
    assert xs[0] < 20 and xs[-1] == epochs and ys[-1] == 1 / epochs  # the whole run, the last point exact
    assert all(a < b for a, b in zip(xs, xs[1:]))
    # The last 4,000 epochs: the old monitor kept every row (~1 KB each, ~4 MB more); now only bounded buffers
    # are rewritten (the halving of a curve moves its points around but keeps their number).
    assert growth < 100_000, f"the monitor grew by {growth / 1024:.0f} KB over 4,000 epochs"


def test_a_bounded_series_keeps_the_shape_of_the_curve():
    s = BoundedSeries(8)
    for i in range(1, 101):
        s.append(i, 2.0 * i)
    xs, ys = s.points()
    assert len(xs) <= 9 and xs[-1] == 100 and ys[-1] == 200
    assert all(y == 2 * x for x, y in zip(xs, ys))  # means of a straight line stay on it
    s.append(101, float("nan"))
    assert s.points()[0][-1] == 100


def test_a_long_epoch_keeps_a_bounded_batch_trace():
    monitor = RunMonitor()
    for b in range(1, 20_001):
        monitor.apply(BatchEnd(1, b, 20_000, 1.0, None, 1.0 / b, 1.0, 0.1))
    assert len(monitor.batch_x) <= BATCH_POINTS + 1 and monitor.batch_x[-1] == 20_000


async def test_the_training_screen_shows_a_bounded_window_of_epochs_on_a_long_run(tmp_path):
    """Hundreds of epochs arriving at the screen: the table keeps the latest TABLE_ROWS rows, the newest last,
    and the charts draw from bounded curves."""
    from collections import deque

    from tui.core import config as cfg
    from tui.core.datasets import DatasetInfo
    from tui.core.events import ModelSummary, RunStarted
    from tui.ui.app import CnnTuiApp
    from tui.ui.screens.training import TABLE_ROWS, TrainingScreen
    from tui.ui.widgets.epoch_table import EpochTable
    from tui.ui.budget import CpuBudget
    from tui.ui.widgets.progress_row import ProgressRow

    epochs = TABLE_ROWS + 300
    info = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1437, 180, 180, (180,) * 10)
    events: deque = deque([RunStarted(str(tmp_path), cfg.ExperimentConfig(), info, ModelSummary("m", (), 10, 10),
                                      epochs, 1, 32)])
    screen = TrainingScreen(session=None, events=events)
    screen.budget = CpuBudget(1.0, 10.0)  # the pacing is another test's (test_ui_budget.py): here, every drain draws
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await app.push_screen(screen)
        await pilot.pause()
        for start in range(1, epochs + 1, 100):  # in batches, as the 4 Hz pump would see them
            events.extend(epoch(i, epochs) for i in range(start, min(start + 100, epochs + 1)))
            screen.drain()
            await pilot.pause()
        table = screen.query_one("#epochs", EpochTable)
        assert table.row_count == TABLE_ROWS
        assert str(table.get_row_at(table.row_count - 1)[0]) == str(epochs)
        assert str(table.get_row_at(0)[0]) == str(epochs - TABLE_ROWS + 1)
        assert screen.monitor.epochs_seen == epochs
        assert f"epoch {epochs}/{epochs}" in screen.query_one("#bars", ProgressRow).text


SOAK_CHILD = """
import gc, json, sys, tempfile
from benchmarks.soak import heap_mb, rss_mb
from tui.core import presets
from tui.core.events import EpochEnd
from tui.core.keras import saving
from tui.core.session import TrainingSession

saving.SAVE_SHARE = float("inf")  # a backup and a best model every epoch: the saves are what this soaks

marks = []
def listen(event):
    if isinstance(event, EpochEnd) and event.epoch >= 60 and event.epoch % 10 == 0:
        gc.collect()
        marks.append((event.epoch, rss_mb(), heap_mb()))

config = presets.load_experiment("default", ["training.epochs=300", "dataset.train_size=128",
                                              "training.early_stopping=false"], None)
result = TrainingSession(config, runs_dir=tempfile.mkdtemp(), listeners=[listen]).run()
print("RESULT " + json.dumps({"status": result.status, "marks": marks}))
"""


@pytest.mark.slow
def test_a_long_headless_run_keeps_its_memory_flat():
    """300 epochs with the backup and the checkpoint saved every epoch, sampled every 10 from epoch 60. Keras
    3.15's save cache never hit (it caches under one key and reads another), so every save leaked ~70 KB of native
    memory: ~95 KB an epoch in all, about 23 MB over these 240 epochs. Fixed (tui.core.keras.saving), the session
    keeps ~1-2 KB an epoch (its epoch records; Dec 2026: resident 0.3 MB and C heap 0.35 MB over the 240 epochs).
    The growth is the least-squares slope over the 25 samples (one page-sized step of the resident size moves it
    less than it would the difference of two), times 240; the bounds leave room for the allocator's steps."""
    from benchmarks.soak import fit_kb

    out = subprocess.run([sys.executable, "-c", SOAK_CHILD], capture_output=True, text=True, timeout=900,
                         cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)})
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    res = json.loads(line[7:])
    assert res["status"] == "finished", res
    marks = [tuple(m) for m in res["marks"]]
    resident_mb = fit_kb(marks, 60, 1)[0] * 240 / 1024
    assert resident_mb < 4, f"resident memory grew {resident_mb:.1f} MB from epoch 60 to 300 ({marks})"
    heap_mb = fit_kb(marks, 60, 2)[0] * 240 / 1024
    if heap_mb == heap_mb:  # (NaN off glibc)
        assert heap_mb < 1.5, f"the C heap in use grew {heap_mb:.1f} MB from epoch 60 to 300 ({marks})"


def test_thousands_of_epochs_compared_by_the_best_model_checkpoint_leave_no_tensors_behind(tmp_path):
    """Keras' ModelCheckpoint (the run's best.keras) compares each epoch's val_loss with the best through keras.ops,
    and eager TensorFlow keeps a tensor for every distinct Python float it converts, in a cache nothing trims
    (0.64 KB each): about 0.65 KB an epoch, most of what a headless run kept beyond a bare fit. The session's last
    callback empties that cache at each epoch's end. Driven hook by hook, 3,000 epochs that never improve (so
    nothing is saved) would keep ~1.9 MB without it."""
    from types import SimpleNamespace

    import keras

    from benchmarks.soak import heap_mb
    from tui.core import config as cfg
    from tui.core import keras_parts

    callbacks = keras_parts.make_callbacks(cfg.ExperimentConfig(), tmp_path, keras.callbacks.Callback())
    [best] = [c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint)]
    for c in (best, callbacks[-1]):
        c.set_model(SimpleNamespace(stop_training=False))
    best.best = 0.0  # no val_loss below it: compared every epoch, never saved

    def epochs(first: int, n: int) -> None:
        for e in range(first, first + n):
            logs = {"loss": 0.5, "val_loss": 1.0 + e * 1e-6}  # a new float every epoch, as in a real run
            best.on_epoch_end(e, logs)
            callbacks[-1].on_epoch_end(e, logs)

    epochs(0, 300)
    gc.collect()
    before = heap_mb()
    epochs(300, 3000)
    gc.collect()
    grown_kb = (heap_mb() - before) * 1024
    if grown_kb == grown_kb:  # (NaN off glibc)
        assert grown_kb < 500, f"the C heap grew {grown_kb:.0f} KB over 3,000 compared epochs"


CELLS_CHILD = """
import gc, json, tempfile
from tui.core import presets, tfenv
from tui.core.session import TrainingSession

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4

runs, marks = tempfile.mkdtemp(), []
for units in (16, 17, 18, 19, 20):
    config = presets.load_experiment("default", ["training.epochs=1", "dataset.train_size=128",
                                                  f"model.dense_units={units}"], None)
    with tfenv.cell_scope():
        TrainingSession(config, runs_dir=runs).run()
    gc.collect()
    marks.append(rss_kb())
print("RESULT " + json.dumps(marks))
"""


@pytest.mark.slow
def test_sweep_cells_run_one_after_another_in_one_process_hold_the_memory_of_one():
    """Each cell's training step registered its gradient functions in TensorFlow's process-wide registry for good
    (clear_session does not touch it), and with them the cell's graphs: ~7 MB a cell. A cell run in a process that
    outlives it (in-process sweeps, Dask workers) now leaves ~1 MB or less behind; 3 MB a cell is the bound."""
    out = subprocess.run([sys.executable, "-c", CELLS_CHILD], capture_output=True, text=True, timeout=900,
                         cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    marks = json.loads(line[7:])
    per_cell_mb = (marks[-1] - marks[1]) / 1024 / (len(marks) - 2)
    assert per_cell_mb < 3, f"each cell after the second left {per_cell_mb:.1f} MB behind ({marks} KB)"


def test_a_run_stopped_early_has_no_time_left():
    """The status line of a run stopped at epoch 2 of 10 said "ETA 1:10" after the stop."""
    from tui.core.events import RunEnded

    monitor = RunMonitor()
    for i in (1, 2):
        monitor.apply(epoch(i, 10))
    monitor.ended = None
    monitor.apply(RunEnded("stopped", None, "runs/x", {}))
    assert monitor.eta_seconds() == 0.0
