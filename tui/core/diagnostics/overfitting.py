"""overfitting: better and better on the training data, worse on unseen data."""

from __future__ import annotations

from typing import Mapping, Sequence

from tui.core.diagnostics.common import DoctorState, THRESHOLDS, Finding, Fix, Thresholds, _series, epoch_rule

OVERFIT_FIXES = (
    Fix("add dropout 0.3 after the dense layers", {"model.dropout": 0.3}),
    Fix("add L2 weight decay 1e-4", {"regularization.l2": 1e-4}),
    Fix("turn on augmentation", {"regularization.augment": True}),
    Fix("stop early and keep the best weights", {"training.early_stopping": True, "training.restore_best": True}),
    Fix("use a smaller model (fewer filters or units)"),
    Fix("train on all the data", {"dataset.train_size": 0}),
)


def detect_overfitting(history: Sequence[Mapping[str, float]], t: Thresholds = THRESHOLDS) -> Finding | None:
    """Overfitting from epoch logs (one mapping per epoch with loss/val_loss and, if present, accuracies)."""
    loss, val_loss = _series(history, "loss"), _series(history, "val_loss")
    acc, val_acc = _series(history, "accuracy"), _series(history, "val_accuracy")
    candidates: list[tuple[int, str]] = []

    if loss and val_loss and len(val_loss) > t.rising_epochs:
        best = min(range(len(val_loss)), key=val_loss.__getitem__)
        after = len(val_loss) - 1 - best
        rise = val_loss[-1] - val_loss[best]
        if after >= t.rising_epochs and rise > t.min_rise * abs(val_loss[best]) and loss[-1] < loss[best]:
            candidates.append((best + 2, (
                f"val_loss rose from {val_loss[best]:.4f} (epoch {best + 1}, its best) to {val_loss[-1]:.4f} "
                f"(epoch {len(val_loss)}) while training loss fell from {loss[best]:.4f} to {loss[-1]:.4f}")))

    if acc and val_acc and len(acc) >= t.gap_epochs:
        gaps = [a - v for a, v in zip(acc, val_acc)]
        run = 0
        for g in reversed(gaps):
            if g <= t.acc_gap:
                break
            run += 1
        if run >= t.gap_epochs and gaps[-1] > gaps[-run]:
            first = len(gaps) - run
            candidates.append((first + 1, (
                f"accuracy {acc[-1]:.3f} on training vs {val_acc[-1]:.3f} on validation at epoch {len(gaps)}: "
                f"a gap of {gaps[-1] * 100:.1f} points, above {t.acc_gap * 100:.0f} since epoch {first + 1} "
                f"and growing")))

    if not candidates:
        return None
    epoch = min(e for e, _ in candidates)
    return Finding(
        id="overfitting", severity="warning", epoch=epoch,
        title=f"Overfitting from epoch {epoch}",
        evidence="; ".join(text for _, text in candidates),
        explanation=("The network is memorising the training set: it keeps getting better on data it has seen "
                     "and worse on data it has not."),
        fixes=OVERFIT_FIXES,
    )



@epoch_rule
def _overfitting(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    return detect_overfitting(history, doctor.thresholds)
