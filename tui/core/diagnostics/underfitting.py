"""underfitting (stuck at the floor of guessing, the loss not moving from where training starts) and high_bias
(training and validation accuracy equal, both low and flat: the model is too weak or too constrained)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    BATCH_NORM_FIX, RESCALE_FIX, DoctorState, Finding, Fix, _chance_loss, _data_loss, _finite, _lower_lr, _lr,
    _series, accuracy_key, epoch_rule, fit_line, floor_share, guessing_margin, pace, plausible_lr, pool_group,
    pooled, weaker,
)


def _penalty_share(history: Sequence[Mapping[str, float]]) -> float | None:
    h = history[-1]
    loss, penalty = h.get("loss"), h.get("penalty")
    return penalty / loss if _finite(loss) and _finite(penalty) and loss > 0 else None


def weaken_regularization(config: Any, factor: float = 100) -> Fix | None:
    """Every penalty kind (÷ factor) and dropout weakened from the current values; None when nothing is set."""
    r, m = config.regularization, config.model
    change: dict[str, Any] = {}
    for key, value in (("l1", r.l1), ("l2", r.l2), ("activity_l1", r.activity_l1), ("activity_l2", r.activity_l2)):
        if value:
            change[f"regularization.{key}"] = float(f"{value / factor:.3g}")
    if m.dropout >= 0.3:
        change.update(weaker(config, "model.dropout", 0.1))
    if not change:
        return None
    shown = ", ".join(f"{k.split('.')[1]} {config.get(k):g} → {v:g}" for k, v in change.items())
    return Fix(f"weaken the regularization ({shown})", change)


def ranked_causes(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> list[tuple[float, str, list[Fix]]]:
    """(strength of the evidence, cause, fixes) for a network that does not learn, strongest first. Evidence
    from the run itself (a penalty share, a learning rate far outside its optimizer's range) outweighs what the
    set-up merely makes possible."""
    config = doctor.config
    if config is None:
        return []
    causes: list[tuple[float, str, list[Fix]]] = []
    r, m = config.regularization, config.model
    share = _penalty_share(history)
    weaken = weaken_regularization(config)
    if weaken is not None:
        strength = 3.0 if share is not None and share > doctor.thresholds.penalty_share else (
            1.5 if r.l1 >= 1e-3 or r.l2 >= 1e-2 or r.activity_l1 or r.activity_l2 or m.dropout >= 0.5 else 0.0)
        if strength:
            what = f"the penalty is {share * 100:.0f}% of the loss" if share is not None else "strong settings"
            causes.append((strength, f"regularization too strong ({what})", [weaken]))
    lr, opt = _lr(config), config.optimizer.name
    low, high = plausible_lr(opt)
    if lr < low:
        causes.append((2.5, f"learning rate {lr:g} far too low for {opt} (plausible from {low:g})",
                       [Fix(f"raise the learning rate ×10 ({lr:g} → {lr * 10:g})",
                            {"optimizer.learning_rate": float(f"{lr * 10:.3g}")})]))
    elif lr > high:
        fixes = [_lower_lr(config)]
        if m.activation == "relu":
            fixes.append(Fix("use leaky_relu, which cannot die", {"model.activation": "leaky_relu"}))
        causes.append((2.5, f"learning rate {lr:g} so high the network collapsed (plausible up to {high:g} "
                            f"for {opt})", fixes))
    if not config.dataset.rescale:
        causes.append((2.0, "unscaled 0–255 input", [RESCALE_FIX]))
    # Glorot initialisation was designed for tanh (and sigmoid); only a plain small-std normal starves them.
    if m.activation == "sigmoid" or (m.activation == "tanh" and m.kernel_initializer == "normal"):
        if m.kernel_initializer in ("normal", "glorot_normal", "glorot_uniform"):
            causes.append((1.0, f"{m.activation} layers saturating (vanishing gradients)",
                           [Fix("switch the activation to relu and the initializer to he_normal",
                                {"model.activation": "relu", "model.kernel_initializer": "he_normal"})]))
    return sorted(causes, key=lambda c: -c[0])


def _falling(losses: Sequence[float | None], rate: float) -> bool:
    """The losses fell by more than `rate` of their first value per epoch, on average."""
    values = [v for v in losses if _finite(v)]
    if len(values) < max(2, len(losses)) or values[0] <= 0:
        return False
    return (values[0] - values[-1]) / (len(values) - 1) > rate * values[0]


@epoch_rule
def _underfitting(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    evidence, start = "", None
    acc = _series(history, accuracy_key(history))
    floor = floor_share(doctor)
    if acc and floor and len(acc) >= t.chance_epochs:
        margin = guessing_margin(floor, t)
        run = 0
        for a in reversed(acc):
            if a > floor + margin:
                break
            run += 1
        data = [_data_loss(h) for h in history][-run:]
        if run >= t.chance_epochs and _falling(data, t.flat_loss):
            # ...while the data loss falls by more than `flat_loss` a epoch: learning, slowly (a slow start at a
            # small learning rate, or under a penalty, moves the loss before the accuracy)
            run = 0
        if run >= t.chance_epochs:
            start = len(acc) - run + 1
            evidence = (f"training accuracy {', '.join(f'{a:.3f}' for a in acc[-run:])} in epochs {start}–"
                        f"{len(acc)}: within {margin * 100:.0f} points of guessing (always the largest class: "
                        f"{floor:.3f})")
    losses = [_data_loss(h) for h in history]
    ref = _chance_loss(doctor.classes)
    if not evidence and not acc and ref and len(losses) > t.flat_epochs and all(_finite(v) for v in losses):
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
    causes = ranked_causes(doctor, history)
    fixes = [f for _, _, fs in causes for f in fs]
    if not fixes:
        if config is None or not config.model.batch_norm:
            fixes.append(BATCH_NORM_FIX)
        fixes.append(Fix("check the labels match the images, then try a bigger model"))
    return Finding(
        id="underfitting", severity="warning", epoch=start,
        title=f"Not learning (stuck near guessing) from epoch {start}",
        evidence=evidence + (". Likely causes, strongest evidence first: " + "; ".join(c for _, c, _ in causes)
                             if causes else ""),
        explanation=("The network does no better than guessing: its weights are not moving in a useful "
                     "direction. Too strong a penalty, a learning rate far too low (or so high that it "
                     "knocked every unit out), saturated sigmoids or a network that answers one class for "
                     "every image all look like this."),
        fixes=tuple(fixes))


def bigger_model(config: Any) -> Fix | None:
    """Twice the width of the current architecture, from its own keys; None when it has none we know."""
    if config is None:
        return Fix("use a bigger model (more filters or units)")
    params = config.arch_params()
    change: dict[str, Any] = {}
    value = params.get("hidden_units")
    if isinstance(value, (list, tuple)) and value:
        change["model.hidden_units"] = [int(v) * 2 for v in value]
    for key in ("conv_filters", "dense_units"):
        value = params.get(key)
        if isinstance(value, int) and value:
            change[f"model.{key}"] = value * 2
    if not change:
        return Fix("use a bigger model (more filters or units)")
    return Fix("double the model's width (" + ", ".join(f"{k.split('.')[1]} → {v}" for k, v in change.items())
               + ")", change)


@epoch_rule
def _high_bias(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    key = accuracy_key(history)
    acc, val_acc = _series(history, key), _series(history, "val_" + key)
    floor = floor_share(doctor)
    data = [v for v in (_data_loss(h) for h in history) if _finite(v)]
    if not (acc and val_acc and floor) or len(data) < len(history):
        return None
    # Judged on points of at least `swing_batches` batches: with 3 batches an epoch (300 images in 100s) one epoch's
    # accuracy swings by 10-30 points, and two swings make any three epochs look flat.
    group = pool_group(doctor)
    acc, val_acc, data = pooled(acc, group), pooled(val_acc, group), pooled(data, group)
    if len(acc) <= t.bias_epochs:
        return None
    line = fit_line(floor, t)
    recent, recent_val = acc[-t.bias_epochs - 1:], val_acc[-t.bias_epochs - 1:]
    gain = (recent[-1] - recent[0]) / t.bias_epochs / group
    if not (max(recent) < line and max(recent_val) < line and abs(acc[-1] - val_acc[-1]) <= t.bias_gap
            and gain < t.bias_flat and acc[-1] > floor + guessing_margin(floor, t)):
        return None
    # ...and the data loss has levelled off: its fall over those epochs under half the run's mean fall per epoch.
    # The accuracy of a few hundred images moves by a point or two from epoch to epoch, so three epochs of it can
    # look flat while the loss still falls at the run's pace (a slow run, which more epochs do help).
    steep = pace(data, t.bias_epochs)
    if len(data) < t.bias_epochs + 2 or (steep is not None and steep >= 0.5):
        return None
    fixes: list[Fix] = []
    big = bigger_model(config)
    if config is not None:
        weaken = weaken_regularization(config)
        if weaken is not None:
            fixes.append(weaken)
    if big is not None:
        fixes.append(big)
    fixes.append(Fix("use a stronger architecture (a CNN for images, more layers)"))
    epoch = len(history) - t.bias_epochs * group
    return Finding(
        id="high_bias", severity="warning", epoch=epoch,
        title=f"High bias: the model cannot fit the data (from epoch {epoch})",
        evidence=(f"training accuracy {acc[-1]:.3f} ≈ validation {val_acc[-1]:.3f} (within "
                  f"{t.bias_gap * 100:.0f} points), both under {line:.2f} and gaining {gain * 100:.1f} points per "
                  f"epoch over the last {t.bias_epochs} epochs"
                  + (f", the data loss falling at {steep * 100:.0f}% of the run's mean pace (levelled off)"
                     if steep is not None else ", the data loss not falling")),
        explanation=("Training and validation agree, so the model is not memorising; it simply cannot represent "
                     "the task at this size or under these constraints. More epochs will not help: give it more "
                     "capacity or loosen the regularization."),
        fixes=tuple(fixes))
