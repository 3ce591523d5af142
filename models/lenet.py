"""LeNet-5 (LeCun et al., 1998) with the configured activation; inputs smaller than 28x28 are resized up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = "LeNet-5: Conv(6, 5x5) → Pool → Conv(16, 5x5) → Pool → Dense(120) → Dense(84) → softmax"
PARAMS = (
    Param("pool", str, "avg", "subsampling layers: avg (as in the paper) or max", choices=("avg", "max")),
)

MIN_SIDE = 28
"""Smaller images (8x8 digits) are resized up to 28 pixels, the size LeNet-5 was designed around (MNIST)."""


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    return None  # every input is resized to at least 28x28: 28 → 14 → 10 → 5


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    pool = keras.layers.AveragePooling2D if config.arch_params()["pool"] == "avg" else keras.layers.MaxPooling2D
    inp, x = common.inputs(config, input_shape, min_side=MIN_SIDE)
    x = common.conv(config, 6, x, kernel=5, padding="same")
    x = pool(2)(x)
    x = common.conv(config, 16, x, kernel=5, padding="valid")
    x = pool(2)(x)
    x = keras.layers.Flatten()(x)
    x = common.dense(config, 120, x)
    x = common.dropout(config, x)
    x = common.dense(config, 84, x)
    x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="lenet")
