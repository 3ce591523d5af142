"""val_test_gap (the validation accuracy does not predict the test accuracy, beyond what the split sizes allow)
and one_class (every prediction one class), the findings read from the test block."""

from __future__ import annotations

import math
from typing import Any, Mapping

from tui.core.diagnostics.common import (
    DoctorState, EpochLog, Finding, Fix, accuracy_key, epoch_rule, floor_share, plausible_lr,
)
from tui.core.diagnostics.plateau import MonitorBest
from tui.core.diagnostics.underfitting import weaken_regularization


def tested(doctor: DoctorState) -> tuple[int, Mapping[str, float]] | None:
    """The 0-based epoch whose weights the test evaluated and its row: the best one by the monitored metric when
    early stopping restored it (Keras' EarlyStopping restores at the end of training), else the last."""
    history, config = doctor.history, doctor.config
    if not history:
        return None
    last = (len(history) - 1, history[-1])
    if config is None or not (config.training.early_stopping and config.training.restore_best):
        return last
    best = doctor.track(MonitorBest).of.get(config.monitored)
    if best is None or not history.has(config.monitored):
        return last
    return best.best_i, best.best_row


def tested_epoch(doctor: DoctorState) -> int | None:
    """The 0-based epoch whose weights the test evaluated (see :func:`tested`)."""
    found = tested(doctor)
    return found[0] if found else None


def val_test_gap(doctor: DoctorState, acc: float, val_accuracy: float, epoch: int | None = None) -> Finding | None:
    t = doctor.thresholds
    n_val = getattr(doctor.dataset, "val", None)
    n_test = getattr(doctor.dataset, "test", None)
    gap = val_accuracy - acc
    if isinstance(n_val, int) and isinstance(n_test, int) and n_val > 0 and n_test > 0:
        p = min(max((val_accuracy * n_val + acc * n_test) / (n_val + n_test), 0.01), 0.99)
        se = math.sqrt(p * (1 - p) * (1 / n_val + 1 / n_test))
        sizes = f"{n_val} validation vs {n_test} test samples"
    else:
        return None  # without the split sizes a gap cannot be told from noise
    if abs(gap) <= t.val_test_z * se:
        return None
    where = f"epoch {epoch + 1}" if epoch is not None else "the last epoch"
    return Finding(
        id="val_test_gap", severity="warning", epoch=len(doctor.history) or 1,
        title="Validation accuracy does not predict test accuracy",
        evidence=(f"validation accuracy {val_accuracy:.3f} ({where}, the weights tested) vs test accuracy "
                  f"{acc:.3f}: {abs(gap) * 100:.1f} points apart; with {sizes} chance alone explains up to "
                  f"{t.val_test_z * se * 100:.1f} ({t.val_test_z:g} standard errors)"),
        explanation=("The validation set should be a fair sample of the data the model will meet. Here it "
                     "is not, beyond what the split sizes explain: it may share images with the training set "
                     "(leaked), come from a different distribution than the test set, or have been used to pick "
                     "among many runs. Check that no image is in both, and how each split was collected."),
        fixes=(Fix("check the split for duplicates and for a different source"),
               Fix("hold out a larger validation set (20%)", {"dataset.val_fraction": 0.2})
               if doctor.config is None or doctor.config.dataset.val_fraction < 0.2 else
               Fix("compare on a second, independent test set")))


def one_class_from_test(doctor: DoctorState, test: Mapping[str, Any]) -> Finding | None:
    matrix = test.get("confusion_matrix")
    if not isinstance(matrix, list) or not matrix:
        return None
    try:
        columns = [sum(int(row[j]) for row in matrix) for j in range(len(matrix[0]))]
    except (TypeError, ValueError, IndexError):
        return None
    total = sum(columns)
    if total <= 0:
        return None
    top = max(range(len(columns)), key=columns.__getitem__)
    share = columns[top] / total
    if share < doctor.thresholds.one_class_share or len(columns) < 2:
        return None
    names = test.get("class_names") or getattr(doctor.dataset, "class_names", ()) or ()
    name = names[top] if top < len(names) else str(top)
    return _one_class(doctor, len(doctor.history) or 1,
                      f"on the test split {columns[top]} of {total} predictions ({share * 100:.0f}%) are class "
                      f"{name}")


@epoch_rule
def one_class_in_training(doctor: DoctorState, history: EpochLog) -> Finding | None:
    """Training accuracy pinned to the largest class's share while the classes are imbalanced (on balanced data
    that share is chance, and underfitting says it)."""
    counts = [int(c) for c in (getattr(doctor.dataset, "class_counts", ()) or ())]
    floor = floor_share(doctor)
    acc = history.recent(accuracy_key(history), 2)
    if not (counts and floor and acc) or len(history) < 2 or floor < 1.5 / len(counts):
        return None
    if not all(abs(a - floor) < 0.01 for a in acc[-2:]):
        return None
    return _one_class(doctor, len(history) - 1, f"training accuracy {acc[-2]:.3f}, {acc[-1]:.3f} in the last two "
                                            f"epochs = the largest class's share {floor:.3f}")


def _one_class(doctor: DoctorState, epoch: int, evidence: str) -> Finding:
    config = doctor.config
    fixes: list[Fix] = []
    if config is not None and config.training.class_weight != "balanced":
        counts = [int(c) for c in (getattr(doctor.dataset, "class_counts", ()) or ())]
        if counts and min(counts) > 0 and max(counts) / min(counts) > doctor.thresholds.imbalance_ratio:
            fixes.append(Fix("weight the loss by class (balanced)", {"training.class_weight": "balanced"}))
    if config is not None:
        weaken = weaken_regularization(config, 10)
        r = config.regularization
        if weaken is not None and (r.l1 or r.l2 or r.activity_l1 or r.activity_l2):
            fixes.append(weaken)
        lr = float(config.optimizer.learning_rate)
        if lr >= plausible_lr(config.optimizer.name)[1] / 10:  # only a rate in the upper part of its range
            fixes.append(Fix(f"divide the learning rate by 10 ({lr:g} → {lr / 10:.3g})",
                             {"optimizer.learning_rate": float(f"{lr / 10:.3g}")}))
        if not config.dataset.rescale:
            fixes.insert(0, Fix("scale the pixels to [0, 1] in the model's first layer", {"dataset.rescale": True}))
    return Finding(
        id="one_class", severity="warning", epoch=max(1, epoch),
        title="Every prediction is one class",
        evidence=evidence,
        explanation=("The network answers the same class whatever the image: its output no longer depends on "
                     "the input. Usually the first steps were so large (a high learning rate, raw 0–255 pixels) "
                     "that the hidden units died or saturated and only the output bias is left, which learns "
                     "the most common class."),
        fixes=tuple(fixes) or (Fix("check that the labels match the images"),))


