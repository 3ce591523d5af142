"""What a viewer knows about a run, folded from its events: the state any UI renders from.

Pure and cheap: `apply()` is called on the UI thread for each drained event; nothing here touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from tui.core.diagnostics import Finding, most_severe
from tui.core.events import (BatchEnd, Diagnosis, EpochEnd, Event, GradientNorms, Prepare, RunEnded, RunStarted,
                             StateChanged)


@dataclass
class RunMonitor:
    state: str = "preparing"  # preparing | running | paused | stopping | finished | stopped | failed
    prepare: Prepare | None = None
    started: RunStarted | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    batch_x: list[float] = field(default_factory=list)
    batch_y: list[float] = field(default_factory=list)
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

    @property
    def finding(self) -> Finding | None:
        """The finding a banner shows."""
        return most_severe(self.findings)

    @property
    def active(self) -> bool:
        return self.ended is None

    def apply(self, event: Event) -> None:
        if isinstance(event, Prepare):
            self.prepare = event
        elif isinstance(event, RunStarted):
            self.started = event
            self.state = "running"
        elif isinstance(event, BatchEnd):
            if self.last_batch is None or event.epoch != self.last_batch.epoch:
                self.batch_x, self.batch_y = [], []
            self.batch_x.append(event.batch)
            self.batch_y.append(event.window_loss)
            self.last_batch = event
            self.changed_batches = True
        elif isinstance(event, EpochEnd):
            self.history.append({"epoch": event.epoch, **event.logs, "lr": event.lr, "epoch_seconds": event.seconds,
                                 "samples_per_second": event.samples_per_second,
                                 **({"partial": True} if event.partial else {})})
            self.changed_epochs = True
        elif isinstance(event, Diagnosis):
            self.findings = tuple(event.findings)
            self.changed_findings = True
        elif isinstance(event, GradientNorms):
            self.gradients = event
            self.changed_gradients = True
        elif isinstance(event, StateChanged):
            if self.ended is None:
                self.state = event.state if event.state != "running" or self.started else self.state
        elif isinstance(event, RunEnded):
            self.ended = event
            self.state = event.status

    def series(self, *keys: str) -> dict[str, tuple[list[float], list[float]]]:
        out = {}
        for key in keys:
            pts = [(h["epoch"], h[key]) for h in self.history if key in h]
            if pts:
                out[key] = ([p[0] for p in pts], [p[1] for p in pts])
        return out

    def eta_seconds(self) -> float | None:
        """Remaining time from the mean epoch time so far and the progress of the running epoch."""
        if not self.started or not self.history:
            return None
        mean = sum(h["epoch_seconds"] for h in self.history) / len(self.history)
        left = self.started.epochs - len(self.history)
        frac = 0.0
        if self.last_batch and self.last_batch.epoch == len(self.history) + 1:
            frac = self.last_batch.batch / self.last_batch.steps
        return max(0.0, (left - frac) * mean)
