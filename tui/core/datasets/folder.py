"""An image folder as a dataset: one sub-folder of images per class, decoded once and cached as .npz."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tui.core.config import DatasetConfig
from tui.core.datasets.common import DatasetError, Loaded, Throttle
from tui.core.datasets.images import decode_images, file_stats, scan_classes
from tui.core.datasets.sources import cache_dir, cache_signature, load_cache, save_cache


def load_folder(cfg: DatasetConfig, report: Throttle) -> Loaded:
    """The images under ``dataset.path``, one sub-folder per class (files that are no image, damaged, too large or
    outside a class folder are left out and counted; class folders without images are dropped)."""
    if not cfg.path:
        raise DatasetError("dataset folder: no folder given; set dataset.path to a directory with one "
                           "sub-folder of images per class")
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder: {root} does not exist; set dataset.path to a directory with one "
                           f"sub-folder of images per class")
    if not root.is_dir():
        raise DatasetError(f"dataset folder: {root} is not a directory; dataset.path must be a directory with "
                           f"one sub-folder of images per class")
    subdirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sum(1 for f in root.iterdir() if f.is_file() and not f.name.startswith("."))
    mode = "L" if cfg.grayscale else "RGB"
    files, labels = scan_classes(root, subdirs)
    sig = cache_signature("folder", str(root.resolve()), cfg.image_size, mode, loose, file_stats(root, files))
    cache = cache_dir() / "folders" / f"{sig}.npz"
    cached = load_cache(cache)
    if cached is not None:
        x, y = cached["x"], cached["y"]
        names = tuple(str(n) for n in cached["class_names"])
        skipped = {str(k): int(v) for k, v in zip(cached["skipped_reasons"], cached["skipped_counts"])}
        return Loaded(x, y, names, str(root), skipped=skipped)

    x, keep, skipped = decode_images(files, cfg.image_size, mode, report)
    y = labels[keep]
    if loose:
        skipped["outside a class folder"] += loose
    present = np.bincount(y, minlength=len(subdirs)) > 0 if len(y) else np.zeros(len(subdirs), bool)
    if not len(y):
        raise DatasetError(
            f"dataset folder: no readable images in {root} ({len(subdirs)} sub-folders, {len(files)} files"
            f"{', skipped: ' + _fmt_skipped(skipped) if skipped else ''}); put images (PNG, JPEG, ...) into "
            f"one sub-folder per class, e.g. {root}/cats/1.jpg and {root}/dogs/1.jpg")
    if present.sum() < 2:
        raise DatasetError(
            f"dataset folder: {root} has images for {int(present.sum())} class (sub-folders: "
            f"{', '.join(subdirs) or 'none'}); at least 2 class sub-folders with images are needed, e.g. "
            f"{root}/cats/ and {root}/dogs/")
    if not present.all():  # drop class folders without images, renumbering the labels
        skipped["empty class folder"] += int((~present).sum())
        remap = np.cumsum(present) - 1
        y = remap[y]
        subdirs = [n for n, p in zip(subdirs, present) if p]
    names = tuple(subdirs)
    reasons = sorted(skipped)
    save_cache(cache, x=x, y=y, class_names=np.asarray(names, dtype=str),
                skipped_reasons=np.asarray(reasons, dtype=str),
                skipped_counts=np.asarray([skipped[r] for r in reasons], np.int64))
    return Loaded(x, y, names, str(root), skipped=dict(skipped))


def _fmt_skipped(skipped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
