"""ImageNet weights of the transfer architecture's backbones (models/transfer.py): a local file, or a download with
visible progress.

``model.weights_file`` names a local file (machines without internet): checked before training (missing, not a
weights file, damaged, made for another architecture: a message that says which and what to do). Without it,
:func:`ensure_imagenet` downloads the file Keras Applications would download, from the same URL and into the same
place (Keras' cache, ``$KERAS_HOME/models`` or ``~/.keras/models``), but as the datasets are downloaded
(tui.core.datasets): through our own reader, reporting progress to the session (the set-up's preparation line in
the app, the progress bar of ``cnn-tui train``), so nothing is written to the terminal behind Textual's back. The
model build then loads the file from there and never downloads (:func:`backbone_weights`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
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
DOWNLOAD_TIMEOUT_S = 30.0

Progress = Callable[[str, int, int | None], None]


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


def ensure_imagenet(params: Mapping[str, Any], side: int, progress: Progress | None = None) -> Path | None:
    """Download the ImageNet weights the transfer backbone needs into Keras' cache unless they are there (or a
    weights file / mode fromzero makes them unneeded), reporting ``progress(message, bytes_done, bytes_total)``.
    WeightsError, saying to use model.weights_file, when the download fails (no internet)."""
    if not needs_imagenet(params):
        return None
    name, url, md5 = imagenet_source(str(params["backbone"]), side)
    dest = keras_cache_dir() / name
    if dest.is_file():
        return dest
    from tui.core import datasets

    report = datasets._Throttle(progress)
    try:
        _download(url, dest, report)
        if md5 is not None and _md5(dest) != md5:
            dest.unlink(missing_ok=True)
            raise OSError(f"the downloaded file does not match its checksum ({md5}); try again")
    except Exception as exc:  # no internet, a proxy, a full disk: one message with the way round it
        raise WeightsError(
            f"the ImageNet weights of {params['backbone']} could not be downloaded from {url} ({_reason(exc)}). "
            f"Without internet here: fetch that file on a machine that has it, copy it here and set "
            f"model.weights_file to its path (--set model.weights_file=/path/{name}), or put it into "
            f"{dest.parent}; or set model.mode = fromzero"
        ) from exc
    return dest


def _download(url: str, dest: Path, report: Any) -> None:
    from tui.core import datasets

    datasets._download(url, dest, report)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # the checksum Keras Applications publishes
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


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
