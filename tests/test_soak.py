"""Long runs hold their memory flat: what a viewer keeps for drawing is bounded, however many epochs arrive
(the full history stays on disk), and a sweep cell run in this process releases its model when it ends."""

import gc
import tracemalloc

from tui.core.events import BatchEnd, EpochEnd
from tui.core.monitor import BATCH_POINTS, HISTORY_WINDOW, SERIES_POINTS, RunMonitor
from tui.core.series import BoundedSeries


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

    from textual.widgets import DataTable

    from tui.core import config as cfg
    from tui.core.datasets import DatasetInfo
    from tui.core.events import ModelSummary, RunStarted
    from tui.ui.app import CnnTuiApp
    from tui.ui.screens.training import TABLE_ROWS, TrainingScreen

    epochs = TABLE_ROWS + 300
    info = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1437, 180, 180, (180,) * 10)
    events: deque = deque([RunStarted(str(tmp_path), cfg.ExperimentConfig(), info, ModelSummary("m", (), 10, 10),
                                      epochs, 1, 32)])
    screen = TrainingScreen(session=None, events=events)
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await app.push_screen(screen)
        await pilot.pause()
        for start in range(1, epochs + 1, 100):  # in batches, as the 4 Hz pump would see them
            events.extend(epoch(i, epochs) for i in range(start, min(start + 100, epochs + 1)))
            screen.drain()
            await pilot.pause()
        table = screen.query_one("#epochs", DataTable)
        assert table.row_count == TABLE_ROWS
        assert str(table.get_row_at(table.row_count - 1)[0]) == str(epochs)
        assert str(table.get_row_at(0)[0]) == str(epochs - TABLE_ROWS + 1)
        assert screen.monitor.epochs_seen == epochs
        assert f"epoch {epochs}/{epochs}" in str(screen.query_one("#epoch-label").render())
