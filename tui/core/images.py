"""Images in the terminal: a uint8 array as rich Text of half blocks, two pixel rows per character row.

Each cell is "▀" with the upper pixel as foreground and the lower one as background colour; a one-channel
image is drawn in grays. An odd last pixel row leaves the cell's background to the terminal.
"""

from __future__ import annotations

import math

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

UPPER_HALF = "▀"


def as_hwc(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1 or HxWx3 uint8 -> HxWx3 uint8 (gray repeated over the channels)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"images are drawn from uint8 arrays, not {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"an image is HxW, HxWx1 or HxWx3, not shape {a.shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def _starts(size: int, out: int) -> np.ndarray:
    return np.floor(np.arange(out) * size / out).astype(np.intp)


def downscale(image: np.ndarray, max_width: int | None = None, max_height: int | None = None) -> np.ndarray:
    """Shrink (never enlarge) an HxWx3 image by box averaging so it fits `max_width` cells across and
    `max_height` cell rows (two pixel rows each), keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = 1.0
    if max_width:
        scale = min(scale, max_width / w)
    if max_height:
        scale = min(scale, 2 * max_height / h)
    if scale >= 1.0:
        return image
    oh, ow = max(1, math.floor(h * scale)), max(1, math.floor(w * scale))
    rows, cols = _starts(h, oh), _starts(w, ow)
    sums = np.add.reduceat(np.add.reduceat(image.astype(np.float64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))[..., None]
    out: np.ndarray = np.rint(sums / counts).clip(0, 255).astype(np.uint8)
    return out


def image_text(image: np.ndarray, max_width: int | None = None, max_height: int | None = None) -> Text:
    """The image as half-block Text, ceil(H/2) lines of W cells (after downscaling to the limits)."""
    rgb = downscale(as_hwc(image), max_width, max_height)
    h, w = rgb.shape[:2]
    styles: dict[tuple[int, ...], Style] = {}

    def style(top: np.ndarray, bottom: np.ndarray | None) -> Style:
        key = (*top.tolist(), *(bottom.tolist() if bottom is not None else ()))
        if key not in styles:
            styles[key] = Style(color=Color.from_rgb(*key[:3]),
                                bgcolor=Color.from_rgb(*key[3:]) if bottom is not None else None)
        return styles[key]

    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, h, 2):
        if y:
            text.append("\n")
        for x in range(w):
            text.append(UPPER_HALF, style(rgb[y, x], rgb[y + 1, x] if y + 1 < h else None))
    return text
