"""Columns added to the epoch logs before the other callbacks (and the CSV) read them."""

from __future__ import annotations

from typing import Any

import keras


class PenaltyLog(keras.callbacks.Callback):
    """Adds ``penalty`` to the epoch logs of a model with regularizers, before the other callbacks read them
    (the CSV gets the column too): loss − ``data_loss`` when the ``data_loss`` metric of
    :func:`tui.core.keras_parts.make_metrics` is compiled in (every penalty, averaged over the epoch like the loss);
    otherwise the kernel penalties at the end of the epoch, and ``data_loss`` = loss − penalty."""

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
