"""Downloading the ImageNet weights of the transfer architecture's backbone, the way datasets are downloaded.

Without ``model.weights_file``, :func:`prepare` fetches the file Keras Applications would download, from the same
URL and into the same place (Keras' cache, models.weights.keras_cache_dir), through our own reader
(tui.core.datasets), reporting progress to the session (the training screen's preparation line, the progress bar
of ``cnn-tui train``) and to the set-up's model panel, so nothing is written to the terminal behind Textual's back.
The model build then loads the file from there and never downloads (models.weights.backbone_weights). Without
internet the refusal names the file and its URL and suggests model.weights_file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from models.weights import WeightsError, imagenet_source, keras_cache_dir, needs_imagenet

Progress = Callable[[str, int, int | None], None]

__all__ = ["WeightsError", "ensure_imagenet", "imagenet_source", "keras_cache_dir", "prepare"]


def prepare(config: Any, input_shape: tuple[int, ...], progress: Progress | None = None) -> Path | None:
    """Fetch what the configuration's model needs from outside before it is built (the transfer backbone's
    ImageNet weights); ArchitectureError with the reason and the fix when it cannot."""
    if config.model.architecture != "transfer":
        return None
    from models import ArchitectureError

    params = config.arch_params()
    try:
        return ensure_imagenet(params, params["input_size"] or min(input_shape[:2]), progress)
    except WeightsError as exc:
        raise ArchitectureError(str(exc)) from None


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

    report = datasets.Throttle(progress)
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

    datasets.download(url, dest, report)


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
