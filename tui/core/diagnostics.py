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

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

FINDING_IDS = (
    "overfitting", "underfitting", "divergence", "vanishing_gradients", "exploding_gradients", "wrong_loss",
    "unscaled_input", "plateau", "val_test_gap", "class_imbalance", "regularization_dominates",
)
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Thresholds:
    rising_epochs: int = 3
    """Validation loss has stayed above its best for this many epochs after the best one..."""
    min_rise: float = 0.02
    """...and now exceeds the best by at least this fraction (2%), while training loss kept falling."""
    acc_gap: float = 0.10
    """Training accuracy exceeds validation accuracy by more than this (10 points)..."""
    gap_epochs: int = 2
    """...for this many consecutive epochs, with the gap wider at the end than at the start."""


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


def findings(history: Sequence[Mapping[str, float]], t: Thresholds = THRESHOLDS) -> list[Finding]:
    """Every finding for this epoch history (today: overfitting)."""
    found = detect_overfitting(history, t)
    return [found] if found else []


def preflight(config: Any, dataset: Any | None = None) -> list[Finding]:
    """Findings knowable before training from the configuration (and the DatasetInfo when loaded)."""
    return []


def apply_fix(config: Any, fix: Fix) -> Any:
    """The configuration with ``fix`` applied (validated; raises ConfigError like any other change)."""
    return config.with_values(fix.changes) if fix.changes else config


def most_severe(found: Sequence[Finding]) -> Finding | None:
    """The finding a banner shows: highest severity, then earliest epoch."""
    return min(found, key=lambda f: (-SEVERITIES.index(f.severity), f.epoch), default=None)


class Doctor:
    """Folds a session's events into its current findings (one per id, evidence kept up to date)."""

    def __init__(self, config: Any = None, thresholds: Thresholds = THRESHOLDS) -> None:
        self.config = config
        self.thresholds = thresholds
        self.history: list[dict[str, float]] = []
        self._found: dict[str, Finding] = {}

    @property
    def findings(self) -> list[Finding]:
        return sorted(self._found.values(), key=lambda f: (-SEVERITIES.index(f.severity), f.epoch))

    def observe(self, event: Any) -> bool:
        """Take one event; True when the findings changed."""
        from tui.core.events import EpochEnd

        before = dict(self._found)
        if isinstance(event, EpochEnd) and not event.partial:
            self.history.append({"epoch": event.epoch, **event.logs})
            found = detect_overfitting(self.history, self.thresholds)
            if found:
                self._found["overfitting"] = found
        return self._found != before
