"""The learning-rate range test's callback: the rate set before each batch, that batch's loss read after it."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import keras


class RangeTest(keras.callbacks.Callback):
    """Sets the rate of 0-based batch b to ``lr_at(b)`` before it and reads that batch's loss after it (metrics are
    reset before every batch, so Keras' running mean is the batch's own loss). Keeps the rates, the losses and the
    bias-corrected running average of the loss (`smoothing`), reports each step to ``on_step(step, lr, loss,
    smoothed)``, and ends the fit on a NaN loss, a `stop` request, or a smoothed loss above `diverge_factor` × its
    minimum so far (from batch `min_steps` on); `reason` says which ("completed" when none did)."""

    def __init__(self, lr_at: Callable[[int], float], *, smoothing: float, diverge_factor: float, min_steps: int,
                 stop: threading.Event, on_step: Callable[[int, float, float, float], None]) -> None:
        super().__init__()
        self._lr_at = lr_at
        self._beta = smoothing
        self._diverge_factor = diverge_factor
        self._min_steps = min_steps
        self._stop = stop
        self._on_step = on_step
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.reason = "completed"

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._avg, self._best = 0.0, math.inf

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.reset_metrics()
        self._lr = self._lr_at(batch)
        self.model.optimizer.learning_rate = self._lr

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        if not math.isfinite(loss):
            self.reason = "nan"
            self.model.stop_training = True
            return
        beta = self._beta
        self._avg = beta * self._avg + (1 - beta) * loss
        value = self._avg / (1 - beta ** (batch + 1))
        self.lrs.append(self._lr)
        self.losses.append(loss)
        self.smoothed.append(value)
        self._on_step(batch + 1, self._lr, loss, value)
        self._best = min(self._best, value)
        if self._stop.is_set():
            self.reason = "stopped"
            self.model.stop_training = True
        elif batch >= self._min_steps and value > self._diverge_factor * self._best:
            self.reason = "diverged"
            self.model.stop_training = True
