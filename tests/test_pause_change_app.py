"""Pause → change → continue in the app, as a person does it (issue 15): p pauses, c opens the form, the new
learning rate is typed, p continues; the chart, the epoch table and summary.json show the change. A run killed after
a change and resumed from the app keeps it."""

import json

from textual.widgets import Input

from pilot_wait import until
from simulated_crash import crash_in_epoch_3

from tui.ui.widgets.epoch_table import EpochTable
from tui.core import config as cfg
from tui.ui.app import CnnTuiApp
from tui.ui.screens.change import ChangeScreen

TINY = {"dataset.train_size": 120, "model.conv_filters": 4, "model.dense_units": 8, "training.batch_size": 6,
        "training.epochs": 3, "training.gradient_every": 0}


def table_text(screen) -> list[str]:
    table = screen.query_one("#epochs", EpochTable)
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_pause_change_the_learning_rate_and_continue(tmp_path):
    # 600 batches an epoch: on a quiet machine TINY's 60 batches ended before the key that pauses them arrived,
    # and once (a quiet clean-clone run) 300 batches at batch size 4 did too
    config = cfg.ExperimentConfig().with_values({**TINY, "dataset.train_size": 1200, "training.batch_size": 2})
    app = CnnTuiApp(config, runs_dir=tmp_path, start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "monitor", None) is not None
                    and app.screen.monitor.last_batch is not None, 120)
        training = app.screen
        await pilot.press("c")  # not paused yet: refused with the way to do it
        assert not isinstance(app.screen, ChangeScreen)
        await pilot.press("p")
        await until(pilot, lambda: training.monitor.state == "paused", 30,
                    lambda: (training.monitor.state, training.monitor.epochs_seen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChangeScreen))
        lr = app.screen.query_one("#change-optimizer-learning_rate", Input)
        assert float(lr.value) == 0.001  # filled with the value in force
        lr.value = "0.01"
        lr.focus()
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is training)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: training.monitor.ended is not None and training.monitor.epochs_seen == 3
                    and not training.events)  # the 4 Hz pump has drawn what arrived last

        [change] = training.monitor.changes
        assert change.values == {"optimizer.learning_rate": 0.01}
        xs, ys = training.monitor.series("lr")["lr"]
        assert (change.at, 0.01) in zip(xs, ys) and abs(ys[-1] - 0.01) < 1e-6  # a step to 0.01 where it changed
        assert change.at in training.chart("lr").marks
        rows = table_text(training)
        assert any(r.startswith(f"Δ {change.epoch}·{change.batch} lr 0.01") for r in rows)
        summary = json.loads((app.session.run_dir / "summary.json").read_text())
        assert [c["values"] for c in summary["changes"]] == [{"optimizer.learning_rate": 0.01}]
        assert summary["changes"][0]["epoch"] == change.epoch


async def test_a_run_resumed_in_the_app_keeps_the_change(tmp_path, monkeypatch):
    from tui.core.keras import saving
    from tui.core.session import TrainingSession

    monkeypatch.setattr(saving, "SAVE_SHARE", float("inf"))  # a backup every epoch: it resumes at epoch 3
    stop_crashing = crash_in_epoch_3(monkeypatch)
    first = TrainingSession(cfg.ExperimentConfig().with_values({**TINY, "training.batch_size": 20}),
                            runs_dir=tmp_path)

    def pause_then_change(event):
        if getattr(event, "batch", 0) >= 2 and not first.paused and first.plan and not first.plan.applied:
            first.pause()
        elif getattr(event, "state", None) == "paused":
            first.change({"optimizer.learning_rate": "0.02"})
            first.resume()

    first.subscribe(pause_then_change)
    assert first.run().status == "failed"  # killed in epoch 3, after the change (epoch 1 or 2)
    stop_crashing()

    app = CnnTuiApp(cfg.ExperimentConfig(), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        app.resume_run(first.run_dir)
        await until(pilot, lambda: getattr(app.screen, "monitor", None) is not None, 30)
        training = app.screen
        await app.workers.wait_for_complete()
        await until(pilot, lambda: training.monitor.ended is not None and not training.events)
        assert training.monitor.ended.status == "finished"
        assert [c.resumed for c in training.monitor.changes] == [True]
        assert abs(training.monitor.history[-1]["lr"] - 0.02) < 1e-6
        assert any(r.startswith("Δ ") and "lr 0.02" in r for r in table_text(training))
    summary = json.loads((first.run_dir / "summary.json").read_text())
    assert [c["values"] for c in summary["changes"]] == [{"optimizer.learning_rate": 0.02}]
