"""Our Keras callbacks (tui.core.keras), hook by hook as Keras calls them, with synthetic logs and no training."""

import threading
from types import SimpleNamespace

import pytest

from tui.core.events import BatchEnd, EpochEnd, StateChanged


def fake_model(lr: float = 0.01, losses=()):
    """What the callbacks read of a model: stop_training, the optimizer's rate, the regularization losses."""
    return SimpleNamespace(stop_training=False, optimizer=SimpleNamespace(learning_rate=lr), losses=list(losses))


def event_callback(emit, previous=None):
    from tui.core.keras.progress import EventCallback

    stop, pause, running = threading.Event(), threading.Event(), threading.Event()
    running.set()
    cb = EventCallback(emit, steps=4, batch_size=10, train_samples=40, epochs=3, stop_event=stop,
                       pause_event=pause, running_event=running, batch_interval=0.0, previous=previous)
    cb.set_model(fake_model())
    return cb, stop, pause, running


def test_batches_and_epochs_become_events_and_the_epoch_logs_gain_the_csv_columns():
    emitted = []
    cb, *_ = event_callback(emitted.append, previous=[{"epoch": 1, "loss": 1.0}])
    cb.on_train_begin()
    cb.on_epoch_begin(1)
    for batch in range(4):
        cb.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.75})
    logs = {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625}
    cb.on_epoch_end(1, logs)
    batches = [e for e in emitted if isinstance(e, BatchEnd)]
    assert [(b.epoch, b.batch, b.steps, b.loss, b.accuracy) for b in batches] == [
        (2, n, 4, 0.5, 0.75) for n in (1, 2, 3, 4)]
    [end] = [e for e in emitted if isinstance(e, EpochEnd)]
    assert (end.epoch, end.epochs, end.lr, end.partial) == (2, 3, 0.01, False)
    assert logs["lr"] == 0.01 and "epoch_seconds" in logs  # for Keras' CSVLogger, which runs after it
    assert [h["epoch"] for h in cb.history] == [1, 2]  # the epoch recorded before a resume comes first


def test_a_stop_request_ends_training_at_the_next_batch_and_marks_the_epoch_partial():
    emitted = []
    cb, stop, *_ = event_callback(emitted.append)
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": 0.5})
    assert not cb.model.stop_training
    stop.set()
    cb.on_train_batch_end(1, {"loss": 0.5})
    assert cb.model.stop_training
    cb.on_epoch_end(0, {"loss": 0.5})
    assert cb.history[-1]["partial"] and emitted[-1].partial


def test_a_pause_holds_the_training_thread_at_the_batch_boundary_until_resumed():
    emitted, held = [], threading.Event()

    def emit(event):
        emitted.append(event)
        if event == StateChanged("paused"):
            held.set()

    cb, stop, pause, running = event_callback(emit)
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    pause.set()
    running.clear()  # what TrainingSession.pause() does
    thread = threading.Thread(target=cb.on_train_batch_end, args=(0, {"loss": 0.5}))
    thread.start()
    assert held.wait(10)
    thread.join(0.2)
    assert thread.is_alive()  # still held
    pause.clear()
    running.set()  # TrainingSession.resume()
    thread.join(10)
    assert not thread.is_alive() and not cb.model.stop_training
    assert [e for e in emitted if isinstance(e, StateChanged)] == [StateChanged("paused"), StateChanged("running")]


def test_the_penalty_is_the_loss_less_the_data_loss_else_the_models_regularization_losses():
    from tui.core.keras.logs import PenaltyLog

    cb = PenaltyLog()
    cb.set_model(fake_model(losses=[0.25, 0.125]))
    measured = {"loss": 1.5, "data_loss": 1.25}
    cb.on_epoch_end(0, measured)
    assert measured["penalty"] == pytest.approx(0.25)
    kernel_only = {"loss": 1.5}
    cb.on_epoch_end(0, kernel_only)
    assert kernel_only["penalty"] == pytest.approx(0.375) and kernel_only["data_loss"] == pytest.approx(1.125)


def test_with_a_penalty_in_the_loss_the_best_checkpoint_and_early_stopping_watch_the_loss_without_it(tmp_path):
    """A growing weight penalty raised val_loss while the model got better (cifar10-deep-cnn-l1l2: best.keras held
    epoch 4's model, val_accuracy 0.44, while epoch 69 reached 0.66): they watch val_data_loss instead."""
    import keras

    from tui.core import config as cfg
    from tui.core import keras_parts

    def watched(values):
        conf = cfg.ExperimentConfig().with_values({"training.early_stopping": True, **values})
        cbs = keras_parts.make_callbacks(conf, tmp_path, keras.callbacks.Callback())
        return {type(c).__name__: c.monitor for c in cbs
                if isinstance(c, (keras.callbacks.ModelCheckpoint, keras.callbacks.EarlyStopping))}

    assert watched({"regularization.l2": 0.01}) == {"ModelCheckpoint": "val_data_loss",
                                                    "EarlyStopping": "val_data_loss"}
    assert watched({}) == {"ModelCheckpoint": "val_loss", "EarlyStopping": "val_loss"}
    assert watched({"regularization.l2": 0.01, "training.monitor": "val_accuracy"}) == {
        "ModelCheckpoint": "val_accuracy", "EarlyStopping": "val_accuracy"}
