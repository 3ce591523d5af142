"""The :class:`Doctor` that folds a session's events into findings, :func:`preflight` and the helpers the app uses
to order and apply them. The rules themselves live one family per module and register in
:mod:`tui.core.diagnostics.common`."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence, TypeVar, cast

from tui.core.diagnostics.common import (
    EPOCH_RULES, FINDING_IDS, PREFLIGHT_RULES, SEVERITIES, THRESHOLDS, TRACKERS, EpochLog, Finding, Fix,
    Thresholds, _data_loss, _finite,
)
from tui.core.diagnostics.divergence import _divergence
from tui.core.diagnostics.gradients import acquired, dead_layers, exploding, vanishing
from tui.core.diagnostics.plateau import _plateau
from tui.core.diagnostics.setup import _recalls, _wrong_loss
from tui.core.diagnostics.val_test_gap import one_class_from_test, tested, val_test_gap

T = TypeVar("T")

TITLE_FOLLOWS_EVIDENCE = frozenset({"plateau"})
"""Findings whose title says what the evidence says now ("No progress since epoch 267"), not when the finding was
first raised: the doctor refreshes their title with their evidence, where others keep the title of their onset."""


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
    """The finding a banner shows: the one the doctor believes first (not explained by another), then highest
    severity, then earliest epoch."""
    return min(found, key=lambda f: (bool(f.because_of), -SEVERITIES.index(f.severity), f.epoch), default=None)


SPECIFIC = ("overfitting", "underfitting", "divergence", "vanishing_gradients", "exploding_gradients",
            "overconfidence", "high_bias", "lr_too_high", "dead_layers", "one_class", "regularization_dominates")
"""Findings that already explain a stalled metric: plateau is not reported beside them."""

CAUSES_OF: dict[str, tuple[tuple[str, str], ...]] = {
    # symptom: ((cause, why the cause comes first), ...) in order of preference; the graph has no cycle
    "divergence": (("wrong_loss", "the loss does not fit the problem"),
                   ("implausible_lr", "the learning rate is outside its optimizer's range from the start"),
                   ("unscaled_input", "0–255 inputs make the first layer's outputs and gradients huge"),
                   ("exploding_gradients", "the gradients were already huge before the loss ran away")),
    "exploding_gradients": (("unscaled_input", "0–255 inputs make the first layer's gradients huge"),
                            ("implausible_lr", "the learning rate is outside its optimizer's range")),
    "lr_too_high": (("implausible_lr", "the learning rate is outside its optimizer's range"),
                    ("exploding_gradients", "huge gradients make even a normal step too long"),
                    ("one_class", "a network that answers one class is not swinging around a valley: the large "
                                  "steps collapsed it, and the loss rises as its one answer grows more confident; "
                                  "the collapse's fix, a smaller step, is the same")),
    "dead_layers": (("implausible_lr", "a step far too large for the optimizer killed the units"),
                    ("unscaled_input", "0–255 inputs pushed the units far from zero in the first steps")),
    "one_class": (("dead_layers", "with no gradient through a dead layer only the output bias learns, which "
                                  "picks the most common class"),
                  ("regularization_dominates", "the penalty shrinks every weight to zero, leaving only the bias"),
                  ("implausible_lr", "a step far too large for the optimizer collapsed the network"),
                  ("unscaled_input", "0–255 inputs saturate the units in the first steps"),
                  ("vanishing_gradients", "the gradients vanished from the first batch: the layers below never "
                                          "learnt, only the output bias did, which picks the most common class")),
    "underfitting": (("wrong_loss", "the loss does not fit the problem"),
                     ("regularization_dominates", "the penalty is most of the loss: weakening it is what lets the "
                                                  "network fit"),
                     ("dead_layers", "no gradient reaches the dead layer, so nothing below it learns"),
                     ("one_class", "the network answers one class whatever the image"),
                     ("vanishing_gradients", "the first layers get almost no gradient"),
                     ("implausible_lr", "the learning rate is outside its optimizer's range"),
                     ("unscaled_input", "0–255 inputs saturate or kill the units")),
    "high_bias": (("regularization_dominates", "the penalty is what holds the fit back, not the model's size"),
                  ("vanishing_gradients", "the first layers hardly learn")),
    "vanishing_gradients": (("wrong_loss", "mean squared error on a softmax flattens the gradient"),),
    "val_test_gap": (("small_validation", "the validation set is too small for its accuracy to mean much"),),
    "overconfidence": (("small_validation", "the validation numbers are mostly noise"),),
    "overfitting": (("regularization_dominates", "the penalty already keeps the network from fitting: more "
                                                 "regularization would make that worse"),
                    ("small_validation", "the validation numbers are mostly noise"),
                    ("lr_too_high", "with steps this large the validation loss swings too; settle the learning rate "
                                    "first, then judge overfitting")),
    "undertrained": (("implausible_lr", "a learning rate far too low makes every run look unfinished"),),
}
"""When several findings share a symptom, which one the doctor believes first and why."""

ACQUIRED_CAUSES: dict[str, tuple[tuple[str, str], ...]] = {
    # a finding that was not there when training started, but developed during it: what it came from comes first
    "vanishing_gradients": (
        ("one_class", "the gradients were healthy at the start and vanished once the large first steps saturated "
                      "the units, which is also what collapsed the network to one answer: the step size behind "
                      "the collapse comes first, the gradients recover with it"),),
}
"""Causes that apply only to a finding the doctor saw develop during training (ids in ``acquired``); the edge
the other way (CAUSES_OF) is then dropped, so one class is never explained by what it caused."""


def rank(found: Mapping[str, Finding], acquired: Iterable[str] = ()) -> list[Finding]:
    """The findings, each marked with the present finding that explains it (``because_of``, with the reason added
    to its evidence); causes before the symptoms they explain, then severity, epoch and id. `acquired`: ids of
    findings that developed during training (see :data:`ACQUIRED_CAUSES`)."""
    later = set(acquired)
    cause_of: dict[str, tuple[str, str]] = {}
    for fid in found:
        edges = (ACQUIRED_CAUSES.get(fid, ()) if fid in later else ()) + CAUSES_OF.get(fid, ())
        for cause, why in edges:
            if cause in later and any(c == fid for c, _ in ACQUIRED_CAUSES.get(cause, ())):
                continue  # the cause developed from this finding: not the other way round
            if cause in found:
                cause_of[fid] = (cause, why)
                break

    def depth(fid: str, seen: tuple[str, ...] = ()) -> int:
        c = cause_of.get(fid)
        return 0 if c is None or c[0] in seen else 1 + depth(c[0], seen + (fid,))

    out = []
    for fid, f in found.items():
        if fid in cause_of:
            cause, why = cause_of[fid]
            f = replace(f, because_of=cause,
                        evidence=f"{f.evidence}. Treat {cause.replace('_', ' ')} first: {why}")
        out.append(f)
    return sorted(out, key=lambda f: (depth(f.id), -SEVERITIES.index(f.severity), f.epoch,
                                      FINDING_IDS.index(f.id)))


class Doctor:
    """Folds a session's events into its current findings (one per id, evidence kept up to date; the epoch a
    finding was first seen stays)."""

    def __init__(self, config: Any = None, thresholds: Thresholds = THRESHOLDS) -> None:
        self.config = config
        self.thresholds = thresholds
        self.dataset: Any = None
        t = thresholds
        self.history = EpochLog(head=2 * t.swing_batches + 4,
                                tail=max(64, max(t.swing_window, t.bias_epochs + 1) * t.swing_batches,
                                         t.gap_epochs + 1, t.rising_epochs + 1))
        """The epochs so far, as the rules read them: their count, the first and the last few rows; what a rule
        needs beyond that is running state (`_tracks`, the rule classes' own), so a long run costs what a short
        one does."""
        self._tracks = {kind: kind(thresholds) for kind in TRACKERS}
        self._rules = [rule(thresholds) if isinstance(rule, type) else rule for rule in EPOCH_RULES]
        self._epoch_losses: list[float] = []
        """The first and the lowest finite data loss of the epochs so far (all divergence reads of them)."""
        self._found: dict[str, Finding] = {}
        self._ratios: list[float] = []  # first / last layer gradient norm, this epoch
        self._start_ratio: float | None = None  # ...at the run's first gradient sample
        self._acquired: set[str] = set()  # findings that developed during training (ACQUIRED_CAUSES)
        self._last_norms: tuple[Sequence[str], list[float]] = ((), [])
        self._zero: dict[str, int] = {}  # consecutive gradient samples (across epochs) with a norm of exactly 0
        self._batch_losses: list[float] = []
        """The first and the lowest window loss so far: all that divergence reads of the batches before (growth
        above the lowest, and above where it started), held in two numbers however long the run."""
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

    def track(self, kind: type[T]) -> T:
        """This doctor's running state of the registered kind (see :func:`~.common.tracker`)."""
        return cast(T, self._tracks[kind])

    @property
    def findings(self) -> list[Finding]:
        """Current findings, the one the doctor believes first at the top (see :data:`CAUSES_OF`)."""
        return rank(self._found, self._acquired)

    @property
    def diverged(self) -> Finding | None:
        """The divergence finding, once raised (the session stops the run on it)."""
        return self._found.get("divergence")

    def _put(self, finding: Finding | None) -> None:
        if finding is None:
            return
        old = self._found.get(finding.id)
        if old is not None and old.epoch <= finding.epoch:
            # The epoch it was first raised stays, and so does a title that names that onset; a title that
            # names where the evidence now stands (the plateau's best epoch) follows the evidence.
            title = finding.title if finding.id in TITLE_FOLLOWS_EVIDENCE else old.title
            finding = replace(finding, epoch=old.epoch, title=title)
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
            # Growth against the batches before, never size: a loss that starts large (a penalty, raw pixels) and
            # falls is not diverging.
            if "divergence" not in self._found:
                self._put(_divergence(self, event.epoch, f"epoch {event.epoch}, batch {event.batch}",
                                      event.window_loss, self._batch_losses))
            if _finite(event.window_loss):
                v, seen = float(event.window_loss), self._batch_losses
                self._batch_losses = [seen[0], min(seen[-1], v)] if seen else [v]
        elif isinstance(event, GradientNorms):
            self._gradients(event)
        elif isinstance(event, EpochEnd) and not event.partial:
            self._epoch_end({"epoch": event.epoch, "lr": event.lr, **event.logs})
        elif isinstance(event, EpochEnd) and not _finite(event.logs.get("loss")):
            self._put(_divergence(self, event.epoch, f"epoch {event.epoch}", event.logs.get("loss"), []))
        return self._found != before

    def observe_test(self, test: Mapping[str, Any] | None, val_accuracy: float | None = None) -> bool:
        """Read the test block: ``accuracy`` against the validation accuracy of the weights that were tested (the
        restored best epoch under early stopping, else the last), and the confusion matrix for one class
        answered for everything; True when the findings changed."""
        before = dict(self._found)
        acc = test.get("accuracy") if isinstance(test, Mapping) else None
        epoch = None
        if val_accuracy is None:
            epoch, row = tested(self) or (None, {})
            # with binary cross-entropy "val_accuracy" is binary accuracy; the test's is the share of right classes
            value = row.get("val_class_accuracy", row.get("val_accuracy"))
            val_accuracy = value if _finite(value) else None
        imbalance = self._found.get("class_imbalance")
        if imbalance is not None and isinstance(test, Mapping) and "on the test split" not in imbalance.evidence:
            extra = _recalls(test, getattr(self.dataset, "class_names", ()))
            if extra:
                self._found["class_imbalance"] = replace(imbalance, evidence=f"{imbalance.evidence}; {extra}")
        if isinstance(test, Mapping) and "one_class" not in self._found:
            self._put(one_class_from_test(self, test))
        if _finite(acc) and _finite(val_accuracy):
            self._put(val_test_gap(self, acc, val_accuracy, epoch))
        return self._found != before

    # -- rules --------------------------------------------------------------------------------------------
    def _epoch_end(self, logs: dict[str, float]) -> None:
        previous = [self.history[-1]] if self.history else []  # (the rules read only the epoch before this one)
        self.history.append(logs)
        for track in self._tracks.values():
            track.add(self.history)
        epoch = int(logs.get("epoch", len(self.history)))
        self._epoch = epoch
        loss = _data_loss(logs)
        if "divergence" not in self._found:
            self._put(_divergence(self, epoch, f"epoch {epoch}", loss, self._epoch_losses))
        if _finite(loss):
            seen = self._epoch_losses
            self._epoch_losses = [seen[0], min(seen[-1], loss)] if seen else [loss]
        if epoch == 1 or "wrong_loss" in self._found and "Confirmed" not in self._found["wrong_loss"].evidence:
            accs = [v for v in (logs.get("accuracy"), logs.get("val_accuracy")) if _finite(v)]
            if accs and self.classes and max(accs) >= 1 - 1 / self.classes - self.thresholds.chance_margin:
                self._put(_wrong_loss(self.config, self.classes, epoch, logs))
        for rule in self._rules:
            self._put(rule(self, self.history))
        if "vanishing_gradients" not in self._found:
            self._put(vanishing(self, epoch, self._ratios, self._last_norms, previous, self._start_ratio))
            if "vanishing_gradients" in self._found and acquired(self._start_ratio, self.thresholds.vanishing_ratio):
                self._acquired.add("vanishing_gradients")
        if "dead_layers" not in self._found:
            self._put(dead_layers(self, epoch, self._zero))
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
        for name, n in zip(event.layers, norms):
            self._zero[name] = self._zero.get(name, 0) + 1 if n == 0.0 else 0
        if len(norms) >= 2 and norms[-1] > 0 and all(math.isfinite(n) for n in norms):
            self._ratios.append(norms[0] / norms[-1])
            if self._start_ratio is None:
                self._start_ratio = norms[0] / norms[-1]
            self._last_norms = (event.layers, norms)
