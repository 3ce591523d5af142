"""Multi-layer perceptron on flattened pixels: Dense layers of `hidden_units`, each followed by dropout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = "MLP: Flatten → Dense(hidden_units…) with dropout after each → softmax"
PARAMS = (
    Param("hidden_units", tuple, (512, 512), "sizes of the hidden Dense layers, e.g. [1024, 256, 64]"),
)


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    return None


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    inp, x = common.inputs(config, input_shape)
    x = keras.layers.Flatten()(x)
    for units in config.arch_params()["hidden_units"]:
        x = common.dense(config, units, x)
        x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="mlp")
