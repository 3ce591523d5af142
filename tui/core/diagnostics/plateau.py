"""plateau: the monitored metric stopped improving (reported only when no specific finding explains it). Reads
the learning rate the run logged: when a schedule has already decayed it to almost nothing, a smaller one is no
cure."""

from __future__ import annotations

import math
from typing import Mapping

from tui.core.diagnostics.common import (
    DoctorState, EpochLog, Finding, Fix, Thresholds, _finite, _lower_lr, _lr, tracker,
)

DECAYED = 0.01
"""The logged learning rate is below this share of the configured one: the schedule has frozen the run."""

MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy", "val_data_loss", "data_loss")
"""The metrics a run may monitor (tui.core.config.MONITORS, and the penalty-free losses that
ExperimentConfig.monitored reads instead of the loss when the loss includes a penalty): each is followed from the
first epoch, so a monitor changed between epochs is judged on the whole run."""


class _Best:
    def __init__(self) -> None:
        self.finite = True
        self.plateau_i = 0  # the last epoch that improved on the one before it by `plateau_delta` (0-based)
        self.plateau_v = math.nan
        self.best_i = 0  # the first epoch with the best value (what early stopping restores)
        self.best_v = math.nan
        self.best_row: Mapping[str, float] = {}


@tracker
class MonitorBest:
    """For each metric a run may monitor: its best epoch (and that epoch's row) and the last epoch that improved
    on its predecessor by more than `plateau_delta`, as the whole series would give them."""

    def __init__(self, t: Thresholds) -> None:
        self.t = t
        self.of = {key: _Best() for key in MONITORS}

    def add(self, log: EpochLog) -> None:
        i, row = len(log) - 1, log[-1]
        for key, b in self.of.items():
            if not log.has(key):
                continue  # (once missing, the series is gone for good)
            v = float(row[key])
            b.finite = b.finite and math.isfinite(v)
            higher = key.endswith("accuracy")
            if i == 0:
                b.plateau_v = b.best_v = v
                b.best_row = row
                continue
            gain = (v - b.plateau_v) if higher else (b.plateau_v - v)
            if gain > self.t.plateau_delta * abs(b.plateau_v):
                b.plateau_i, b.plateau_v = i, v
            if (v > b.best_v) if higher else (v < b.best_v):
                b.best_i, b.best_v, b.best_row = i, v, row


def _named(key: str, config: object) -> str:
    """`key` as the evidence names it: a penalty-free loss says what it stands for."""
    configured = getattr(getattr(config, "training", None), "monitor", key)
    return key if key == configured else f"{key} ({configured} without the regularization penalty)"


def _plateau(doctor: DoctorState, history: EpochLog) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    monitor = config.monitored if config is not None else "val_loss"
    b = doctor.track(MonitorBest).of.get(monitor)
    if b is None or not history.has(monitor) or len(history) <= t.plateau_epochs or not b.finite:
        return None
    best_i, best_v, now = b.plateau_i, b.plateau_v, float(history[-1][monitor])
    stale = len(history) - 1 - best_i
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
                         {"training.early_stopping": True, "training.monitor": config.training.monitor
                          if config is not None else monitor,
                          "training.restore_best": True}))
    return Finding(
        id="plateau", severity="info", epoch=epoch, title=f"No progress since epoch {best_i + 1}",
        evidence=(f"{_named(monitor, config)} best {best_v:.4f} at epoch {best_i + 1}; no improvement of "
                  f"{t.plateau_delta * 100:.1f}% or more in the {stale} epochs since (now {now:.4f})"
                  + (f"; the schedule has decayed the learning rate to {logged:.2g} (from {start:g})"
                     if decayed else "")),
        explanation=("The run has stopped getting better. " + (
            "The learning rate schedule has shrunk the steps to almost nothing, so the weights no longer move: "
            "decay it more slowly or give it a floor." if decayed else
            "More epochs at this learning rate only cost time: a smaller learning rate can settle into a better "
            "minimum, or stop here.")),
        fixes=tuple(fixes))
