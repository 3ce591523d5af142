"""What every rule shares: the finding and fix types, the thresholds, small helpers over the epoch history, and
the registry the rule modules add themselves to."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

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


class DoctorState(Protocol):
    """What a rule may read of the :class:`~tui.core.diagnostics.doctor.Doctor` that runs it."""

    config: Any
    thresholds: Thresholds
    dataset: Any
    history: list[dict[str, float]]

    @property
    def classes(self) -> int | None: ...


# -- the registry ------------------------------------------------------------------------------------------------

PreflightRule = Callable[[Any, Any, "int | None", Thresholds], "Finding | None"]
EpochRule = Callable[[DoctorState, Sequence[Mapping[str, float]]], "Finding | None"]

PREFLIGHT_RULES: list[PreflightRule] = []
"""Rules over the configuration (and the DatasetInfo when loaded), run before training."""
EPOCH_RULES: list[EpochRule] = []
"""Rules over the epoch history, run after each full epoch in the order registered."""


def preflight_rule(fn: PreflightRule) -> PreflightRule:
    PREFLIGHT_RULES.append(fn)
    return fn


def epoch_rule(fn: EpochRule) -> EpochRule:
    EPOCH_RULES.append(fn)
    return fn
