"""One convolution, one pooling, one dense layer: the classic "what do the width knobs do" network."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = "Conv(conv_filters, 3x3) → MaxPool → Flatten → Dense(dense_units) → Dropout → softmax"
PARAMS = (
    Param("conv_filters", int, 32, "filters of the convolution", minimum=1, maximum=4096),
    Param("dense_units", int, 128, "units of the hidden Dense layer", minimum=1, maximum=65536),
)


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    return common.too_small("simple_cnn", input_shape, 4, "a 3x3 convolution then 2x2 pooling")


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    inp, x = common.inputs(config, input_shape)
    x = common.conv(config, p["conv_filters"], x, padding="valid")
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = common.dense(config, p["dense_units"], x)
    x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="simple_cnn")
