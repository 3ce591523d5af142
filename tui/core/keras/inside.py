"""Weight snapshots for the inside view, taken at epoch end while the view has the tap open."""

from __future__ import annotations

from typing import Any, Protocol

import keras
import numpy as np


class WeightTap(Protocol):
    """Where the snapshots go (tui.core.inside.InsideTap): open while the inside view shows."""

    @property
    def is_open(self) -> bool: ...

    def take(self, epoch: int, weights: tuple[np.ndarray, ...], model_json: str) -> None: ...


class InsideSnapshot(keras.callbacks.Callback):
    """Copies the model's weights into `tap` at each epoch end while the tap is open (nothing while it is closed);
    the architecture's JSON is taken once."""

    def __init__(self, tap: WeightTap) -> None:
        super().__init__()
        self.tap = tap
        self._json: str | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._json = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if not self.tap.is_open:
            return
        if self._json is None:
            self._json = self.model.to_json()
        self.tap.take(epoch + 1, tuple(np.array(w, copy=True) for w in self.model.get_weights()), self._json)
