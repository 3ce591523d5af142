"""CIFAR-style ResNet (He et al., 2016, section 4.2): depth 6n+2, three stages of n basic blocks (16/32/64 channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("ResNet (CIFAR): Conv(16) → 3 stages × n basic blocks (16/32/64 channels, batch norm, projection "
               "shortcuts) → global average pooling → softmax; depth = 6n+2")
PARAMS = (
    Param("depth", int, 20, "number of weighted layers, 6n+2: 20, 32, 44, 56 or 110", minimum=8, maximum=1202),
    Param("weight_l2", float, 1e-4, "L2 weight decay on the convolutions (used when regularization.l1/l2 "
          "do not apply to conv layers; 0 = off)", minimum=0.0, maximum=1.0),
)

MIN_SIDE = 16
"""Smaller images are resized up to this side (two stride-2 stages: 16 → 8 → 4)."""
STAGE_CHANNELS = (16, 32, 64)


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    depth = config.arch_params()["depth"]
    if (depth - 2) % 6 != 0:
        return (f"resnet depth must be 6n+2 (n basic blocks per stage); {depth} is not: "
                f"set model.depth to one of 20, 32, 44, 56, 110")
    return None


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    n = (p["depth"] - 2) // 6
    reg = common.kernel_regularizer(config, "conv")
    if reg is None and p["weight_l2"] > 0:
        reg = keras.regularizers.L2(p["weight_l2"])

    def conv_bn(x: Any, filters: int, kernel: int = 3, strides: int = 1) -> Any:
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                kernel_initializer=common.initializer(config), kernel_regularizer=reg,
                                activity_regularizer=common.activity_regularizer(config))(x)
        return keras.layers.BatchNormalization()(x)

    inp, x = common.inputs(config, input_shape, min_side=MIN_SIDE)
    x = common.activation(config)(conv_bn(x, STAGE_CHANNELS[0]))
    for stage, filters in enumerate(STAGE_CHANNELS):
        for block in range(n):
            strides = 2 if stage > 0 and block == 0 else 1
            y = common.activation(config)(conv_bn(x, filters, strides=strides))
            y = conv_bn(y, filters)
            shortcut = conv_bn(x, filters, kernel=1, strides=strides) if strides != 1 else x
            x = common.activation(config)(keras.layers.Add()([shortcut, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name=f"resnet{p['depth']}")
