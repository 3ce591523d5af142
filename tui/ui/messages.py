"""Typed messages of the Textual layer, all in one place.

Training events do not travel as messages: the session appends them to a deque that the training screen
drains a few times a second (see TrainingScreen). These messages carry the rarer results of background work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from tui.core.config import ExperimentConfig
from tui.core.events import ModelSummary


@dataclass
class FieldChanged(Message):
    """A form field was edited: the parsed value, or the validation error (value is then None)."""

    key: str
    value: Any
    error: str | None


@dataclass
class StartRequested(Message):
    """The set-up screen asks the app to train this (valid) configuration."""

    config: ExperimentConfig
    lr_find: dict[str, Any] | None = None
    """The range test run on this set-up just before (RangeTestResult.to_dict()), kept in the run's summary."""


@dataclass
class DatasetReady(Message):
    """Background dataset preparation finished: shape, classes, counts and splits are known."""

    info: Any  # tui.core.datasets.DatasetInfo
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
class DatasetPreview(Message):
    """A few training images per class (uint8 N x H x W x C each), for the set-up screen's samples view."""

    images: list[Any]
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

    result: Any  # tui.core.lrfind.RangeTestResult
    config: ExperimentConfig


@dataclass
class RangeTestFailed(Message):
    error: str
