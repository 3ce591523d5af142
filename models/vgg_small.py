"""A single VGG block: two 3x3 convolutions and a pooling, then one wide Dense layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("Small VGG: Conv(filters) → Conv(filters) → MaxPool → Flatten → Dense(dense_units) → Dropout → "
               "softmax")
PARAMS = (
    Param("filters", int, 32, "filters of both convolutions", minimum=1, maximum=4096),
    Param("dense_units", int, 512, "units of the hidden Dense layer", minimum=1, maximum=65536),
)


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    return common.too_small("vgg_small", input_shape, 4, "a 'valid' 3x3 convolution then 2x2 pooling")


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    inp, x = common.inputs(config, input_shape)
    x = common.conv(config, p["filters"], x, padding="same")
    x = common.conv(config, p["filters"], x, padding="valid")
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = common.dense(config, p["dense_units"], x)
    x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="vgg_small")
