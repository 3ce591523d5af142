"""Two VGG-style blocks (the classic Keras CIFAR-10 example): Conv-Conv-Dropout-MaxPool twice, then two Dense layers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("Deep CNN: [Conv(f)-Conv(f)-Dropout-MaxPool] → [Conv(2f)-Conv(2f)-Dropout-MaxPool] → "
               "Dense(dense_units) → Dropout → Dense(0.6·dense_units) → softmax")
PARAMS = (
    Param("filters", int, 32, "filters of the first block's convolutions (the second block has twice as many)",
          minimum=1, maximum=4096),
    Param("dense_units", int, 256, "units of the first hidden Dense layer (the second has 60% of them)",
          minimum=2, maximum=65536),
    Param("conv_dropout", float, 0.2, "dropout rate after each convolution block", minimum=0.0, maximum=1.0,
          max_exclusive=True),
)

MIN_SIDE = 16
"""Smaller images are resized up to this side (8x8 digits would shrink to nothing otherwise)."""


def _final_side(side: int) -> int:
    for _ in range(2):  # each block: 'same' conv, 'valid' 3x3 conv (-2), 2x2 pooling
        side = (side - 2) // 2
    return side


def _effective(h: int, w: int) -> tuple[int, int]:
    if min(h, w) < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
        return math.ceil(h * scale), math.ceil(w * scale)
    return h, w


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    h, w = _effective(*input_shape[:2])
    if min(_final_side(h), _final_side(w)) < 1:  # pragma: no cover - upsizing keeps every input large enough
        return (f"deep_cnn needs images of at least 10x10 pixels after resizing; got {input_shape[0]}x"
                f"{input_shape[1]}: use a larger image size")
    return None


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    inp, x = common.inputs(config, input_shape, min_side=MIN_SIDE)
    for filters in (p["filters"], 2 * p["filters"]):
        x = common.conv(config, filters, x, padding="same")
        x = common.conv(config, filters, x, padding="valid")
        x = common.dropout(config, x, p["conv_dropout"])
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = common.dense(config, p["dense_units"], x)
    x = common.dropout(config, x)
    x = common.dense(config, max(1, int(0.6 * p["dense_units"])), x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="deep_cnn")
