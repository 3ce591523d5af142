"""Image files: walking class folders, and decoding any image Pillow reads into a uint8 square of a given size
(never raising for a bad file when decoding many: the reasons are counted)."""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np

from tui.core.datasets.common import Throttle


def walk_files(root: Path) -> list[Path]:
    """Every file under `root`, sorted; symlinked folders are followed once (loops are cut)."""
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in filenames)
    return sorted(out)


def scan_classes(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """The files of each class folder and their labels (index into `classes`)."""
    files: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = [f for f in walk_files(root / name) if f.is_file()]
        files.extend(found)
        labels.extend([i] * len(found))
    return files, np.asarray(labels, np.int64)


def file_stats(root: Path, files: list[Path]) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime) per file: what a decoded-image cache is keyed on."""
    stats = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        stats.append((str(f.relative_to(root)), st.st_size, st.st_mtime_ns))
    return stats


def decode_image(data: bytes, size: int, mode: str) -> np.ndarray:
    """An image file's bytes as uint8 `size` x `size` x channels (`mode` "L" or "RGB"): transparency laid on white,
    16-bit grayscale scaled to 8 bits, big JPEGs decoded at a reduced scale. Raises Pillow's errors for a file it
    cannot read (UnidentifiedImageError, DecompressionBombError, ...)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()
    im: Image.Image = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft(mode if mode == "L" else "RGB", (size, size))  # decode big JPEGs at a reduced scale
    im.load()
    if (im.mode == "P" and "transparency" in im.info) or im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if im.mode != mode:
        im = im.convert(mode)
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def try_decode(data: bytes, size: int, mode: str, skipped: Counter[str]) -> np.ndarray | None:
    """One decoded image, or None with the reason counted in `skipped` (never raises for bad files)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return decode_image(data, size, mode)
    except UnidentifiedImageError:
        skipped["not an image"] += 1
    except Image.DecompressionBombError:
        skipped["too large"] += 1
    except Exception:  # truncated or damaged files of every kind
        skipped["corrupt"] += 1
    return None


def decode_images(files: list[Path], size: int, mode: str, report: Throttle,
                   message: str = "Reading images") -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    """Decode `files` into one uint8 array; returns (images, indices of the files kept, skipped by reason)."""
    channels = 1 if mode == "L" else 3
    x = np.empty((len(files), size, size, channels), np.uint8)
    keep: list[int] = []
    skipped: Counter[str] = Counter()
    total = len(files)
    report(message, 0, total, final=True)
    for i, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError:
            skipped["unreadable"] += 1
            continue
        image = try_decode(data, size, mode, skipped)
        if image is not None:
            x[len(keep)] = image
            keep.append(i)
        if (i + 1) % 500 == 0 and i + 1 < total:
            report(message, i + 1, total)
    report(message, total, total, final=True)
    return x[:len(keep)], np.asarray(keep, np.int64), skipped
