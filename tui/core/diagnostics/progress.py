"""How the loss moves epoch to epoch: undertrained (still falling fast when the run ends) and lr_too_high
(rising or swinging without blowing up)."""

from __future__ import annotations

from tui.core.diagnostics.common import (
    DoctorState, EpochLog, Finding, Fix, _data_loss, _finite, _lower_lr, _lr, accuracy_key, beyond_noise,
    epoch_rule, plausible_lr, pool_group, pooled, steps_per_epoch,
)


UNDERTRAINED_EPOCHS = 3
"""Epochs of evidence under-trained needs. Its test compares the last epoch's fall with the run's mean fall per
epoch; with two epochs that mean *is* the last fall, so the test cannot fail, and the first epoch's loss is a
mean over weights that were still random (far above the rest in any run). A 2-epoch budget says nothing."""


def _max(*values: float | None) -> float | None:
    known = [v for v in values if _finite(v)]
    return max(known) if known else None


@epoch_rule
def _undertrained(doctor: DoctorState, history: EpochLog) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    if config is None or int(history[-1].get("epoch", len(history))) < config.training.epochs:
        return None  # judged at the last epoch the run was set up for...
    if len(history) < UNDERTRAINED_EPOCHS:
        return None  # ...with a pace to compare the last epoch against
    val = history.recent("val_loss", 2)
    prev, last = _data_loss(history[-2]), _data_loss(history[-1])
    if not (_finite(prev) and _finite(last) and prev > 0):
        return None
    drop = (prev - last) / prev
    first = _data_loss(history[0])
    mean_drop = (first - last) / (len(history) - 1) if _finite(first) else 0.0
    # still on the steep part: the last epoch gained at least half the run's mean gain per epoch (a converging
    # run's last epochs gain far less than its first ones)
    acc = history.recent(accuracy_key(history), 2)
    if (last >= prev or not beyond_noise(doctor, prev, last, _max(*acc[-2:]) if acc else None, first,
                                         t.still_falling)
            or (prev - last) < 0.5 * mean_drop or (val and not val[-1] < val[-2])):
        return None
    epochs = config.training.epochs
    fixes = [Fix(f"train longer (training.epochs {epochs} → {epochs * 2})", {"training.epochs": epochs * 2})]
    lr, high = _lr(config), plausible_lr(config.optimizer.name)[1]
    if lr * 3 <= high / 3:  # well inside the plausible range: a bigger step is safe
        fixes.append(Fix(f"raise the learning rate ×3 ({lr:g} → {lr * 3:.3g})",
                         {"optimizer.learning_rate": float(f"{lr * 3:.3g}")}))
    return Finding(
        id="undertrained", severity="info", epoch=len(history),
        title="Under-trained: the loss was still falling fast at the last epoch",
        evidence=(f"training loss {prev:.4f} → {last:.4f} in epoch {len(history)} (−{drop * 100:.0f}%, over "
                  f"{t.still_falling * 100:.0f}%)" + (f", validation loss {val[-2]:.4f} → {val[-1]:.4f}"
                                                       if val else "")),
        explanation=("The run stopped while it was still improving quickly on both training and validation data: "
                     "the result says more about the budget than about the model. Train for more epochs, or take "
                     "bigger steps."),
        fixes=tuple(fixes))


@epoch_rule
def _lr_too_high(doctor: DoctorState, history: EpochLog) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    steps = steps_per_epoch(doctor)
    group = pool_group(doctor)
    tail = [_data_loss(h) for h in history.rows(t.swing_window * group)]
    every = [v for v in tail if _finite(v)]
    if len(every) < len(tail):
        return None
    # the epochs pooled (from the last one back) so that each point is a mean over `swing_batches` batches
    losses = pooled(every, group)
    if len(losses) < 3:
        return None
    acc = history.recent(accuracy_key(history), len(tail))
    accs: list[float | None] = [None] * len(losses)
    if acc and all(_finite(a) for a in acc):
        accs = list(pooled(acc, group))
    start = _data_loss(history[0])
    # a rise is evidence when it is larger than the loss's own noise (Thresholds.swing_z), not only than 5 %
    rises = [(i, a, b) for i, (a, b) in enumerate(zip(losses, losses[1:]))
             if b > a and beyond_noise(doctor, a, b, _max(accs[i], accs[i + 1]), start, t.swing_rise)]
    if len(rises) < t.swing_count:
        return None
    first_epoch = len(history) - (len(losses) - rises[0][0] - 2) * group
    shown = ", ".join(f"{a:.3f} → {b:.3f}" for _, a, b in rises[:4])
    if group > 1:
        shown += f"; means over {group} epochs of {steps} batches"
    return Finding(
        id="lr_too_high", severity="warning", epoch=first_epoch,
        title="Learning rate too high: the training loss rises and swings",
        evidence=(f"the training loss rose by over {t.swing_rise * 100:.0f}% and beyond its noise {len(rises)} times "
                  f"in the last {len(losses) * group} epochs ({shown})"
                  + (f" at learning rate {_lr(config):g}" if config else "")),
        explanation=("Averaged over a whole epoch, the training loss of a sane learning rate falls or stays "
                     "level. Rising and falling back means the steps overshoot the valley: each one lands on the "
                     "other side. Smaller steps, or a schedule that shrinks them, settle it."),
        fixes=(_lower_lr(config, "divide the learning rate by 3", 3),
               Fix("decay the learning rate when the loss stalls", {"schedule.name": "plateau"})
               if config is None or config.schedule.name == "constant" else
               Fix("start the schedule lower (divide the learning rate by 10)",
                   {"optimizer.learning_rate": float(f"{_lr(config) / 10:.3g}")})))
