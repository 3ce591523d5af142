"""The training doctor: findings such as overfitting, with the epoch they start, the numbers that show them,
what they mean and fixes that apply to the configuration. Rules over the event stream, UI-free, so the app,
the headless command and the summary agree.

Contract shared with the app:
- :class:`Finding` (``id`` one of :data:`FINDING_IDS`) with :class:`Fix` items whose ``changes`` are
  ``{"section.key": value}`` applied with :func:`apply_fix` (``ExperimentConfig.with_values``).
- :class:`Doctor` folds events (``observe``) into the current findings; the session emits them as
  ``events.Diagnosis`` whenever they change and saves them in ``summary.json["findings"]``.
- :func:`preflight` checks a configuration before training (no TensorFlow needed).

All thresholds live in :class:`Thresholds` (documented in README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from typing_extensions import TypeGuard

FINDING_IDS = (
    "overfitting", "underfitting", "divergence", "vanishing_gradients", "exploding_gradients", "wrong_loss",
    "unscaled_input", "plateau", "val_test_gap", "class_imbalance", "regularization_dominates",
)
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Thresholds:
    """When the doctor speaks up. Each value is a trade-off between saying it early and crying wolf on a healthy
    run (every healthy scenario preset in presets/scenarios/ must stay silent with these values)."""

    rising_epochs: int = 3
    """Validation loss has stayed above its best for this many epochs after the best one... (one or two epochs
    up are noise from the order of the batches; three in a row is a trend)"""
    min_rise: float = 0.02
    """...and now exceeds the best by at least this fraction (2%), while training loss kept falling."""
    acc_gap: float = 0.10
    """Training accuracy exceeds validation accuracy by more than this (10 points)... (a few points of gap are
    normal, dropout and augmentation even make it negative; ten points is memorising)"""
    gap_epochs: int = 2
    """...for this many consecutive epochs, with the gap wider at the end than at the start."""
    chance_margin: float = 0.05
    """Underfitting: training accuracy within this many points of chance (1/classes)... (a network that learns
    anything at all leaves chance by more than 5 points within an epoch or two)"""
    chance_epochs: int = 3
    """...for this many epochs in a row (the first epoch alone may just be slow to start)."""
    flat_loss: float = 0.01
    """Training loss "not moving": changed by less than this fraction (1%) from one epoch to the next. Healthy
    runs improve by several percent per epoch until they converge, far below the starting loss."""
    flat_epochs: int = 3
    """...for this many epochs in a row while still above `start_loss_share` of the chance-level loss."""
    start_loss_share: float = 0.8
    """"Still near the start": the training loss is above this share (80%) of ln(classes), the loss of a
    network that outputs the uniform distribution (where cross-entropy training starts)."""
    blowup_factor: float = 10.0
    """Divergence: loss above this many times ln(classes) (23 for 10 classes). A sane output layer starts near
    1× and only huge logits (raw pixels, a learning rate far too high) get anywhere near 10×."""
    growth_factor: float = 100.0
    """Divergence: loss grew this much (two orders of magnitude) above its lowest value so far and is worse than
    guessing; Adam's occasional bumps stay within one order."""
    vanishing_ratio: float = 1e-2
    """Vanishing gradients: the first layer's gradient norm is below this fraction of the last layer's (two
    orders of magnitude). In healthy networks the two are within a factor of a few (0.3–3 on the scenario
    presets), the first layer usually ahead as it has the most weights; the classic sigmoid MLP with std-0.01
    init sits near 1e-3 on MNIST and far below with more layers."""
    vanishing_flat: float = 0.05
    """...while the loss is flat: it improved by less than this fraction (5%) over the epoch."""
    exploding_norm: float = 1e3
    """Exploding gradients: a layer's gradient norm above this (or not finite). Cross-entropy gradients of a
    sanely scaled network are of order 0.01–10 per layer."""
    plateau_epochs: int = 5
    """Plateau: the monitored metric has not improved for this many epochs (Keras' EarlyStopping default
    patience in this app's form)..."""
    plateau_delta: float = 0.005
    """...where an improvement is a change of at least this fraction (0.5%) of its best value; smaller ones are
    the noise of a converged run."""
    val_test_gap: float = 0.10
    """Validation accuracy above test accuracy by more than this (10 points): three standard errors of the
    difference for the few hundred samples of the smallest splits here, so not chance."""
    imbalance_ratio: float = 2.0
    """Class imbalance: the largest class has more than this many times the samples of the smallest. MNIST's
    1.24 is harmless; at 2:1 and beyond, always guessing the big classes already scores well."""
    penalty_share: float = 0.5
    """Regularization dominates: the weight penalty is more than this share (half) of the reported loss."""


THRESHOLDS = Thresholds()

@dataclass(frozen=True)
class Fix:
    """One thing to try. ``changes`` (``{"section.key": value}``) is what applying it does to the set-up;
    empty for advice that no configuration key expresses."""

    label: str
    changes: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "changes": dict(self.changes)}


OVERFIT_FIXES = (
    Fix("add dropout 0.3 after the dense layers", {"model.dropout": 0.3}),
    Fix("add L2 weight decay 1e-4", {"regularization.l2": 1e-4}),
    Fix("turn on augmentation", {"regularization.augment": True}),
    Fix("stop early and keep the best weights", {"training.early_stopping": True, "training.restore_best": True}),
    Fix("use a smaller model (fewer filters or units)"),
    Fix("train on all the data", {"dataset.train_size": 0}),
)


@dataclass(frozen=True)
class Finding:
    id: str  # one of FINDING_IDS
    severity: str  # one of SEVERITIES
    epoch: int  # first epoch (1-based) the finding applies to; 0 = before training
    title: str
    evidence: str
    explanation: str
    fixes: tuple[Fix, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "epoch": self.epoch, "title": self.title,
                "evidence": self.evidence, "explanation": self.explanation,
                "fixes": [f.as_dict() for f in self.fixes]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Finding":
        """The inverse of :meth:`as_dict`, for findings read back from a run's summary.json (raises KeyError,
        TypeError or ValueError on a malformed entry)."""
        fixes = tuple(Fix(f["label"], dict(f.get("changes") or {})) if isinstance(f, Mapping) else Fix(str(f))
                      for f in d.get("fixes", []))
        return cls(str(d["id"]), str(d.get("severity", "warning")), int(d.get("epoch", 0)), str(d["title"]),
                   str(d.get("evidence", "")), str(d.get("explanation", "")), fixes)


def _series(history: Sequence[Mapping[str, float]], key: str) -> list[float] | None:
    values = [h.get(key) for h in history]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values]  # type: ignore[arg-type]


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


# -- helpers ------------------------------------------------------------------------------------------------------

def _finite(v: Any) -> TypeGuard[float]:
    return v is not None and math.isfinite(v)


def _num(v: Any) -> str:
    return f"{v:.3f}" if v is not None else "–"


def _chance_loss(classes: int | None) -> float | None:
    """Cross-entropy of the uniform guess, ln(classes): where training starts."""
    return math.log(classes) if classes and classes > 1 else None


def _data_loss(h: Mapping[str, float]) -> float | None:
    """The loss without the weight penalty (``data_loss`` when the run logged it)."""
    v = h.get("data_loss", h.get("loss"))
    return float(v) if v is not None else None


def _lr(config: Any) -> float:
    return float(config.optimizer.learning_rate) if config is not None else 0.001


def _lower_lr(config: Any, label: str = "divide the learning rate by 10") -> Fix:
    lr = _lr(config)
    return Fix(f"{label} ({lr:g} → {lr / 10:g})", {"optimizer.learning_rate": lr / 10})


ACTIVATION_FIX = Fix("switch the activation to relu and the initializer to he_normal",
                     {"model.activation": "relu", "model.kernel_initializer": "he_normal"})
CLIP_FIX = Fix("clip gradients to norm 1.0", {"optimizer.clipnorm": 1.0})
BATCH_NORM_FIX = Fix("add batch normalization after each layer", {"model.batch_norm": True})
RESCALE_FIX = Fix("scale the pixels to [0, 1] in the model's first layer", {"dataset.rescale": True})


# -- the rules over the epoch history ---------------------------------------------------------------------------

def _underfitting(doctor: "Doctor", history: Sequence[Mapping[str, float]]) -> Finding | None:
    t, config, classes = doctor.thresholds, doctor.config, doctor.classes
    evidence, start = "", None
    key = "class_accuracy" if "class_accuracy" in history[-1] else "accuracy"
    acc = _series(history, key)
    if acc and classes and len(acc) >= t.chance_epochs:
        chance = 1 / classes
        run = 0
        for a in reversed(acc):
            if abs(a - chance) > t.chance_margin:
                break
            run += 1
        if run >= t.chance_epochs:
            start = len(acc) - run + 1
            evidence = (f"training accuracy {', '.join(f'{a:.3f}' for a in acc[-run:])} in epochs {start}–"
                        f"{len(acc)}: within {t.chance_margin * 100:.0f} points of chance (1/{classes} = "
                        f"{chance:.3f})")
    losses = [_data_loss(h) for h in history]
    ref = _chance_loss(classes)
    if not evidence and ref and len(losses) > t.flat_epochs and all(_finite(v) for v in losses):
        run = 0
        for prev, cur in zip(reversed(losses[:-1]), reversed(losses[1:])):
            if abs(cur - prev) >= t.flat_loss * abs(prev) or cur < t.start_loss_share * ref:  # type: ignore
                break
            run += 1
        if run >= t.flat_epochs:
            start = len(losses) - run
            evidence = (f"training loss {losses[start - 1]:.4f} at epoch {start} and {losses[-1]:.4f} at epoch "
                        f"{len(losses)}: under {t.flat_loss * 100:.0f}% change per epoch, still near the "
                        f"{ref:.3f} of guessing")
    if not evidence or start is None:
        return None
    fixes, causes = [], []
    if config is not None:
        r, m = config.regularization, config.model
        lr, opt = _lr(config), config.optimizer.name
        if r.l1 >= 1e-3 or r.l2 >= 1e-2 or r.activity_l2 > 0 or m.dropout >= 0.5:
            causes.append("regularization too strong")
            change: dict[str, Any] = {}
            if r.l1:
                change["regularization.l1"] = r.l1 / 100
            if r.l2:
                change["regularization.l2"] = r.l2 / 100
            if r.activity_l2:
                change["regularization.activity_l2"] = 0.0
            if m.dropout >= 0.5:
                change["model.dropout"] = 0.2
            fixes.append(Fix("weaken the regularization (penalties ÷ 100, dropout 0.2)", change))
        if m.activation in ("sigmoid", "tanh") and m.kernel_initializer in ("normal", "glorot_normal",
                                                                            "glorot_uniform"):
            causes.append(f"{m.activation} layers saturating (vanishing gradients)")
            fixes.append(ACTIVATION_FIX)
        if not config.dataset.rescale:
            causes.append("unscaled 0–255 input")
            fixes.append(RESCALE_FIX)
        low = 1e-4 if opt in ("adam", "amsgrad", "nadam", "adamw", "rmsprop") else 1e-3
        high = 1e-2 if opt in ("adam", "amsgrad", "nadam", "adamw", "rmsprop") else 0.5
        if lr < low:
            causes.append(f"learning rate {lr:g} far too low for {opt}")
            fixes.append(Fix(f"raise the learning rate ×10 ({lr:g} → {lr * 10:g})",
                             {"optimizer.learning_rate": lr * 10}))
        elif lr >= high:
            causes.append(f"learning rate {lr:g} so high the network collapsed (dead ReLUs, one class for all)")
            fixes.append(_lower_lr(config))
            if m.activation == "relu":
                fixes.append(Fix("use leaky_relu, which cannot die", {"model.activation": "leaky_relu"}))
    if not fixes:
        fixes.append(BATCH_NORM_FIX)
        fixes.append(Fix("use a bigger model (more filters or units) or train longer"))
    return Finding(
        id="underfitting", severity="warning", epoch=start,
        title=f"Not learning (stuck near chance) from epoch {start}",
        evidence=evidence + (f". Likely cause: {'; '.join(causes)}" if causes else ""),
        explanation=("The network does no better than guessing: its weights are not moving in a useful "
                     "direction. Too strong a penalty, a learning rate far too low (or so high that it "
                     "knocked every unit out), saturated sigmoids or a network that answers one class for "
                     "every image all look like this."),
        fixes=tuple(fixes))


def _divergence_fixes(config: Any) -> tuple[Fix, ...]:
    fixes = [_lower_lr(config)]
    if config is not None and not config.dataset.rescale:
        fixes.insert(0, RESCALE_FIX)
    if config is None or not config.optimizer.clipnorm:
        fixes.append(CLIP_FIX)
    if config is None or not config.model.batch_norm:
        fixes.append(BATCH_NORM_FIX)
    return tuple(fixes)


def _divergence(doctor: "Doctor", epoch: int, where: str, loss: float | None,
                history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    ref = _chance_loss(doctor.classes)
    if loss is None:
        return None
    if not math.isfinite(loss):
        evidence = f"loss became {loss} in {where}"
    elif ref and loss > t.blowup_factor * ref:
        evidence = (f"loss {loss:.4g} in {where}: over {t.blowup_factor:g}× the {ref:.3f} of guessing among "
                    f"{doctor.classes} classes")
    else:
        lows = [v for v in (_data_loss(h) for h in history) if _finite(v)]
        low = min(lows) if lows else None
        if not (low and loss > t.growth_factor * low and (ref is None or loss > ref)):
            return None
        evidence = f"loss {loss:.4g} in {where}: {loss / low:.0f}× its lowest value so far ({low:.4g})"
    config = doctor.config
    causes = ["the learning rate is too high" + (f" ({_lr(config):g})" if config is not None else "")]
    if config is not None and not config.dataset.rescale:
        causes.insert(0, "the input is unscaled 0–255 pixels")
    if config is None or not config.optimizer.clipnorm:
        causes.append("no gradient clipping")
    return Finding(
        id="divergence", severity="error", epoch=epoch, title=f"Training diverged in epoch {epoch}",
        evidence=f"{evidence}; training was stopped at once. Likely causes: {', '.join(causes)}",
        explanation=("Each step made the weights worse instead of better, so the loss ran away (or overflowed "
                     "to NaN). The steps are too big for this network: a high learning rate, inputs in the "
                     "hundreds instead of 0–1, or one huge gradient with nothing to clip it."),
        fixes=_divergence_fixes(config))


def _split_loss(h: Mapping[str, float]) -> str:
    loss, penalty = h.get("loss", math.nan), h.get("penalty", math.nan)
    return (f"loss {loss:.4f} = data loss {loss - penalty:.4f} + penalty {penalty:.4f} "
            f"({penalty / loss * 100 if loss else math.nan:.0f}%)")


def _regularization(doctor: "Doctor", history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    for i, h in enumerate(history):
        loss, penalty = h.get("loss"), h.get("penalty")
        if _finite(loss) and _finite(penalty) and loss > 0 and penalty > t.penalty_share * loss:
            last = history[-1]
            epoch = i + 1
            fixes = []
            config = doctor.config
            if config is not None:
                r = config.regularization
                change = {k: v / 10 for k, v in (("regularization.l1", r.l1), ("regularization.l2", r.l2)) if v}
                if change:
                    fixes.append(Fix("weaken the weight penalty ÷ 10", change))
                fixes.append(Fix("remove the weight penalty, use dropout instead",
                                 {"regularization.l1": 0.0, "regularization.l2": 0.0, "model.dropout": 0.3}))
            return Finding(
                id="regularization_dominates", severity="warning", epoch=epoch,
                title=f"The weight penalty dominates the loss from epoch {epoch}",
                evidence=(f"epoch {epoch}: {_split_loss(h)}; epoch {last.get('epoch', len(history)):.0f}: "
                          f"{_split_loss(last)}"),
                explanation=("The loss you see is mostly the L1/L2 penalty on the weights, not the error on the "
                             "data: the optimizer spends its effort shrinking weights instead of fitting the "
                             "images. A loss of 4 at 50% accuracy is this, not a broken network."),
                fixes=tuple(fixes) or (Fix("weaken the weight penalty"),))
    return None


def _plateau(doctor: "Doctor", history: Sequence[Mapping[str, float]]) -> Finding | None:
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


def _wrong_loss(config: Any, classes: int | None, epoch: int = 0,
                logs: Mapping[str, float] | None = None) -> Finding | None:
    if config is None:
        return None
    loss, out = config.training.loss, config.model.output_activation
    multi = classes != 2
    k = f"{classes} classes" if classes else "several classes"
    if loss == "binary_crossentropy" and multi:
        what = (f"training.loss = binary_crossentropy on a single-label problem with {k}: each output is "
                f"scored as a separate yes/no question, and Keras' \"accuracy\" becomes binary accuracy (the share "
                f"of right yes/no answers)")
        if classes:
            what += f", which scores {1 - 1 / classes:.2f} for answering \"no\" to every class"
    elif out == "sigmoid" and loss != "binary_crossentropy" and multi:
        what = (f"model.output_activation = sigmoid with {loss} on {k}: the outputs are not a probability "
                "distribution over the classes, so the loss and the predicted probabilities are wrong")
    else:
        return None
    if logs is not None:
        acc, val, true = logs.get("accuracy"), logs.get("val_accuracy"), logs.get("class_accuracy")
        what += (f". Confirmed in epoch {epoch}: reported accuracy {_num(acc)} (validation {_num(val)})"
                 + (f" while only {true:.3f} of the images get the right class" if true is not None else ""))
    change: dict[str, Any] = {"training.loss": "categorical_crossentropy"}
    if out != "auto":
        change["model.output_activation"] = "auto"
    return Finding(
        id="wrong_loss", severity="error", epoch=epoch, title="Wrong loss for a multi-class problem",
        evidence=what,
        explanation=("Each image has exactly one class, so the output should be a softmax (probabilities that "
                     "add up to 1) trained with categorical cross-entropy. Binary cross-entropy treats each "
                     "class as an independent yes/no; its \"accuracy\" then counts the easy \"no\"s and looks "
                     "excellent (about 0.9 for 10 classes) from the first epoch while the network is poor."),
        fixes=(Fix("set the loss to categorical cross-entropy (softmax output)", change),))


def _unscaled(config: Any) -> Finding | None:
    if config is None or config.dataset.rescale:
        return None
    return Finding(
        id="unscaled_input", severity="warning", epoch=0, title="Pixels reach the network unscaled (0–255)",
        evidence=("dataset.rescale = false: the images are uint8, values 0–255, and the model has no "
                  "rescaling layer, so its first layer sees numbers up to 255"),
        explanation=("Weights are initialised for inputs around 0–1. Inputs 255 times larger make the first "
                     "layer's outputs and gradients huge: the loss starts far too high, the steps overshoot and "
                     "the run diverges or collapses to chance."),
        fixes=(RESCALE_FIX, BATCH_NORM_FIX))


def _imbalance(config: Any, dataset: Any, t: Thresholds) -> Finding | None:
    counts = tuple(int(c) for c in getattr(dataset, "class_counts", ()) or ())
    if len(counts) < 2 or max(counts) <= 0:
        return None
    lo, hi = min(counts), max(counts)
    if lo > 0 and hi / lo <= t.imbalance_ratio:
        return None
    names = tuple(getattr(dataset, "class_names", ()) or ()) or tuple(str(i) for i in range(len(counts)))
    per_class = ", ".join(f"{n} {c}" for n, c in zip(names, counts))
    weighted = config is not None and config.training.class_weight == "balanced"
    share = hi / max(1, sum(counts))
    return Finding(
        id="class_imbalance", severity="info" if weighted else "warning", epoch=0,
        title="Classes are imbalanced",
        evidence=(f"samples per class: {per_class}; the largest class has "
                  f"{'no smallest to compare' if lo == 0 else f'{hi / lo:.1f}×'} the smallest"
                  f" (over {t.imbalance_ratio:g}×); always answering the largest class scores {share:.2f}"
                  + ("; training.class_weight = balanced already compensates" if weighted else "")),
        explanation=("Accuracy counts every image once, so the big classes dominate it: a model can score well "
                     "while it fails on the small classes. Look at the per-class recall and the balanced "
                     "accuracy (the mean of the per-class recalls) of the test block, and weight the loss so each "
                     "class counts the same."),
        fixes=() if weighted else (Fix("weight the loss by class (balanced)", {"training.class_weight": "balanced"}),
                                   Fix("collect more images of the small classes, or augment them")))


def _recalls(test: Mapping[str, Any], names: Sequence[str]) -> str:
    """"on the test split: accuracy …, balanced accuracy …, recall per class …" from whatever of these the test
    block holds (``balanced_accuracy``; ``per_class`` as a list or a mapping of {recall}); "" if none."""
    parts = []
    if _finite(test.get("accuracy")):
        parts.append(f"accuracy {test['accuracy']:.3f}")
    if _finite(test.get("balanced_accuracy")):
        parts.append(f"balanced accuracy {test['balanced_accuracy']:.3f}")
    per = test.get("per_class")
    items = list(per.items()) if isinstance(per, Mapping) else list(enumerate(per)) if isinstance(per, list) else []
    recalls = []
    for key, row in items:
        recall = row.get("recall") if isinstance(row, Mapping) else None
        if _finite(recall):
            name = row.get("name") or row.get("class") or (names[key] if isinstance(key, int) and key < len(names)
                                                           else key)
            recalls.append(f"{name} {recall:.2f}")
    if recalls:
        parts.append("recall per class " + ", ".join(recalls))
    return "on the test split: " + ", ".join(parts) if len(parts) > 1 or recalls else ""


def preflight(config: Any, dataset: Any | None = None, t: Thresholds = THRESHOLDS) -> list[Finding]:
    """Findings knowable before training from the configuration (and the DatasetInfo when loaded): wrong_loss,
    unscaled_input, class_imbalance. Pure: no TensorFlow."""
    classes = getattr(dataset, "num_classes", None)
    if classes is None and config is not None:
        from tui.core.datasets import known_shape

        known = known_shape(config.dataset)
        classes = known[1] if known else None
    found = [_wrong_loss(config, classes), _unscaled(config)]
    if dataset is not None:
        found.append(_imbalance(config, dataset, t))
    return _sorted([f for f in found if f is not None])


def apply_fix(config: Any, fix: Fix) -> Any:
    """The configuration with ``fix`` applied (validated; raises ConfigError like any other change)."""
    return config.with_values(fix.changes) if fix.changes else config


def _sorted(found: Iterable[Finding]) -> list[Finding]:
    return sorted(found, key=lambda f: (-SEVERITIES.index(f.severity), f.epoch, FINDING_IDS.index(f.id)))


def most_severe(found: Sequence[Finding]) -> Finding | None:
    """The finding a banner shows: highest severity, then earliest epoch."""
    return min(found, key=lambda f: (-SEVERITIES.index(f.severity), f.epoch), default=None)


SPECIFIC = ("overfitting", "underfitting", "divergence", "vanishing_gradients", "exploding_gradients")
"""Findings that already explain a stalled metric: plateau is not reported beside them."""


class Doctor:
    """Folds a session's events into its current findings (one per id, evidence kept up to date; the epoch a
    finding was first seen stays)."""

    def __init__(self, config: Any = None, thresholds: Thresholds = THRESHOLDS) -> None:
        self.config = config
        self.thresholds = thresholds
        self.dataset: Any = None
        self.history: list[dict[str, float]] = []
        self._found: dict[str, Finding] = {}
        self._ratios: list[float] = []  # first / last layer gradient norm, this epoch
        self._last_norms: tuple[Sequence[str], list[float]] = ((), [])
        self._epoch = 0

    @property
    def classes(self) -> int | None:
        if self.dataset is not None:
            return int(self.dataset.num_classes)
        if self.config is not None:
            from tui.core.datasets import known_shape

            known = known_shape(self.config.dataset)
            return known[1] if known else None
        return None

    @property
    def findings(self) -> list[Finding]:
        return _sorted(self._found.values())

    @property
    def diverged(self) -> Finding | None:
        """The divergence finding, once raised (the session stops the run on it)."""
        return self._found.get("divergence")

    def _put(self, finding: Finding | None) -> None:
        if finding is None:
            return
        old = self._found.get(finding.id)
        if old is not None and old.epoch <= finding.epoch:
            finding = replace(finding, epoch=old.epoch, title=old.title)
        self._found[finding.id] = finding

    def seed(self, history: Sequence[Mapping[str, float]]) -> bool:
        """Replay the epochs of an earlier part of the run (a resumed run), so findings continue."""
        before = dict(self._found)
        for h in history:
            if not h.get("partial"):
                self._epoch_end({k: float(v) for k, v in h.items()})
        return self._found != before

    def observe(self, event: Any) -> bool:
        """Take one event; True when the findings changed."""
        from tui.core.events import BatchEnd, EpochEnd, GradientNorms, RunStarted

        before = dict(self._found)
        if isinstance(event, RunStarted):
            self.config = event.config
            self.dataset = event.dataset
            for f in preflight(self.config, self.dataset, self.thresholds):
                self._found.setdefault(f.id, f)
        elif isinstance(event, BatchEnd):
            self._epoch = event.epoch
            # A batch's loss includes any weight penalty, which may be large by design: then only NaN/inf counts
            # before the epoch's logs separate the two.
            penalized = self.config is not None and (self.config.regularization.l1 or self.config.regularization.l2
                                                     or self.config.regularization.activity_l2)
            if "divergence" not in self._found and (not penalized or not _finite(event.window_loss)):
                self._put(_divergence(self, event.epoch, f"epoch {event.epoch}, batch {event.batch}",
                                      event.window_loss, self.history))
        elif isinstance(event, GradientNorms):
            self._gradients(event)
        elif isinstance(event, EpochEnd) and not event.partial:
            self._epoch_end({"epoch": event.epoch, **event.logs})
        elif isinstance(event, EpochEnd) and not _finite(event.logs.get("loss")):
            self._put(_divergence(self, event.epoch, f"epoch {event.epoch}", event.logs.get("loss"), self.history))
        return self._found != before

    def observe_test(self, test: Mapping[str, Any] | None, val_accuracy: float | None = None) -> bool:
        """Compare the test accuracy (``test["accuracy"]``, the rest of the block is ignored) with the validation
        accuracy (by default the last epoch's); True when the findings changed."""
        before = dict(self._found)
        acc = test.get("accuracy") if isinstance(test, Mapping) else None
        if val_accuracy is None:
            full = [h for h in self.history if _finite(h.get("val_accuracy"))]
            val_accuracy = full[-1]["val_accuracy"] if full else None
        t = self.thresholds
        imbalance = self._found.get("class_imbalance")
        if imbalance is not None and isinstance(test, Mapping) and "on the test split" not in imbalance.evidence:
            extra = _recalls(test, getattr(self.dataset, "class_names", ()))
            if extra:
                self._found["class_imbalance"] = replace(imbalance, evidence=f"{imbalance.evidence}; {extra}")
        if _finite(acc) and _finite(val_accuracy) and val_accuracy - acc > t.val_test_gap:
            n_val = getattr(self.dataset, "val", None)
            n_test = getattr(self.dataset, "test", None)
            sizes = f" ({n_val} validation vs {n_test} test samples)" if n_val and n_test else ""
            self._put(Finding(
                id="val_test_gap", severity="warning", epoch=len(self.history) or 1,
                title="Validation accuracy does not predict test accuracy",
                evidence=(f"validation accuracy {val_accuracy:.3f} vs test accuracy {acc:.3f}{sizes}: "
                          f"{(val_accuracy - acc) * 100:.1f} points apart, over "
                          f"{t.val_test_gap * 100:.0f}"),
                explanation=("The validation set should be a fair sample of the data the model will meet. Here it "
                             "is not: it may be too small (a few dozen images make accuracy jump by whole points), "
                             "it may share images with the training set (leaked), or it comes from a different "
                             "distribution than the test set. Check its size, that no image is in both, and how "
                             "each split was collected."),
                fixes=(Fix("hold out a larger validation set (20%)", {"dataset.val_fraction": 0.2}),
                       Fix("check the split for duplicates and for a different source"))))
        return self._found != before

    # -- rules --------------------------------------------------------------------------------------------
    def _epoch_end(self, logs: dict[str, float]) -> None:
        previous = list(self.history)
        self.history.append(logs)
        epoch = int(logs.get("epoch", len(self.history)))
        self._epoch = epoch
        if "divergence" not in self._found:
            self._put(_divergence(self, epoch, f"epoch {epoch}", _data_loss(logs), previous))
        if epoch == 1 or "wrong_loss" in self._found and "Confirmed" not in self._found["wrong_loss"].evidence:
            accs = [v for v in (logs.get("accuracy"), logs.get("val_accuracy")) if _finite(v)]
            if accs and self.classes and max(accs) >= 1 - 1 / self.classes - self.thresholds.chance_margin:
                self._put(_wrong_loss(self.config, self.classes, epoch, logs))
        self._put(detect_overfitting(self.history, self.thresholds))
        self._put(_underfitting(self, self.history))
        self._put(_regularization(self, self.history))
        self._vanishing(epoch, previous)
        self._ratios = []
        if not any(k in self._found for k in SPECIFIC):
            self._put(_plateau(self, self.history))
        else:
            self._found.pop("plateau", None)

    def _gradients(self, event: Any) -> None:
        norms = [float(n) for n in event.norms]
        if not norms:
            return
        t = self.thresholds
        big = [(name, n) for name, n in zip(event.layers, norms) if not math.isfinite(n) or n > t.exploding_norm]
        if big and "exploding_gradients" not in self._found:
            shown = ", ".join(f"{name} {n:.3g}" for name, n in big[:4])
            config = self.config
            fixes = [f for f in _divergence_fixes(config) if f is not BATCH_NORM_FIX]
            if config is None or not config.optimizer.clipnorm:
                fixes.insert(0, fixes.pop(fixes.index(CLIP_FIX)))
            fixes.append(BATCH_NORM_FIX)
            self._put(Finding(
                id="exploding_gradients", severity="warning", epoch=event.epoch,
                title=f"Exploding gradients in epoch {event.epoch}",
                evidence=(f"gradient norms at epoch {event.epoch}, batch {event.batch}: {shown} (over "
                          f"{t.exploding_norm:g})"),
                explanation=("The gradients are so large that one step moves the weights far past any "
                             "minimum: the loss jumps around or runs away. Clipping caps each step; a smaller "
                             "learning rate, scaled inputs and batch normalization keep gradients in range."),
                fixes=tuple(fixes)))
        if len(norms) >= 2 and norms[-1] > 0 and all(math.isfinite(n) for n in norms):
            self._ratios.append(norms[0] / norms[-1])
            self._last_norms = (event.layers, norms)

    def _vanishing(self, epoch: int, previous: Sequence[Mapping[str, float]]) -> None:
        t = self.thresholds
        if not self._ratios or "vanishing_gradients" in self._found:
            return
        ratios = sorted(self._ratios)
        ratio = ratios[len(ratios) // 2]
        loss = _data_loss(self.history[-1])
        before = _data_loss(previous[-1]) if previous else _chance_loss(self.classes)
        if not (ratio < t.vanishing_ratio and _finite(loss) and before
                and (before - loss) < t.vanishing_flat * before):
            return
        layers, norms = self._last_norms
        config = self.config
        fixes = [ACTIVATION_FIX]
        if config is None or not config.model.batch_norm:
            fixes.append(BATCH_NORM_FIX)
        if config is None or config.model.architecture != "resnet":
            fixes.append(Fix("use residual connections (a ResNet)"))
        if config is None or not config.optimizer.clipnorm:
            fixes.append(Fix("clip gradients to norm 1.0 (guards the opposite problem once they flow)",
                             {"optimizer.clipnorm": 1.0}))
        self._put(Finding(
            id="vanishing_gradients", severity="warning", epoch=epoch,
            title=f"Vanishing gradients in epoch {epoch}",
            evidence=(f"gradient norm of the first layer {layers[0]} {norms[0]:.2e} vs the last {layers[-1]} "
                      f"{norms[-1]:.2e} (median ratio this epoch {ratio:.1e}, under {t.vanishing_ratio:.0e}) "
                      f"while the training loss moved only from {before:.4f} to {loss:.4f}"),
            explanation=("The error signal shrinks each time it passes back through a layer, so the first layers "
                         "hardly learn. Sigmoid and tanh squash their slope to at most 0.25 and 1, and small "
                         "initial weights shrink it further; ReLU with He initialization keeps it near 1, batch "
                         "normalization rescales it and residual connections give it a short-cut."),
            fixes=tuple(fixes)))
