"""Loading datasets: the embedded digits, the Keras datasets and image folders, as uint8 NHWC arrays.

UI-free and TensorFlow-free: files are read with numpy and Pillow, so loading is fast and works offline.

Where data comes from, in order (see :func:`data_dirs`): ``dataset.data_dir``, ``$CNN_TUI_DATA_DIR``, the
download cache (``$XDG_CACHE_HOME/cnn-tui/data``, default ``~/.cache/cnn-tui/data``), Keras' cache
(``$KERAS_HOME/datasets``, default ``~/.keras/datasets``) and ``/usr/share/datasets``. A built-in dataset that
is in none of them is downloaded from the URLs Keras uses into the download cache.

Splits: an official test split is kept as the test split. Datasets without one (digits, folders) first hold
out ``test_fraction`` of all samples as test. Validation is then ``val_fraction`` of what remains for training,
and ``train_size`` (if > 0) takes a subset of the rest. Every split is stratified and seeded with
``dataset.seed``, so the same seed gives the same split.

Decoded image folders (and the CIFAR-10 JPEG archive) are cached as ``.npz`` files in the download cache, so
only the first load decodes the images.

Layout: ``common`` (Dataset, DatasetInfo, DatasetError, and Loaded: what every loader returns), ``sources`` (data
directories, downloads, caches), ``images`` (decoding image files), ``builtin`` and ``folder`` (the loaders, one
signature: ``loader(config, progress) -> Loaded``), ``splits``; this module registers the loaders and splits what
they return.
"""

from __future__ import annotations

import numpy as np

from tui.core.config import DatasetConfig
from tui.core.datasets.builtin import load_cifar10, load_cifar100, load_digits, load_fashion_mnist, load_mnist
from tui.core.datasets.common import (CIFAR10_NAMES, DIGIT_NAMES, FASHION_NAMES, Dataset, DatasetError, DatasetInfo,
                                      Loaded, Loader, ProgressFn, Throttle)
from tui.core.datasets.folder import load_folder
from tui.core.datasets.images import decode_image
from tui.core.datasets.sources import DATA_DIR_ENV, cache_dir, data_dirs, download
from tui.core.datasets.splits import split, stratified_pick, take_rows, to_gray

__all__ = ["CIFAR10_NAMES", "DATA_DIR_ENV", "DIGIT_NAMES", "FASHION_NAMES", "LOADERS", "Dataset", "DatasetError",
           "DatasetInfo", "Loaded", "Loader", "ProgressFn", "Throttle", "cache_dir", "data_dirs", "decode_image",
           "download", "known_shape", "load_dataset"]

LOADERS: dict[str, Loader] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "folder": load_folder,
}
"""dataset.name → its loader."""

_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((8, 8, 1), 10),
    "mnist": ((28, 28, 1), 10),
    "fashion_mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
}


def known_shape(cfg: DatasetConfig) -> tuple[tuple[int, int, int], int] | None:
    """``(input_shape, num_classes)`` of a built-in dataset without loading it (grayscale applied); None for
    folder datasets, whose classes are only known after reading the folder."""
    entry = _SHAPES.get(cfg.name)
    if entry is None:
        return None
    (h, w, c), n = entry
    return (h, w, 1 if cfg.grayscale else c), n


def load_dataset(cfg: DatasetConfig, progress: ProgressFn | None = None) -> Dataset:
    """Load, split and (optionally) subset the dataset `cfg` describes; raises DatasetError with a fix."""
    loader = LOADERS.get(cfg.name)
    if loader is None:
        choices = ", ".join([*_SHAPES, "folder"])
        raise DatasetError(f"unknown dataset {cfg.name!r}; set dataset.name to one of {choices}")
    rng = np.random.default_rng(cfg.seed)
    found = loader(cfg, Throttle(progress))
    x, y, x_test, y_test = found.x, found.y, found.x_test, found.y_test
    names, source, skipped = found.class_names, found.source, dict(found.skipped)
    del found  # the arrays as loaded are dropped as soon as the splits are cut from them

    y = y.astype(np.int64, copy=False)
    counts = np.bincount(y, minlength=len(names))
    rest, held = np.arange(len(y)), np.empty(0, np.int64)
    if y_test is not None:
        y_test = y_test.astype(np.int64, copy=False)
        counts = counts + np.bincount(y_test, minlength=len(names))
    elif cfg.test_fraction > 0:
        rest, held = split(y, cfg.test_fraction, rng)
        y_test = y[held]
    y_rest = y[rest]
    train_idx, val_idx = split(y_rest, cfg.val_fraction, rng)
    if 0 < cfg.train_size < len(train_idx):
        train_idx = train_idx[stratified_pick(y_rest[train_idx], cfg.train_size, rng, min_each=True)]
    train_idx, val_idx = rest[train_idx], rest[val_idx]
    y_train, y_val = y[train_idx], y[val_idx]
    # the splits are cut from the loaded array's own memory: train, validation, then held-out test rows
    rows = take_rows(x, np.concatenate([train_idx, val_idx, held]))
    del x
    x_train, x_val = rows[:len(train_idx)], rows[len(train_idx):len(train_idx) + len(val_idx)]
    if len(held):
        x_test = rows[len(train_idx) + len(val_idx):]
    del rows

    if cfg.grayscale:
        x_train, x_val = to_gray(x_train), to_gray(x_val)
        x_test = to_gray(x_test) if x_test is not None else None
    if x_test is not None and len(x_test) == 0:
        x_test = y_test = None
    _, height, width, channels = (int(v) for v in x_train.shape)
    info = DatasetInfo(
        name=cfg.name, input_shape=(height, width, channels),
        num_classes=len(names), class_names=tuple(names), train=len(y_train), val=len(y_val),
        test=0 if y_test is None else len(y_test), class_counts=tuple(int(c) for c in counts),
        skipped=skipped, source=source,
    )
    return Dataset(info, x_train, y_train, x_val, y_val, x_test, y_test)
