"""underfitting: stuck near chance, the loss not moving from where training starts."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    ACTIVATION_FIX, BATCH_NORM_FIX, RESCALE_FIX, Finding, Fix, _chance_loss, _data_loss, _finite, _lower_lr, _lr,
    _series, epoch_rule, DoctorState,
)

@epoch_rule
def _underfitting(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
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
