"""Immutable events a training session emits. Consumers (the app, the headless command, tests) subscribe;
the session knows nothing of who listens. Epochs and batches are counted from 1 here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from tui.core.config import ExperimentConfig
from tui.core.findings import Finding

if TYPE_CHECKING:
    from tui.core.datasets import DatasetInfo


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    output_shape: str
    params: int
    trainable: bool


@dataclass(frozen=True)
class ModelSummary:
    """A model's layers, output shapes and parameter counts, as data."""

    name: str
    layers: tuple[LayerInfo, ...]
    total_params: int
    trainable_params: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params


@dataclass(frozen=True)
class Event:
    """Base class of everything a session emits."""


@dataclass(frozen=True)
class Prepare(Event):
    """Something slow before training: loading TensorFlow, downloading or reading data, building the model."""

    stage: str
    message: str
    done: int = 0
    total: int | None = None


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    config: ExperimentConfig
    dataset: DatasetInfo
    model: ModelSummary
    epochs: int
    steps_per_epoch: int
    batch_size: int


@dataclass(frozen=True)
class BatchEnd(Event):
    """Sent a few times a second at most (throttled), never per batch.

    `loss` and `accuracy` are Keras' running means since the epoch began; `window_loss` is the mean loss of
    the batches since the previous BatchEnd (derived from the running means), which is what a per-batch trace
    should draw.
    """

    epoch: int
    batch: int
    steps: int
    loss: float
    accuracy: float | None
    window_loss: float
    samples_per_second: float
    epoch_seconds: float


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    epochs: int
    logs: Mapping[str, float]
    lr: float
    seconds: float
    samples_per_second: float
    partial: bool = False
    """True when a stop request cut this epoch short."""


@dataclass(frozen=True)
class GradientNorms(Event):
    """Per-layer gradient norms (L2 over each trainable layer's weights), sampled every few batches on a fixed
    small batch; what the gradient-flow panel draws."""

    epoch: int
    batch: int
    layers: tuple[str, ...]
    norms: tuple[float, ...]


@dataclass(frozen=True)
class Diagnosis(Event):
    """The doctor's current findings, the one it believes first at the top, sent whenever they change."""

    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class StateChanged(Event):
    """The run was paused, resumed or asked to stop."""

    state: str  # "paused" | "running" | "stopping"


@dataclass(frozen=True)
class RunEnded(Event):
    status: str  # "finished" | "stopped" | "failed"
    error: str | None
    run_dir: str | None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlAck(Event):
    """The owner of a run took a control request (tui.core.control): what it did, or why not."""

    request_id: str
    action: str  # stop | pause | resume | change
    ok: bool
    message: str


@dataclass(frozen=True)
class SubscriberFailed(Event):
    """A subscriber of the session's events (tui.core.bus) raised; the run goes on without what it does. Sent
    once per subscriber, on its first failure."""

    subscriber: str
    """What failed: "the event log", "the doctor", or the subscriber's qualified name."""
    failed_on: str
    """The type of the event it failed on."""
    error: str
    """The exception, one line."""

    @property
    def message(self) -> str:
        """What a view says about it."""
        return f"{self.subscriber} failed on {self.failed_on} ({self.error}); the run goes on without it"


@dataclass(frozen=True)
class SettingsChanged(Event):
    """A change made while the run was paused (tui.core.changes), applied in the training thread at a batch
    boundary: before batch `batch + 1` of epoch `epoch` (batch = steps: at the epoch's end)."""

    epoch: int
    batch: int
    steps: int
    values: Mapping[str, Any]
    """{"section.key": new value}"""
    previous: Mapping[str, Any]
    """{"section.key": the value before}"""
    resumed: bool = False
    """Applied again when the run was resumed (it was made before the backup the run resumed from)."""

    @property
    def at(self) -> float:
        """Where in the run, in epochs (the x axis of the epoch charts: epoch e ends at x = e)."""
        return self.epoch - 1 + (self.batch / self.steps if self.steps else 0.0)
