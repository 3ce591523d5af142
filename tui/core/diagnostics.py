"""Reading the curves: findings such as overfitting, with the epoch they start, the numbers that show them and
what to try. Pure functions of the epoch history, so the app, the headless command and the summary agree.

All thresholds live in :class:`Thresholds` (documented in README.md, "Overfitting flag").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


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

OVERFIT_FIXES = (
    "add dropout (model.dropout 0.2–0.5)",
    "add L2 weight decay (regularization.l2 = 1e-4 … 1e-3)",
    "turn on augmentation (regularization.augment = true)",
    "stop early (training.early_stopping = true, restore best weights)",
    "use a smaller model (fewer filters or units)",
    "train on more data (dataset.train_size = 0 uses all of it)",
)


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str  # "warning" | "error"
    epoch: int  # first epoch (1-based) the finding applies to
    title: str
    evidence: str
    explanation: str
    fixes: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "severity": self.severity, "epoch": self.epoch, "title": self.title,
                "evidence": self.evidence, "explanation": self.explanation, "fixes": list(self.fixes)}


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
        kind="overfitting", severity="warning", epoch=epoch,
        title=f"Overfitting from epoch {epoch}",
        evidence="; ".join(text for _, text in candidates),
        explanation=("The network is memorising the training set: it keeps getting better on data it has seen "
                     "and worse on data it has not."),
        fixes=OVERFIT_FIXES,
    )


def findings(history: Sequence[Mapping[str, float]], t: Thresholds = THRESHOLDS) -> list[Finding]:
    """Every finding for this history (today: overfitting)."""
    found = detect_overfitting(history, t)
    return [found] if found else []
