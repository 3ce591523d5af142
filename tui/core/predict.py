"""Predicting image files with a run's saved model (`cnn-tui predict`).

The model is loaded in Keras' safe mode (nothing in the file is executed); images are read with Pillow,
converted to the model's channels and resized to its input size, as uint8 like the training data (the model
scales its inputs itself). A bad image is reported and skipped; the others are still predicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tui.core.params import ConfigError
from tui.core.rundir import RunDir



class PredictError(Exception):
    """The run cannot predict (no model, unreadable config); the message says what to do."""


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image file, or the reason it could not be read."""

    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RunModel:
    model: Any
    model_file: Path
    input_shape: tuple[int, int, int]  # H, W, C
    class_names: tuple[str, ...]


def _class_names(run_dir: Path, num_classes: int) -> tuple[str, ...]:
    """From summary.json (what the run trained on); a built-in dataset's names; else class numbers."""
    summary = RunDir(run_dir).read_summary()
    names = (summary.dataset or {}).get("class_names") if summary is not None else None
    if isinstance(names, list) and len(names) == num_classes:
        return tuple(map(str, names))
    from tui.core import datasets

    try:
        name = RunDir(run_dir).read_config().dataset.name
    except ConfigError:
        name = ""
    builtin = {"digits": datasets.DIGIT_NAMES, "mnist": datasets.DIGIT_NAMES,
               "fashion_mnist": datasets.FASHION_NAMES, "cifar10": datasets.CIFAR10_NAMES}.get(name, ())
    return tuple(builtin) if len(builtin) == num_classes else tuple(str(i) for i in range(num_classes))


def load_run_model(run_dir: str | Path) -> RunModel:
    """The run's best model (else its last one), with its input shape and class names."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PredictError(f"{run_dir}: no such run directory; `cnn-tui runs` lists the runs")
    if not RunDir(run_dir).is_run():
        raise PredictError(f"{run_dir} is not a run directory (no config.toml); `cnn-tui runs` lists the runs")
    model_file = RunDir(run_dir).model_file()
    if model_file is None:
        raise PredictError(f"{run_dir} has no saved model (best.keras or last.keras): the run ended before its "
                           "first epoch; train it again (cnn-tui train) or pick another run")
    from tui.core import tfenv
    from tui.core.records import load_model_safe

    tfenv.import_tensorflow()
    try:
        model = load_model_safe(model_file)
    except ValueError as exc:
        raise PredictError(f"{exc}; the file is damaged or from another Keras version: train the run again") \
            from None
    shape = tuple(int(v) for v in model.input_shape[1:])
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise PredictError(f"{model_file} expects inputs of shape {shape}, not an image (H, W, 1 or 3)")
    n = int(model.output_shape[-1])
    return RunModel(model, model_file, shape, _class_names(run_dir, n))


def read_image(path: str | Path, shape: Sequence[int]) -> np.ndarray:
    """An image file as uint8 H x W x C for a model input of `shape`; raises ValueError saying what is wrong."""
    from PIL import Image, UnidentifiedImageError

    from tui.core.datasets import decode_image

    path = Path(path)
    if path.is_dir():
        raise ValueError("is a folder; give image files (a shell glob such as folder/*.png works)")
    if not path.is_file():
        raise ValueError("no such file; check the path")
    h, w, c = shape
    try:
        img = decode_image(path.read_bytes(), h, "L" if c == 1 else "RGB")
    except UnidentifiedImageError:
        raise ValueError("not an image Pillow can read; give a PNG, JPEG, BMP, GIF or TIFF file") from None
    except Image.DecompressionBombError:
        raise ValueError("the image is too large to decode safely; shrink it first") from None
    except Exception as exc:  # truncated or damaged files of every kind
        raise ValueError(f"the image is damaged ({exc}); re-save or re-export it") from None
    if img.shape[:2] != (h, w):  # decode_image makes squares; non-square models get a plain resize
        mode = "L" if c == 1 else "RGB"
        img = np.asarray(Image.fromarray(img[..., 0] if c == 1 else img, mode).resize(
            (w, h), Image.Resampling.BILINEAR), dtype=np.uint8).reshape(h, w, c)
    return img


def predict_files(run: RunModel, paths: Sequence[str | Path], top_k: int = 3) -> list[Prediction]:
    """The top-k classes for each file in `paths` (in order); unreadable files get an error instead."""
    images: list[np.ndarray] = []
    out: list[Prediction | None] = []
    for p in paths:
        try:
            images.append(read_image(p, run.input_shape))
            out.append(None)
        except ValueError as exc:
            out.append(Prediction(str(p), error=str(exc)))
    probs = np.asarray(run.model.predict(np.stack(images), verbose=0)) if images else np.empty((0, 0))
    k = max(1, min(top_k, len(run.class_names)))
    rows = iter(probs)
    result = []
    for p, pred in zip(paths, out):
        if pred is None:
            row = next(rows)
            order = np.argsort(-row, kind="stable")[:k]
            pred = Prediction(str(p), tuple((run.class_names[i], float(row[i])) for i in order))
        result.append(pred)
    return result
