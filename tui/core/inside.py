"""Inside the network: first-layer filters, feature maps, Grad-CAM and the top classes for one image.

UI-free (NumPy and, inside functions, Keras/TensorFlow). The app draws an :class:`InsideView` with
textual-image; `cnn-tui inspect` writes it as PNG files into the run directory's ``inspect/`` folder.

Live view during training: an :class:`InsideTap` is handed to the session; while the view is open, its Keras
callback copies the weights at each epoch end (in the training thread, a memory copy) and the view computes
from that snapshot in its own thread. While the view is closed the callback does nothing.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tui.core.rundir import RunDir

FILTERS_PNG = "filters.png"
INPUT_PNG = "input.png"
MAPS_PNG = "maps-{index:02d}-{layer}.png"
CAM_PNG = "gradcam-{which}-{name}.png"
PNG_TILE = 56
"""Each small image of a PNG grid is scaled up (nearest neighbour) to about this many pixels across."""

CONV_KINDS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
FOLLOWERS = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")
"""Layers that finish a convolution block: its feature maps are taken after them (after the activation)."""


class InspectError(Exception):
    """The view cannot be computed as asked; the message says what is wrong and what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    """One small picture (uint8 H x W x 3) with its caption."""

    image: np.ndarray
    caption: str


@dataclass(frozen=True)
class LayerMaps:
    """A convolutional layer's output for the chosen image: shape (H, W, C), channels most active first."""

    layer: str
    shape: tuple[int, int, int]
    maps: np.ndarray  # float32 H x W x C, as the layer (block) put it out
    order: tuple[int, ...]  # channel indices by mean |activation|, highest first

    def tiles(self, limit: int | None = None) -> list[Tile]:
        """The channels as gray images (one scale for the whole layer, so a dim channel looks dim)."""
        chans = self.order[:limit] if limit else self.order
        m = self.maps[..., list(chans)]
        lo, hi = float(m.min()) if m.size else 0.0, float(m.max()) if m.size else 0.0
        scaled = _to_uint8((m - lo) / (hi - lo)) if hi > lo else np.zeros(m.shape, np.uint8)
        return [Tile(_gray3(scaled[..., i]), f"#{c}") for i, c in enumerate(chans)]


@dataclass(frozen=True)
class Cam:
    """Grad-CAM for one class: the heat on the conv grid (0..1) and the image with it laid over."""

    which: str  # "predicted" | "true"
    class_index: int
    class_name: str
    probability: float
    heat: np.ndarray  # float32 h x w in [0, 1], on the last conv layer's grid
    overlay: np.ndarray  # uint8 H x W x 3, input size


@dataclass(frozen=True)
class InsideView:
    """Everything the inside view shows for one image at one moment of training."""

    image: np.ndarray  # uint8 H x W x C, as the model takes it
    class_names: tuple[str, ...]
    true_class: int | None
    top: tuple[tuple[str, float], ...]
    filters_title: str
    filters: tuple[Tile, ...]
    maps: tuple[LayerMaps, ...]
    cams: tuple[Cam, ...]
    notes: tuple[str, ...] = ()
    epoch: int | None = None
    weights: tuple[np.ndarray, ...] = field(default=(), repr=False)
    """The weights the view was computed from (a snapshot's, when live)."""

    @property
    def predicted(self) -> int:
        return self.class_names.index(self.top[0][0]) if self.top else -1


# ---------------------------------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------------------------------
def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(np.clip(a, 0.0, 1.0) * 255), dtype=np.uint8)


def _gray3(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2)


def as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.full(a.shape, 0.5)


def diverging(a: np.ndarray) -> np.ndarray:
    """A signed 2-D array as blue (negative) – white (0) – red (positive), symmetric around zero."""
    m = float(np.abs(a).max()) or 1.0
    t = np.clip(a / m, -1.0, 1.0)[..., None]
    white = np.array([255.0, 255.0, 255.0])
    red, blue = np.array([200.0, 30.0, 30.0]), np.array([30.0, 60.0, 200.0])
    out = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * (-t))
    return np.asarray(np.rint(out), dtype=np.uint8)


_HEAT_STOPS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """0..1 -> an inferno-like colour ramp (dark purple, red, orange, pale yellow), uint8 ... x 3."""
    t = np.clip(heat, 0.0, 1.0) * (len(_HEAT_STOPS) - 1)
    i = np.minimum(t.astype(int), len(_HEAT_STOPS) - 2)
    f = (t - i)[..., None]
    return np.asarray(np.rint(_HEAT_STOPS[i] * (1 - f) + _HEAT_STOPS[i + 1] * f), dtype=np.uint8)


def resize_float(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a 2-D float array (Pillow's 'F' mode)."""
    from PIL import Image

    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize((w, h), Image.Resampling.BILINEAR))


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image (gray or RGB) with the heat (on any grid, 0..1) upscaled and blended over it."""
    rgb = as_rgb(image).astype(np.float64)
    big = resize_float(heat, rgb.shape[0], rgb.shape[1])
    return np.rint(rgb * (1 - alpha) + heat_colours(big) * alpha).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# The model's parts
# ---------------------------------------------------------------------------------------------------------------
def _kind(layer: Any) -> str:
    return type(layer).__name__


def conv_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if _kind(layer) in CONV_KINDS]


def _block_end(model: Any, conv: Any) -> Any:
    """The last layer of conv's block (conv → BatchNorm → activation): whose output the feature maps are."""
    layers = list(model.layers)
    i = layers.index(conv)
    end = conv
    for nxt in layers[i + 1:]:
        try:
            chained = _kind(nxt) in FOLLOWERS and nxt.input is end.output
        except (AttributeError, ValueError):
            chained = False
        if not chained:
            break
        end = nxt
    return end


def first_layer_filters(model: Any) -> tuple[str, list[Tile]]:
    """The first convolution's kernels as small images (colour when it sees 3 channels, else gray, the mean over
    the input channels beyond the first layer); for a model without convolution, the first Dense layer's weights
    reshaped to the input image (blue negative, red positive). InspectError when neither applies."""
    convs = conv_layers(model)
    if convs:
        layer = convs[0]
        k = np.asarray(layer.get_weights()[0], np.float64)  # kh, kw, cin, cout (depth multiplier for depthwise)
        kh, kw, cin, cout = k.shape
        tiles = []
        for j in range(cout):
            f = k[..., j]
            img = _to_uint8(_minmax(f)) if cin == 3 else _gray3(_to_uint8(_minmax(f.mean(axis=2))))
            tiles.append(Tile(img, f"#{j}"))
        what = "colour, RGB input" if cin == 3 else "gray"
        return f"{layer.name}: {cout} filters {kh}x{kw}x{cin} ({what})", tiles
    dense = next((layer for layer in model.layers if _kind(layer) == "Dense"), None)
    shape = tuple(int(v) for v in model.input_shape[1:])
    if dense is None:
        raise InspectError("the model has neither a convolution nor a Dense layer: there are no first-layer "
                           "weights to draw")
    w = np.asarray(dense.get_weights()[0], np.float64)
    if w.shape[0] != int(np.prod(shape)):
        raise InspectError(f"{dense.name} takes {w.shape[0]} inputs, not the {int(np.prod(shape))} pixels of the "
                           f"{'x'.join(map(str, shape))} image: its weights cannot be drawn as images")
    tiles = []
    for j in range(w.shape[1]):
        t = w[:, j].reshape(shape)
        tiles.append(Tile(diverging(t.mean(axis=2)) if shape[2] != 3 else _to_uint8(_minmax(t)), f"#{j}"))
    return (f"{dense.name}: {w.shape[1]} units' weights as {shape[0]}x{shape[1]} images "
            "(no convolution: an MLP; blue negative, red positive)"), tiles


def _batch(image: np.ndarray, model: Any) -> np.ndarray:
    shape = tuple(int(v) for v in model.input_shape[1:])
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape != shape:
        raise InspectError(f"the image is {'x'.join(map(str, a.shape))}, the model takes "
                           f"{'x'.join(map(str, shape))}")
    return a[None].astype(np.float32)


@dataclass(frozen=True)
class _Probe:
    """One compiled pass over a model: every conv block's output, the class scores (pre-softmax logits when the
    output is a Dense with softmax/sigmoid), the probabilities and the last block's gradients for two classes.
    Built and traced once per model: calling it then costs a few milliseconds, eager Keras a hundred."""

    layers: tuple[str, ...]
    run: Callable[[Any, Any], Any]


_PROBES: weakref.WeakKeyDictionary[Any, _Probe] = weakref.WeakKeyDictionary()


def _probe(model: Any) -> _Probe:
    cached = _PROBES.get(model)
    if cached is not None:
        return cached
    import keras
    import tensorflow as tf

    convs = conv_layers(model)
    ends = [_block_end(model, c) for c in convs]
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if _kind(last) == "Dense" and getattr(act, "__name__", "") in ("softmax", "sigmoid"):
        kernel, bias = last.kernel, last.bias

        def to_scores(x: Any) -> Any:
            z = keras.ops.matmul(x, kernel)
            return z + bias if bias is not None else z

        outputs, to_probs = [e.output for e in ends] + [last.input], act
        assert to_probs is not None
    else:
        outputs = [e.output for e in ends] + [model.outputs[0]]
        to_scores = to_probs = (lambda x: x)
    inner = keras.Model(model.input, outputs)
    shape = (1, *(int(v) for v in model.input_shape[1:]))

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32), tf.TensorSpec((2,), tf.int32)])
    def run(x: Any, classes: Any) -> Any:
        """classes: two class indices, -1 meaning the predicted class."""
        with tf.GradientTape(persistent=True) as tape:
            outs = inner(x, training=False)
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            scores = to_scores(outs[-1])
            pred = tf.argmax(scores[0], output_type=tf.int32)
            chosen = tf.where(classes < 0, pred, classes)
            picked = [scores[0, chosen[0]], scores[0, chosen[1]]]
        grads = [tape.gradient(p, outs[-2]) for p in picked] if convs else []
        return outs[:-1], grads, to_probs(scores)[0], chosen

    probe = _Probe(tuple(c.name for c in convs), run)
    _PROBES[model] = probe
    return probe


def _forward(model: Any, image: np.ndarray, classes: Sequence[int] | None, true_class: int | None = None
             ) -> tuple[list[LayerMaps], list[tuple[int, np.ndarray]], np.ndarray]:
    """One pass: the feature maps of every conv block, Grad-CAM for `classes` (at most two; None: the predicted
    class and `true_class` when it differs), and the probabilities."""
    probe = _probe(model)
    if classes is None:
        asked = [-1, -1 if true_class is None else int(true_class)]
    else:
        asked = ([int(c) for c in classes] + [0, 0])[:2]
    maps_out, grads, probs, chosen = probe.run(_batch(image, model), np.array(asked, np.int32))
    chosen = [int(c) for c in np.asarray(chosen)]
    maps = []
    for name, out in zip(probe.layers, maps_out):
        m = np.asarray(out)[0].astype(np.float32)
        order = tuple(int(i) for i in np.argsort(-np.abs(m).mean(axis=(0, 1)), kind="stable"))
        maps.append(LayerMaps(name, tuple(int(v) for v in m.shape), m, order))  # type: ignore[arg-type]
    if classes is None:
        wanted = [0] + ([1] if true_class is not None and chosen[1] != chosen[0] else [])
    else:
        wanted = list(range(min(2, len(classes))))
    heats = []
    if probe.layers:
        a = maps[-1].maps.astype(np.float64)
        for k in wanted:
            g = np.asarray(grads[k])[0].astype(np.float64)
            cam = np.maximum((a * g.mean(axis=(0, 1))).sum(axis=2), 0.0)
            top = cam.max()
            heats.append((chosen[k], (cam / top if top > 0 else cam).astype(np.float32)))
    return maps, heats, np.asarray(probs).astype(np.float64)


def feature_maps(model: Any, image: np.ndarray) -> list[LayerMaps]:
    """Every convolutional block's output for `image` (after its BatchNorm and activation)."""
    if not conv_layers(model):
        raise InspectError(f"{model.name} has no convolutional layer, so there are no feature maps; "
                           "the view shows the first Dense layer's weights instead")
    return _forward(model, image, [])[0]


def grad_cam(model: Any, image: np.ndarray, classes: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """Grad-CAM (Selvaraju et al.) on the last convolutional block for each class in `classes` (one or two): ReLU
    of the maps weighted by the spatial mean of the class score's gradient, scaled to max 1; and the
    probabilities."""
    if not conv_layers(model):
        raise InspectError(f"{model.name} has no convolutional layer: Grad-CAM needs one (it weighs the last "
                           "convolution's maps by their gradients); pick a CNN architecture")
    _, heats, probs = _forward(model, image, classes)
    return [h for _, h in heats], probs


def top_k(probs: np.ndarray, class_names: Sequence[str], k: int = 3) -> tuple[tuple[str, float], ...]:
    order = np.argsort(-np.asarray(probs), kind="stable")[:max(1, min(k, len(class_names)))]
    return tuple((class_names[int(i)], float(probs[int(i)])) for i in order)


def compute_view(model: Any, image: np.ndarray, class_names: Sequence[str], true_class: int | None = None,
                 top: int = 3, epoch: int | None = None) -> InsideView:
    """The whole view for one image. An MLP gets its first Dense layer's weights and the probabilities, with a
    note that feature maps and Grad-CAM need a convolution."""
    names = tuple(class_names)
    title, filters = first_layer_filters(model)
    notes: list[str] = []
    cams: list[Cam] = []
    maps, heats, probs = _forward(model, image, None, true_class)
    if heats:
        for which, (c, heat) in zip(("predicted", "true"), heats):
            cams.append(Cam(which, c, names[c] if c < len(names) else str(c), float(probs[c]), heat,
                            overlay(image, heat)))
    else:
        notes.append(f"{model.name} has no convolution: no feature maps or Grad-CAM; the first Dense layer's "
                     "weights are drawn as images instead")
    return InsideView(np.asarray(image), names, true_class, top_k(probs, names, top), title, tuple(filters),
                      tuple(maps), tuple(cams), tuple(notes), epoch,
                      tuple(np.asarray(w) for w in model.get_weights()))


# ---------------------------------------------------------------------------------------------------------------
# Live: weight snapshots at epoch end, only while someone looks
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightSnapshot:
    """The model's weights at the end of `epoch` (1-based), copied in the training thread."""

    epoch: int
    weights: tuple[np.ndarray, ...]
    model_json: str


class InsideTap:
    """The hand-over between the training thread and the inside view. The view opens and closes it; the
    callback (tui.core.keras.inside.InsideSnapshot) copies the weights at epoch end only while it is open; the view
    takes the newest snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._latest: WeightSnapshot | None = None
        self.snapshots = 0
        """How many snapshots were taken (tests and the benchmark read it)."""

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def put(self, snapshot: WeightSnapshot) -> None:
        with self._lock:
            self._latest = snapshot
            self.snapshots += 1

    def take(self, epoch: int, weights: tuple[np.ndarray, ...], model_json: str) -> None:
        """The training thread's copy of the weights at the end of `epoch` (1-based), with the architecture."""
        self.put(WeightSnapshot(epoch, weights, model_json))

    def latest(self) -> WeightSnapshot | None:
        with self._lock:
            return self._latest


class SnapshotModel:
    """Rebuilds the model once from a snapshot's architecture (safe deserialization) and loads each snapshot's
    weights into it: for a thread other than the training one."""

    def __init__(self) -> None:
        self._json: str | None = None
        self._model: Any = None

    def load(self, snapshot: WeightSnapshot) -> Any:
        import keras

        if self._model is None or snapshot.model_json != self._json:
            self._model = keras.models.model_from_json(snapshot.model_json)
            self._json = snapshot.model_json
        self._model.set_weights(list(snapshot.weights))
        return self._model


# ---------------------------------------------------------------------------------------------------------------
# Picking an image, and the headless export
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """An image picked for the view, with its true class when known and where it came from."""

    image: np.ndarray
    true_class: int | None
    source: str


def kept_examples(run_dir: str | Path) -> list[Choice]:
    """The run's kept test examples (most confident mistakes first), as choices."""
    from tui.core.evaluation import load_examples

    ex = load_examples(RunDir(Path(run_dir)).predictions_file)
    if ex is None:
        return []
    order = [int(i) for i in np.flatnonzero(ex.mistake)] + [int(i) for i in np.flatnonzero(~ex.mistake)]
    out = []
    for i in order:
        t, p = ex.class_names[int(ex.y_true[i])], ex.class_names[int(ex.y_pred[i])]
        what = f"mistake: {t} taken for {p} ({float(ex.confidence[i]):.0%})" if ex.mistake[i] else f"correct: {t}"
        out.append(Choice(ex.images[i], int(ex.y_true[i]), f"test example {i}, {what}"))
    return out


def choose_file(path: str | Path, shape: Sequence[int]) -> Choice:
    """An image file read for a model input of `shape`; InspectError naming the file and what is wrong."""
    from tui.core.predict import read_image

    try:
        return Choice(read_image(path, shape), None, str(path))
    except ValueError as exc:
        raise InspectError(f"{path}: {exc}") from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def grid(tiles: Sequence[Tile], columns: int | None = None, tile: int = PNG_TILE, gap: int = 2) -> np.ndarray:
    """Small images side by side (scaled up by an integer factor, nearest neighbour), gray gaps between."""
    if not tiles:
        return np.zeros((1, 1, 3), np.uint8)
    h, w = tiles[0].image.shape[:2]
    f = max(1, tile // max(h, w))
    cols = columns or int(np.ceil(np.sqrt(len(tiles))))
    rows = int(np.ceil(len(tiles) / cols))
    th, tw = h * f, w * f
    out = np.full((rows * (th + gap) + gap, cols * (tw + gap) + gap, 3), 96, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        big = np.repeat(np.repeat(as_rgb(t.image), f, axis=0), f, axis=1)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        out[y:y + th, x:x + tw] = big
    return out


def view_images(view: InsideView, max_channels: int | None = 64) -> dict[str, np.ndarray]:
    """The view as named uint8 RGB pictures: the file names `cnn-tui inspect` writes, in order."""
    out = {INPUT_PNG: grid([Tile(view.image, "")], tile=max(PNG_TILE * 4, view.image.shape[1])),
           FILTERS_PNG: grid(view.filters)}
    for i, lm in enumerate(view.maps, 1):
        out[MAPS_PNG.format(index=i, layer=_slug(lm.layer))] = grid(lm.tiles(max_channels))
    for cam in view.cams:
        out[CAM_PNG.format(which=cam.which, name=_slug(cam.class_name))] = grid(
            [Tile(cam.overlay, "")], tile=max(PNG_TILE * 4, cam.overlay.shape[1]))
    return out


def write_pngs(view: InsideView, run_dir: str | Path) -> list[Path]:
    """Write the view's pictures into RUN_DIR/inspect/ (replacing an older export) and return the paths."""
    from PIL import Image

    folder = RunDir(Path(run_dir)).inspect_dir
    try:
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        paths = []
        for name, pixels in view_images(view).items():
            path = folder / name
            Image.fromarray(pixels, "RGB").save(path)
            paths.append(path)
    except OSError as exc:
        raise InspectError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return paths


@dataclass(frozen=True)
class InspectResult:
    view: InsideView
    choice: Choice
    model_file: Path
    paths: list[Path]


def inspect_run(run_dir: str | Path, image: str | Path | None = None, top: int = 3) -> InspectResult:
    """`cnn-tui inspect`: the view of the run's saved model on `image` (else its most confident kept mistake,
    else its first kept example) written as PNG files into RUN_DIR/inspect/, linked from summary.md."""
    from tui.core.predict import PredictError, load_run_model
    from tui.core.records import export_run

    try:
        run = load_run_model(run_dir)
    except PredictError as exc:
        raise InspectError(str(exc)) from None
    if image is not None:
        choice = choose_file(image, run.input_shape)
    else:
        kept = kept_examples(run_dir)
        if not kept:
            raise InspectError(f"{run_dir} kept no test examples (no test split, or the run ended early): "
                               "give an image file, e.g. cnn-tui inspect RUN_DIR digit.png")
        choice = kept[0]
    view = compute_view(run.model, choice.image, run.class_names, choice.true_class, top)
    paths = write_pngs(view, run_dir)
    try:
        export_run(Path(run_dir))  # summary.md again, now with links to the PNG files
    except (OSError, ValueError):
        pass  # the pictures are written; a summary that cannot be rewritten keeps its old text
    return InspectResult(view, choice, run.model_file, paths)
