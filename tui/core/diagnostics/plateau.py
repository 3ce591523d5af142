"""plateau: the monitored metric stopped improving (reported only when no specific finding explains it)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from tui.core.diagnostics.common import DoctorState, Finding, Fix, _lower_lr, _series

def _plateau(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    monitor = config.training.monitor if config is not None else "val_loss"
    values = _series(history, monitor)
    if not values or len(values) <= t.plateau_epochs or not all(math.isfinite(v) for v in values):
        return None
    higher = monitor.endswith("accuracy")
    best_i = 0
    for i, v in enumerate(values):
        gain = (v - values[best_i]) if higher else (values[best_i] - v)
        if gain > t.plateau_delta * abs(values[best_i]):
            best_i = i
    stale = len(values) - 1 - best_i
    if stale < t.plateau_epochs:
        return None
    epoch = best_i + 2
    fixes = [Fix("reduce the learning rate when it stalls", {"schedule.name": "plateau"}),
             Fix("stop early and keep the best weights",
                 {"training.early_stopping": True, "training.monitor": monitor, "training.restore_best": True}),
             _lower_lr(config)]
    return Finding(
        id="plateau", severity="info", epoch=epoch, title=f"No progress since epoch {best_i + 1}",
        evidence=(f"{monitor} best {values[best_i]:.4f} at epoch {best_i + 1}; no improvement of "
                  f"{t.plateau_delta * 100:.1f}% or more in the {stale} epochs since (now {values[-1]:.4f})"),
        explanation=("The run has stopped getting better. More epochs at this learning rate only cost time: "
                     "a smaller learning rate can settle into a better minimum, or stop here."),
        fixes=tuple(fixes))
