"""underfitting (stuck at the floor of guessing, the loss not moving from where training starts) and high_bias
(training and validation accuracy equal, both low and flat: the model is too weak or too constrained)."""

from __future__ import annotations

from typing import Any, Mapping

from tui.core.diagnostics.common import (
    BATCH_NORM_FIX, RESCALE_FIX, DoctorState, EpochLog, Finding, Fix, Thresholds, _chance_loss, _data_loss, _finite,
    _lower_lr, _lr, accuracy_key, epoch_rule, fit_line, floor_share, guessing_margin, pace, plausible_lr,
    pool_group, pooled, weaker,
)


def _penalty_share(history: EpochLog) -> float | None:
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


def ranked_causes(doctor: DoctorState, history: EpochLog) -> list[tuple[float, str, list[Fix]]]:
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


@epoch_rule
class _Underfitting:
    """How long training accuracy has sat at guessing (and how the data loss moved meanwhile), or, when the run
    logs no accuracy, how long the data loss has stayed flat near where training starts: counted an epoch at a
    time (against the floor of the moment: when the dataset arrives after a resumed run's replayed epochs, the
    count is redone over the epochs still in the log's window)."""

    def __init__(self, t: Thresholds) -> None:
        self.t = t
        self.basis: tuple[str, float] | None = None  # (accuracy key, the accuracy that still counts as guessing)
        self.run = 0  # epochs at guessing, up to the last
        self.run_head: list[float] = []  # their first accuracies
        self.run_loss: float | None = None  # the data loss of their first epoch
        self.run_finite = True  # every one of them had a finite data loss
        self.flat_basis: float | None = None  # the loss of guessing the flat count was made against
        self.flat = 0  # consecutive epochs whose data loss moved by under `flat_loss` (near guessing)
        self.flat_from: float | None = None  # the data loss of the epoch before them

    def _count(self, row: Mapping[str, float], key: str, limit: float) -> None:
        a = float(row[key])
        if a > limit:
            self.run = 0
            return
        self.run += 1
        loss = _data_loss(row)
        if self.run == 1:
            self.run_head, self.run_loss, self.run_finite = [], loss, True
        if len(self.run_head) < 3:
            self.run_head.append(a)
        self.run_finite = self.run_finite and _finite(loss)

    def _step(self, before: Mapping[str, float], row: Mapping[str, float], ref: float) -> None:
        prev, cur = _data_loss(before), _data_loss(row)
        if not (_finite(prev) and _finite(cur)) or (abs(cur - prev) >= self.t.flat_loss * abs(prev)
                                                    or cur < self.t.start_loss_share * ref):
            self.flat = 0
            return
        self.flat += 1
        if self.flat == 1:
            self.flat_from = prev

    def _update(self, doctor: DoctorState, history: EpochLog, key: str, floor: float | None) -> None:
        if history.has(key) and floor:
            basis = (key, floor + guessing_margin(floor, self.t))
            rows = [history[-1]] if basis == self.basis else list(history.tail)
            if basis != self.basis:
                self.basis, self.run = basis, 0
            for row in rows:
                self._count(row, *basis)
        ref = _chance_loss(doctor.classes)
        if ref and len(history) >= 2:
            rows = [history[-2], history[-1]] if ref == self.flat_basis else list(history.tail)
            if ref != self.flat_basis:
                self.flat_basis, self.flat = ref, 0
            for before, row in zip(rows, rows[1:]):
                self._step(before, row, ref)

    def _falling(self, last: float | None) -> bool:
        """The data loss of the epochs at guessing fell by more than `flat_loss` of its first value per epoch, on
        average."""
        first = self.run_loss
        if self.run < 2 or not (self.run_finite and _finite(first) and _finite(last)) or first <= 0:
            return False
        return (first - last) / (self.run - 1) > self.t.flat_loss * first

    def _accuracies(self, history: EpochLog, key: str) -> str:
        """The accuracies of the epochs at guessing: all of them while the log's window holds them, else the first
        three and the last eight."""
        if self.run <= len(history.tail):
            shown = history.recent(key, self.run) or []
            return ", ".join(f"{a:.3f}" for a in shown)
        last = history.recent(key, 8) or []
        return ", ".join(f"{a:.3f}" for a in self.run_head) + ", …, " + ", ".join(f"{a:.3f}" for a in last)

    def __call__(self, doctor: DoctorState, history: EpochLog) -> Finding | None:
        t = doctor.thresholds
        key = accuracy_key(history)
        floor = floor_share(doctor)
        self._update(doctor, history, key, floor)
        evidence, start = "", None
        has_acc = history.has(key)
        if has_acc and floor and len(history) >= t.chance_epochs:
            margin = guessing_margin(floor, t)
            run = self.run
            if run >= t.chance_epochs and self._falling(_data_loss(history[-1])):
                # ...while the data loss falls by more than `flat_loss` a epoch: learning, slowly (a slow start at a
                # small learning rate, or under a penalty, moves the loss before the accuracy)
                run = 0
            if run >= t.chance_epochs:
                start = len(history) - run + 1
                evidence = (f"training accuracy {self._accuracies(history, key)} in epochs {start}–"
                            f"{len(history)}: within {margin * 100:.0f} points of guessing (always the largest "
                            f"class: {floor:.3f})")
        ref = _chance_loss(doctor.classes)
        if (not evidence and not has_acc and ref and len(history) > t.flat_epochs
                and history.finite_data == len(history)):
            if self.flat >= t.flat_epochs:
                start = len(history) - self.flat
                evidence = (f"training loss {self.flat_from:.4f} at epoch {start} and "
                            f"{_data_loss(history[-1]):.4f} at epoch {len(history)}: under "
                            f"{t.flat_loss * 100:.0f}% change per epoch, still near the {ref:.3f} of guessing")
        return self._judge(doctor, history, evidence, start)

    def _judge(self, doctor: DoctorState, history: EpochLog, evidence: str, start: int | None) -> Finding | None:
        config = doctor.config
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
def _high_bias(doctor: DoctorState, history: EpochLog) -> Finding | None:
    t, config = doctor.thresholds, doctor.config
    key = accuracy_key(history)
    floor = floor_share(doctor)
    if not (history.has(key) and history.has("val_" + key) and floor) or history.finite_data < len(history):
        return None
    # Judged on points of at least `swing_batches` batches: with 3 batches an epoch (300 images in 100s) one epoch's
    # accuracy swings by 10-30 points, and two swings make any three epochs look flat.
    group = pool_group(doctor)
    points = len(history) // group  # (pooled from the last epoch back; an incomplete oldest block is dropped)
    if points <= t.bias_epochs:
        return None
    raw = (t.bias_epochs + 1) * group
    recent = pooled(history.recent(key, raw) or [], group)
    recent_val = pooled(history.recent("val_" + key, raw) or [], group)
    data = pooled([float(_data_loss(h)) for h in history.rows(raw)], group)  # type: ignore[arg-type]
    acc, val_acc = recent, recent_val
    line = fit_line(floor, t)
    gain = (recent[-1] - recent[0]) / t.bias_epochs / group
    if not (max(recent) < line and max(recent_val) < line and abs(acc[-1] - val_acc[-1]) <= t.bias_gap
            and gain < t.bias_flat and acc[-1] > floor + guessing_margin(floor, t)):
        return None
    # ...and the data loss has levelled off: its fall over those epochs under half the run's mean fall per epoch.
    # The accuracy of a few hundred images moves by a point or two from epoch to epoch, so three epochs of it can
    # look flat while the loss still falls at the run's pace (a slow run, which more epochs do help).
    if points < t.bias_epochs + 2:
        return None
    skip = len(history) % group  # the first pooled point: the oldest complete block counted from the last epoch
    first = pooled([float(_data_loss(history[i])) for i in range(skip, skip + group)], group)[0]  # type: ignore
    steep = pace(first, data, points, t.bias_epochs)
    if steep is not None and steep >= 0.5:
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
