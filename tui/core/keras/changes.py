"""Pause, change, continue: the settings changed while a run is paused, applied in the training thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from tui.core.changes import RunPlan
from tui.core.events import Event, SettingsChanged
from tui.core.keras.progress import current_lr


class ChangeApplier(keras.callbacks.Callback):
    """Applies the changes a paused run was given (a tui.core.changes.RunPlan) in the training thread, at the next
    batch boundary (or the epoch's end), and ends the run at the plan's epochs (fit runs with a higher ceiling so
    the epochs can be raised). Each change: the optimizer's learning rate (a schedule goes on from it through the
    plan's scale), EarlyStopping's patience (`early_stopping`, set by make_callbacks), the optimizer's clipnorm (the
    train step is traced again: Keras reads clipnorm when tracing), the epochs; then a SettingsChanged event and
    `on_applied(plan.applied)`."""

    def __init__(self, plan: RunPlan, emit: Callable[[Event], None], steps: int,
                 on_applied: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.early_stopping: Any = None
        self._emit = emit
        self._steps = steps
        self._on_applied = on_applied
        self._constant = plan.config.schedule.name == "constant"

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._epoch = 1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for entry in self.plan.due(self._epoch, batch):
            self._apply(entry)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for entry in self.plan.due(epoch + 1, self._steps):  # made while paused after the epoch's last batch
            self._apply(entry)
        if epoch + 1 >= self.plan.epochs:
            self.model.stop_training = True

    def _current(self) -> dict[str, Any]:
        plan = self.plan
        return {"optimizer.learning_rate": current_lr(self.model), "training.epochs": plan.epochs,
                "training.patience": plan.patience, "optimizer.clipnorm": plan.clipnorm}

    def _apply(self, entry: dict[str, Any]) -> None:
        values, replayed = entry["values"], entry["replayed"]
        now = self._current()
        previous = entry["previous"] or {k: now[k] for k in values}
        optimizer = self.model.optimizer
        for key, value in values.items():
            if key == "optimizer.learning_rate" and (self._constant or not replayed):
                optimizer.learning_rate = float(value)  # a schedule after a resume goes on through the scale
            elif key == "training.patience" and self.early_stopping is not None:
                self.early_stopping.patience = int(value)
            elif key == "optimizer.clipnorm":
                optimizer.clipnorm = float(value) or None
                self.model.make_train_function(force=True)
        self.plan.record(entry["epoch"], entry["batch"], values, previous, replayed=replayed)
        self._emit(SettingsChanged(entry["epoch"], entry["batch"], self._steps, dict(values), dict(previous),
                                   resumed=replayed))
        if self._on_applied is not None and not replayed:
            self._on_applied(list(self.plan.applied))
