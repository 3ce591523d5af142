"""Findings knowable before training: wrong_loss, unscaled_input, class_imbalance."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    BATCH_NORM_FIX, RESCALE_FIX, Finding, Fix, Thresholds, _finite, _num, preflight_rule,
)

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



@preflight_rule
def _wrong_loss_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _wrong_loss(config, classes)


@preflight_rule
def _unscaled_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _unscaled(config)


@preflight_rule
def _imbalance_rule(config: Any, dataset: Any, classes: int | None, t: Thresholds) -> Finding | None:
    return _imbalance(config, dataset, t) if dataset is not None else None
