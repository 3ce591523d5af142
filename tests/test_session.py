"""The training session: the events a subscriber sees, stop, failure, determinism, and the run directory."""

import csv
import json

import pytest

from tui.core import config as cfg
from tui.core.events import BatchEnd, EpochEnd, Prepare, RunEnded, RunStarted, StateChanged
from tui.core.session import TrainingSession, fit_status

TINY = {"dataset.name": "digits", "dataset.train_size": 300, "model.architecture": "simple_cnn",
        "model.conv_filters": 8, "model.dense_units": 16, "training.epochs": 2, "training.batch_size": 32}


def tiny(**extra):
    return cfg.ExperimentConfig().with_values(TINY).with_values({k.replace("__", "."): v for k, v in extra.items()})


def run(config, tmp_path, **kw):
    events = []
    session = TrainingSession(config, runs_dir=tmp_path, listeners=[events.append], **kw)
    result = session.run()
    return session, result, events


def test_a_short_run_emits_events_in_order_and_fills_the_run_directory(tmp_path):
    session, result, events = run(tiny(), tmp_path)
    kinds = [type(e) for e in events]
    assert result.status == "finished" and result.error is None
    started = kinds.index(RunStarted)
    assert all(k is Prepare for k in kinds[:started])
    assert kinds[-1] is RunEnded
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == [1, 2]
    batch_events = [i for i, e in enumerate(events) if isinstance(e, BatchEnd)]
    assert batch_events and started < batch_events[0] < events.index(epochs[0])
    # every epoch log carries what the charts need
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[0].logs)
    assert epochs[0].lr == pytest.approx(0.001)

    run_dir = session.run_dir
    for name in ("config.toml", "history.csv", "events.jsonl", "best.keras", "last.keras", "summary.json",
                 "summary.md"):
        assert (run_dir / name).is_file(), name
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    assert len(rows) == 2
    assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"} <= set(rows[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("status", "error", "epochs_run", "best", "final", "test", "wall_seconds",
                "train_samples_per_second", "params", "dataset", "versions", "device"):
        assert key in summary
    assert summary["status"] == "finished" and summary["epochs_run"] == 2
    assert summary["dataset"]["train"] == 300 and summary["dataset"]["classes"] == 10
    assert 0 <= summary["test"]["accuracy"] <= 1
    assert summary["params"]["total"] == result.summary["params"]["total"] > 0
    assert set(summary["versions"]) == {"python", "tensorflow", "keras"}
    assert cfg.load(run_dir / "config.toml") == tiny()
    assert "## Results" in (run_dir / "summary.md").read_text()


def test_batch_events_are_throttled(tmp_path):
    # 300 samples / batch 4 = 75 batches per epoch; at most a few per second reach the listener.
    _, result, events = run(tiny(training__batch_size=4, training__epochs=1), tmp_path, batch_interval=10.0)
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert result.status == "finished"
    assert 1 <= len(batches) <= 2  # the last batch of the epoch, and at most one before it
    assert batches[-1].batch == batches[-1].steps == 75


def test_stop_takes_effect_at_the_next_batch_not_the_end_of_the_epoch(tmp_path):
    events = []
    config = tiny(training__batch_size=4, training__epochs=5)
    session = TrainingSession(config, runs_dir=tmp_path, batch_interval=0.0)

    def listener(event):
        events.append(event)
        if isinstance(event, BatchEnd) and event.batch == 3:
            session.stop()

    session.subscribe(listener)
    result = session.run()
    assert result.status == "stopped"
    epoch_events = [e for e in events if isinstance(e, EpochEnd)]
    assert len(epoch_events) == 1 and epoch_events[0].partial
    last_batch = max(e.batch for e in events if isinstance(e, BatchEnd))
    assert last_batch <= 4  # stopped right after the batch in flight
    assert StateChanged("stopping") in events
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["epochs_run"] == 1


def test_a_stop_after_the_last_epoch_leaves_the_run_finished(tmp_path):
    """Pressing stop as the last epoch ends (while the test split is evaluated, say) cuts nothing short."""
    config = tiny(training__epochs=2)
    session = TrainingSession(config, runs_dir=tmp_path)

    def listener(event):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            session.stop()

    session.subscribe(listener)
    result = session.run()
    assert result.status == "finished"
    assert json.loads((session.run_dir / "summary.json").read_text())["status"] == "finished"


def test_a_fits_status_follows_the_epochs_it_recorded():
    """The fit phase's verdict, from its epoch records alone: finished, stopped (cut short), or failed with why."""
    two = [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}]
    assert fit_status(two, 2, stop_requested=False) == ("finished", None)
    assert fit_status(two, 2, stop_requested=True) == ("finished", None)  # the stop came after the last epoch
    assert fit_status(two[:1], 2, stop_requested=False) == ("finished", None)  # early stopping ended it
    assert fit_status(two[:1], 2, stop_requested=True) == ("stopped", None)
    assert fit_status([two[0], {"epoch": 2, "loss": 0.6, "partial": True}], 2, stop_requested=True)[0] == "stopped"
    status, error = fit_status([two[0], {"epoch": 2, "loss": float("nan")}], 2, stop_requested=True)
    assert status == "failed" and "NaN/inf in epoch 2" in error and "optimizer.clipnorm = 1.0" in error
    assert fit_status(two, 2, stop_requested=True, divergence="loss x50 in 3 epochs") == (
        "failed", "training diverged: loss x50 in 3 epochs")


def test_pause_holds_training_until_resume(tmp_path):
    import threading

    config = tiny(training__batch_size=4, training__epochs=1)
    session = TrainingSession(config, runs_dir=tmp_path, batch_interval=0.0)
    seen = []
    paused = threading.Event()

    def listener(event):
        seen.append(event)
        if isinstance(event, BatchEnd) and event.batch == 2 and not paused.is_set():
            session.pause()
        if event == StateChanged("paused"):
            paused.set()

    session.subscribe(listener)
    session.start()
    assert paused.wait(60)
    count = len(seen)
    assert not session.join(0.5)  # still held
    assert len(seen) == count  # nothing happened while paused
    session.resume()
    assert session.join(60)
    assert session.result.status == "finished"
    assert StateChanged("running") in seen


def test_a_failing_run_produces_a_failed_event_and_a_summary(tmp_path, monkeypatch):
    from tui.core import keras_parts

    real = keras_parts.make_dataset

    def wrong_labels(x, y, num_classes, config, shuffle):  # labels one-hot over 3 classes: shape mismatch
        return real(x, y % 3, 3, config, shuffle=shuffle)

    monkeypatch.setattr(keras_parts, "make_dataset", wrong_labels)
    session, result, events = run(tiny(), tmp_path)
    assert result.status == "failed"
    assert result.error and "Error" in result.error.split(":")[0]
    assert isinstance(events[-1], RunEnded) and events[-1].status == "failed"
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == result.error
    assert (session.run_dir / "error.txt").is_file()


def test_a_missing_dataset_fails_with_its_message_and_still_writes_a_summary(tmp_path):
    config = tiny(dataset__name="folder", dataset__path=str(tmp_path / "no-such-folder"))
    session, result, _ = run(config, tmp_path / "runs")
    assert result.status == "failed" and "no-such-folder" in result.error
    assert json.loads((session.run_dir / "summary.json").read_text())["status"] == "failed"


def test_nan_loss_stops_the_run_and_says_why(tmp_path, monkeypatch):
    import keras

    from tui.core import keras_parts

    # Fault injection: an absurd learning rate (beyond what the config allows) makes the weights overflow.
    monkeypatch.setattr(keras_parts, "make_optimizer", lambda config: keras.optimizers.SGD(learning_rate=1e30))
    config = tiny(model__architecture="mlp", model__hidden_units=[64], training__epochs=3)
    _, result, events = run(config, tmp_path)
    assert result.status == "failed"
    assert "NaN" in result.error and "learning rate" in result.error
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 1


def test_batch_size_larger_than_training_set_is_refused_before_training(tmp_path):
    _, result, events = run(tiny(training__batch_size=4096), tmp_path)
    assert result.status == "failed" and "batch_size" in result.error
    assert not any(isinstance(e, RunStarted) for e in events)


def test_same_seed_gives_the_same_curves(tmp_path):
    def curve(sub):
        _, result, events = run(tiny(), tmp_path / sub)
        return [(e.logs["loss"], e.logs["val_loss"]) for e in events if isinstance(e, EpochEnd)]

    assert curve("a") == curve("b")


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="needs ../shared/data (real Fashion-MNIST)")
def test_fashion_mnist_from_a_local_data_dir_trains_offline(tmp_path):
    config = cfg.ExperimentConfig().with_values({
        "dataset.name": "fashion_mnist", "dataset.data_dir": str(SHARED), "dataset.train_size": 6000,
        "model.conv_filters": 16, "model.dense_units": 64, "training.epochs": 2, "training.batch_size": 128})
    _, result, _ = run(config, tmp_path)
    assert result.status == "finished"
    assert result.summary["dataset"]["test"] == 10000
    assert result.summary["test"]["accuracy"] > 0.75


def test_a_stopped_run_leaves_no_input_pipeline_for_the_ui_thread_to_tear_down(tmp_path):
    """A stop mid-epoch leaves Keras' epoch iterator in a reference cycle. The training thread collects it, so the
    UI thread's next garbage collection does not stall for seconds destroying the tf.data iterator."""
    import gc

    config = tiny(training__batch_size=4, training__epochs=5)
    session = TrainingSession(config, runs_dir=tmp_path, batch_interval=0.0)
    session.subscribe(lambda e: session.stop() if isinstance(e, BatchEnd) and e.batch == 3 else None)
    gc.disable()  # only the session's own collection may free it
    try:
        assert session.run().status == "stopped"
        alive = [o for o in gc.get_objects() if type(o).__name__ in ("OwnedIterator", "TFEpochIterator")]
    finally:
        gc.enable()
    assert alive == []


def test_the_input_pipeline_runs_without_the_tf_data_autotuner():
    """The autotuner's thread sleeps between optimisations (up to 60 s), and tearing down a pipeline mid-stream waits
    out its sleep. The app's pipeline always ends mid-stream (it runs to the epoch ceiling), so each run's end came up
    to a minute late. Without the autotuner a pipeline is torn down at once."""
    import numpy as np

    from tui.core import keras_parts

    x, y = np.zeros((40, 8, 8, 1), np.uint8), np.arange(40) % 10
    ds = keras_parts.make_dataset(x, y, 10, tiny(), shuffle=True, until_epoch=1000)
    assert ds.options().autotune.enabled is False
    it = iter(ds)
    assert next(it)[0].shape[1:] == (8, 8, 1)
