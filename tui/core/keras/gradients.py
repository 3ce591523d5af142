"""Gradient flow: per-layer gradient L2 norms on a fixed batch, sampled within a share of the training time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tui.core.config import ExperimentConfig
from tui.core.events import Event, GradientNorms
from tui.core.keras import ONE_HOT_LOSSES

GRADIENT_SAMPLES = 32
"""Size of the fixed batch the gradient-flow norms are computed on: enough for a stable norm, cheap to run."""
GRADIENT_BUDGET = 0.00125
"""The gradient-flow norms take at most this share of the training time: after each sample the next waits at
least its own cost / GRADIENT_BUDGET (training waits while the norms are computed). A forward and backward pass on
GRADIENT_SAMPLES images costs about a quarter of a training step of 128: every 20 batches that was 1.3-2 % of
the run (benchmarks/gradient_overhead.py). At 0.5 % it was still the largest of the session's costs (10.6 ms of a
1.72 s epoch; benchmarks/README.md, throughput round 10), and the session, all costs together, must stay within
2 % of a bare fit. At 0.25 % it was still 5.5 ms of a 2 s epoch, a quarter of the session's cost on the training
thread (benchmarks/README.md, throughput round 13): at 0.125 % the panel refreshes every ~8 s on a 2-core CPU (a
9 ms sample), faster where a sample costs less."""


class GradientFlow(keras.callbacks.Callback):
    """Per-layer gradient L2 norms on a fixed batch (the first ``GRADIENT_SAMPLES`` of `x`), every
    ``training.gradient_every`` batches, at most every `min_interval` seconds and within GRADIENT_BUDGET of the
    training time, emitted as GradientNorms.

    The batch goes through the model in inference mode (no dropout; batch norm uses its moving statistics and is
    not updated), so sampling changes nothing in training. Norms are of the data loss, before clipping."""

    def __init__(self, emit: Callable[[Event], None], x: np.ndarray, y: np.ndarray, num_classes: int,
                 config: ExperimentConfig, min_interval: float = 0.25) -> None:
        super().__init__()
        self._emit = emit
        self._every = config.training.gradient_every
        self._min_interval = min_interval
        self._xs = tf.constant(x[:GRADIENT_SAMPLES], dtype=tf.float32)
        labels = np.asarray(y[:GRADIENT_SAMPLES], dtype=np.int32)
        self._ys = tf.constant(np.eye(num_classes, dtype=np.float32)[labels]
                               if config.training.loss in ONE_HOT_LOSSES else labels)
        self._loss_fn = keras.losses.get(config.training.loss)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        layers = [layer for layer in self.model.layers if layer.trainable_weights]
        self._names = tuple(layer.name for layer in layers)
        groups = [list(layer.trainable_weights) for layer in layers]
        model, xs, ys, loss_fn = self.model, self._xs, self._ys, self._loss_fn

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
        self._wait = self._min_interval
        self._calls = 0
        self._epoch = 1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._step += 1
        if not self._names or (self._step - 1) % self._every:
            return
        now = time.perf_counter()
        if now - self._last < self._wait:
            return
        values = tuple(float(v) for v in self._norms().numpy())
        self._last = time.perf_counter()
        self._calls += 1
        if self._calls > 1:  # the first call traces the function: not what a sample costs
            self._wait = max(self._min_interval, (self._last - now) / GRADIENT_BUDGET)
        self._emit(GradientNorms(self._epoch, batch + 1, self._names, values))
