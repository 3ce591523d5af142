"""TensorFlow's process-wide caches that a long run would otherwise fill: emptied as the run goes."""

from __future__ import annotations

from typing import Any

import keras

from tui.core.tfenv import release_scalar_cache


class ReleaseScalarCache(keras.callbacks.Callback):
    """Last of the callbacks: at each epoch's end, after the monitor callbacks have compared the epoch's metrics
    (each comparison converts a new Python float into a cached tensor), empties TensorFlow's scalar cache
    (tui.core.tfenv.release_scalar_cache)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        release_scalar_cache()
