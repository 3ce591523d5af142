"""Leslie Smith's learning-rate range test ("lr_find"): which learning rate to start from.

A copy of the configured model (same seed, same weights as the real run would start from) trains for one short
sweep of mini-batches while the learning rate grows exponentially from a tiny to a huge value; the loss first
barely moves, then falls, then blows up. The suggestion is the rate where the smoothed loss falls fastest (the
steepest descent); the rate at the loss minimum ÷ 10 is shown beside it. Nothing is restored afterwards: the
copy is thrown away and the real run builds its model afresh.

UI-free: progress goes out as immutable events (RangeTestStatus, RangeTestStep) to an `emit` callable; Keras and
TensorFlow are imported only when the test runs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.core.config import ExperimentConfig

DEFAULT_RANGE = (1e-7, 10.0)
RANGES: Mapping[str, tuple[float, float]] = {"adadelta": (1e-3, 100.0)}
"""Optimizers whose useful rates live on another scale: Adadelta's steps are the rate times a ratio of running
averages that starts near sqrt(1e-7), so rates of about 1 (its paper's choice) and above are where it learns."""
MAX_RATE = 100.0
"""The largest optimizer.learning_rate the configuration accepts; suggestions are kept at or below it."""
DEFAULT_STEPS = 100
MIN_STEPS = 10
"""Fewer points than this cannot show a curve: the test refuses to run."""
SMOOTHING = 0.9
"""Weight of the running average (bias-corrected, as fastai's): about ten steps of memory, less than a decade
of learning rate on a 100-step sweep, so the curve is smooth but not late."""
DIVERGE_FACTOR = 4.0
"""The test stops when the smoothed loss exceeds this multiple of its minimum so far."""


class RangeTestError(Exception):
    """The range test cannot run or gave nothing usable; the message says why and what to change."""


@dataclass(frozen=True)
class RangeTestStatus:
    """What the test is doing before its first step (loading data, building the model)."""

    message: str


@dataclass(frozen=True)
class RangeTestStep:
    """One mini-batch of the range test: the rate it trained at, its loss, and the smoothed loss."""

    step: int
    steps: int
    lr: float
    loss: float
    smoothed: float


@dataclass(frozen=True)
class RangeTestSettings:
    start_lr: float = DEFAULT_RANGE[0]
    end_lr: float = DEFAULT_RANGE[1]
    steps: int = DEFAULT_STEPS
    smoothing: float = SMOOTHING
    diverge_factor: float = DIVERGE_FACTOR

    def lr_at(self, step: int, steps: int) -> float:
        """The rate of 0-based `step` of `steps`: start × (end/start)^(step / (steps − 1))."""
        return float(self.start_lr * (self.end_lr / self.start_lr) ** (step / max(1, steps - 1)))


def settings_for(config: ExperimentConfig) -> RangeTestSettings:
    """The default range for the configured optimizer (1e-7 → 10, Adadelta 1e-3 → 100)."""
    start, end = RANGES.get(config.optimizer.name, DEFAULT_RANGE)
    return RangeTestSettings(start_lr=start, end_lr=end)


@dataclass(frozen=True)
class RangeTestResult:
    optimizer: str
    start_lr: float
    end_lr: float
    planned_steps: int
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    steepest: float | None
    """The rate at the steepest descent of the smoothed loss (the suggestion)."""
    min_tenth: float | None
    """The rate at the minimum of the smoothed loss, ÷ 10."""
    stop_reason: str
    """"completed", "diverged" (smoothed loss over DIVERGE_FACTOR × its minimum), "nan" or "stopped"."""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def suggestion(self) -> float | None:
        """The chosen rate: the steepest descent, or minimum ÷ 10 when the curve has no clear descent."""
        return self.steepest if self.steepest is not None else self.min_tenth

    @property
    def chosen(self) -> str:
        return "steepest descent" if self.steepest is not None else ("minimum ÷ 10" if self.min_tenth else "none")

    def describe(self) -> list[str]:
        """Plain lines: the suggestions, which one is chosen, and why the test ended."""
        ended = {"completed": f"ran all {len(self.lrs)} steps",
                 "diverged": f"stopped after {len(self.lrs)} steps: the loss blew up (over {DIVERGE_FACTOR:g}× its "
                             "minimum)",
                 "nan": f"stopped after {len(self.lrs)} steps: the loss became NaN",
                 "stopped": f"stopped by request after {len(self.lrs)} steps"}.get(self.stop_reason, self.stop_reason)
        lines = [f"{self.optimizer}: learning rate {self.start_lr:.0e} → {self.end_lr:.0e}, {ended}",
                 f"steepest descent: {fmt_lr(self.steepest)}" + ("  ← chosen" if self.steepest is not None else ""),
                 f"minimum ÷ 10:     {fmt_lr(self.min_tenth)}" + ("  ← chosen" if self.steepest is None
                                                                 and self.min_tenth is not None else "")]
        return lines + list(self.notes)

    def to_dict(self) -> dict[str, Any]:
        """The summary.json block (``lr_find``)."""
        return {"optimizer": self.optimizer, "start_lr": self.start_lr, "end_lr": self.end_lr,
                "planned_steps": self.planned_steps, "steps": len(self.lrs),
                "lrs": [float(f"{v:.6g}") for v in self.lrs], "losses": [round(v, 6) for v in self.losses],
                "smoothed": [round(v, 6) for v in self.smoothed], "steepest": self.steepest,
                "min_tenth": self.min_tenth, "suggestion": self.suggestion, "chosen": self.chosen,
                "stop_reason": self.stop_reason, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeTestResult:
        return cls(optimizer=str(data.get("optimizer", "?")), start_lr=float(data["start_lr"]),
                   end_lr=float(data["end_lr"]), planned_steps=int(data.get("planned_steps", 0)),
                   lrs=tuple(map(float, data.get("lrs", ()))), losses=tuple(map(float, data.get("losses", ()))),
                   smoothed=tuple(map(float, data.get("smoothed", ()))), steepest=data.get("steepest"),
                   min_tenth=data.get("min_tenth"), stop_reason=str(data.get("stop_reason", "?")),
                   notes=tuple(data.get("notes", ())))


def fmt_lr(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def smooth(losses: Sequence[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (the first value is the first loss)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def suggest(lrs: Sequence[float], smoothed: Sequence[float]) -> tuple[float | None, float | None]:
    """(steepest descent, minimum ÷ 10) of a smoothed loss curve over exponentially spaced rates.

    The steepest descent is the most negative slope of the loss against log10(rate), looked for between the first
    tenth of the points (where the running average still settles) and the minimum; None when the loss never fell
    there. Both are None when the loss is lowest among the first points (it never fell); both are kept at or below
    MAX_RATE."""
    n = len(smoothed)
    if n < 5:
        return None, None
    best = min(range(n), key=lambda i: smoothed[i])
    skip = max(1, n // 10)
    if best < skip:  # lowest at the very start: the loss never fell, and the start ÷ 10 means nothing
        return None, None
    min_tenth = min(MAX_RATE, lrs[best] / 10)
    logs = [math.log10(v) for v in lrs]
    slopes = []
    for i in range(skip, best + 1):
        lo, hi = max(0, i - 1), min(n - 1, i + 1)
        slopes.append(((smoothed[hi] - smoothed[lo]) / (logs[hi] - logs[lo]), i))
    if not slopes:
        return None, min_tenth
    slope, i = min(slopes)
    if slope >= 0:
        return None, min_tenth
    return min(MAX_RATE, lrs[i]), min_tenth


def find_lr(config: ExperimentConfig, *, emit: Callable[[Any], None] | None = None,
            stop_event: threading.Event | None = None, settings: RangeTestSettings | None = None,
            data: Any = None) -> RangeTestResult:
    """Run the range test for `config` (on `data`, a loaded tui.core.datasets.Dataset, or the configured one).

    Raises RangeTestError with a message naming the problem: an architecture that cannot be built, a training set
    too small for a curve, a loss that is NaN from the first step."""
    from models import ArchitectureError, check_model
    from tui.core import datasets, keras_parts, tfenv

    sweep = settings or settings_for(config)
    say = emit or (lambda event: None)
    stop = stop_event or threading.Event()
    known = datasets.known_shape(config.dataset)
    if known and (reason := check_model(config, *known)):
        raise RangeTestError(f"the model cannot be built: {reason}")
    if data is None:
        say(RangeTestStatus(f"Preparing {config.dataset.name}…"))
        try:
            data = datasets.load_dataset(config.dataset)
        except datasets.DatasetError as exc:
            raise RangeTestError(str(exc)) from None
    n_train, batch = len(data.x_train), config.training.batch_size
    if batch > n_train:
        raise RangeTestError(f"training.batch_size = {batch} is larger than the training set ({n_train} samples); "
                             f"use a batch size of at most {n_train}")
    notes = []
    steps = min(sweep.steps, n_train // batch)
    if steps < MIN_STEPS:
        raise RangeTestError(f"the training set ({n_train} samples) has only {n_train // batch} full batches of "
                             f"{batch}; the range test needs at least {MIN_STEPS} (lower training.batch_size or use "
                             "more training data)")
    if steps < sweep.steps:
        notes.append(f"note: one epoch has only {steps} full batches of {batch} ({n_train} samples), so the test "
                     f"took {steps} steps instead of {sweep.steps}: a coarser curve (a smaller "
                     "training.batch_size gives more points)")

    say(RangeTestStatus("Loading TensorFlow…"))
    tfenv.import_tensorflow()
    from tui.core.keras.lrfind import RangeTest

    say(RangeTestStatus(f"Building {config.model.architecture}…"))
    num_classes = data.info.num_classes
    try:
        model = keras_parts.build_seeded(config, data.info.input_shape, num_classes)
    except ArchitectureError as exc:
        raise RangeTestError(f"the model cannot be built: {exc}") from None
    start_cfg = config.with_values({"optimizer.learning_rate": sweep.start_lr})
    model.compile(optimizer=keras_parts.make_optimizer(start_cfg), loss=config.training.loss,
                  metrics=keras_parts.make_metrics(config))
    train_ds = keras_parts.make_dataset(data.x_train, data.y_train, num_classes, config, shuffle=True)

    test = RangeTest(lambda batch: sweep.lr_at(batch, steps), smoothing=sweep.smoothing,
                     diverge_factor=sweep.diverge_factor, min_steps=MIN_STEPS, stop=stop,
                     on_step=lambda step, lr, loss, value: say(RangeTestStep(step, steps, lr, loss, value)))
    say(RangeTestStatus(f"Range test: {steps} steps, learning rate {sweep.start_lr:.0e} → "
                        f"{sweep.end_lr:.0e}…"))
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, callbacks=[test], verbose=0, shuffle=False,
              class_weight=keras_parts.class_weights(config, data.y_train, num_classes))
    lrs, smoothed, reason = test.lrs, test.smoothed, test.reason
    if not lrs and reason == "nan":
        raise RangeTestError(
            f"the loss is NaN from the first step, at a learning rate of {sweep.start_lr:.0e}: the rate is not "
            "the cause. Look at the inputs and the model first (dataset.rescale = true, model.init_std, the loss "
            "against the output activation, optimizer.clipnorm = 1.0)")
    steepest, min_tenth = suggest(lrs, smoothed)
    if steepest is None and reason != "stopped":
        notes.append("note: the loss did not fall over the range, so there is no " +
                     ("steepest descent; minimum ÷ 10 is only a guess" if min_tenth else "suggestion") +
                     " (check the data and the model, a smaller training.batch_size gives more steps, or the "
                     "optimizer may need another range)")
    return RangeTestResult(optimizer=config.optimizer.name, start_lr=sweep.start_lr, end_lr=sweep.end_lr,
                           planned_steps=steps, lrs=tuple(lrs), losses=tuple(test.losses), smoothed=tuple(smoothed),
                           steepest=steepest, min_tenth=min_tenth, stop_reason=reason, notes=tuple(notes))


def text_curve(result: RangeTestResult, width: int = 72, height: int = 16) -> str:
    """The smoothed loss against the learning rate (log x axis) as plain text, with the suggestions marked."""
    import re

    import plotext as plt

    if not result.lrs:
        return ""
    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.plot(list(result.lrs), list(result.smoothed), marker="braille", label="smoothed loss")
    plt.xscale("log")
    decade_ticks(plt, result.start_lr, result.end_lr)
    plt.ylim(*y_range(result.smoothed))
    for value in (result.steepest, result.min_tenth):
        if value is not None:
            plt.vline(value)
    plt.title("loss vs learning rate (| = steepest descent, minimum ÷ 10)")
    plt.xlabel("learning rate (log)")
    text = re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
    plt.clf()
    return "\n".join(line.rstrip() for line in text.splitlines())


def markdown_lines(data: Mapping[str, Any]) -> list[str]:
    """summary.md's section for the range test run before the run (the ``lr_find`` block of summary.json)."""
    result = RangeTestResult.from_dict(data)
    lines = ["## Learning-rate range test", "", *[f"- {line}" for line in result.describe()], ""]
    chart = text_curve(result)
    return lines + (["```", chart, "```", ""] if chart else [])


def decade_ticks(plt: Any, start: float, end: float) -> None:
    """Label the log x axis at whole decades (1e-07 … 1e+01) rather than plotext's fixed-point numbers."""
    lo, hi = math.floor(math.log10(start)), math.ceil(math.log10(end))
    step = max(1, (hi - lo) // 5)
    ticks = [10.0 ** e for e in range(lo, hi + 1, step)]
    plt.xticks(ticks, [f"{t:.0e}" for t in ticks])


def y_range(smoothed: Sequence[float]) -> tuple[float, float]:
    """From the lowest smoothed loss to a little above where it started: the blow-up at the end is cut off so the
    descent, the part that matters, fills the height."""
    low, first = min(smoothed), smoothed[0]
    top = min(max(smoothed), first + 1.5 * max(first - low, 0.05 * abs(first)))
    return low - 0.02 * (top - low), top


def matches(result_config: ExperimentConfig, config: ExperimentConfig) -> bool:
    """Whether a range test run on `result_config` speaks for `config`: the same experiment apart from the rate,
    the schedule and the number of epochs (which the test does not use)."""
    def key(c: ExperimentConfig) -> dict[str, Any]:
        d = c.to_dict()
        d.pop("schedule")
        d["optimizer"].pop("learning_rate")
        d["training"].pop("epochs")
        return d

    return key(result_config) == key(config)
