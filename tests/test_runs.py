"""Run history: `cnn-tui runs` and the app's runs screen list every run with its status, and an interrupted
run can be resumed from there."""

import pytest
from textual.widgets import Input

from pilot_wait import run_drawn

from tui.core import config as cfg
from tui.core.runs import list_runs
from tui.core.session import TrainingSession
from tui.ui.app import CnnTuiApp
from tui.ui.widgets.run_table import RunTable

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 3,
        "training.batch_size": 50}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """One finished run and one interrupted (crashed after epoch 2) run."""
    import keras

    from tui.core import keras_parts
    from tui.core.keras import saving

    runs = tmp_path_factory.mktemp("runs")
    TrainingSession(cfg.ExperimentConfig().with_values({**TINY, "training.epochs": 1}), runs_dir=runs).run()

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("power cut")

    real, share = keras_parts.make_callbacks, saving.SAVE_SHARE
    keras_parts.make_callbacks = lambda *a, **k: real(*a, **k) + [Crash()]
    saving.SAVE_SHARE = float("inf")  # a backup every epoch: it resumes at epoch 3
    try:
        crashed = TrainingSession(cfg.ExperimentConfig().with_values(TINY).with_values({"model.architecture": "mlp"}),
                                  runs_dir=runs)
        crashed.run()
    finally:
        keras_parts.make_callbacks, saving.SAVE_SHARE = real, share
    (crashed.run_dir / "summary.json").unlink()  # as a kill -9 would leave it
    return runs


def test_list_runs_reports_status_epochs_and_best_accuracy(runs_dir):
    records = {r.architecture: r for r in list_runs(runs_dir)}
    assert records["simple_cnn"].status == "finished" and records["simple_cnn"].epochs == 1
    assert records["mlp"].status == "interrupted" and records["mlp"].resumable and records["mlp"].epochs == 2
    assert all(r.best_val_accuracy is not None for r in records.values())


async def test_the_runs_screen_filters_opens_and_resumes_an_interrupted_run(runs_dir):
    app = CnnTuiApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await app.workers.wait_for_complete()  # the runs are read in a worker
        await pilot.pause()
        table = app.screen.query_one(RunTable)
        assert table.row_count == 2
        app.screen.query_one("#filter", Input).value = "interrupted"
        await pilot.pause()
        assert table.row_count == 1
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "interrupted: r resumes it" in str(app.screen.query_one("#run-title").render())
        await pilot.press("r")
        await pilot.pause()
        await run_drawn(pilot)
        monitor = app.screen.monitor
        assert monitor.state == "finished"
        assert [h["epoch"] for h in monitor.history] == [3]  # only the epoch that was missing
    record = next(r for r in list_runs(runs_dir) if r.architecture == "mlp")
    assert record.status == "finished" and record.epochs == 3
