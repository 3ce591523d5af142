"""AlexNet's layout (5 convolutions, 3 dense layers) scaled down to small images: 3x3 kernels, 2x2 pooling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("Small AlexNet: Conv(f) → Pool → Conv(2f) → Pool → Conv(3f) → Conv(3f) → Conv(2f) → "
               "Pool → Dense → Dropout → Dense → Dropout → softmax")
PARAMS = (
    Param("filters", int, 32, "filters of the first convolution (later ones have 2x and 3x as many)",
          minimum=1, maximum=4096),
    Param("dense_units", int, 256, "units of each of the two hidden Dense layers", minimum=1, maximum=65536),
)

MIN_SIDE = 16
"""Smaller images are resized up to this side, so three 2x2 poolings still leave 2x2 feature maps."""


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    return None  # every input is resized to at least 16x16: 16 → 8 → 4 → 2


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    f = p["filters"]
    inp, x = common.inputs(config, input_shape, min_side=MIN_SIDE)
    x = common.conv(config, f, x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = common.conv(config, 2 * f, x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = common.conv(config, 3 * f, x)
    x = common.conv(config, 3 * f, x)
    x = common.conv(config, 2 * f, x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    for _ in range(2):
        x = common.dense(config, p["dense_units"], x)
        x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="alexnet_small")
