"""Typed messages of the Textual layer, all in one place.

Training events do not travel as messages: the session appends them to a deque that the training screen
drains a few times a second (see TrainingScreen). These messages carry the rarer results of background work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message

from tui.core.config import ExperimentConfig

if TYPE_CHECKING:  # types only: importing this module loads none of them
    import numpy as np

    from tui.core.events import ModelSummary

    from tui.core.datasets import DatasetInfo
    from tui.core.diagnostics import Fix
    from tui.core.inside import InsideView
    from tui.core.lrfind import RangeTestResult
    from tui.core.sweep import SweepSpec


@dataclass
class FieldChanged(Message):
    """A form field was edited: the parsed value, or the validation error (value is then None)."""

    key: str
    value: Any
    error: str | None


@dataclass
class StartRequested(Message):
    """The set-up screen asks the app to train this (valid) configuration (detached: in a process of its own,
    which the app then attaches to)."""

    config: ExperimentConfig
    detached: bool = False
    lr_find: dict[str, Any] | None = None
    """The range test run on this set-up just before (RangeTestResult.to_dict()), kept in the run's summary."""


@dataclass
class FixRequested(Message):
    """A screen asks the app to load `config` with the doctor's `fix` into the set-up form."""

    config: ExperimentConfig
    fix: Fix


@dataclass
class SweepRequested(Message):
    """A screen asks the app to run a sweep: a SweepSpec, or the directory of a sweep to resume."""

    target: SweepSpec | Path
    workers: int | None = None
    scheduler: str | None = None  # an existing Dask cluster's address, or None for this machine


@dataclass
class ResumeRequested(Message):
    """A screen asks the app to continue an interrupted run in its own directory."""

    run_dir: Path


@dataclass
class AttachRequested(Message):
    """A screen asks the app to follow a run that another process writes (a live run in the history)."""

    run_dir: Path


class AppServices(Protocol):
    """What screens may read of the app (the app is reached through messages for everything else)."""

    @property
    def runs_dir(self) -> Path: ...

    @property
    def training_active(self) -> bool: ...


@dataclass
class DatasetReady(Message):
    """Background dataset preparation finished: shape, classes, counts and splits are known."""

    info: DatasetInfo
    signature: str


@dataclass
class DatasetProgress(Message):
    message: str
    done: int
    total: int | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DatasetProgress)


@dataclass
class DatasetFailed(Message):
    error: str
    signature: str


@dataclass
class SummaryReady(Message):
    """The model for the current set-up was built in the background."""

    summary: ModelSummary
    signature: str


@dataclass
class SummaryFailed(Message):
    error: str
    signature: str


@dataclass
class SummaryProgress(Message):
    """Something the model summary waits for (the transfer backbone's ImageNet weights downloading)."""

    message: str
    done: int
    total: int | None
    signature: str


@dataclass
class DatasetPreview(Message):
    """A few training images per class (uint8 N x H x W x C each), for the set-up screen's samples view."""

    images: list[np.ndarray]
    class_names: tuple[str, ...]
    counts: tuple[int, ...]
    signature: str


@dataclass
class SweepUpdated(Message):
    """A sweep's state changed (a cell started, ran an epoch, ended); only the newest one matters."""

    state: Any  # tui.core.sweep.SweepState
    final: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SweepUpdated) and not message.final


@dataclass
class RunsRead(Message):
    """The run-history worker read or validated more runs (newest first); `final` when the folder is done and
    `records` is then every run in it (runs that disappeared meanwhile left out)."""

    records: list[Any]  # tui.core.runs.RunRecord
    done: int
    total: int
    final: bool = False
    scan: int = 0
    """Which reading of the folder this comes from: a screen ignores what an earlier one still sends."""
    live: bool = False
    """Runs in progress read again (the folder itself did not change): replace those rows, nothing else."""


@dataclass
class InsideReady(Message):
    """The inside view (tui.core.inside.InsideView) was computed for request number `request`."""

    view: InsideView
    request: int
    source: str


@dataclass
class InsideFailed(Message):
    """The inside view could not be computed (unreadable image, no model, ...); the message says why."""

    error: str
    request: int


@dataclass
class RangeTestProgress(Message):
    """The learning-rate range test so far: a status line and every (rate, smoothed loss) point; only the newest
    one matters."""

    status: str
    lrs: tuple[float, ...]
    smoothed: tuple[float, ...]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RangeTestProgress)


@dataclass
class RangeTestDone(Message):
    """The range test ended (completed, diverged, or stopped with Esc) on this configuration."""

    result: RangeTestResult
    config: ExperimentConfig


@dataclass
class RangeTestFailed(Message):
    error: str
