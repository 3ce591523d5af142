"""overfitting (better on the training data, worse on unseen data) and overconfidence (validation loss rising
while validation accuracy still improves: the network is more sure of its answers, not more wrong)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    THRESHOLDS, DoctorState, Finding, Fix, Thresholds, _series, accuracy_key, augment_fix, epoch_rule, stronger,
)

OVERFIT_FIXES = (
    Fix("add dropout 0.3 after the dense layers", {"model.dropout": 0.3}),
    Fix("add L2 weight decay 1e-4", {"regularization.l2": 1e-4}),
    Fix("turn on augmentation (no flips)", {"regularization.augment": True, "regularization.flip": False}),
    Fix("stop early and keep the best weights", {"training.early_stopping": True, "training.restore_best": True}),
    Fix("use a smaller model (fewer filters or units)"),
)
"""The fixes for a configuration the doctor does not know (see :func:`overfit_fixes`)."""


def overfit_fixes(config: Any) -> tuple[Fix, ...]:
    """Fixes computed from the current configuration: each strengthens what is set (never a no-op, never weaker
    than the user's value), nothing already on, no flips where a mirror image is another class."""
    if config is None:
        return OVERFIT_FIXES
    fixes: list[Fix] = []
    dropout = config.model.dropout
    proposal = 0.3 if dropout < 0.3 else round(min(0.7, dropout + 0.2), 2)
    if stronger(config, "model.dropout", proposal):
        fixes.append(Fix(f"raise dropout ({dropout:g} → {proposal:g})", {"model.dropout": proposal}))
    l2 = config.regularization.l2
    proposal = 1e-4 if l2 < 1e-4 else float(f"{min(10.0, l2 * 10):.3g}")
    if stronger(config, "regularization.l2", proposal):
        fixes.append(Fix(f"raise the L2 weight decay ({l2:g} → {proposal:g})", {"regularization.l2": proposal}))
    aug = augment_fix(config)
    if aug is not None:
        fixes.append(aug)
    t = config.training
    if not (t.early_stopping and t.restore_best):
        fixes.append(Fix("stop early and keep the best weights",
                         {"training.early_stopping": True, "training.restore_best": True}))
    fixes.append(Fix("use a smaller model (fewer filters or units)"))
    if config.dataset.train_size:
        fixes.append(Fix(f"train on all the data (dataset.train_size {config.dataset.train_size} → all)",
                         {"dataset.train_size": 0}))
    return tuple(fixes)


GAP_TOLERANCE = 0.01
"""How much the train/validation accuracy gap may narrow and still count as held: one point (validation accuracy
moves by one image in a hundred between epochs of a run that has stopped learning)."""


MEMORISED = 0.99
"""Training accuracy from which a network that also has a tenth of the validation loss on its training data is
taken to have learnt that data by heart (with a gap above `acc_gap` held, that is overfitting)."""


def _rising_val_loss(history: Sequence[Mapping[str, float]], t: Thresholds,
                     n_val: int | None = None) -> tuple[int, int] | None:
    """(best epoch index, last index) when val_loss rose for `rising_epochs` after its best while training loss
    kept falling, by more than `min_rise` of its best and, when the validation split's size `n_val` is known, by
    more than its noise (`rise_z`); None otherwise."""
    loss, val_loss = _series(history, "loss"), _series(history, "val_loss")
    if not (loss and val_loss and len(val_loss) > t.rising_epochs):
        return None
    best = min(range(len(val_loss)), key=val_loss.__getitem__)
    after = len(val_loss) - 1 - best
    rise = val_loss[-1] - val_loss[best]
    if not (after >= t.rising_epochs and rise > rise_needed(history, t, best, n_val) * abs(val_loss[best])
            and loss[-1] < loss[best]):
        return None
    return best, len(val_loss) - 1


def rise_needed(history: Sequence[Mapping[str, float]], t: Thresholds, best: int, n_val: int | None) -> float:
    """The relative rise of val_loss above its best that is more than noise: `min_rise`, or 2/√k when the loss is
    carried by k wrong validation images (Thresholds.rise_z), whichever is larger."""
    val_acc = _series(history, "val_" + accuracy_key(history))
    if not (n_val and val_acc):
        return t.min_rise
    wrong = max(1.0, (1 - max(val_acc[best], val_acc[-1])) * n_val)
    return max(t.min_rise, t.rise_z / math.sqrt(wrong))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def accuracy_fell(val_acc: Sequence[float], best: int, n_val: int | None, t: Thresholds = THRESHOLDS) -> bool:
    """Validation accuracy got worse after val_loss's best epoch: its mean over the epochs since is below its value
    then by more than `rise_z` standard errors of an accuracy on `n_val` images (sqrt(p(1 - p) / n); none when the
    split size is unknown). The mean of three or more epochs, not the last one alone, and beyond noise: on a split
    of any size one epoch dips by a few images, and a run whose accuracy holds or creeps up while its loss rises is
    more confident, not worse on unseen data (MNIST at momentum SGD: 0.958 at the best, 0.959-0.962 since)."""
    since = val_acc[best + 1:]
    if not since:
        return False
    p = val_acc[best]
    noise = t.rise_z * math.sqrt(max(p * (1 - p), 0.0) / n_val) if n_val else 0.0
    return _mean(since) < p - noise if n_val else _mean(since) <= p


def detect_overfitting(history: Sequence[Mapping[str, float]], t: Thresholds = THRESHOLDS,
                       config: Any = None, n_val: int | None = None) -> Finding | None:
    """Overfitting from epoch logs (one mapping per epoch with loss/val_loss and, if present, accuracies). A rising
    validation loss counts only when validation accuracy did not improve with it (else: overconfidence) and the
    rise is more than the noise of `n_val` validation images (when known)."""
    loss, val_loss = _series(history, "loss") or [], _series(history, "val_loss") or []
    acc, val_acc = _series(history, "accuracy"), _series(history, "val_accuracy")
    candidates: list[tuple[int, str]] = []

    rising = _rising_val_loss(history, t, n_val)
    if rising and loss and val_loss:
        best, _ = rising
        if not val_acc or accuracy_fell(val_acc, best, n_val, t):
            candidates.append((best + 2, (
                f"val_loss rose from {val_loss[best]:.4f} (epoch {best + 1}, its best) to {val_loss[-1]:.4f} "
                f"(epoch {len(val_loss)}) while training loss fell from {loss[best]:.4f} to {loss[-1]:.4f}"
                + (f" and val_accuracy fell ({val_acc[best]:.3f} → {val_acc[-1]:.3f}, "
                   f"{_mean(val_acc[best + 1:]):.3f} on average since)"
                   if val_acc else ""))))

    if acc and val_acc and len(acc) >= t.gap_epochs:
        gaps = [a - v for a, v in zip(acc, val_acc)]
        run = 0
        for g in reversed(gaps):
            if g <= t.acc_gap:
                break
            run += 1
        # ...not closing (a gap that holds once training accuracy reaches 100 % is memorising as much as one that
        # grows), and validation accuracy stopped improving (a new best while the gap grows is overconfidence or
        # just a fast learner, not memorising)
        stalled = val_acc[-1] <= max(val_acc[:-t.gap_epochs] or [val_acc[0]])
        # ...or the training set is learnt by heart: every training image right at a tenth of the validation loss,
        # whatever fraction of a point validation accuracy still gains an epoch
        memorised = bool(loss and val_loss) and acc[-1] >= MEMORISED and loss[-1] * 10 < val_loss[-1]
        held = gaps[-1] >= gaps[-run] - GAP_TOLERANCE
        if run >= t.gap_epochs and (memorised or (held and stalled)):
            first = len(gaps) - run
            candidates.append((first + 1, (
                f"accuracy {acc[-1]:.3f} on training vs {val_acc[-1]:.3f} on validation at epoch {len(gaps)}: "
                f"a gap of {gaps[-1] * 100:.1f} points, above {t.acc_gap * 100:.0f} since epoch {first + 1} "
                + ("and not closing, while " if held else "while ")
                + (f"training loss {loss[-1]:.4f} is under a tenth of validation loss {val_loss[-1]:.4f}: the "
                   "training set is learnt by heart" if memorised and not stalled
                   else "validation accuracy made no new best"))))

    if not candidates:
        return None
    epoch = min(e for e, _ in candidates)
    return Finding(
        id="overfitting", severity="warning", epoch=epoch,
        title=f"Overfitting from epoch {epoch}",
        evidence="; ".join(text for _, text in candidates),
        explanation=("The network is memorising the training set: it keeps getting better on data it has seen "
                     "and worse on data it has not."),
        fixes=overfit_fixes(config),
    )


@epoch_rule
def _overfitting(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    return detect_overfitting(history, doctor.thresholds, doctor.config, _n_val(doctor))


def _n_val(doctor: DoctorState) -> int | None:
    """The validation split's size, when the dataset is known."""
    n = getattr(doctor.dataset, "val", None)
    return int(n) if n else None


@epoch_rule
def _overconfidence(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    rising = _rising_val_loss(history, t, _n_val(doctor))
    val_acc, val_loss = _series(history, "val_accuracy"), _series(history, "val_loss")
    if not (rising and val_acc and val_loss):
        return None
    best, last = rising
    if accuracy_fell(val_acc, best, _n_val(doctor), t):
        return None  # accuracy got worse: that is overfitting
    monitor = config.training.monitor if config is not None else "val_loss"
    fixes = []
    if monitor != "val_accuracy":
        fixes.append(Fix("watch val_accuracy for early stopping and the best checkpoint",
                         {"training.monitor": "val_accuracy"}))
    if config is None or config.model.dropout < 0.3:
        fixes.append(Fix("add dropout 0.3 (softer, less certain outputs)", {"model.dropout": 0.3}))
    fixes.append(Fix("keep training while validation accuracy improves; judge the run by accuracy"))
    return Finding(
        id="overconfidence", severity="info", epoch=best + 2,
        title=f"Overconfident from epoch {best + 2} (not overfitting)",
        evidence=(f"val_loss rose from {val_loss[best]:.4f} (epoch {best + 1}, its best) to {val_loss[last]:.4f} "
                  f"(epoch {last + 1}) while val_accuracy held or improved: {val_acc[best]:.3f} then, "
                  f"{val_acc[last]:.3f} now ({_mean(val_acc[best + 1:]):.3f} on average since)"),
        explanation=("The network gets more images right on unseen data while the few it gets wrong, it gets "
                     "wrong with more confidence: cross-entropy punishes a confident mistake heavily, so the "
                     "validation loss rises. That is not memorising. Early stopping on val_loss would now keep "
                     "an earlier, less accurate epoch; watch val_accuracy instead."),
        fixes=tuple(fixes))
