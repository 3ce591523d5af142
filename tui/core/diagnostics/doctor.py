"""The :class:`Doctor` that folds a session's events into findings, :func:`preflight` and the helpers the app uses
to order and apply them. The rules themselves live one family per module and register in
:mod:`tui.core.diagnostics.common`."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from tui.core.diagnostics.common import (
    EPOCH_RULES, FINDING_IDS, PREFLIGHT_RULES, SEVERITIES, THRESHOLDS, Finding, Fix, Thresholds, _data_loss,
    _finite,
)
from tui.core.diagnostics.divergence import _divergence
from tui.core.diagnostics.gradients import exploding, vanishing
from tui.core.diagnostics.plateau import _plateau
from tui.core.diagnostics.setup import _recalls, _wrong_loss
from tui.core.diagnostics.val_test_gap import val_test_gap


def preflight(config: Any, dataset: Any | None = None, t: Thresholds = THRESHOLDS) -> list[Finding]:
    """Findings knowable before training from the configuration (and the DatasetInfo when loaded): wrong_loss,
    unscaled_input, class_imbalance. Pure: no TensorFlow."""
    classes = getattr(dataset, "num_classes", None)
    if classes is None and config is not None:
        from tui.core.datasets import known_shape

        known = known_shape(config.dataset)
        classes = known[1] if known else None
    found = [rule(config, dataset, classes, t) for rule in PREFLIGHT_RULES]
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
                                                     or self.config.regularization.activity_l2
                                                     or self.config.regularization.activity_l1)
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
        imbalance = self._found.get("class_imbalance")
        if imbalance is not None and isinstance(test, Mapping) and "on the test split" not in imbalance.evidence:
            extra = _recalls(test, getattr(self.dataset, "class_names", ()))
            if extra:
                self._found["class_imbalance"] = replace(imbalance, evidence=f"{imbalance.evidence}; {extra}")
        if _finite(acc) and _finite(val_accuracy):
            self._put(val_test_gap(self, acc, val_accuracy))
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
        for rule in EPOCH_RULES:
            self._put(rule(self, self.history))
        if "vanishing_gradients" not in self._found:
            self._put(vanishing(self, epoch, self._ratios, self._last_norms, previous))
        self._ratios = []
        if not any(k in self._found for k in SPECIFIC):
            self._put(_plateau(self, self.history))
        else:
            self._found.pop("plateau", None)

    def _gradients(self, event: Any) -> None:
        norms = [float(n) for n in event.norms]
        if not norms:
            return
        if "exploding_gradients" not in self._found:
            self._put(exploding(self, event, norms))
        if len(norms) >= 2 and norms[-1] > 0 and all(math.isfinite(n) for n in norms):
            self._ratios.append(norms[0] / norms[-1])
            self._last_norms = (event.layers, norms)
