"""What every part of the dataset package shares: the dataset types, the one shape every loader returns, progress
reporting, the built-in datasets' class names."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tui.core.config import DatasetConfig

ProgressFn = Callable[[str, int, "int | None"], None]
"""``progress(message, done, total)``, e.g. ``("Downloading mnist.npz", bytes_done, bytes_total)``."""

DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


class DatasetError(Exception):
    """A dataset that cannot be loaded; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, int, int]  # H, W, C
    num_classes: int
    class_names: tuple[str, ...]
    train: int
    val: int
    test: int
    class_counts: tuple[int, ...]
    """Samples per class in the whole dataset as found (train + val + test, before ``train_size``)."""
    skipped: Mapping[str, int] = field(default_factory=dict)
    """Folder datasets: files left out, by reason (``{"not an image": 3, "corrupt": 1}``)."""
    source: str = ""


@dataclass(frozen=True)
class Dataset:
    info: DatasetInfo
    x_train: np.ndarray  # uint8, N x H x W x C
    y_train: np.ndarray  # int64 class indices
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None


@dataclass(frozen=True)
class Loaded:
    """What every loader returns, whatever the source: the images it found (uint8 N x H x W x C) with their class
    indices, the dataset's official test split when it has one, the class names, where the data came from (a path,
    "downloaded to ...", "embedded ..."), and the files left out, by reason (image folders)."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    source: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)


class Throttle:
    """Forwards progress at most ~10 times a second (always the first and the final call of a task)."""

    def __init__(self, fn: ProgressFn | None) -> None:
        self.fn = fn
        self.last = 0.0
        self.message = ""

    def __call__(self, message: str, done: int, total: int | None, final: bool = False) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if final or message != self.message or now - self.last >= 0.1:
            self.fn(message, done, total)
            self.last, self.message = now, message


Loader = Callable[[DatasetConfig, Throttle], Loaded]
"""``loader(dataset config, progress) -> Loaded``: the one signature of every dataset loader."""
