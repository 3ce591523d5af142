"""Learning-rate schedules as pure functions of the epoch, shared by training and the set-up preview."""

from __future__ import annotations

import math

from tui.core.config import ScheduleConfig


def lr_at(schedule: ScheduleConfig, base_lr: float, epoch: int, epochs: int) -> float:
    """Learning rate for 0-based `epoch` of `epochs` (reduce-on-plateau starts at the base rate)."""
    e, hold = epoch, schedule.hold_epochs
    if schedule.name == "exponential":
        lr = base_lr if e < hold else base_lr * math.exp(-schedule.decay_rate * (e - hold + 1))
    elif schedule.name == "step":
        lr = base_lr if e < hold else base_lr * schedule.step_factor ** ((e - hold) // schedule.step_epochs)
    elif schedule.name == "cosine":
        span = max(1, epochs - hold)
        t = min(1.0, max(0, e - hold) / span)
        lr = schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1 + math.cos(math.pi * t))
    else:  # constant, plateau
        lr = base_lr
    return max(schedule.min_lr, lr)


def preview(schedule: ScheduleConfig, base_lr: float, epochs: int) -> list[float]:
    """The planned learning rate for each epoch (plateau shows the starting rate: it reacts at run time)."""
    return [lr_at(schedule, base_lr, e, epochs) for e in range(epochs)]
