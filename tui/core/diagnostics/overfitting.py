"""overfitting (better on the training data, worse on unseen data) and overconfidence (validation loss rising
while validation accuracy still improves: the network is more sure of its answers, not more wrong)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    THRESHOLDS, DoctorState, EpochLog, Extremes, Finding, Fix, Thresholds, accuracy_key, augment_fix, epoch_rule,
    stronger, tracker,
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


@tracker
class ValLossBest:
    """val_loss's best epoch so far (its first lowest value) and that epoch's row, with validation accuracy
    summed over the epochs since: what a rising validation loss is judged on, without the epochs between."""

    def __init__(self, t: Thresholds) -> None:
        self.best = 0
        self.row: Mapping[str, float] = {}
        self.since = 0.0  # the sum of val_accuracy after the best epoch...
        self.since_n = 0  # ...over this many epochs

    def add(self, log: EpochLog) -> None:
        if not log.has("val_loss"):
            return  # (once missing, the series is gone for good)
        row = log[-1]
        if len(log) == 1 or float(row["val_loss"]) < float(self.row["val_loss"]):
            self.best, self.row, self.since, self.since_n = len(log) - 1, row, 0.0, 0
        elif "val_accuracy" in row:
            self.since += float(row["val_accuracy"])
            self.since_n += 1

    def mean_since(self) -> float:
        return self.since / self.since_n if self.since_n else float("nan")


@tracker
class AccuracyGap:
    """How many epochs the train/validation accuracy gap has been above `acc_gap` (and its size when it got
    there), and the best validation accuracy before the last `gap_epochs` epochs."""

    def __init__(self, t: Thresholds) -> None:
        self.t = t
        self.run = 0
        self.start = 0.0  # the gap at the first epoch of the run
        self.older = Extremes(t.gap_epochs, highest=True)

    def add(self, log: EpochLog) -> None:
        if not (log.has("accuracy") and log.has("val_accuracy")):
            return
        row = log[-1]
        gap = float(row["accuracy"]) - float(row["val_accuracy"])
        if gap <= self.t.acc_gap:
            self.run = 0
        else:
            self.run += 1
            if self.run == 1:
                self.start = gap
        self.older.push(float(row["val_accuracy"]))

    def stalled(self, now: float) -> bool:
        """Validation accuracy `now` is no new best against the epochs before the last `gap_epochs`."""
        g = self.t.gap_epochs
        return now <= (self.older.before(g) if g and self.older.count > g else self.older.first)  # type: ignore


def _rising_val_loss(history: EpochLog, best: ValLossBest, t: Thresholds,
                     n_val: int | None = None) -> tuple[int, int] | None:
    """(best epoch index, last index) when val_loss rose for `rising_epochs` after its best while training loss
    kept falling, by more than `min_rise` of its best and, when the validation split's size `n_val` is known, by
    more than its noise (`rise_z`); None otherwise."""
    if not (history.has("loss") and history.has("val_loss") and len(history) > t.rising_epochs):
        return None
    last, at = history[-1], best.row
    after = len(history) - 1 - best.best
    rise = float(last["val_loss"]) - float(at["val_loss"])
    if not (after >= t.rising_epochs
            and rise > rise_needed(history, best, t, n_val) * abs(float(at["val_loss"]))
            and float(last["loss"]) < float(at["loss"])):
        return None
    return best.best, len(history) - 1


def rise_needed(history: EpochLog, best: ValLossBest, t: Thresholds, n_val: int | None) -> float:
    """The relative rise of val_loss above its best that is more than noise: `min_rise`, or 2/√k when the loss is
    carried by k wrong validation images (Thresholds.rise_z), whichever is larger."""
    key = "val_" + accuracy_key(history)
    if not (n_val and history.has(key)):
        return t.min_rise
    wrong = max(1.0, (1 - max(float(best.row[key]), float(history[-1][key]))) * n_val)
    return max(t.min_rise, t.rise_z / math.sqrt(wrong))


def accuracy_fell(p: float, since_mean: float, n_val: int | None, t: Thresholds = THRESHOLDS) -> bool:
    """Validation accuracy got worse after val_loss's best epoch: its mean over the epochs since (`since_mean`,
    NaN when there are none) is below its value `p` then by more than `rise_z` standard errors of an accuracy on
    `n_val` images (sqrt(p(1 - p) / n); none when the split size is unknown). The mean of three or more epochs,
    not the last one alone, and beyond noise: on a split of any size one epoch dips by a few images, and a run
    whose accuracy holds or creeps up while its loss rises is more confident, not worse on unseen data (MNIST at
    momentum SGD: 0.958 at the best, 0.959-0.962 since)."""
    if math.isnan(since_mean):
        return False
    noise = t.rise_z * math.sqrt(max(p * (1 - p), 0.0) / n_val) if n_val else 0.0
    return since_mean < p - noise if n_val else since_mean <= p


def detect_overfitting(history: Sequence[Mapping[str, float]], t: Thresholds = THRESHOLDS,
                       config: Any = None, n_val: int | None = None) -> Finding | None:
    """Overfitting from epoch logs (one mapping per epoch with loss/val_loss and, if present, accuracies). A rising
    validation loss counts only when validation accuracy did not improve with it (else: overconfidence) and the
    rise is more than the noise of `n_val` validation images (when known)."""
    log, best, gap = EpochLog(), ValLossBest(t), AccuracyGap(t)
    for h in history:
        log.append(h)
        best.add(log)
        gap.add(log)
    return _judge_overfitting(log, best, gap, t, config, n_val)


def _judge_overfitting(history: EpochLog, best_loss: ValLossBest, gap_run: AccuracyGap, t: Thresholds,
                       config: Any, n_val: int | None) -> Finding | None:
    if not history:
        return None
    last = history[-1]
    has_loss = history.has("loss") and history.has("val_loss")
    has_val_acc = history.has("val_accuracy")
    has_acc = history.has("accuracy") and has_val_acc
    candidates: list[tuple[int, str]] = []

    rising = _rising_val_loss(history, best_loss, t, n_val)
    if rising and has_loss:
        best, at = rising[0], best_loss.row
        if not has_val_acc or accuracy_fell(float(at["val_accuracy"]), best_loss.mean_since(), n_val, t):
            candidates.append((best + 2, (
                f"val_loss rose from {float(at['val_loss']):.4f} (epoch {best + 1}, its best) to "
                f"{float(last['val_loss']):.4f} (epoch {len(history)}) while training loss fell from "
                f"{float(at['loss']):.4f} to {float(last['loss']):.4f}"
                + (f" and val_accuracy fell ({float(at['val_accuracy']):.3f} → {float(last['val_accuracy']):.3f}, "
                   f"{best_loss.mean_since():.3f} on average since)"
                   if has_val_acc else ""))))

    if has_acc and len(history) >= t.gap_epochs:
        acc, val_acc = float(last["accuracy"]), float(last["val_accuracy"])
        gap, run = acc - val_acc, gap_run.run
        # ...not closing (a gap that holds once training accuracy reaches 100 % is memorising as much as one that
        # grows), and validation accuracy stopped improving (a new best while the gap grows is overconfidence or
        # just a fast learner, not memorising)
        stalled = gap_run.stalled(val_acc)
        # ...or the training set is learnt by heart: every training image right at a tenth of the validation loss,
        # whatever fraction of a point validation accuracy still gains an epoch
        memorised = has_loss and acc >= MEMORISED and float(last["loss"]) * 10 < float(last["val_loss"])
        held = gap >= gap_run.start - GAP_TOLERANCE
        if run >= t.gap_epochs and (memorised or (held and stalled)):
            first = len(history) - run
            candidates.append((first + 1, (
                f"accuracy {acc:.3f} on training vs {val_acc:.3f} on validation at epoch {len(history)}: "
                f"a gap of {gap * 100:.1f} points, above {t.acc_gap * 100:.0f} since epoch {first + 1} "
                + ("and not closing, while " if held else "while ")
                + (f"training loss {float(last['loss']):.4f} is under a tenth of validation loss "
                   f"{float(last['val_loss']):.4f}: the training set is learnt by heart" if memorised and not stalled
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
def _overfitting(doctor: DoctorState, history: EpochLog) -> Finding | None:
    return _judge_overfitting(history, doctor.track(ValLossBest), doctor.track(AccuracyGap), doctor.thresholds,
                              doctor.config, _n_val(doctor))


def _n_val(doctor: DoctorState) -> int | None:
    """The validation split's size, when the dataset is known."""
    n = getattr(doctor.dataset, "val", None)
    return int(n) if n else None


@epoch_rule
def _overconfidence(doctor: DoctorState, history: EpochLog) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    track = doctor.track(ValLossBest)
    rising = _rising_val_loss(history, track, t, _n_val(doctor))
    if not (rising and history.has("val_accuracy") and history.has("val_loss")):
        return None
    best, last = rising
    at, now = track.row, history[-1]
    if accuracy_fell(float(at["val_accuracy"]), track.mean_since(), _n_val(doctor), t):
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
        evidence=(f"val_loss rose from {float(at['val_loss']):.4f} (epoch {best + 1}, its best) to "
                  f"{float(now['val_loss']):.4f} (epoch {last + 1}) while val_accuracy held or improved: "
                  f"{float(at['val_accuracy']):.3f} then, {float(now['val_accuracy']):.3f} now "
                  f"({track.mean_since():.3f} on average since)"),
        explanation=("The network gets more images right on unseen data while the few it gets wrong, it gets "
                     "wrong with more confidence: cross-entropy punishes a confident mistake heavily, so the "
                     "validation loss rises. That is not memorising. Early stopping on val_loss would now keep "
                     "an earlier, less accurate epoch; watch val_accuracy instead."),
        fixes=tuple(fixes))
