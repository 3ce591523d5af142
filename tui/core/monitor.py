"""What a viewer knows about a run, folded from its events: the state any UI renders from.

Pure and cheap: `apply()` is called on the UI thread for each drained event; nothing here touches a widget.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from tui.core.diagnostics import Finding, most_severe
from tui.core.events import (BatchEnd, Diagnosis, EpochEnd, Event, GradientNorms, Prepare, RunEnded, RunStarted,
                             SettingsChanged, StateChanged)
from tui.core.series import BoundedSeries

HISTORY_WINDOW = 200
"""Epoch rows a viewer keeps: as many as the epoch table shows (tui.ui.screens.training.TABLE_ROWS); the charts
draw from the bounded curves and the full history is in the run directory."""
SERIES_POINTS = 1024
"""Points kept per curve for drawing, however long the run (a chart draws about twice its width)."""
BATCH_POINTS = 512
"""Points kept of the running epoch's batch-loss trace."""
ETA_EPOCHS = 10
"""The ETA is the mean of the latest this many epochs after the first one seen (the first traces the model and
takes several times longer; a change made while paused, such as the batch size, moves the pace)."""


@dataclass
class RunMonitor:
    state: str = "preparing"  # preparing | running | paused | stopping | evaluating | finished | stopped | failed
    prepare: Prepare | None = None
    started: RunStarted | None = None
    history: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_WINDOW))
    """The latest epochs' rows (at most HISTORY_WINDOW): memory stays flat on a run of any length."""
    epochs_seen: int = 0
    """Epoch rows received in all (history keeps only the latest)."""
    curves: dict[str, BoundedSeries] = field(default_factory=dict)
    """Every epoch metric as a curve of at most SERIES_POINTS points, for the charts."""
    batches: BoundedSeries = field(default_factory=lambda: BoundedSeries(BATCH_POINTS))
    _first_seconds: float | None = None
    _recent_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=ETA_EPOCHS))
    last_batch: BatchEnd | None = None
    findings: tuple[Finding, ...] = ()
    """The doctor's current findings, most severe first (from the session's Diagnosis events)."""
    gradients: GradientNorms | None = None
    """The latest per-layer gradient norms."""
    changed_findings: bool = False
    changed_gradients: bool = False
    ended: RunEnded | None = None
    changed_epochs: bool = False
    changed_batches: bool = False
    changes: list[SettingsChanged] = field(default_factory=list)
    """Settings changed while the run was paused, in order (the lr chart marks them, the epoch table lists them)."""
    epochs_seconds: float = 0.0
    """The seconds of every epoch seen, summed (each as the run timed it)."""

    @property
    def finding(self) -> Finding | None:
        """The finding a banner shows."""
        return most_severe(self.findings)

    @property
    def active(self) -> bool:
        return self.ended is None

    @property
    def trained_seconds(self) -> float:
        """How long the run has trained, by its own clock as its events tell it: the epochs seen, and the running
        one up to its latest batch event. Time paused, or spent outside the epochs, is not in it."""
        b = self.last_batch
        running = b is not None and (not self.history or b.epoch > self.history[-1]["epoch"])
        return self.epochs_seconds + (b.epoch_seconds if b is not None and running else 0.0)

    def apply(self, event: Event) -> None:
        if isinstance(event, Prepare):
            self.prepare = event
            if self.started is not None and self.ended is None:  # after training: the test split's evaluation
                self.state = "evaluating"
        elif isinstance(event, RunStarted):
            self.started = event
            self.state = "running"
        elif isinstance(event, BatchEnd):
            if self.last_batch is None or event.epoch != self.last_batch.epoch:
                self.batches = BoundedSeries(BATCH_POINTS)
            self.batches.append(event.batch, event.window_loss)
            self.last_batch = event
            self.changed_batches = True
        elif isinstance(event, EpochEnd):
            if self.history and event.epoch <= self.history[-1]["epoch"] and not self.history[-1].get("partial"):
                # A resumed run trains again the epochs after its last backup (tui.core.keras.saving.SpacedBackup),
                # to the same numbers: a viewer that followed the run before the kill has them already.
                return
            row = {"epoch": event.epoch, **event.logs, "lr": event.lr, "epoch_seconds": event.seconds,
                   "samples_per_second": event.samples_per_second, **({"partial": True} if event.partial else {})}
            self.history.append(row)
            self.epochs_seen += 1
            self.epochs_seconds += event.seconds
            if self._first_seconds is None:
                self._first_seconds = event.seconds
            else:
                self._recent_seconds.append(event.seconds)
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    curve = self.curves.get(key)
                    if curve is None:
                        curve = self.curves[key] = BoundedSeries(SERIES_POINTS)
                    curve.append(event.epoch, value)
            self.changed_epochs = True
        elif isinstance(event, Diagnosis):
            self.findings = tuple(event.findings)
            self.changed_findings = True
        elif isinstance(event, GradientNorms):
            self.gradients = event
            self.changed_gradients = True
        elif isinstance(event, SettingsChanged):
            self.changes.append(event)
            epochs = event.values.get("training.epochs")
            if epochs is not None and self.started is not None:
                self.started = replace(self.started, epochs=int(epochs))
            lr = event.values.get("optimizer.learning_rate")
            if lr is not None:  # a step in the learning-rate curve where the change took effect
                curve = self.curves.get("lr")
                if curve is None:
                    curve = self.curves["lr"] = BoundedSeries(SERIES_POINTS)
                old = event.previous.get("optimizer.learning_rate")
                if old is not None:
                    curve.append(event.at, float(old))
                curve.append(event.at, float(lr))
            self.changed_epochs = True
        elif isinstance(event, StateChanged):
            if self.ended is None:
                self.state = event.state if event.state != "running" or self.started else self.state
        elif isinstance(event, RunEnded):
            self.ended = event
            self.state = event.status

    def settings(self) -> dict[str, Any]:
        """The changeable settings as they are now: the configuration's, then every change made while paused."""
        from tui.core.changes import CHANGEABLE

        out: dict[str, Any] = {}
        if self.started is not None:
            out = {key: self.started.config.get(key) for key in CHANGEABLE}
            out["training.epochs"] = self.started.epochs
        for change in self.changes:
            out.update(change.values)
        lr_changes = [c.at for c in self.changes if "optimizer.learning_rate" in c.values]
        if self.history and "lr" in self.history[-1] and (not lr_changes or self.history[-1]["epoch"] > lr_changes[-1]):
            out["optimizer.learning_rate"] = self.history[-1]["lr"]  # as the schedule left it at the last epoch
        return out

    def series(self, *keys: str) -> dict[str, tuple[list[float], list[float]]]:
        """The curves of `keys` ({key: (epochs, values)}), each at most SERIES_POINTS points long."""
        return {key: self.curves[key].points() for key in keys if key in self.curves and len(self.curves[key])}

    def curves_of(self, *keys: str) -> dict[str, BoundedSeries]:
        """The curves of `keys` themselves, for a chart: it asks each for a view as wide as it is."""
        return {key: self.curves[key] for key in keys if key in self.curves and self.curves[key].version}

    @property
    def batch_x(self) -> list[float]:
        return self.batches.points()[0]

    @property
    def batch_y(self) -> list[float]:
        return self.batches.points()[1]

    def eta_seconds(self) -> float | None:
        """Remaining time from the pace of the latest epochs (ETA_EPOCHS, the first one seen left out once there are
        others) and the progress of the running epoch; nothing is left once the run has ended, however it ended
        (stopped early, failed)."""
        if self.ended is not None:
            return 0.0
        if not self.started or self._first_seconds is None:
            return None
        recent = self._recent_seconds
        mean = sum(recent) / len(recent) if recent else self._first_seconds
        left = self.started.epochs - self.epochs_seen
        frac = 0.0
        if self.last_batch and self.last_batch.epoch == self.epochs_seen + 1:
            frac = self.last_batch.batch / self.last_batch.steps
        return max(0.0, (left - frac) * mean)
