"""Training → events: the callback that turns model.fit into BatchEnd / EpochEnd events and takes stop / pause
requests at batch boundaries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import keras

from tui.core.epochs import EpochHistory
from tui.core.events import BatchEnd, EpochEnd, Event, StateChanged


def current_lr(model: Any) -> float:
    """The optimizer's learning rate now (NaN when it cannot be read)."""
    lr = model.optimizer.learning_rate
    try:
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)
    except Exception:
        return float("nan")


class EventCallback(keras.callbacks.Callback):
    """Emits a BatchEnd a few times a second and an EpochEnd at each epoch's end (and keeps the epoch records in
    `history`); at a batch boundary, stops when `stop_event` is set and waits while `pause_event` is (until
    `running_event` is set again by resume or stop). `epochs` may be a function: the run's epochs as a change left
    them. Configuration in __init__, state reset in on_train_begin; logs are read a few times a second only."""

    def __init__(self, emit: Callable[[Event], None], *, steps: int, batch_size: int, train_samples: int,
                 epochs: int | Callable[[], int], stop_event: threading.Event, pause_event: threading.Event,
                 running_event: threading.Event, batch_interval: float = 0.25,
                 previous: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self._emit = emit
        self._steps = steps
        self._batch_size = batch_size
        self._train_samples = train_samples
        self._total_epochs: Callable[[], int] = epochs if callable(epochs) else (lambda: int(epochs))
        self._stop_event = stop_event
        self._pause_event = pause_event
        self._running_event = running_event
        self._batch_interval = batch_interval
        self._previous = EpochHistory(previous or ())
        self.history = EpochHistory()
        """Every epoch's record, compactly (tui.core.epochs): the session's history, its summary's source."""
        self.nan_batch: tuple[int, int] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history = EpochHistory(self._previous)  # epochs recorded before a resume
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
        steps, stop_event, pause_event = self._steps, self._stop_event, self._pause_event
        done = batch + 1
        self._done = done
        now = time.perf_counter()
        self._t_train = now
        if stop_event.is_set():
            self._cut = done < steps
            self.model.stop_training = True
            return
        if pause_event.is_set():
            self._emit(StateChanged("paused"))
            while pause_event.is_set() and not stop_event.is_set():
                self._running_event.wait()  # set again by resume() or stop()
            self._emit(StateChanged("stopping" if stop_event.is_set() else "running"))
            if stop_event.is_set():
                self._cut = done < steps
                self.model.stop_training = True
                return
            now = time.perf_counter()
        if now - self._last_emit < self._batch_interval and done != steps:
            return
        if "loss" not in logs:
            return
        mean = float(logs["loss"])
        acc = float(logs["accuracy"]) if "accuracy" in logs else None
        n = done - self._last_batch
        window = (mean * done - self._last_mean * self._last_batch) / n if n > 0 else mean
        self._last_emit, self._last_batch, self._last_mean = now, done, mean
        elapsed = now - self._t0
        seen = min(done * self._batch_size, self._train_samples)
        self._emit(BatchEnd(self._epoch, done, steps, mean, acc, window, seen / elapsed if elapsed > 0 else 0.0,
                            elapsed))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        now = time.perf_counter()
        train_time = max(1e-9, self._t_train - self._t0)
        seen = min(self._done * self._batch_size, self._train_samples)
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
        self._emit(EpochEnd(epoch + 1, self._total_epochs(), values, lr, seconds, seen / train_time,
                            partial=self._cut))


class RecordHistory(keras.callbacks.History):
    """Keras' History (what fit returns and sets as ``model.history``) read from the event callback's record
    instead of kept again: Keras' own appends every log value of every epoch to a list per key (~0.5 KB an epoch
    with a run's fourteen columns), beside the record that already holds them. In fit's callbacks it stands in for
    the History fit would add. Reading ``history`` builds the lists from the record's columns (the epochs of an
    earlier part of a resumed run included)."""

    _NOT_LOGS = ("epoch", "samples_per_second", "partial")
    """The record's own columns, not Keras' logs."""

    def __init__(self, record: EventCallback) -> None:
        self._record = record
        super().__init__()

    @property
    def history(self) -> dict[str, list[float]]:
        rows = self._record.history
        return {key: column for key in rows.columns() if key not in self._NOT_LOGS
                and (column := rows.column(key)) is not None}

    @history.setter
    def history(self, value: Any) -> None:  # History.__init__ empties it: the record is the history
        pass

    @property
    def epoch(self) -> list[int]:
        return [int(e) - 1 for e in self._record.history.column("epoch") or []]  # Keras counts from 0

    @epoch.setter
    def epoch(self, value: Any) -> None:  # on_train_begin empties it
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.history = self
