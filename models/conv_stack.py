"""A plain stack of 'same'-padded convolutions, each with its own kernel size and pooling, then Dense layers: the
"simple CNN" of note 002's source repository (three convolutions of 128/256/512 filters, 8x8/4x4/2x2 kernels,
4/2/1 pooling, dropout after the second and third, Dense 256 → 64)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("Conv stack: [Conv(channels_i, kernels_i, conv_padding) → MaxPool(pools_i) (→ Dropout from the "
               "second)] … → Flatten → Dense(hidden_units…) → softmax")
PARAMS = (
    Param("channels", tuple, (128, 256, 512), "filters of each convolution, e.g. [128, 256, 512]"),
    Param("kernels", tuple, (8, 4, 2), "kernel side of each convolution (as many as channels)"),
    Param("pools", tuple, (4, 2, 1), "max-pooling size after each convolution, 1 = none (as many as channels)"),
    Param("conv_dropout", float, 0.2, "dropout after every convolution but the first", minimum=0.0, maximum=1.0,
          max_exclusive=True),
    Param("hidden_units", tuple, (256, 64), "sizes of the hidden Dense layers after the flatten"),
    Param("conv_padding", str, "same", "same keeps each convolution's input size; valid shrinks it by kernel − 1 "
          "(note 001's original CNN)", choices=("same", "valid")),
)


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    p = config.arch_params()
    if not (len(p["channels"]) == len(p["kernels"]) == len(p["pools"])):
        return (f"conv_stack needs as many kernels and pools as channels; got {len(p['channels'])} channels, "
                f"{len(p['kernels'])} kernels, {len(p['pools'])} pools: make model.kernels and model.pools match")
    side = min(input_shape[:2])
    for kernel, pool in zip(p["kernels"], p["pools"]):
        side = (side - (kernel - 1 if p["conv_padding"] == "valid" else 0)) // pool
    if side < 1:
        return (f"conv_stack's convolutions and poolings shrink {input_shape[0]}x{input_shape[1]} images to "
                f"nothing: use smaller model.pools or kernels, model.conv_padding = same, or larger images")
    return None


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    inp, x = common.inputs(config, input_shape)
    for i, (filters, kernel, pool) in enumerate(zip(p["channels"], p["kernels"], p["pools"])):
        x = common.conv(config, filters, x, kernel=kernel, padding=p["conv_padding"])
        if pool > 1:
            x = keras.layers.MaxPooling2D(pool)(x)
        if i > 0:
            x = common.dropout(config, x, p["conv_dropout"])
    x = keras.layers.Flatten()(x)
    for units in p["hidden_units"]:
        x = common.dense(config, units, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name="conv_stack")
