"""Loading datasets: the embedded digits, the Keras datasets and image folders, as uint8 NHWC arrays.

UI-free and TensorFlow-free: files are read with numpy and Pillow, so loading is fast and works offline.

Where data comes from, in order (see :func:`data_dirs`): ``dataset.data_dir``, ``$CNN_TUI_DATA_DIR``, the
download cache (``$XDG_CACHE_HOME/cnn-tui/data``, default ``~/.cache/cnn-tui/data``), Keras' cache
(``$KERAS_HOME/datasets``, default ``~/.keras/datasets``) and ``/usr/share/datasets``. A built-in dataset that
is in none of them is downloaded from the URLs Keras uses into the download cache.

Splits: an official test split is kept as the test split. Datasets without one (digits, folders) first hold
out ``test_fraction`` of all samples as test. Validation is then ``val_fraction`` of what remains for training,
and ``train_size`` (if > 0) takes a subset of the rest. Every split is stratified and seeded with
``dataset.seed``, so the same seed gives the same split.

Decoded image folders (and the CIFAR-10 JPEG archive) are cached as ``.npz`` files in the download cache, so
only the first load decodes the images.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from tui.core.config import DatasetConfig

ProgressFn = Callable[[str, int, "int | None"], None]
"""``progress(message, done, total)``, e.g. ``("Downloading mnist.npz", bytes_done, bytes_total)``."""

DATA_DIR_ENV = "CNN_TUI_DATA_DIR"
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
DOWNLOAD_TIMEOUT_S = 15.0
CACHE_FORMAT = 1  # bump to invalidate decoded-image caches

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)

DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((8, 8, 1), 10),
    "mnist": ((28, 28, 1), 10),
    "fashion_mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
}


class DatasetError(Exception):
    """A dataset that cannot be loaded; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, int, int]  # H, W, C
    num_classes: int
    class_names: tuple[str, ...]
    train: int
    val: int
    test: int
    class_counts: tuple[int, ...]
    """Samples per class in the whole dataset as found (train + val + test, before ``train_size``)."""
    skipped: Mapping[str, int] = field(default_factory=dict)
    """Folder datasets: files left out, by reason (``{"not an image": 3, "corrupt": 1}``)."""
    source: str = ""


@dataclass(frozen=True)
class Dataset:
    info: DatasetInfo
    x_train: np.ndarray  # uint8, N x H x W x C
    y_train: np.ndarray  # int64 class indices
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None


# ---------------------------------------------------------------------------------------------------------------
# Public API


def known_shape(cfg: DatasetConfig) -> tuple[tuple[int, int, int], int] | None:
    """``(input_shape, num_classes)`` of a built-in dataset without loading it (grayscale applied); None for
    folder datasets, whose classes are only known after reading the folder."""
    entry = _SHAPES.get(cfg.name)
    if entry is None:
        return None
    (h, w, c), n = entry
    return (h, w, 1 if cfg.grayscale else c), n


def cache_dir() -> Path:
    """Where downloads, unpacked archives and decoded-image caches go."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "cnn-tui" / "data"


def data_dirs(cfg: DatasetConfig) -> list[Path]:
    """Directories searched for dataset files, in order (duplicates removed; they need not exist)."""
    dirs: list[Path] = []
    if cfg.data_dir:
        dirs.append(Path(cfg.data_dir).expanduser())
    env = os.environ.get(DATA_DIR_ENV, "")
    dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(cache_dir())
    keras_home = os.environ.get("KERAS_HOME")
    dirs.append(Path(keras_home).expanduser() / "datasets" if keras_home else Path.home() / ".keras" / "datasets")
    dirs.extend(SYSTEM_DATA_DIRS)
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def load_dataset(cfg: DatasetConfig, progress: ProgressFn | None = None) -> Dataset:
    """Load, split and (optionally) subset the dataset `cfg` describes; raises DatasetError with a fix."""
    report = _Throttle(progress)
    rng = np.random.default_rng(cfg.seed)
    skipped: dict[str, int] = {}
    if cfg.name == "digits":
        x, y, names, source = _load_digits()
        x_test = y_test = None
    elif cfg.name == "folder":
        x, y, names, skipped, source = _load_folder(cfg, report)
        x_test = y_test = None
    elif cfg.name in _LOADERS:
        (x, y), (x_test, y_test), names, source = _LOADERS[cfg.name](cfg, report)
    else:
        choices = ", ".join([*_SHAPES, "folder"])
        raise DatasetError(f"unknown dataset {cfg.name!r}; set dataset.name to one of {choices}")

    y = y.astype(np.int64, copy=False)
    counts = np.bincount(y, minlength=len(names))
    if y_test is not None:
        y_test = y_test.astype(np.int64, copy=False)
        counts = counts + np.bincount(y_test, minlength=len(names))
    elif cfg.test_fraction > 0:
        rest, held = _split(y, cfg.test_fraction, rng)
        x_test, y_test = x[held], y[held]
        x, y = x[rest], y[rest]
    train_idx, val_idx = _split(y, cfg.val_fraction, rng)
    if 0 < cfg.train_size < len(train_idx):
        train_idx = train_idx[_stratified_pick(y[train_idx], cfg.train_size, rng, min_each=True)]
    x_train, y_train, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    del x

    if cfg.grayscale:
        x_train, x_val = _to_gray(x_train), _to_gray(x_val)
        x_test = _to_gray(x_test) if x_test is not None else None
    if x_test is not None and len(x_test) == 0:
        x_test = y_test = None
    info = DatasetInfo(
        name=cfg.name, input_shape=tuple(int(v) for v in x_train.shape[1:]),  # type: ignore[arg-type]
        num_classes=len(names), class_names=tuple(names), train=len(y_train), val=len(y_val),
        test=0 if y_test is None else len(y_test), class_counts=tuple(int(c) for c in counts),
        skipped=dict(skipped), source=source,
    )
    return Dataset(info, x_train, y_train, x_val, y_val, x_test, y_test)


# ---------------------------------------------------------------------------------------------------------------
# Splitting


def _stratified_pick(y: np.ndarray, k: int, rng: np.random.Generator, *, min_each: bool = False,
                     keep_each: bool = False) -> np.ndarray:
    """Indices of `k` samples of `y` with class proportions kept (largest remainder), in random order.

    min_each: every class gets at least one (when k allows); keep_each: every class keeps one unpicked."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    k = max(0, min(int(k), len(y)))
    exact = counts * (k / max(len(y), 1))
    quota = np.floor(exact).astype(np.int64)
    short = k - int(quota.sum())
    if short > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    if min_each and k >= len(classes):
        for c in np.flatnonzero(quota == 0):
            quota[np.argmax(quota)] -= 1
            quota[c] = 1
    if keep_each:
        quota = np.minimum(quota, counts - 1)
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:q] for c, q in enumerate(quota)]
    out = np.concatenate(picked) if picked else np.empty(0, np.int64)
    return out[rng.permutation(len(out))]


def _split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices; about `fraction` held out per class, each class keeping at least one."""
    held = _stratified_pick(y, round(len(y) * fraction), rng, keep_each=True)
    mask = np.ones(len(y), bool)
    mask[held] = False
    kept = np.flatnonzero(mask)
    return kept[rng.permutation(len(kept))], held


def _to_gray(x: np.ndarray) -> np.ndarray:
    """RGB uint8 -> one-channel luminance (Pillow's ITU-R 601-2 formula), in chunks; 1-channel is a no-op."""
    if x.shape[-1] == 1:
        return x
    out = np.empty(x.shape[:-1] + (1,), np.uint8)
    for i in range(0, len(x), 4096):
        c = x[i:i + 4096].astype(np.uint32)
        out[i:i + 4096, ..., 0] = (c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16
    return out


# ---------------------------------------------------------------------------------------------------------------
# Progress, downloads and caches


class _Throttle:
    """Forwards progress at most ~10 times a second (always the first and the final call of a task)."""

    def __init__(self, fn: ProgressFn | None) -> None:
        self.fn = fn
        self.last = 0.0
        self.message = ""

    def __call__(self, message: str, done: int, total: int | None, final: bool = False) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if final or message != self.message or now - self.last >= 0.1:
            self.fn(message, done, total)
            self.last, self.message = now, message


def _open_url(url: str, timeout: float) -> Any:
    """Open `url` for reading (a context manager with .read(n) and .headers); tests replace this."""
    return urllib.request.urlopen(url, timeout=timeout)  # fixed https URLs


def _download(url: str, dest: Path, report: _Throttle) -> None:
    """Fetch `url` to `dest` through a temporary file, renamed when complete; raises OSError-like errors."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    message = f"Downloading {dest.name}"
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url, DOWNLOAD_TIMEOUT_S) as resp:
            headers = getattr(resp, "headers", None)
            length = headers.get("Content-Length") if headers is not None else None
            total = int(length) if length and str(length).isdigit() else None
            done = 0
            report(message, 0, total)
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                report(message, done, total)
            if total is not None and done != total:
                raise OSError(f"incomplete download: got {done} of {total} bytes")
        report(message, done, total if total is not None else done, final=True)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _describe_dirs(dirs: Iterable[Path]) -> str:
    return "\n".join(f"  {d}{'' if d.is_dir() else '  (does not exist)'}" for d in dirs)


def _not_found(cfg: DatasetConfig, expected: str, error: BaseException | None, url: str) -> DatasetError:
    dirs = data_dirs(cfg)
    why = f"the download from {url} failed: {error}" if error is not None else "it could not be downloaded"
    return DatasetError(
        f"dataset {cfg.name}: {expected} was not found in any data directory, and {why}.\n"
        f"Searched, in order:\n{_describe_dirs(dirs)}\n"
        f"Fix: copy {expected} into a directory and point to it with the setting dataset.data_dir "
        f"(--set dataset.data_dir=/path) or the environment variable {DATA_DIR_ENV}; or connect to the "
        f"internet and retry (downloads go to {cache_dir()})."
    )


def _find(cfg: DatasetConfig, candidates: Iterable[str]) -> Path | None:
    """The first existing `candidate` (relative path) in the first data directory that has one."""
    names = list(candidates)
    for d in data_dirs(cfg):
        for name in names:
            p = d / name
            if p.exists():
                return p
    return None


def _fetch(cfg: DatasetConfig, url: str, dest: Path, expected: str, report: _Throttle) -> str:
    try:
        _download(url, dest, report)
    except Exception as exc:  # any network/disk error becomes one clear message
        raise _not_found(cfg, expected, exc, url) from exc
    return f"downloaded to {dest}"


def _signature(*parts: Any) -> str:
    return hashlib.sha1(repr((CACHE_FORMAT, *parts)).encode()).hexdigest()[:20]


def _file_sig(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _save_cache(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz atomically; a cache that cannot be written is only a slower next load."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                savez: Any = np.savez  # numpy's stub takes **arrays for its keyword options
                savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def _bad_file(cfg: DatasetConfig, path: Path, exc: BaseException) -> DatasetError:
    return DatasetError(f"dataset {cfg.name}: cannot read {path}: {exc}. The file may be incomplete or "
                        f"damaged; delete it (a fresh copy is downloaded next time) or replace it.")


# ---------------------------------------------------------------------------------------------------------------
# Built-in datasets

Arrays = tuple[np.ndarray, np.ndarray]


def _load_digits() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return x, d.target.astype(np.int64), DIGIT_NAMES, "embedded (scikit-learn digits)"


def _load_mnist(cfg: DatasetConfig, report: _Throttle) -> tuple[Arrays, Arrays, tuple[str, ...], str]:
    path = _find(cfg, ["mnist.npz"])
    source = str(path)
    if path is None:
        path = cache_dir() / "mnist.npz"
        source = _fetch(cfg, MNIST_URL, path, "mnist.npz", report)
    try:
        with np.load(path, allow_pickle=False) as z:
            xtr, ytr, xte, yte = z["x_train"], z["y_train"], z["x_test"], z["y_test"]
    except Exception as exc:
        raise _bad_file(cfg, path, exc) from exc
    return (_nhwc(xtr), ytr), (_nhwc(xte), yte), DIGIT_NAMES, source


def _nhwc(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint8)
    return x[..., None] if x.ndim == 3 else x


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array; only the unsigned-byte type is used by (Fashion-)MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    dims = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(dtypes[data[2]])
    offset = 4 + 4 * ndim
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != need:
        raise ValueError(f"IDX size mismatch: header says {dims} ({need} bytes), file has {len(data) - offset}")
    return np.frombuffer(data, dtype, offset=offset).reshape(dims)


def _load_fashion(cfg: DatasetConfig, report: _Throttle) -> tuple[Arrays, Arrays, tuple[str, ...], str]:
    folder = None
    for d in data_dirs(cfg):
        for sub in ("fashion-mnist", "fashion_mnist", ""):
            if all((d / sub / f).is_file() for f in FASHION_FILES):
                folder = d / sub
                break
        if folder is not None:
            break
    expected = "the Fashion-MNIST files " + ", ".join(FASHION_FILES) + " (in <dir>/fashion-mnist/)"
    source = str(folder)
    if folder is None:
        folder = cache_dir() / "fashion-mnist"
        for f in FASHION_FILES:
            if not (folder / f).is_file():
                _fetch(cfg, FASHION_URL + f, folder / f, expected, report)
        source = f"downloaded to {folder}"
    arrays = []
    for f in FASHION_FILES:
        try:
            arrays.append(_read_idx(folder / f))
        except Exception as exc:
            raise _bad_file(cfg, folder / f, exc) from exc
    xtr, ytr, xte, yte = arrays
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise _bad_file(cfg, folder, ValueError("image and label counts differ"))
    return (_nhwc(xtr), ytr), (_nhwc(xte), yte), FASHION_NAMES, source


def _cifar_from_pickles(read: Callable[[str], Any], files_train: list[str], file_test: str,
                        label_key: bytes) -> tuple[Arrays, Arrays]:
    def batch(name: str) -> Arrays:
        d = read(name)
        x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), np.asarray(d[label_key], np.int64)

    parts = [batch(n) for n in files_train]
    test = batch(file_test)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])), test


def _pickle_reader(path: Path) -> tuple[Callable[[str], Any], Callable[[], None]]:
    """A function reading one member (by base name) of a pickled CIFAR folder or .tar.gz, and a closer."""
    if path.is_dir():
        def read_dir(name: str) -> Any:
            with open(path / name, "rb") as f:
                return pickle.load(f, encoding="bytes")  # the CIFAR format is pickles
        return read_dir, lambda: None
    tar = tarfile.open(path, "r:gz")
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

    def read_tar(name: str) -> Any:
        if name not in members:
            raise KeyError(f"{name} is not in the archive")
        f = tar.extractfile(members[name])
        assert f is not None
        return pickle.load(f, encoding="bytes")

    return read_tar, tar.close


def _load_cifar10(cfg: DatasetConfig, report: _Throttle) -> tuple[Arrays, Arrays, tuple[str, ...], str]:
    candidates = [
        "cifar-10-batches-py", "cifar-10-batches-py_extracted/cifar-10-batches-py", "cifar-10-python.tar.gz",
        "cifar-10-batches-py.tar.gz", "cifar10-jpg", "cifar10-jpg.tar.gz",
    ]
    path = _find(cfg, candidates)
    source = str(path)
    if path is None:
        path = cache_dir() / "cifar-10-python.tar.gz"
        source = _fetch(cfg, CIFAR10_URL, path, "cifar-10-python.tar.gz (or cifar10-jpg.tar.gz)", report)
    if path.name.startswith("cifar10-jpg"):
        train, test = _load_cifar10_jpg(cfg, path, report)
        return train, test, CIFAR10_NAMES, source
    try:
        report(f"Reading {path.name}", 0, None, final=True)
        read, close = _pickle_reader(path)
        try:
            train, test = _cifar_from_pickles(read, [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                                              b"labels")
        finally:
            close()
    except Exception as exc:
        raise _bad_file(cfg, path, exc) from exc
    return train, test, CIFAR10_NAMES, source


def _load_cifar100(cfg: DatasetConfig, report: _Throttle) -> tuple[Arrays, Arrays, tuple[str, ...], str]:
    candidates = ["cifar-100-python", "cifar-100-python_extracted/cifar-100-python", "cifar-100-python.tar.gz"]
    path = _find(cfg, candidates)
    source = str(path)
    if path is None:
        path = cache_dir() / "cifar-100-python.tar.gz"
        source = _fetch(cfg, CIFAR100_URL, path, "cifar-100-python.tar.gz", report)
    try:
        report(f"Reading {path.name}", 0, None, final=True)
        read, close = _pickle_reader(path)
        try:
            train, test = _cifar_from_pickles(read, ["train"], "test", b"fine_labels")
            try:
                names = tuple(n.decode() for n in read("meta")[b"fine_label_names"])
            except Exception:  # names are cosmetic
                names = ()
        finally:
            close()
    except Exception as exc:
        raise _bad_file(cfg, path, exc) from exc
    if len(names) != 100:
        names = tuple(str(i) for i in range(100))
    return train, test, names, source


def _cifar10_jpg_from_tar(archive: Path, report: _Throttle) -> tuple[Arrays, Arrays]:
    """Decode ``cifar10-jpg.tar.gz`` straight from the compressed stream (no unpacking to disk: writing its
    60,000 small files would double the first load's time)."""
    index = {name: i for i, name in enumerate(CIFAR10_NAMES)}
    found: dict[str, list[tuple[str, int, np.ndarray]]] = {"train": [], "test": []}
    skipped: Counter[str] = Counter()
    size = archive.stat().st_size
    message = f"Decoding {archive.name}"
    report(message, 0, size, final=True)
    with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in found or parts[-2] not in index:
                continue
            f = tar.extractfile(member)
            image = _try_decode(f.read() if f else b"", 32, "RGB", skipped)
            if image is not None:
                found[parts[-3]].append((member.name, index[parts[-2]], image))
            report(message, raw.tell(), size)
    report(message, size, size, final=True)
    if skipped or not found["train"] or not found["test"]:
        raise ValueError(f"expected {archive.name} to hold cifar10-jpg/{{train,test}}/<class>/*.jpg "
                         f"(classes {', '.join(CIFAR10_NAMES)}); skipped: {dict(skipped)}")
    out = []
    for split in ("train", "test"):
        items = sorted(found[split], key=lambda item: item[0])  # archive order does not matter
        out.append((np.stack([item[2] for item in items]), np.asarray([item[1] for item in items], np.int64)))
    return out[0], out[1]


def _load_cifar10_jpg(cfg: DatasetConfig, path: Path, report: _Throttle) -> tuple[Arrays, Arrays]:
    """CIFAR-10 as JPEGs (a ``cifar10-jpg/`` folder or its .tar.gz), decoded once and cached as .npz."""
    if path.is_dir():
        sig = _signature("cifar10-jpg", str(path.resolve()), _file_stats(path, _walk_files(path)))
    else:
        sig = _signature("cifar10-jpg", _file_sig(path))
    cache = cache_dir() / f"cifar10-jpg-{sig}.npz"
    cached = _load_cache(cache)
    if cached is not None:
        return (cached["x_train"], cached["y_train"]), (cached["x_test"], cached["y_test"])
    try:
        if path.is_dir():
            parts = []
            for split in ("train", "test"):
                classes = sorted(d.name for d in (path / split).iterdir() if d.is_dir()) \
                    if (path / split).is_dir() else []
                if tuple(classes) != CIFAR10_NAMES:
                    raise ValueError(f"expected {path / split} to hold the class folders {', '.join(CIFAR10_NAMES)}")
                files, labels = _scan_classes(path / split, classes)
                x, keep, skipped = _decode_images(files, 32, "RGB", report, f"Decoding CIFAR-10 {split} images")
                if skipped:
                    raise ValueError(f"unreadable images in {path / split}: {dict(skipped)}")
                parts.append((x, labels[keep]))
            (xtr, ytr), (xte, yte) = parts
        else:
            (xtr, ytr), (xte, yte) = _cifar10_jpg_from_tar(path, report)
    except Exception as exc:
        raise _bad_file(cfg, path, exc) from exc
    _save_cache(cache, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return (xtr, ytr), (xte, yte)


_LOADERS: dict[str, Callable[[DatasetConfig, _Throttle], tuple[Arrays, Arrays, tuple[str, ...], str]]] = {
    "mnist": _load_mnist,
    "fashion_mnist": _load_fashion,
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
}


# ---------------------------------------------------------------------------------------------------------------
# Image folders


def _walk_files(root: Path) -> list[Path]:
    """Every file under `root`, sorted; symlinked folders are followed once (loops are cut)."""
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in filenames)
    return sorted(out)


def _scan_classes(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """The files of each class folder and their labels (index into `classes`)."""
    files: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = [f for f in _walk_files(root / name) if f.is_file()]
        files.extend(found)
        labels.extend([i] * len(found))
    return files, np.asarray(labels, np.int64)


def _file_stats(root: Path, files: list[Path]) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime) per file: what a decoded-image cache is keyed on."""
    stats = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        stats.append((str(f.relative_to(root)), st.st_size, st.st_mtime_ns))
    return stats


def _decode_one(data: bytes, size: int, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()
    im: Image.Image = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft(mode if mode == "L" else "RGB", (size, size))  # decode big JPEGs at a reduced scale
    im.load()
    if (im.mode == "P" and "transparency" in im.info) or im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if im.mode != mode:
        im = im.convert(mode)
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _try_decode(data: bytes, size: int, mode: str, skipped: Counter[str]) -> np.ndarray | None:
    """One decoded image, or None with the reason counted in `skipped` (never raises for bad files)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return _decode_one(data, size, mode)
    except UnidentifiedImageError:
        skipped["not an image"] += 1
    except Image.DecompressionBombError:
        skipped["too large"] += 1
    except Exception:  # truncated or damaged files of every kind
        skipped["corrupt"] += 1
    return None


def _decode_images(files: list[Path], size: int, mode: str, report: _Throttle,
                   message: str = "Reading images") -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    """Decode `files` into one uint8 array; returns (images, indices of the files kept, skipped by reason)."""
    channels = 1 if mode == "L" else 3
    x = np.empty((len(files), size, size, channels), np.uint8)
    keep: list[int] = []
    skipped: Counter[str] = Counter()
    total = len(files)
    report(message, 0, total, final=True)
    for i, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError:
            skipped["unreadable"] += 1
            continue
        image = _try_decode(data, size, mode, skipped)
        if image is not None:
            x[len(keep)] = image
            keep.append(i)
        if (i + 1) % 500 == 0 and i + 1 < total:
            report(message, i + 1, total)
    report(message, total, total, final=True)
    return x[:len(keep)], np.asarray(keep, np.int64), skipped


def _load_folder(cfg: DatasetConfig, report: _Throttle
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict[str, int], str]:
    if not cfg.path:
        raise DatasetError("dataset folder: no folder given; set dataset.path to a directory with one "
                           "sub-folder of images per class")
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder: {root} does not exist; set dataset.path to a directory with one "
                           f"sub-folder of images per class")
    if not root.is_dir():
        raise DatasetError(f"dataset folder: {root} is not a directory; dataset.path must be a directory with "
                           f"one sub-folder of images per class")
    subdirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sum(1 for f in root.iterdir() if f.is_file() and not f.name.startswith("."))
    mode = "L" if cfg.grayscale else "RGB"
    files, labels = _scan_classes(root, subdirs)
    sig = _signature("folder", str(root.resolve()), cfg.image_size, mode, loose, _file_stats(root, files))
    cache = cache_dir() / "folders" / f"{sig}.npz"
    cached = _load_cache(cache)
    if cached is not None:
        x, y = cached["x"], cached["y"]
        names = tuple(str(n) for n in cached["class_names"])
        skipped = {str(k): int(v) for k, v in zip(cached["skipped_reasons"], cached["skipped_counts"])}
        return x, y, names, skipped, str(root)

    x, keep, skipped = _decode_images(files, cfg.image_size, mode, report)
    y = labels[keep]
    if loose:
        skipped["outside a class folder"] += loose
    present = np.bincount(y, minlength=len(subdirs)) > 0 if len(y) else np.zeros(len(subdirs), bool)
    if not len(y):
        raise DatasetError(
            f"dataset folder: no readable images in {root} ({len(subdirs)} sub-folders, {len(files)} files"
            f"{', skipped: ' + _fmt_skipped(skipped) if skipped else ''}); put images (PNG, JPEG, ...) into "
            f"one sub-folder per class, e.g. {root}/cats/1.jpg and {root}/dogs/1.jpg")
    if present.sum() < 2:
        raise DatasetError(
            f"dataset folder: {root} has images for {int(present.sum())} class (sub-folders: "
            f"{', '.join(subdirs) or 'none'}); at least 2 class sub-folders with images are needed, e.g. "
            f"{root}/cats/ and {root}/dogs/")
    if not present.all():  # drop class folders without images, renumbering the labels
        skipped["empty class folder"] += int((~present).sum())
        remap = np.cumsum(present) - 1
        y = remap[y]
        subdirs = [n for n, p in zip(subdirs, present) if p]
    names = tuple(subdirs)
    reasons = sorted(skipped)
    _save_cache(cache, x=x, y=y, class_names=np.asarray(names, dtype=str),
                skipped_reasons=np.asarray(reasons, dtype=str),
                skipped_counts=np.asarray([skipped[r] for r in reasons], np.int64))
    return x, y, names, dict(skipped), str(root)


def _fmt_skipped(skipped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
