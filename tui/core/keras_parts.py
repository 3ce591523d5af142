"""Keras pieces built from the configuration: optimizer, loss, input pipeline, model summary, callbacks.

Everything here imports Keras/TensorFlow inside functions: only the training thread calls it.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tui.core.atomic import atomic_write_bytes
from tui.core.config import ExperimentConfig
from tui.core.rundir import RunDir
from tui.core.events import BatchEnd, EpochEnd, Event, GradientNorms, LayerInfo, ModelSummary, StateChanged
from tui.core.schedules import lr_at

BUILD_LOCK = threading.Lock()
"""Held from seeding Keras to the end of building a model: a learning-rate range test building its copy in another
thread cannot draw from Keras' global seed generator (dropout and other layers' seeds) between the real run's
seeding and its build (same seed, same weights)."""

GRADIENT_SAMPLES = 32
"""Size of the fixed batch the gradient-flow norms are computed on: enough for a stable norm, cheap to run."""
GRADIENT_BUDGET = 0.005
"""The gradient-flow norms take at most this share of the training time: after each sample the next waits at
least its own cost / GRADIENT_BUDGET (training waits while the norms are computed). A forward and backward pass on
GRADIENT_SAMPLES images costs about a quarter of a training step of 128: every 20 batches that was 1.3-2 % of
the run (benchmarks/gradient_overhead.py); the panel still refreshes every few seconds."""

ONE_HOT_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "categorical_focal_crossentropy",
                  "kl_divergence", "mean_squared_error")


def make_optimizer(config: ExperimentConfig) -> Any:
    import keras

    o = config.optimizer
    common: dict[str, Any] = {"learning_rate": o.learning_rate}
    if o.clipnorm:
        common["clipnorm"] = o.clipnorm
    if o.weight_decay and o.name != "adamw":
        common["weight_decay"] = o.weight_decay
    adaptive = {"epsilon": o.epsilon}  # SGD and its momentum variants have none
    opt = keras.optimizers
    factories: dict[str, Callable[[], Any]] = {
        "sgd": lambda: opt.SGD(**common),
        "momentum": lambda: opt.SGD(momentum=o.momentum, **common),
        "nesterov": lambda: opt.SGD(momentum=o.momentum, nesterov=True, **common),
        "adagrad": lambda: opt.Adagrad(**common, **adaptive),
        "rmsprop": lambda: opt.RMSprop(rho=o.rho, **common, **adaptive),
        "adam": lambda: opt.Adam(**common, **adaptive),
        "amsgrad": lambda: opt.Adam(amsgrad=True, **common, **adaptive),
        "adadelta": lambda: opt.Adadelta(rho=o.rho, **common, **adaptive),
        "nadam": lambda: opt.Nadam(**common, **adaptive),
        "adamw": lambda: opt.AdamW(weight_decay=o.weight_decay or 0.004, **common, **adaptive),
    }
    return factories[o.name]()


def make_metrics(config: ExperimentConfig) -> list[Any]:
    """What the session compiles with: Keras' "accuracy". With binary cross-entropy it is binary accuracy, as in
    the Keras versions most tutorials use (Keras 3 picks by output width and would hide the classic mistake);
    ``class_accuracy`` then shows the share of images whose top output is their class."""
    import keras

    metrics: list[Any] = (
        [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.CategoricalAccuracy(name="class_accuracy")]
        if config.training.loss == "binary_crossentropy" else ["accuracy"])
    r = config.regularization
    if r.l1 or r.l2 or r.activity_l1 or r.activity_l2:
        # The loss without any penalty, averaged over the same batches as Keras' loss: the doctor's data loss.
        # (loss − data_loss is then every penalty the model carries, kernel and activity alike.)
        metrics.append(keras.metrics.MeanMetricWrapper(keras.losses.get(config.training.loss), name="data_loss"))
    return metrics


def class_weights(config: ExperimentConfig, y: np.ndarray, num_classes: int) -> dict[int, float] | None:
    """``training.class_weight = balanced``: n / (classes × count) per class (as scikit-learn's "balanced")."""
    if config.training.class_weight != "balanced":
        return None
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes)
    n = float(counts.sum())
    return {i: (n / (num_classes * c) if c else 1.0) for i, c in enumerate(counts)}


def make_dataset(x: np.ndarray, y: np.ndarray, num_classes: int, config: ExperimentConfig, *,
                 shuffle: bool, initial_epoch: int = 0, until_epoch: int | None = None) -> Any:
    """tf.data pipeline over the uint8 images without copying them: batch *indices*, gather each batch from the
    NumPy arrays, one-hot labels if the loss needs them, prefetch. Scaling to [0, 1] happens in the model, so
    the only full copy of the data in memory is the uint8 array itself.

    With `shuffle`, the pipeline covers epochs `initial_epoch`..`training.epochs - 1` in one pass (fit it with
    `steps_per_epoch`); epoch e is shuffled by a stateless permutation seeded with (seed, e), so a run resumed
    at epoch e sees the same batches as one that never stopped. `until_epoch` (default ``training.epochs``) ends
    the pipeline later, for a run whose epochs may be raised while it runs (tui.core.changes)."""
    import tensorflow as tf

    labels = y.astype("int32", copy=False)
    item_shape = tuple(x.shape[1:])

    def fetch(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[idx], labels[idx]

    def gather(idx: Any) -> tuple[Any, Any]:
        xb, yb = tf.numpy_function(fetch, [idx], (tf.uint8, tf.int32), stateful=False)
        xb.set_shape((None, *item_shape))
        yb.set_shape((None,))
        if config.training.loss in ONE_HOT_LOSSES:
            return xb, tf.one_hot(yb, num_classes)
        return xb, yb

    n, batch = len(x), config.training.batch_size
    if shuffle:
        seed = config.training.seed

        def epoch_batches(epoch: Any) -> Any:
            key = tf.stack([tf.constant(seed, tf.int64), epoch])
            ids = tf.data.Dataset.range(n).batch(batch)
            return ids.map(lambda i: tf.random.experimental.index_shuffle(i, key, n - 1))

        ds = tf.data.Dataset.range(initial_epoch, until_epoch or config.training.epochs).flat_map(epoch_batches)
    else:
        ds = tf.data.Dataset.range(n).batch(batch)
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def summarize(model: Any) -> ModelSummary:
    """The model's top-level layers with output shapes and parameter counts, as data."""
    layers = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except Exception:
            shape = "?"
        layers.append(LayerInfo(layer.name, type(layer).__name__, shape.replace("None", "N"),
                                int(layer.count_params()) if layer.built else 0, bool(layer.trainable)))
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(model.count_params())
    return ModelSummary(model.name, tuple(layers), total, trainable)


def current_lr(model: Any) -> float:
    lr = model.optimizer.learning_rate
    try:
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)
    except Exception:
        return float("nan")


def make_event_callback(emit: Callable[[Event], None], *, steps: int, batch_size: int, train_samples: int,
                        epochs: int | Callable[[], int], stop_event: threading.Event, pause_event: threading.Event,
                        running_event: threading.Event, batch_interval: float = 0.25,
                        previous: list[dict[str, float]] | None = None) -> Any:
    """A Keras callback that turns training into events and takes stop/pause requests at batch boundaries
    (`epochs` may be a function: the run's epochs as a change left them)."""
    import keras

    total_epochs: Callable[[], int] = epochs if callable(epochs) else (lambda: int(epochs))

    class EventCallback(keras.callbacks.Callback):
        """Configuration in __init__, state reset in on_train_begin; logs are read a few times a second only."""

        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict[str, float]] = []
            self.nan_batch: tuple[int, int] | None = None

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self.history = list(previous or [])  # epochs recorded before a resume
            self._epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch + 1
            self._t0 = time.perf_counter()
            self._t_train = self._t0
            self._last_emit = self._t0
            self._last_batch = 0
            self._last_mean = 0.0
            self._done = 0
            self._cut = False

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            done = batch + 1
            self._done = done
            now = time.perf_counter()
            self._t_train = now
            if stop_event.is_set():
                self._cut = done < steps
                self.model.stop_training = True
                return
            if pause_event.is_set():
                emit(StateChanged("paused"))
                while pause_event.is_set() and not stop_event.is_set():
                    running_event.wait()  # set again by resume() or stop()
                emit(StateChanged("stopping" if stop_event.is_set() else "running"))
                if stop_event.is_set():
                    self._cut = done < steps
                    self.model.stop_training = True
                    return
                now = time.perf_counter()
            if now - self._last_emit < batch_interval and done != steps:
                return
            if "loss" not in logs:
                return
            mean = float(logs["loss"])
            acc = float(logs["accuracy"]) if "accuracy" in logs else None
            n = done - self._last_batch
            window = (mean * done - self._last_mean * self._last_batch) / n if n > 0 else mean
            self._last_emit, self._last_batch, self._last_mean = now, done, mean
            elapsed = now - self._t0
            seen = min(done * batch_size, train_samples)
            emit(BatchEnd(self._epoch, done, steps, mean, acc, window, seen / elapsed if elapsed > 0 else 0.0,
                          elapsed))

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs if logs is not None else {}
            now = time.perf_counter()
            train_time = max(1e-9, self._t_train - self._t0)
            seen = min(self._done * batch_size, train_samples)
            lr = current_lr(self.model)
            seconds = now - self._t0
            # Added to the logs so Keras' CSVLogger (after this callback) writes them as columns.
            logs["lr"] = lr
            logs["epoch_seconds"] = round(seconds, 4)
            values = {k: float(v) for k, v in logs.items() if k != "learning_rate"}
            record = {"epoch": epoch + 1, **values, "samples_per_second": seen / train_time}
            if self._cut:
                record["partial"] = True
            self.history.append(record)
            emit(EpochEnd(epoch + 1, total_epochs(), values, lr, seconds, seen / train_time, partial=self._cut))

    return EventCallback()


def make_gradient_callback(emit: Callable[[Event], None], x: np.ndarray, y: np.ndarray, num_classes: int,
                           config: ExperimentConfig, min_interval: float = 0.25) -> Any:
    """Per-layer gradient L2 norms on a fixed batch (the first ``GRADIENT_SAMPLES`` of `x`), every
    ``training.gradient_every`` batches, at most every `min_interval` seconds and within GRADIENT_BUDGET of the
    training time, emitted as GradientNorms.

    The batch goes through the model in inference mode (no dropout; batch norm uses its moving statistics and is
    not updated), so sampling changes nothing in training. Norms are of the data loss, before clipping."""
    import keras
    import tensorflow as tf

    every = config.training.gradient_every
    xs = tf.constant(x[:GRADIENT_SAMPLES], dtype=tf.float32)
    labels = np.asarray(y[:GRADIENT_SAMPLES], dtype=np.int32)
    ys = tf.constant(np.eye(num_classes, dtype=np.float32)[labels] if config.training.loss in ONE_HOT_LOSSES
                     else labels)
    loss_fn = keras.losses.get(config.training.loss)

    class GradientFlow(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            layers = [layer for layer in self.model.layers if layer.trainable_weights]
            self._names = tuple(layer.name for layer in layers)
            groups = [list(layer.trainable_weights) for layer in layers]
            model = self.model

            @tf.function(reduce_retracing=True)
            def norms() -> Any:
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(loss_fn(ys, model(xs, training=False)))
                grads = tape.gradient(loss, [w for g in groups for w in g])
                out, i = [], 0
                for g in groups:
                    part = [tf.reduce_sum(tf.square(tf.cast(d, tf.float32))) for d in grads[i:i + len(g)]
                            if d is not None]
                    i += len(g)
                    out.append(tf.sqrt(tf.add_n(part)) if part else tf.constant(0.0))
                return tf.stack(out)

            self._norms = norms
            self._step = 0
            self._last = -math.inf
            self._wait = min_interval
            self._calls = 0
            self._epoch = 1

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self._step += 1
            if not self._names or (self._step - 1) % every:
                return
            now = time.perf_counter()
            if now - self._last < self._wait:
                return
            values = tuple(float(v) for v in self._norms().numpy())
            self._last = time.perf_counter()
            self._calls += 1
            if self._calls > 1:  # the first call traces the function: not what a sample costs
                self._wait = max(min_interval, (self._last - now) / GRADIENT_BUDGET)
            emit(GradientNorms(self._epoch, batch + 1, self._names, values))

    return GradientFlow()


def make_penalty_callback() -> Any:
    """Adds ``penalty`` to the epoch logs of a model with regularizers, before the other callbacks read them
    (the CSV gets the column too): loss − ``data_loss`` when the ``data_loss`` metric of :func:`make_metrics` is
    compiled in (every penalty, averaged over the epoch like the loss); otherwise the kernel penalties at the
    end of the epoch, and ``data_loss`` = loss − penalty."""
    import keras

    class PenaltyLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is None or "loss" not in logs:
                return
            if "data_loss" in logs:  # the data_loss metric (make_metrics): exact, activity penalties included
                logs["penalty"] = float(logs["loss"]) - float(logs["data_loss"])
                return
            losses = []
            for v in self.model.losses:
                try:
                    losses.append(float(keras.ops.convert_to_numpy(v)))
                except NotImplementedError:  # an activity penalty: a symbolic tensor outside a forward pass
                    continue
            if not losses:
                return
            penalty = sum(losses)
            logs["penalty"] = penalty
            logs["data_loss"] = float(logs["loss"]) - penalty

    return PenaltyLog()


def make_callbacks(config: ExperimentConfig, run_dir: Path, event_callback: Any, *extra: Any,
                   change: Any = None) -> list[Any]:
    """Keras' own callbacks for what the configuration asks; ours first so its log columns reach the CSV
    (`extra`, such as the gradient-flow callback, right after the event callback). With `change` (from
    make_change_callback), the schedules follow its plan (epochs, the rate's scale) and it reaches EarlyStopping."""
    import keras

    t = config.training
    s = config.schedule
    plan = change.plan if change is not None else None
    cbs: list[Any] = [_SaveAttributeCache(keras), *([change] if change is not None else []), make_penalty_callback(),
                      event_callback, *extra,
                      keras.callbacks.TerminateOnNaN()]
    if s.name == "one_cycle":  # before the checkpoints: it puts a plain momentum back for saving
        cbs.append(make_one_cycle_callback(config, plan=plan))
    elif s.name == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=s.step_factor,
                                                     patience=s.patience, min_lr=s.min_lr, verbose=0))
    elif s.name != "constant":
        base, epochs = config.optimizer.learning_rate, t.epochs
        if plan is not None:  # the schedule goes on from a rate changed mid-run, over the epochs as changed
            def scheduled(e: int, lr: float) -> float:
                return float(lr_at(s, base, e, plan.epochs) * plan.lr_scale)
        else:
            def scheduled(e: int, lr: float) -> float:
                return lr_at(s, base, e, epochs)
        cbs.append(keras.callbacks.LearningRateScheduler(scheduled, verbose=0))
    if t.early_stopping:
        stopper = keras.callbacks.EarlyStopping(monitor=t.monitor, patience=t.patience, min_delta=t.min_delta,
                                                restore_best_weights=t.restore_best, verbose=0)
        cbs.append(stopper)
        if change is not None:
            change.early_stopping = stopper
    rd = RunDir(run_dir)
    cbs.append(keras.callbacks.ModelCheckpoint(str(rd.best_model_file), monitor=t.monitor,
                                               save_best_only=True, verbose=0))
    if t.checkpoint_every:
        rd.checkpoints_dir.mkdir(exist_ok=True)
        cbs.append(_EveryN(keras, t.checkpoint_every, rd.checkpoint_pattern))
    cbs.append(keras.callbacks.CSVLogger(str(rd.history_file), append=True))
    # After the CSV row: a run killed in epoch k resumes from the backup of epoch k-1 (`cnn-tui resume`).
    # double_checkpoint: a kill while the weights are being written falls back to the previous epoch's copy.
    cbs.append(keras.callbacks.BackupAndRestore(str(rd.backup_dir), save_freq="epoch",
                                                double_checkpoint=True, delete_checkpoint=True))
    cbs.append(_SeedStateBackup(keras, rd))
    if t.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(rd.tensorboard_dir), histogram_freq=0))
    return cbs


def make_change_callback(plan: Any, emit: Callable[[Event], None], steps: int,
                         on_applied: Callable[[list[dict[str, Any]]], None] | None = None) -> Any:
    """Applies the changes a paused run was given (tui.core.changes.RunPlan) in the training thread, at the next
    batch boundary (or the epoch's end), and ends the run at the plan's epochs (fit runs with a higher ceiling so
    the epochs can be raised). Each change: the optimizer's learning rate (a schedule goes on from it through the
    plan's scale), EarlyStopping's patience, the optimizer's clipnorm (the train step is traced again: Keras reads
    clipnorm when tracing), the epochs; then a SettingsChanged event and `on_applied(plan.applied)`."""
    import keras

    from tui.core.events import SettingsChanged

    constant = plan.config.schedule.name == "constant"

    class ChangeApplier(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.plan = plan
            self.early_stopping: Any = None

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self._epoch = 1

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch + 1

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            for entry in plan.due(self._epoch, batch):
                self._apply(entry)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            for entry in plan.due(epoch + 1, steps):  # made while paused after the epoch's last batch
                self._apply(entry)
            if epoch + 1 >= plan.epochs:
                self.model.stop_training = True

        def _current(self) -> dict[str, Any]:
            return {"optimizer.learning_rate": current_lr(self.model), "training.epochs": plan.epochs,
                    "training.patience": plan.patience, "optimizer.clipnorm": plan.clipnorm}

        def _apply(self, entry: dict[str, Any]) -> None:
            values, replayed = entry["values"], entry["replayed"]
            now = self._current()
            previous = entry["previous"] or {k: now[k] for k in values}
            optimizer = self.model.optimizer
            for key, value in values.items():
                if key == "optimizer.learning_rate" and (constant or not replayed):
                    optimizer.learning_rate = float(value)  # a schedule after a resume goes on through the scale
                elif key == "training.patience" and self.early_stopping is not None:
                    self.early_stopping.patience = int(value)
                elif key == "optimizer.clipnorm":
                    optimizer.clipnorm = float(value) or None
                    self.model.make_train_function(force=True)
            plan.record(entry["epoch"], entry["batch"], values, previous, replayed=replayed)
            emit(SettingsChanged(entry["epoch"], entry["batch"], steps, dict(values), dict(previous),
                                 resumed=replayed))
            if on_applied is not None and not replayed:
                on_applied(list(plan.applied))

    return ChangeApplier()


MOMENTUM_ATTRIBUTES = {"momentum": "momentum", "nesterov": "momentum", "adam": "beta_1", "amsgrad": "beta_1",
                       "nadam": "beta_1", "adamw": "beta_1"}
"""The optimizer attribute one_cycle cycles inversely to the rate, for the optimizers (as built by
make_optimizer) that have a momentum."""


def make_one_cycle_callback(config: ExperimentConfig, steps_per_epoch: int | None = None, plan: Any = None) -> Any:
    """Sets the learning rate (and the momentum, where the optimizer has one) before every batch, from
    :func:`tui.core.schedules.one_cycle` over all ``training.epochs × steps`` steps (steps per epoch as fit was
    given them, unless `steps_per_epoch` says); optimizer.learning_rate is the peak. Keras' LearningRateScheduler
    changes the rate once an epoch only, too coarse for a cycle.

    Keras optimizers read momentum / beta_1 as a Python float, frozen into the compiled train step; the callback
    swaps in a variable of the same value before the first step (set on the optimizer without tracking it, so
    the optimizer's saved variables do not change) and puts the float back at each epoch's end, before
    checkpoints serialise the optimizer's configuration. With a `plan` (tui.core.changes.RunPlan), the cycle spans
    the epochs as changed and its rates are scaled by the plan's learning-rate scale."""
    import keras

    from tui.core.schedules import one_cycle

    schedule, peak = config.schedule, config.optimizer.learning_rate
    attribute = MOMENTUM_ATTRIBUTES.get(config.optimizer.name)

    class OneCycle(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self._steps = steps_per_epoch or int(self.params.get("steps") or 1)
            self._total = max(1, config.training.epochs * self._steps)
            self._epochs = config.training.epochs
            self._step = 0
            self._momentum: Any = None
            self.lr = self.momentum = float("nan")
            if attribute is not None:
                value = float(getattr(self.model.optimizer, attribute))
                self._max_momentum = value
                self._momentum = _MomentumVariable(keras, value)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._step = epoch * self._steps  # also right after a resume at `epoch`
            if self._momentum is not None:
                object.__setattr__(self.model.optimizer, str(attribute), self._momentum)

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if plan is not None and plan.epochs != self._epochs:
                self._epochs = plan.epochs
                self._total = max(1, plan.epochs * self._steps)
            lr, momentum = one_cycle(schedule, peak, min(1.0, self._step / self._total),
                                     self._max_momentum if self._momentum is not None else None)
            if plan is not None:
                lr *= plan.lr_scale
            self.model.optimizer.learning_rate = lr
            if momentum is not None:
                self._momentum.assign(momentum)
            self.lr, self.momentum = lr, (momentum if momentum is not None else float("nan"))
            self._step += 1

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._plain()

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self._plain()

        def _plain(self) -> None:
            if self._momentum is not None:
                object.__setattr__(self.model.optimizer, str(attribute), float(self._momentum.numpy()))

    return OneCycle()


def _MomentumVariable(keras: Any, value: float) -> Any:
    """A Keras variable holding a momentum that Keras' optimizers can also compare with a number in Python
    (``if self.momentum != 0`` in SGD and RMSprop): the comparison uses the value it was created with, which
    decides only whether the optimizer keeps momentum slots."""
    base = type(keras.Variable(0.0, trainable=False))

    class MomentumVariable(base):  # type: ignore[misc, valid-type]
        def __ne__(self, other: object) -> Any:
            return value != other if isinstance(other, (int, float)) else super().__ne__(other)

        def __gt__(self, other: object) -> Any:
            return value > other if isinstance(other, (int, float)) else super().__gt__(other)

        __hash__ = base.__hash__

    return MomentumVariable(value, trainable=False, name="one_cycle_momentum")


SAVEABLE_TYPES = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")
"""The object kinds Keras' saving walks (keras.src.saving.saving_lib.get_attr_skipset)."""


def keep_save_attribute_cache() -> None:
    """Works around a Keras 3 bug that leaks ~70 KB of native memory on every weights or model save.

    `saving_lib.get_attr_skipset` caches the attribute names it skips under "saving_attr_skipset_<kind>" but looks
    them up under "saving_attr_skiplist_<kind>", so the cache never hits: each save builds fresh reference objects
    (a Layer, an Optimizer with its variables, a Metric, ...) whose TensorFlow state is never freed. With a backup and
    a checkpoint every epoch, a 5,000-epoch run grew by ~0.5 GB. Filling the key it reads, once per thread (Keras'
    global state is thread-local and `clear_session` empties it), makes the cache work. Harmless on a Keras that
    has the bug fixed (the key is then simply unused)."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:  # a Keras laid out otherwise: nothing to work around
        return
    for kind in SAVEABLE_TYPES:
        key = f"saving_attr_skiplist_{kind}"
        if global_state.get_global_attribute(key) is None:
            global_state.set_global_attribute(key, saving_lib.get_attr_skipset(kind))


def _SaveAttributeCache(keras: Any) -> Any:
    class SaveAttributeCache(keras.callbacks.Callback):
        """First of the callbacks: fills Keras' save cache in the thread that trains (keep_save_attribute_cache)."""

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            keep_save_attribute_cache()

    return SaveAttributeCache()


def _EveryN(keras: Any, every: int, pattern: str) -> Any:
    """ModelCheckpoint saving every `every` epochs (Keras' save_freq counts batches, not epochs)."""

    class EveryN(keras.callbacks.ModelCheckpoint):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if (epoch + 1) % every == 0:
                super().on_epoch_end(epoch, logs)

    return EveryN(pattern, save_freq="epoch", verbose=0)


def _SeedStateBackup(keras: Any, run_dir: RunDir) -> Any:
    """Keeps the random-generator states (dropout, augmentation) beside BackupAndRestore's weights, which omit
    them: a resumed run then draws the same dropout masks as one that never stopped."""

    class SeedStateBackup(keras.callbacks.Callback):
        def _states(self) -> list[Any]:
            return [v for v in self.model.variables if "seed_generator_state" in v.path]

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            # After BackupAndRestore (earlier in the list) has set the epoch it restored.
            path = run_dir.seed_state_file(getattr(self.model, "_initial_epoch", 0) or 0)
            if path.is_file():
                saved = np.load(path)
                for i, var in enumerate(self._states()):
                    if f"s{i}" in saved:
                        var.assign(saved[f"s{i}"])

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            run_dir.backup_dir.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            savez: Any = np.savez  # numpy's stub takes **arrays for its keyword options
            savez(buf, **{f"s{i}": np.asarray(v.numpy()) for i, v in enumerate(self._states())})
            atomic_write_bytes(run_dir.seed_state_file(epoch + 1), buf.getvalue())
            run_dir.seed_state_file(epoch - 1).unlink(missing_ok=True)  # keep this epoch's and the last

    return SeedStateBackup()


def build_seeded(config: ExperimentConfig, input_shape: Any, num_classes: int) -> Any:
    """The (uncompiled) model of `config` with its weights drawn from ``training.seed``: the same weights on every
    call, whatever was built or trained before (ArchitectureError when it cannot be built)."""
    import keras
    import tensorflow as tf

    from models import build_model

    with BUILD_LOCK:
        keras.utils.set_random_seed(config.training.seed)
        tf.config.experimental.enable_op_determinism()
        return build_model(config, input_shape, num_classes)


def steps_for(samples: int, batch_size: int) -> int:
    return max(1, math.ceil(samples / batch_size))
