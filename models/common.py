"""Layer helpers shared by the architectures: input scaling and augmentation, activations, initializers,
regularizers and the output layer, all driven by the experiment configuration."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions


def too_small(name: str, input_shape: tuple[int, ...], side: int, why: str) -> str | None:
    """The refusal for images smaller than `side` pixels on either axis, or None."""
    h, w = input_shape[:2]
    return f"{name} needs images of at least {side}x{side} pixels ({why}); got {h}x{w}" if min(h, w) < side else None


def spatial_after(size: int, pools: int, factor: int = 2) -> int:
    """Side length after `pools` 'valid' poolings of size `factor` (what Keras' MaxPooling2D gives)."""
    for _ in range(pools):
        size //= factor
    return size


class LayerSeeds:
    """The seeds of one build: layer k of a build with seed s gets s·1000 + k, so the same configuration builds
    the same weights every time, and layers of the same shape still get different ones."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._count = itertools.count()

    def next(self) -> int:
        return self.seed * 1000 + next(self._count)


_build_seeds: contextvars.ContextVar[LayerSeeds | None] = contextvars.ContextVar("layer_seeds", default=None)
"""The seeds of the build under way in this thread (each thread has its own context): the set-up screen's
model summary and the training thread may build at the same time without drawing from one sequence."""


@contextlib.contextmanager
def seeded_build(seed: int) -> Iterator[LayerSeeds]:
    """Hand the layers built inside the block their own seed sequence, starting from `seed`."""
    seeds = LayerSeeds(seed)
    token = _build_seeds.set(seeds)
    try:
        yield seeds
    finally:
        _build_seeds.reset(token)


def initializer(config: "BuildOptions", name: str | None = None) -> Any:
    """The configured initializer, seeded differently for each layer (one shared seed would give layers of
    the same shape identical weights)."""
    import keras

    seeds = _build_seeds.get()
    if seeds is None:
        raise RuntimeError("layers are seeded inside models.build_model (common.seeded_build), not outside it")
    m = config.model
    seed = seeds.next()
    name = name or m.kernel_initializer
    if name == "normal":
        return keras.initializers.RandomNormal(stddev=m.init_std, seed=seed)
    cls = {
        "he_normal": keras.initializers.HeNormal, "he_uniform": keras.initializers.HeUniform,
        "glorot_uniform": keras.initializers.GlorotUniform, "glorot_normal": keras.initializers.GlorotNormal,
    }[name]
    return cls(seed=seed)


def kernel_regularizer(config: "BuildOptions", kind: str) -> Any:
    """The configured L1/L2/L1L2 regularizer for a 'conv' or 'dense' layer, or None."""
    import keras

    r = config.regularization
    if r.apply_to not in ("all", kind) or (r.l1 == 0 and r.l2 == 0):
        return None
    if r.l1 and r.l2:
        return keras.regularizers.L1L2(l1=r.l1, l2=r.l2)
    return keras.regularizers.L1(r.l1) if r.l1 else keras.regularizers.L2(r.l2)


def activity_regularizer(config: "BuildOptions") -> Any:
    import keras

    a = config.regularization.activity_l2
    return keras.regularizers.L2(a) if a else None


def activation(config: "BuildOptions", name: str | None = None) -> "keras.layers.Layer":
    import keras

    act = config.model.activation
    return keras.layers.Activation(act if act != "leaky_relu" else "leaky_relu", name=name)


def dense(config: "BuildOptions", units: int, x: Any, name: str | None = None) -> Any:
    """Dense → (BatchNorm) → activation, with the configured initializer and regularizers."""
    import keras

    x = keras.layers.Dense(
        units, kernel_initializer=initializer(config), kernel_regularizer=kernel_regularizer(config, "dense"),
        activity_regularizer=activity_regularizer(config), use_bias=not config.model.batch_norm, name=name,
    )(x)
    if config.model.batch_norm:
        x = keras.layers.BatchNormalization()(x)
    return activation(config)(x)


def conv(config: "BuildOptions", filters: int, x: Any, kernel: int = 3, padding: str = "same",
         strides: int = 1, name: str | None = None) -> Any:
    """Conv2D → (BatchNorm) → activation, with the configured initializer and regularizers."""
    import keras

    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, kernel_initializer=initializer(config),
        kernel_regularizer=kernel_regularizer(config, "conv"), activity_regularizer=activity_regularizer(config),
        use_bias=not config.model.batch_norm, name=name,
    )(x)
    if config.model.batch_norm:
        x = keras.layers.BatchNormalization()(x)
    return activation(config)(x)


def dropout(config: "BuildOptions", x: Any, rate: float | None = None) -> Any:
    import keras

    rate = config.model.dropout if rate is None else rate
    return keras.layers.Dropout(rate, seed=config.training.seed)(x) if rate > 0 else x


def inputs(config: "BuildOptions", input_shape: tuple[int, ...], min_side: int = 0) -> tuple[Any, Any]:
    """Input (uint8 pixels) → Rescaling to [0, 1] → augmentation (training only) → resize up to `min_side`.

    Returns (input tensor, processed tensor). Images stay uint8 outside the model; scaling happens here
    (unless ``dataset.rescale`` is off: then raw 0–255 values reach the network, cast to float).
    """
    import keras

    inp = keras.Input(shape=input_shape, name="pixels")
    if config.dataset.rescale:
        x = keras.layers.Rescaling(1.0 / 255, name="scale_0_1")(inp)
    else:
        x = keras.layers.Rescaling(1.0, name="raw_0_255")(inp)  # a cast to float, nothing more
    r = config.regularization
    seed = config.training.seed
    if r.augment:
        if r.flip:
            x = keras.layers.RandomFlip("horizontal", seed=seed, name="aug_flip")(x)
        if r.rotation:
            x = keras.layers.RandomRotation(r.rotation / 360.0, fill_mode="nearest", seed=seed,
                                            name="aug_rotate")(x)
        if r.shift:
            x = keras.layers.RandomTranslation(r.shift, r.shift, fill_mode="nearest", seed=seed,
                                               name="aug_shift")(x)
        if r.zoom:
            x = keras.layers.RandomZoom(r.zoom, fill_mode="nearest", seed=seed, name="aug_zoom")(x)
    if min_side and min(input_shape[0], input_shape[1]) < min_side:
        scale = min_side / min(input_shape[0], input_shape[1])
        h, w = math.ceil(input_shape[0] * scale), math.ceil(input_shape[1] * scale)
        x = keras.layers.Resizing(h, w, name="upsize")(x)
    return inp, x


def classifier(config: "BuildOptions", num_classes: int, x: Any) -> Any:
    """The output layer: softmax over the classes (sigmoid when the loss is binary cross-entropy, or when
    ``model.output_activation`` forces one)."""
    import keras

    act = config.model.output_activation
    if act == "auto":
        act = "sigmoid" if config.training.loss == "binary_crossentropy" else "softmax"
    # He scaling suits the hidden ReLU family, not a softmax: the output layer is Glorot unless the experiment
    # asks for the plain small-std normal everywhere (the vanishing-gradient set-up).
    init = initializer(config, None if config.model.kernel_initializer == "normal" else "glorot_uniform")
    return keras.layers.Dense(
        num_classes, activation=act, kernel_initializer=init,
        kernel_regularizer=kernel_regularizer(config, "dense"), name="classes",
    )(x)
