"""A Keras Applications backbone (MobileNetV2, EfficientNetB0, ResNet50) with a small classification head:
trained from zero, used as a frozen ImageNet feature extractor (transfer), or with its top layers fine-tuned."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from models import common
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions

DESCRIPTION = ("Transfer learning: Keras backbone (mobilenetv2 / efficientnetb0 / resnet50) → global average "
               "pooling → Dropout → softmax; fromzero, transfer (frozen) or fine_tune")
PARAMS = (
    Param("backbone", str, "mobilenetv2", "Keras Applications backbone", choices=("mobilenetv2", "efficientnetb0",
                                                                                    "resnet50", "efficientnetb4")),
    Param("mode", str, "transfer", "fromzero: random weights, all trained; transfer: frozen ImageNet backbone; "
          "fine_tune: ImageNet weights, top fine_tune_layers trainable", choices=("fromzero", "transfer",
                                                                                  "fine_tune")),
    Param("fine_tune_layers", int, 20, "fine_tune: how many of the backbone's top layers are trained "
          "(batch normalization stays frozen)", minimum=0),
    Param("input_size", int, 96, "resize images to this side before the backbone (0 = keep their size)",
          minimum=0, maximum=1024),
    Param("weights_file", str, "", "transfer / fine_tune: a local weights file for the backbone (.weights.h5 or "
          ".h5, without its classifier) instead of downloading the ImageNet weights: for machines without internet"),
)

MIN_SIDE = 32
"""Keras Applications backbones refuse inputs smaller than 32x32."""
_BACKBONES = {"mobilenetv2": "MobileNetV2", "efficientnetb0": "EfficientNetB0", "resnet50": "ResNet50",
              "efficientnetb4": "EfficientNetB4"}


def check(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    p = config.arch_params()
    h, w = input_shape[:2]
    channels = input_shape[2] if len(input_shape) > 2 else 1
    name = _BACKBONES[p["backbone"]]
    if channels not in (1, 3):
        return f"{name} takes grayscale (1 channel) or RGB (3 channel) images; got {channels} channels"
    side = p["input_size"] or min(h, w)
    if side < MIN_SIDE:
        got = f"{p['input_size']}x{p['input_size']}" if p["input_size"] else f"{h}x{w}"
        return f"{name} needs at least 32x32 inputs; got {got} — set model.input_size to 32 or more"
    if p["weights_file"] and p["mode"] != "fromzero":
        from models.weights import WeightsError, check_weights_file

        try:
            check_weights_file(p["weights_file"])
        except WeightsError as exc:
            return str(exc)
    return None


def _backbone(config: "BuildOptions", shape: tuple[int, int, int]) -> Any:
    """The Keras Applications backbone with the weights of models.weights.backbone_weights: a local weights
    file, the ImageNet file already downloaded into Keras' cache (the session downloads it first, with progress),
    or none (fromzero). Keras itself never downloads here, so nothing is printed behind the app's back."""
    import keras

    from models.base import ArchitectureError
    from models.weights import WeightsError, backbone_weights, describe_load_error

    p = config.arch_params()
    name = _BACKBONES[p["backbone"]]
    try:
        path = backbone_weights(p, shape[0])
    except WeightsError as exc:
        raise ArchitectureError(str(exc)) from None
    try:
        with warnings.catch_warnings():  # "weights for 224x224 will be loaded": expected for other sizes
            warnings.filterwarnings("ignore", message=".*will be loaded as the default", category=UserWarning)
            return getattr(keras.applications, name)(include_top=False, weights=str(path) if path else None,
                                                     input_shape=shape)
    except Exception as exc:
        if path is None:
            raise
        if not p["weights_file"]:  # a damaged download in the cache: the next run downloads it again
            path.unlink(missing_ok=True)
            raise ArchitectureError(f"the ImageNet weights in {path} could not be loaded ({exc}); the file was "
                                    "removed and is downloaded again at the next run") from exc
        raise ArchitectureError(describe_load_error(p["weights_file"], p["backbone"], exc)) from exc


def build(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> "keras.Model":
    import keras

    p = config.arch_params()
    inp, x = common.inputs(config, input_shape)
    h, w = input_shape[:2]
    if p["input_size"] and (h, w) != (p["input_size"], p["input_size"]):
        h = w = p["input_size"]
        x = keras.layers.Resizing(h, w, name="resize")(x)
    if (input_shape[2] if len(input_shape) > 2 else 1) == 1:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    # Backbone-specific input range, from [0, 1].
    if p["backbone"] in ("efficientnetb0", "efficientnetb4"):
        x = keras.layers.Rescaling(255.0, name="to_0_255")(x)  # EfficientNet normalizes internally
    elif p["backbone"] == "mobilenetv2":
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    else:
        x = keras.layers.Rescaling(255.0, offset=-120.0, name="to_caffe")(x)  # ~ mean-centred 0..255

    backbone = _backbone(config, (h, w, 3))
    if p["mode"] == "transfer":
        backbone.trainable = False
        x = backbone(x, training=False)
    elif p["mode"] == "fine_tune":
        backbone.trainable = True
        n = p["fine_tune_layers"]
        top = len(backbone.layers) - n if n else len(backbone.layers)
        for i, layer in enumerate(backbone.layers):
            layer.trainable = i >= top and not isinstance(layer, keras.layers.BatchNormalization)
        x = backbone(x, training=False)  # batch normalization keeps its ImageNet statistics
    else:
        x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = common.dropout(config, x)
    return keras.Model(inp, common.classifier(config, num_classes, x), name=f"transfer_{p['backbone']}")
