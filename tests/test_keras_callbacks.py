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

    assert watched({"regularization.l2": 0.01}) == {"BestModel": "val_data_loss", "EarlyStopping": "val_data_loss"}
    assert watched({}) == {"BestModel": "val_loss", "EarlyStopping": "val_loss"}
    assert watched({"regularization.l2": 0.01, "training.monitor": "val_accuracy"}) == {
        "BestModel": "val_accuracy", "EarlyStopping": "val_accuracy"}


class Clock:
    """A clock the test moves: `now` seconds, plus `step` at every reading (what a save then appears to cost)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("epoch_seconds", [0.05, 1.0, 3.0, 60.0])
def test_the_per_epoch_saves_take_at_most_their_share_of_training_time_and_long_epochs_save_every_epoch(
        epoch_seconds):
    """A 40 ms save every 3-second epoch would cost 1.3 % of the run; spaced, it costs SAVE_SHARE (0.0625 %). The
    first epoch always saves; epochs longer than the gap save every time; no gap exceeds MAX_SAVE_GAP."""
    from tui.core.keras.saving import MAX_SAVE_GAP, SAVE_SHARE, SaveSpacing

    clock, cost = Clock(), 0.04
    spacing = SaveSpacing(clock)
    saved_at = []
    for epoch in range(1, 2001):
        clock.now += epoch_seconds
        if spacing.due():
            with spacing.timed():
                clock.now += cost
            saved_at.append(epoch)
    assert saved_at[0] == 1
    assert len(saved_at) * cost <= SAVE_SHARE * clock.now + cost
    gaps = [b - a for a, b in zip(saved_at, saved_at[1:])]
    assert max(gaps) * epoch_seconds <= max(MAX_SAVE_GAP, epoch_seconds) + epoch_seconds
    if epoch_seconds * SAVE_SHARE >= cost:
        assert gaps == [1] * len(gaps)  # long epochs: a backup at every epoch's end, as Keras' own


def test_a_save_that_costs_more_than_the_gap_allows_still_comes_every_max_save_gap():
    from tui.core.keras.saving import MAX_SAVE_GAP, SaveSpacing

    clock = Clock()
    spacing = SaveSpacing(clock)
    with spacing.timed():
        clock.now += 5.0  # a large model's save
    clock.now += MAX_SAVE_GAP - 1
    assert not spacing.due()
    clock.now += 1
    assert spacing.due()


def tiny_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_best_epoch_that_arrives_between_saves_is_written_with_its_own_weights_when_training_ends(tmp_path):
    """best.keras is what `predict` and the export use: the improvement of epoch 2, held back by the save
    spacing, is written at the end with epoch 2's weights, not with the weights training ended on."""
    import keras
    import numpy as np

    from tui.core.keras.saving import BestModel

    clock, model = Clock(step=0.05), tiny_model()
    best = BestModel(str(tmp_path / "best.keras"), monitor="val_loss", clock=clock)
    best.set_model(model)
    best.on_train_begin()

    def epoch(n, val_loss, value):
        model.set_weights([np.full(w.shape, value, "float32") for w in model.get_weights()])
        clock.now += 0.1  # short epochs: a save is due only every cost / SAVE_SHARE seconds
        best.on_epoch_end(n, {"loss": 1.0, "val_loss": val_loss})

    epoch(0, 1.0, 1.0)  # the first epoch: written at once
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 1.0
    epoch(1, 0.5, 2.0)  # better, but a save is not due: held
    epoch(2, 0.9, 3.0)  # worse
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 1.0  # one gap behind
    best.on_train_end()
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 2.0
    assert model.get_weights()[0][0, 0] == 3.0  # training's own weights put back
