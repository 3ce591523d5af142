"""plateau: the monitored metric stopped improving (reported only when no specific finding explains it). Reads
the learning rate the run logged: when a schedule has already decayed it to almost nothing, a smaller one is no
cure."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from tui.core.diagnostics.common import DoctorState, Finding, Fix, _finite, _lower_lr, _lr, _series

DECAYED = 0.01
"""The logged learning rate is below this share of the configured one: the schedule has frozen the run."""


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
    logged = history[-1].get("lr")
    start = _lr(config)
    decayed = _finite(logged) and config is not None and logged < DECAYED * start
    fixes: list[Fix] = []
    if decayed:
        sched = config.schedule
        fixes.append(Fix("decay the learning rate more slowly (reduce it only when it stalls)",
                         {"schedule.name": "plateau"}) if sched.name != "plateau" else
                     Fix("set a floor for the learning rate", {"schedule.min_lr": float(f"{start / 100:.3g}")}))
        if sched.min_lr < start / 100 and sched.name != "plateau":
            fixes.append(Fix(f"set a floor for the learning rate ({start / 100:.3g})",
                             {"schedule.min_lr": float(f"{start / 100:.3g}")}))
    else:
        if config is None or config.schedule.name != "plateau":
            fixes.append(Fix("reduce the learning rate when it stalls", {"schedule.name": "plateau"}))
        fixes.append(_lower_lr(config))
    if config is None or not config.training.early_stopping:
        fixes.append(Fix("stop early and keep the best weights",
                         {"training.early_stopping": True, "training.monitor": monitor,
                          "training.restore_best": True}))
    return Finding(
        id="plateau", severity="info", epoch=epoch, title=f"No progress since epoch {best_i + 1}",
        evidence=(f"{monitor} best {values[best_i]:.4f} at epoch {best_i + 1}; no improvement of "
                  f"{t.plateau_delta * 100:.1f}% or more in the {stale} epochs since (now {values[-1]:.4f})"
                  + (f"; the schedule has decayed the learning rate to {logged:.2g} (from {start:g})"
                     if decayed else "")),
        explanation=("The run has stopped getting better. " + (
            "The learning rate schedule has shrunk the steps to almost nothing, so the weights no longer move: "
            "decay it more slowly or give it a floor." if decayed else
            "More epochs at this learning rate only cost time: a smaller learning rate can settle into a better "
            "minimum, or stop here.")),
        fixes=tuple(fixes))
