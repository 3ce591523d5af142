"""Keras pieces built from the configuration: optimizer, metrics, input pipeline, model summary, the list of
callbacks (Keras' own, and ours from :mod:`tui.core.keras`).

Everything here imports Keras/TensorFlow inside functions: only the training thread calls it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tui.core.config import ExperimentConfig
from tui.core.events import LayerInfo, ModelSummary
from tui.core.keras import ONE_HOT_LOSSES
from tui.core.rundir import RunDir
from tui.core.schedules import lr_at

if TYPE_CHECKING:
    from tui.core.keras.changes import ChangeApplier

__all__ = ["BUILD_LOCK", "ONE_HOT_LOSSES", "build_seeded", "class_weights", "make_callbacks", "make_dataset",
           "make_metrics", "make_optimizer", "steps_for", "summarize"]

BUILD_LOCK = threading.Lock()
"""Held from seeding Keras to the end of building a model: a learning-rate range test building its copy in another
thread cannot draw from Keras' global seed generator (dropout and other layers' seeds) between the real run's
seeding and its build (same seed, same weights)."""


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
    if config.regularization.penalized:
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
    # Without tf.data's autotuner (AUTOTUNE then means a map call per core and the prefetch buffer's own tuning).
    # Its thread sleeps between optimisations, up to 60 s as a run goes on, and a pipeline torn down mid-stream
    # (every run in the app: its pipeline runs to EPOCH_CEILING) waits out that sleep: a run's end came up to a
    # minute late. The map is a gather from memory; one call per core keeps the model fed (measured: no slower).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


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


def make_callbacks(config: ExperimentConfig, run_dir: Path, event_callback: Any, *extra: Any,
                   change: ChangeApplier | None = None) -> list[Any]:
    """Keras' own callbacks for what the configuration asks, and ours; ours first so their log columns reach the
    CSV (`extra`, such as the gradient-flow callback, right after the event callback). With `change` (a
    tui.core.keras.changes.ChangeApplier), the schedules follow its plan (epochs, the rate's scale) and it reaches
    EarlyStopping."""
    import keras

    from tui.core.keras.caches import ReleaseScalarCache
    from tui.core.keras.logs import PenaltyLog
    from tui.core.keras.one_cycle import OneCycle
    from tui.core.keras.progress import EventCallback, RecordHistory
    from tui.core.keras.saving import BestModel, EveryN, SaveAttributeCache, SpacedBackup

    t = config.training
    s = config.schedule
    plan = change.plan if change is not None else None
    # SaveAttributeCache first: it works around Keras 3.15's save-cache leak before anything saves.
    cbs: list[Any] = [SaveAttributeCache(), *([change] if change is not None else []), PenaltyLog(),
                      event_callback, *extra,
                      keras.callbacks.TerminateOnNaN()]
    if s.name == "one_cycle":  # before the checkpoints: it puts a plain momentum back for saving
        cbs.append(OneCycle(config, plan=plan))
    elif s.name == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=config.judged_on("val_loss"), factor=s.step_factor,
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
        stopper = keras.callbacks.EarlyStopping(monitor=config.monitored, patience=t.patience, min_delta=t.min_delta,
                                                restore_best_weights=t.restore_best, verbose=0)
        cbs.append(stopper)
        if change is not None:
            change.early_stopping = stopper
    rd = RunDir(run_dir)
    cbs.append(BestModel(str(rd.best_model_file), monitor=config.monitored))
    if t.checkpoint_every:
        rd.checkpoints_dir.mkdir(exist_ok=True)
        cbs.append(EveryN(t.checkpoint_every, rd.checkpoint_pattern))
    cbs.append(keras.callbacks.CSVLogger(str(rd.history_file), append=True))
    # After the CSV row: a run killed in epoch k resumes from the last backup before it (`cnn-tui resume`).
    cbs.append(SpacedBackup(rd))
    if t.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(rd.tensorboard_dir), histogram_freq=0))
    if isinstance(event_callback, EventCallback):  # fit's History reads the record rather than copying every log
        cbs.append(RecordHistory(event_callback))
    cbs.append(ReleaseScalarCache())  # last: after every callback that compares or sets a number this epoch
    return cbs


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
