"""Pause, change, continue (issue 15): what a paused run takes, how the training thread applies it, and what the
run directory keeps of it (summary.json/md, changes.json, the event log), also across a kill and a resume."""

import json

import pytest

from tui.core import config as cfg
from tui.core.changes import RunPlan
from tui.core.eventlog import read_events
from tui.core.events import BatchEnd, EpochEnd, SettingsChanged
from tui.core.session import TrainingSession

SMALL = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 3,
         "training.batch_size": 25, "training.gradient_every": 0}


def test_only_what_the_running_model_takes_is_offered_and_bad_values_name_the_key():
    plan = RunPlan(cfg.ExperimentConfig().with_values({"training.epochs": 5}))
    plan.position = (3, 7)
    assert plan.check({"optimizer.learning_rate": "0.01", "training.epochs": "8"}) == {
        "optimizer.learning_rate": 0.01, "training.epochs": 8}
    with pytest.raises(ValueError, match="model.dropout: cannot be changed while the run goes on"):
        plan.check({"model.dropout": 0.2})
    with pytest.raises(ValueError, match="optimizer.learning_rate"):
        plan.check({"optimizer.learning_rate": "-1"})
    with pytest.raises(ValueError, match="training.epochs: epoch 3 is under way; choose 3 or more"):
        plan.check({"training.epochs": 2})
    with pytest.raises(ValueError, match="early stopping is off"):
        plan.check({"training.patience": 2})


def test_the_change_callback_applies_in_the_training_thread_at_a_batch_boundary():
    """Hooks called with a small compiled model, as Keras calls them."""
    import keras

    from tui.core import keras_parts
    from tui.core.keras.changes import ChangeApplier

    config = cfg.ExperimentConfig().with_values({"training.epochs": 4, "training.early_stopping": True})
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras_parts.make_optimizer(config), loss="mse")
    plan = RunPlan(config)
    emitted, saved = [], []
    change = ChangeApplier(plan, emitted.append, steps=10, on_applied=saved.append)
    stopper = keras.callbacks.EarlyStopping(patience=5)
    change.early_stopping = stopper  # make_callbacks wires it so
    change.set_model(model)
    change.on_train_begin()
    change.on_epoch_begin(1)
    plan.request(plan.check({"optimizer.learning_rate": 0.02, "training.patience": 1, "optimizer.clipnorm": 0.5,
                             "training.epochs": 2}))
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.001)  # nothing before the boundary
    change.on_train_batch_begin(4)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.02)
    assert (stopper.patience, model.optimizer.clipnorm, plan.epochs) == (1, 0.5, 2)
    [event] = emitted
    assert isinstance(event, SettingsChanged) and (event.epoch, event.batch) == (2, 4)
    assert event.previous["optimizer.learning_rate"] == pytest.approx(0.001) and event.at == pytest.approx(1.4)
    assert saved[-1][0]["values"]["training.epochs"] == 2
    change.on_epoch_end(1, {})
    assert model.stop_training  # epoch 2 of 2 ended


def paused_then_changed(session, events, values, at_batch=2):
    """A listener pausing at the first progress event of epoch 1 from batch `at_batch` on, and the change sent
    once the training thread reports it paused."""
    state = {"asked": False}

    def listener(event):
        if isinstance(event, BatchEnd) and not state["asked"] and event.batch >= at_batch:
            state["asked"] = True
            session.pause()
        elif getattr(event, "state", None) == "paused":
            session.change(values)
            session.resume()

    session.subscribe(listener)
    return session


def test_a_paused_run_changed_and_continued_records_the_change_everywhere(tmp_path):
    events = []
    config = cfg.ExperimentConfig().with_values(SMALL)
    session = paused_then_changed(TrainingSession(config, runs_dir=tmp_path, listeners=[events.append]), events,
                                  {"optimizer.learning_rate": "0.01", "training.epochs": "4"})
    result = session.run()
    assert result.status == "finished"
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [(e.epoch, e.epochs) for e in epochs][-1] == (4, 4)  # one more epoch than configured
    assert epochs[-1].lr == pytest.approx(0.01)
    [change] = [e for e in events if isinstance(e, SettingsChanged)]
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["changes"] == [{"epoch": change.epoch, "batch": change.batch,
                                   "values": {"optimizer.learning_rate": 0.01, "training.epochs": 4},
                                   "previous": {"optimizer.learning_rate": pytest.approx(0.001),
                                                "training.epochs": 3}}]
    assert "learning_rate 0.001 → 0.01, epochs 3 → 4" in (session.run_dir / "summary.md").read_text()
    assert [e for e in read_events(session.run_dir / "events.jsonl") if isinstance(e, SettingsChanged)] == [change]


def test_a_resumed_run_keeps_a_change_made_before_it_was_killed(tmp_path, monkeypatch):
    import keras

    from tui.core import keras_parts
    from tui.core.keras import saving

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise MemoryError("simulated crash in epoch 3")

    config = cfg.ExperimentConfig().with_values({**SMALL, "training.epochs": 4})
    real = keras_parts.make_callbacks
    monkeypatch.setattr(keras_parts, "make_callbacks", lambda *a, **k: real(*a, **k) + [Crash()])
    monkeypatch.setattr(saving, "SAVE_SHARE", float("inf"))  # a backup every epoch: it resumes at epoch 3
    first = paused_then_changed(TrainingSession(config, runs_dir=tmp_path), [], {"optimizer.learning_rate": 0.01})
    assert first.run().status == "failed"
    monkeypatch.setattr(keras_parts, "make_callbacks", real)

    events = []
    assert TrainingSession.resume_from(first.run_dir, listeners=[events.append]).run().status == "finished"
    assert [(e.epoch, round(e.lr, 6)) for e in events if isinstance(e, EpochEnd)] == [(3, 0.01), (4, 0.01)]
    assert [e.resumed for e in events if isinstance(e, SettingsChanged)] == [True]
    summary = json.loads((first.run_dir / "summary.json").read_text())
    assert [c["values"] for c in summary["changes"]] == [{"optimizer.learning_rate": 0.01}]


def test_compare_shows_what_was_changed_while_paused(tmp_path):
    from tui.core.compare import compare, metric_rows
    from tui.core.rundir import RunDir

    runs = []
    for name, changes in (("changed", [{"epoch": 2, "batch": 5, "values": {"optimizer.learning_rate": 0.01},
                                        "previous": {"optimizer.learning_rate": 0.001}}]), ("plain", [])):
        run = tmp_path / name
        run.mkdir()
        cfg.save(cfg.ExperimentConfig(), run / "config.toml")
        (run / "history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.0,0.5,1.0\n")
        RunDir(run).write_summary({"status": "finished", "changes": changes})
        runs.append(run)
    rows = {r.label: r.values for r in metric_rows(compare(runs).runs)}
    assert rows["changed while paused"] == ("e2·5 learning_rate 0.001 → 0.01", "none")
