"""The weights a transfer backbone (models/transfer.py) is built with, as paths and names only: a local
``model.weights_file`` (checked: missing, not a weights file; and, once loaded, damaged or of another architecture),
or the ImageNet file Keras Applications would download, in Keras' cache (``$KERAS_HOME/models`` or
``~/.keras/models``). The build never downloads: tui.core.weights fetches the file first, with progress.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
"""What Keras' load_weights reads: its own .weights.h5, the legacy HDF5 files of Keras Applications, a .keras."""

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_IMAGENET: dict[str, tuple[str, str, str | None]] = {
    # backbone: (file name in Keras' cache, URL folder, MD5 as Keras Applications checks it)
    "resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_APPS + "resnet/",
                 "4d473c1dd8becc155b73f8504c6f6626"),
    "efficientnetb0": ("efficientnetb0_notop.h5", "https://storage.googleapis.com/keras-applications/",
                       "50bc09e76180e00e4465e1a485ddc09d"),
    "efficientnetb4": ("efficientnetb4_notop.h5", "https://storage.googleapis.com/keras-applications/",
                       "ebc24e6d6c33eaebbd558eafbeedf1ba"),
}
_MOBILENET_SIDES = (96, 128, 160, 192, 224)
_KERAS_NAMES = {"mobilenetv2": "MobileNetV2", "efficientnetb0": "EfficientNetB0", "resnet50": "ResNet50",
                "efficientnetb4": "EfficientNetB4"}


class WeightsError(Exception):
    """The backbone's weights cannot be had: the message says why and what to do."""


def keras_cache_dir() -> Path:
    """Where Keras Applications keeps downloaded weights (keras.utils.get_file's cache, sub-folder models)."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home).expanduser() / "models"


def imagenet_source(backbone: str, side: int) -> tuple[str, str, str | None]:
    """(file name, URL, MD5 or None) of the ImageNet weights Keras Applications loads for `backbone` without its
    classifier at input `side` pixels (MobileNetV2 has one file per input size, 224 for other sizes)."""
    if backbone == "mobilenetv2":
        rows = side if side in _MOBILENET_SIDES else 224
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
        return name, _KERAS_APPS + "mobilenet_v2/" + name, None
    name, folder, md5 = _IMAGENET[backbone]
    return name, folder + name, md5


def needs_imagenet(params: Mapping[str, Any]) -> bool:
    return params.get("mode") in ("transfer", "fine_tune") and not params.get("weights_file")


def check_weights_file(text: str) -> Path:
    """The local weights file `text` names, or WeightsError when it is missing or not a weights file."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsError(f"model.weights_file = {text}: no such file"
                           + (" (it is a folder)" if path.is_dir() else "")
                           + "; give the path of a backbone weights file (.weights.h5 or .h5), or leave it empty "
                             "to download the ImageNet weights")
    if not path.name.endswith(WEIGHT_SUFFIXES):
        raise WeightsError(f"model.weights_file = {text}: not a Keras weights file (the name must end in "
                           f"{', '.join(WEIGHT_SUFFIXES)}); save one with model.save_weights('backbone.weights.h5')")
    return path


def backbone_weights(params: Mapping[str, Any], side: int) -> Path | None:
    """The file the build loads into the backbone (None: random weights), never downloading: the weights file,
    else the ImageNet file in Keras' cache (WeightsError when it is not there yet: :func:`ensure_imagenet`)."""
    if params.get("mode") == "fromzero":
        return None
    if params.get("weights_file"):
        return check_weights_file(str(params["weights_file"]))
    name, url, _ = imagenet_source(str(params["backbone"]), side)
    path = keras_cache_dir() / name
    if not path.is_file():
        raise WeightsError(f"ImageNet weights for {_KERAS_NAMES.get(str(params['backbone']), params['backbone'])} "
                           f"({name}) are not in Keras' cache ({path.parent}) yet: training downloads them first; "
                           f"without internet set model.weights_file to a local copy of {url}, or set "
                           "model.mode = fromzero")
    return path


def describe_load_error(text: str, backbone: str, exc: BaseException) -> str:
    """Why a weights file did not load into the backbone, in words: damaged, or another architecture."""
    message = str(exc)
    if isinstance(exc, OSError) or "signature" in message or "truncated" in message.lower():
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        return (f"model.weights_file = {text}: cannot be read as a weights file ({first}); it is damaged or "
                "incomplete: copy or download it again")
    first = next((line.strip() for line in message.splitlines() if line.strip()), type(exc).__name__)
    if len(first) > 200:
        first = first[:197] + "..."
    return (f"model.weights_file = {text}: its weights do not fit the {backbone} backbone ({first}); use weights "
            f"saved from a {backbone} without its classifier (include_top=False), or set model.backbone to the "
            "architecture they come from")
