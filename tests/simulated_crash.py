"""A training run that crashes: for the tests of resuming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def crash_in_epoch_3(monkeypatch: Any) -> Callable[[], None]:
    """Until the returned function is called, every session's training raises MemoryError as its third epoch
    begins (a simulated crash)."""
    import keras

    from tui.core import keras_parts

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 2:
                raise MemoryError("simulated crash in epoch 3")

    real = keras_parts.make_callbacks
    monkeypatch.setattr(keras_parts, "make_callbacks", lambda *a, **k: real(*a, **k) + [Crash()])
    return lambda: monkeypatch.setattr(keras_parts, "make_callbacks", real)
