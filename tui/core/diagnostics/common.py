"""What every rule shares: the finding and fix types (defined in tui.core.findings, re-exported here), the
thresholds, small helpers over the epoch history, and the registry the rule modules add themselves to."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

from typing_extensions import TypeGuard

from tui.core.findings import Finding as Finding
from tui.core.findings import Fix as Fix

T = TypeVar("T")

FINDING_IDS = (
    "overfitting", "underfitting", "divergence", "vanishing_gradients", "exploding_gradients", "wrong_loss",
    "unscaled_input", "plateau", "val_test_gap", "class_imbalance", "regularization_dominates",
    "overconfidence", "high_bias", "undertrained", "lr_too_high", "implausible_lr", "one_class", "dead_layers",
    "small_validation", "flip_augment",
)
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Thresholds:
    """When the doctor speaks up. Each value is a trade-off between saying it early and crying wolf on a healthy
    run (every healthy scenario preset in presets/scenarios/ must stay silent with these values)."""

    rising_epochs: int = 3
    """Validation loss has stayed above its best for this many epochs after the best one... (one or two epochs
    up are noise from the order of the batches; three in a row is a trend)"""
    min_rise: float = 0.1
    """...and now exceeds the best by at least this fraction (10%), while training loss kept falling. (On a few
    hundred validation images the validation loss of a healthy run swings by 5–15% from epoch to epoch: the
    1-seed matrix run saw a converging digits MLP called overfitting at 6% above its best.)"""
    rise_z: float = 2.0
    """...and by more than this many times the validation loss's own noise when the split size is known: a loss
    near zero is carried by the few images the network gets wrong, k = (1 − val_accuracy) × validation images
    (at least 1), and moves by about 1/√k of itself when their confidence changes, so a rise must exceed
    2/√k (k = 1–2 of 162 digits images at 0.99–1.00 accuracy: 140–200 %; 240 of 6,000 MNIST images at 0.96:
    13 %; 40 of 162 at 0.75: 32 %). The default digits set-up at Adam 0.01 had its val_loss move by a few
    thousandths at 0.99–1.00 validation accuracy, over 10 % of a near-zero loss, and was called overfitting."""
    acc_gap: float = 0.10
    """Training accuracy exceeds validation accuracy by more than this (10 points)... (a few points of gap are
    normal, dropout and augmentation even make it negative; ten points is memorising)"""
    gap_epochs: int = 2
    """...for this many consecutive epochs, with the gap wider at the end than at the start."""
    chance_margin: float = 0.05
    """Underfitting: training accuracy at most this many points above the floor of guessing, the majority
    class's share (1/classes when balanced)... (a network that learns anything at all leaves the floor by more
    than 5 points within an epoch or two). With many classes the margin shrinks to half the floor (at least 2
    points): 6% on 100 classes is six times chance, not guessing."""
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
    growth_factor: float = 100.0
    """Divergence: the data loss grew this much (two orders of magnitude) above its lowest value so far and is
    above where it started; Adam's occasional bumps stay within one order. Growth, not size, and no reference to
    ln(classes): a loss that starts high (raw pixels with Adam, a large penalty) and falls is not diverging, and
    the test holds for any loss."""
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
    val_test_z: float = 3.0
    """Validation and test accuracy differ by more than this many standard errors of their difference, from
    the two split sizes (sqrt(p(1-p)/n_val + p(1-p)/n_test)): about 0.3% by chance. 16 validation images make
    a 30-point gap noise; 5,000 against 10,000 make a 3-point gap real."""
    imbalance_ratio: float = 2.0
    """Class imbalance: the largest class has more than this many times the samples of the smallest. MNIST's
    1.24 is harmless; at 2:1 and beyond, always guessing the big classes already scores well."""
    penalty_share: float = 0.5
    """Regularization dominates: the penalties (kernel and activity) are more than this share (half) of the
    reported loss...(once the training set is fit a penalty above the data loss is normal)"""
    fit_level: float = 0.5
    """...and the network does not fit the training data: training accuracy below this share of the way from
    the floor of guessing to 1 (0.55 for 10 balanced classes). The same level is "low" for high bias."""
    bias_gap: float = 0.05
    """High bias: training and validation accuracy within this many points (5) of each other..."""
    bias_epochs: int = 3
    """...both below `fit_level` and improving by less than `bias_flat` per epoch over this many epochs."""
    bias_flat: float = 0.01
    """High bias: "flat" is under one point of training accuracy per epoch."""
    still_falling: float = 0.02
    """Under-trained: at the last epoch the training loss still fell by more than this fraction (2%, twice the
    `flat_loss` noise) of its value and by at least half the run's mean fall per epoch (still on the steep
    part; a converging run's last epochs gain far less than its first), and the validation loss fell too."""
    swing_rise: float = 0.05
    """Learning rate too high: the training loss rose by more than this fraction (5%) from one epoch to the
    next... (a full-batch-averaged training loss almost never rises at a sane learning rate)"""
    swing_batches: int = 10
    """...where each point is a mean over at least this many batches: an epoch's training loss is the mean of its
    batch losses, which averages out minibatch noise at 19 batches (600 digits in 32s) but not at 3 (300 images
    in batches of 100, where one unlucky batch moves it by 10–30 %); consecutive epochs are pooled until each
    point holds 10 batches (the noise of a batch loss shrinks by √10 ≈ 3 in their mean)."""
    swing_z: float = 1.0
    """...and, to be evidence, by more than this many times the loss's own epoch-to-epoch noise: an epoch's training
    loss is carried by the k training images the network gets wrong (k = (1 − accuracy) × training images, at
    least 1) and moves by about √(p/k) ≈ 1/√k of itself (p the accuracy; one standard deviation of the binomial
    count of wrong images, see `loss_noise`), so a rise (or, for `undertrained`, a fall) must exceed it and
    `flat_loss` of the run's first epoch loss (near convergence a change that small is not a movement). The
    default digits set-up left at Adam for 100 epochs had a training loss wobbling 0.014 ↔ 0.015 at 0.998 accuracy
    (k ≈ 3 of 1,293 images: 58 % needed) and was told its learning rate was too high for a 7 % rise of a
    thousandth. One deviation, not two as for a validation loss (`rise_z`): the rule already asks for two rises in
    six epochs, and scenarios/lr-too-high's rises at 0.98 training accuracy of 600 images (k = 10) are 50 %."""
    swing_count: int = 2
    """...at least this many times in the last `swing_window` epochs."""
    swing_window: int = 6
    """See `swing_count`."""
    one_class_share: float = 0.9
    """Every prediction one class: at least this share (90%) of the test predictions fall in one class."""
    min_val_samples: int = 100
    """Small validation split: fewer validation samples than this. Below 100 the 95% interval of a measured
    accuracy is wider than ±10 points (1.96 × sqrt(0.25 / n)), so epoch-to-epoch changes are mostly noise."""


THRESHOLDS = Thresholds()


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


def floor_share(doctor: "DoctorState") -> float | None:
    """The accuracy of always answering the largest class: the floor of guessing (1/classes when balanced)."""
    counts = [int(c) for c in (getattr(doctor.dataset, "class_counts", ()) or ())]
    if counts and sum(counts) > 0:
        return max(counts) / sum(counts)
    classes = doctor.classes
    return 1 / classes if classes else None


def guessing_margin(floor: float, t: "Thresholds") -> float:
    """How far above the floor still counts as guessing (see Thresholds.chance_margin)."""
    return min(t.chance_margin, max(0.02, floor / 2))


def fit_line(floor: float, t: "Thresholds") -> float:
    """The training accuracy under which the network "does not fit" (Thresholds.fit_level)."""
    return floor + t.fit_level * (1 - floor)


def accuracy_key(history: "Sequence[Mapping[str, float]] | EpochLog") -> str:
    """``class_accuracy`` when the run logged it (binary cross-entropy), else ``accuracy``."""
    return "class_accuracy" if history and "class_accuracy" in history[-1] else "accuracy"


def _data_loss(h: Mapping[str, float]) -> float | None:
    """The loss without the weight penalty (``data_loss`` when the run logged it)."""
    v = h.get("data_loss", h.get("loss"))
    return float(v) if v is not None else None


def pace(first: float, recent: Sequence[float], count: int, k: int) -> float | None:
    """The mean fall per epoch of the last `k` epochs as a share of the run's mean fall per epoch, for a series of
    `count` (≥ k + 2) finite values whose first is `first` and whose last k + 1 are `recent` (None for a run
    that did not fall). Under 0.5 the run has left its steep part (a converging run's last epochs gain far less
    than its first); at 0.5 or more it is still on it (under-trained reads the same share with k = 1)."""
    mean = (first - recent[-1]) / (count - 1)
    if mean <= 0:
        return None
    return (recent[-k - 1] - recent[-1]) / k / mean


def steps_per_epoch(doctor: "DoctorState") -> int | None:
    """Batches per epoch, from the training split's size and the batch size (None when either is unknown)."""
    train = getattr(doctor.dataset, "train", None)
    batch = doctor.config.training.batch_size if doctor.config is not None else None
    return max(1, math.ceil(int(train) / int(batch))) if train and batch else None


def pool_group(doctor: "DoctorState") -> int:
    """How many consecutive epochs make one point of an epoch-to-epoch judgement: enough for `swing_batches`
    batches (1 when an epoch has that many, or when the batch count is unknown)."""
    steps = steps_per_epoch(doctor)
    return max(1, math.ceil(doctor.thresholds.swing_batches / steps)) if steps else 1


def pooled(values: Sequence[float], group: int) -> list[float]:
    """Means of consecutive blocks of `group` values, counted from the last one back (an incomplete oldest block
    is dropped)."""
    if group <= 1:
        return list(values)
    return [sum(values[i - group:i]) / group for i in range(len(values), group - 1, -group)][::-1]


def loss_noise(doctor: "DoctorState", accuracy: float | None) -> float:
    """The relative epoch-to-epoch noise of a training loss logged at this training accuracy p: the loss is carried
    by the k = (1 − p)·n training images the network gets wrong, and which images those are varies like a binomial
    count, by √(n·p·(1 − p)), so the loss moves by √(p / k) of itself (1/√k near convergence, less while most
    images are still wrong and every image's loss is about the same); k at least 1. 0 when the accuracy or the
    training split's size is unknown."""
    n = getattr(doctor.dataset, "train", None)
    if not (_finite(accuracy) and isinstance(n, int) and n > 0):
        return 0.0
    p = min(max(float(accuracy), 0.0), 1.0)
    return math.sqrt(max(p, 1 / n) / max(1.0, (1 - p) * n))


def beyond_noise(doctor: "DoctorState", before: float, after: float, accuracy: float | None, start: float | None,
                 share: float) -> bool:
    """The change of a training loss from `before` to `after` is evidence: larger than `share` of `before`, than
    `swing_z` times its noise at `accuracy` (:func:`loss_noise`; pass the higher of the two epochs' accuracies:
    fewer wrong images, more noise) and than `flat_loss` of the run's first loss `start` (near convergence a loss
    of 0.014 moving by a thousandth is not moving, whatever the share)."""
    t = doctor.thresholds
    change = abs(after - before)
    if _finite(start) and change <= t.flat_loss * abs(start):
        return False
    return change > max(share, t.swing_z * loss_noise(doctor, accuracy)) * abs(before)


def _lr(config: Any) -> float:
    return float(config.optimizer.learning_rate) if config is not None else 0.001


def _lower_lr(config: Any, label: str = "divide the learning rate by 10", factor: float = 10) -> Fix:
    lr = _lr(config)
    return Fix(f"{label} ({lr:g} → {lr / factor:.3g})", {"optimizer.learning_rate": float(f"{lr / factor:.3g}")})


ADAPTIVE = ("adam", "amsgrad", "nadam", "adamw", "rmsprop", "adamax")
PLAUSIBLE_LR: dict[str, tuple[float, float]] = {
    **{name: (1e-5, 0.03) for name in ADAPTIVE},
    "adagrad": (1e-4, 0.5),
    "adadelta": (1e-3, 10.0),  # designed for lr 1.0 (Keras' default 0.001 barely moves)
}
"""Learning rates outside these bounds are implausible for the optimizer (SGD and momentum: 1e-4 to 2)."""


def plausible_lr(optimizer: str) -> tuple[float, float]:
    return PLAUSIBLE_LR.get(optimizer, (1e-4, 2.0))


def stronger(config: Any, key: str, proposal: Any) -> dict[str, Any]:
    """``{key: proposal}`` only when it strengthens the user's setting (numbers: above it; flags: turning them
    on): a fix is never a no-op and never weaker than what the user set on purpose."""
    if config is None:
        return {key: proposal}
    current = config.get(key)
    if isinstance(proposal, bool):
        return {key: proposal} if proposal and not current else {}
    return {key: proposal} if proposal > current else {}


def weaker(config: Any, key: str, proposal: Any) -> dict[str, Any]:
    """``{key: proposal}`` only when it weakens the setting (for a fix whose point is to weaken it)."""
    if config is None:
        return {key: proposal}
    return {key: proposal} if proposal < config.get(key) else {}


def no_flip_datasets() -> tuple[str, ...]:
    """Datasets whose images change meaning when mirrored (a flipped 2 is not a 2)."""
    return ("digits", "mnist")


def augment_fix(config: Any) -> Fix | None:
    """Turn on augmentation (without flips where a mirror image is another class); None when it is on."""
    if config is not None and config.regularization.augment:
        return None
    change: dict[str, Any] = {"regularization.augment": True}
    if config is None or config.dataset.name in no_flip_datasets():
        change["regularization.flip"] = False
        return Fix("turn on augmentation (small shifts and rotations, no flips: a mirrored digit is another "
                   "symbol)", change)
    return Fix("turn on augmentation (flips, shifts, rotations)", change)


ACTIVATION_FIX = Fix("switch the activation to relu and the initializer to he_normal",
                     {"model.activation": "relu", "model.kernel_initializer": "he_normal"})
CLIP_FIX = Fix("clip gradients to norm 1.0", {"optimizer.clipnorm": 1.0})
BATCH_NORM_FIX = Fix("add batch normalization after each layer", {"model.batch_norm": True})
RESCALE_FIX = Fix("scale the pixels to [0, 1] in the model's first layer", {"dataset.rescale": True})


class EpochLog:
    """The epochs a doctor has seen, as its rules read them, in memory bounded in the number of epochs: how many,
    the first `head` rows, the last `tail` rows, the keys every row has had and how many rows had a finite data
    loss. What a rule needs beyond these windows (the best validation loss and its epoch, a minimum since the
    start, how long a condition has held) it keeps as running state of its own, updated once an epoch (a
    :func:`tracker`, or a rule class): a 10,000-epoch run costs the doctor what a 100-epoch one does, each epoch.

    Reads like the list of rows it replaces where the rules read one: ``len``, truth, ``log[0]``, ``log[-1]``
    (any row still in a window; others raise IndexError)."""

    def __init__(self, head: int = 24, tail: int = 64) -> None:
        self._n = 0
        self._head_size = head
        self.head: list[Mapping[str, float]] = []
        self.tail: deque[Mapping[str, float]] = deque(maxlen=tail)
        self._keys: set[str] = set()
        self.finite_data = 0
        """Rows whose data loss (:func:`_data_loss`) was finite."""

    def append(self, row: Mapping[str, float]) -> None:
        present = {k for k, v in row.items() if v is not None}
        self._keys = present if self._n == 0 else self._keys & present
        self._n += 1
        if len(self.head) < self._head_size:
            self.head.append(row)
        self.tail.append(row)
        if _finite(_data_loss(row)):
            self.finite_data += 1

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __getitem__(self, i: int) -> Mapping[str, float]:
        j = i + self._n if i < 0 else i
        if 0 <= j < len(self.head):
            return self.head[j]
        start = self._n - len(self.tail)
        if start <= j < self._n:
            return self.tail[j - start]
        raise IndexError(f"epoch row {i} of {self._n} is not kept (the first {self._head_size} and the last "
                         f"{self.tail.maxlen} are)")

    def has(self, key: str) -> bool:
        """Every row so far has `key` (what makes ``_series(history, key)`` a list rather than None)."""
        return self._n > 0 and key in self._keys

    def rows(self, k: int) -> list[Mapping[str, float]]:
        """The last `k` rows (at most the tail's length)."""
        if k <= 0:
            return []
        return list(self.tail)[-k:]

    def recent(self, key: str, k: int) -> list[float] | None:
        """The last `k` values of `key`; None unless every row so far has it."""
        if not self.has(key):
            return None
        return [float(h[key]) for h in self.rows(k)]


class Extremes:
    """A series seen one value at a time, kept as its first value, its last `window` values and the lowest (or
    highest) of the values before them: enough for "the best of the last k against the best before them" for any
    k up to `window`, with the same result (ties and NaN alike) as min()/max() over the whole list."""

    def __init__(self, window: int, highest: bool = False) -> None:
        self.window: deque[float] = deque(maxlen=window)
        self.highest = highest
        self.count = 0
        self.first: float | None = None
        self._older: float | None = None  # the best of the values that left the window, in order

    def _better(self, v: float, cur: float | None) -> bool:
        return cur is None or (v > cur if self.highest else v < cur)

    def push(self, v: float) -> None:
        if self.count == 0:
            self.first = v
        if len(self.window) == self.window.maxlen:
            old = self.window[0]
            if self._better(old, self._older):
                self._older = old
        self.window.append(v)
        self.count += 1

    def last(self, k: int) -> float:
        """The best of the last `k` values (1 ≤ k ≤ window)."""
        return self._fold(None, list(self.window)[-k:])

    def before(self, k: int) -> float:
        """The best of all values but the last `k` (k < count, k ≤ window)."""
        return self._fold(self._older, list(self.window)[:-k] if k else list(self.window))

    def _fold(self, cur: float | None, values: Iterable[float]) -> float:
        for v in values:
            if self._better(v, cur):
                cur = v
        assert cur is not None
        return cur


class DoctorState(Protocol):
    """What a rule may read of the :class:`~tui.core.diagnostics.doctor.Doctor` that runs it."""

    config: Any
    thresholds: Thresholds
    dataset: Any
    history: EpochLog

    @property
    def classes(self) -> int | None: ...

    def track(self, kind: type[T]) -> T: ...


# -- the registry ------------------------------------------------------------------------------------------------

PreflightRule = Callable[[Any, Any, "int | None", Thresholds], "Finding | None"]
EpochRule = Callable[[DoctorState, EpochLog], "Finding | None"]

PREFLIGHT_RULES: list[PreflightRule] = []
"""Rules over the configuration (and the DatasetInfo when loaded), run before training."""
EPOCH_RULES: list[Any] = []
"""Rules over the epoch log, run after each full epoch in the order registered: functions, or classes (one
instance per Doctor, called every epoch, so they may keep running state) whose instances are EpochRules."""
TRACKERS: list[type] = []
"""Running state shared by several rules: classes built with the Thresholds and told each epoch (``add(log)``,
after the row is appended and before any rule runs); a rule reads its doctor's with ``doctor.track(Kind)``."""


def tracker(cls: type[T]) -> type[T]:
    TRACKERS.append(cls)
    return cls


def preflight_rule(fn: PreflightRule) -> PreflightRule:
    PREFLIGHT_RULES.append(fn)
    return fn


def epoch_rule(fn: Any) -> Any:
    EPOCH_RULES.append(fn)
    return fn
