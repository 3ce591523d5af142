"""Findings knowable before training: wrong_loss, unscaled_input, class_imbalance, implausible_lr,
small_validation, flip_augment."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    ADAPTIVE, BATCH_NORM_FIX, RESCALE_FIX, Finding, Fix, Thresholds, _finite, _num, no_flip_datasets,
    plausible_lr, preflight_rule,
)

def _wrong_loss(config: Any, classes: int | None, epoch: int = 0,
                logs: Mapping[str, float] | None = None) -> Finding | None:
    if config is None:
        return None
    loss, out = config.training.loss, config.model.output_activation
    multi = classes != 2
    k = f"{classes} classes" if classes else "several classes"
    mse = False
    if loss == "binary_crossentropy" and multi:
        what = (f"training.loss = binary_crossentropy on a single-label problem with {k}: each output is "
                f"scored as a separate yes/no question, and Keras' \"accuracy\" becomes binary accuracy (the share "
                f"of right yes/no answers)")
        if classes:
            what += f", which scores {1 - 1 / classes:.2f} for answering \"no\" to every class"
    elif loss == "mean_squared_error":
        mse = True
        what = (f"training.loss = mean_squared_error for classifying {k}: the squared error of a probability "
                "is a regression loss; its gradient vanishes when a softmax output is confidently wrong, so "
                "training is slow and stalls")
    elif out == "sigmoid" and loss != "binary_crossentropy" and multi:
        what = (f"model.output_activation = sigmoid with {loss} on {k}: the outputs are not a probability "
                "distribution over the classes, so the loss and the predicted probabilities are wrong")
    else:
        return None
    if logs is not None:
        acc, val, true = logs.get("accuracy"), logs.get("val_accuracy"), logs.get("class_accuracy")
        what += (f". Confirmed in epoch {epoch}: reported accuracy {_num(acc)} (validation {_num(val)})"
                 + (f" while {true:.3f} of the images get the right class" if true is not None else ""))
    change: dict[str, Any] = {"training.loss": "categorical_crossentropy"}
    if out != "auto":
        change["model.output_activation"] = "auto"
    if mse:
        explanation = ("Each image has exactly one class: a softmax output trained with categorical "
                       "cross-entropy gives a gradient proportional to how wrong the answer is. Mean squared "
                       "error on probabilities flattens that gradient exactly where the network is most wrong, so "
                       "it learns slowly or not at all; its loss values are also not comparable with "
                       "cross-entropy's.")
    else:
        explanation = ("Each image has exactly one class, so the output should be a softmax (probabilities that "
                       "add up to 1) trained with categorical cross-entropy. With binary cross-entropy the network "
                       "itself usually trains fine; what misleads is the number: Keras' \"accuracy\" becomes binary "
                       "accuracy, which counts the easy \"no\"s and reads about 0.9 for 10 classes from the first "
                       "epoch whatever the network does. Look at class_accuracy (the share of images whose top "
                       "output is their class), and switch the loss so the numbers mean what they say.")
    return Finding(
        id="wrong_loss", severity="error" if not mse else "warning", epoch=epoch,
        title="Wrong loss for a multi-class problem" if not mse else "Mean squared error used for classification",
        evidence=what, explanation=explanation,
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
        fixes=(RESCALE_FIX,) + (() if config.model.batch_norm else (BATCH_NORM_FIX,)))


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



@preflight_rule
def _wrong_loss_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _wrong_loss(config, classes)


@preflight_rule
def _unscaled_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _unscaled(config)


@preflight_rule
def _imbalance_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _imbalance(config, dataset, t) if dataset is not None else None



@preflight_rule
def _implausible_lr(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    if config is None:
        return None
    lr, opt = float(config.optimizer.learning_rate), config.optimizer.name
    low, high = plausible_lr(opt)
    if low <= lr <= high:
        return None
    target = float(f"{(low * high) ** 0.5 if opt == 'adadelta' else (1e-3 if opt in ADAPTIVE else 0.01):.3g}")
    if opt == "adadelta":
        target = 1.0
    direction = "high" if lr > high else "low"
    return Finding(
        id="implausible_lr", severity="warning", epoch=0,
        title=f"Learning rate {lr:g} is implausibly {direction} for {opt}",
        evidence=(f"optimizer.learning_rate = {lr:g} with {opt}, whose useful range is about {low:g} to {high:g}"
                  + ("; adaptive optimizers scale each step themselves, so rates meant for SGD overshoot"
                     if direction == "high" and opt in ADAPTIVE else "")),
        explanation=("Each optimizer has its own scale of learning rate: Adam and its relatives work around "
                     "1e-3, plain SGD around 0.01–0.1, Adadelta around 1.0. Far above the range the first steps "
                     "overshoot (divergence, dead units, one class for everything); far below it nothing moves "
                     "within the epochs you have."),
        fixes=(Fix(f"use {target:g}, typical for {opt}", {"optimizer.learning_rate": target}),
               Fix("find it with the learning-rate range test (the range test screen)")))


@preflight_rule
def _small_validation(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    n = getattr(dataset, "val", None)
    if config is None or not isinstance(n, int) or n <= 0 or n >= t.min_val_samples:
        return None
    half = 1.96 * math.sqrt(0.25 / n)
    fixes = []
    fraction = float(config.dataset.val_fraction)
    target = round(min(0.3, max(0.2, fraction * 2)), 2)
    if target > fraction:
        fixes.append(Fix(f"hold out more for validation (dataset.val_fraction {fraction:g} → {target:g})",
                         {"dataset.val_fraction": target}))
    if config.dataset.train_size:
        fixes.append(Fix("use all the training data (dataset.train_size → all)", {"dataset.train_size": 0}))
    return Finding(
        id="small_validation", severity="warning", epoch=0,
        title=f"Validation split too small to trust ({n} samples)",
        evidence=(f"{n} validation samples: an accuracy measured on them is uncertain by up to ±{half * 100:.0f} "
                  f"points (95% interval), so epoch-to-epoch changes, early stopping and the best checkpoint "
                  f"follow noise (under {t.min_val_samples} samples)"),
        explanation=("Every decision the run makes from validation numbers (is it overfitting, which epoch is "
                     "best, does it match the test set) needs a validation set large enough that one or two "
                     "images do not swing the accuracy by whole points."),
        fixes=tuple(fixes) or (Fix("collect more labelled data"),))


@preflight_rule
def _flip_augment(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    r = config.regularization if config is not None else None
    if r is None or not (r.augment and r.flip) or config.dataset.name not in no_flip_datasets():
        return None
    return Finding(
        id="flip_augment", severity="warning", epoch=0,
        title=f"Horizontal flips on {config.dataset.name}: a mirrored digit is another symbol",
        evidence=(f"regularization.augment = true with regularization.flip = true on {config.dataset.name}: half "
                  "the training images are mirrored, and a mirrored 2, 3, 4, 5, 6, 7 or 9 is not that digit"),
        explanation=("Augmentation should only make changes that keep the label: a cat mirrored is still a cat, "
                     "a digit mirrored is not. Training on mirrored digits teaches the network wrong shapes; keep "
                     "shifts and small rotations, drop flips."),
        fixes=(Fix("keep augmentation, without flips", {"regularization.flip": False}),))
