"""Learning-rate schedules as pure functions of the epoch, shared by training and the set-up preview."""

from __future__ import annotations

import math

from tui.core.config import ScheduleConfig

PREVIEW_POINTS_PER_EPOCH = 20
"""one_cycle changes the rate every batch: its preview samples this many points per epoch."""


def lr_at(schedule: ScheduleConfig, base_lr: float, epoch: int, epochs: int) -> float:
    """Learning rate for 0-based `epoch` of `epochs` (reduce-on-plateau starts at the base rate; one_cycle gives
    the rate at the epoch's first step)."""
    e, hold = epoch, schedule.hold_epochs
    if schedule.name == "one_cycle":
        return one_cycle(schedule, base_lr, e / max(1, epochs))[0]
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


def one_cycle(schedule: ScheduleConfig, max_lr: float, t: float, max_momentum: float | None = None
              ) -> tuple[float, float | None]:
    """Smith's one-cycle policy at fraction `t` (0..1) of all training steps: (learning rate, momentum).

    The rate rises from max_lr / div_factor to max_lr over the first warmup_fraction of the steps (half a cosine),
    then anneals to max_lr / div_factor / final_div (half a cosine); momentum does the inverse, from
    `max_momentum` down to schedule.min_momentum at the peak and back (None when the optimizer has none)."""
    t = min(1.0, max(0.0, t))
    p = schedule.warmup_fraction
    start = max_lr / schedule.div_factor
    end = start / schedule.final_div
    if t < p:
        rise = (1 - math.cos(math.pi * t / p)) / 2  # 0 -> 1
        lr = start + (max_lr - start) * rise
    else:
        rise = (1 + math.cos(math.pi * (t - p) / (1 - p))) / 2  # 1 -> 0
        lr = end + (max_lr - end) * rise
    momentum = None
    if max_momentum is not None:
        low = min(schedule.min_momentum, max_momentum)
        momentum = max_momentum - (max_momentum - low) * rise
    return max(schedule.min_lr, lr), momentum


def preview(schedule: ScheduleConfig, base_lr: float, epochs: int) -> list[float]:
    """The planned learning rate for each epoch (plateau shows the starting rate: it reacts at run time)."""
    return [lr_at(schedule, base_lr, e, epochs) for e in range(epochs)]


def preview_points(schedule: ScheduleConfig, base_lr: float, epochs: int) -> tuple[list[float], list[float]]:
    """(x, lr) for the set-up chart, x in epochs counted from 1; one_cycle is sampled within each epoch."""
    if schedule.name != "one_cycle":
        return [float(e) for e in range(1, epochs + 1)], preview(schedule, base_lr, epochs)
    n = epochs * PREVIEW_POINTS_PER_EPOCH
    xs = [1 + epochs * i / n for i in range(n + 1)]
    return xs, [one_cycle(schedule, base_lr, i / n)[0] for i in range(n + 1)]
