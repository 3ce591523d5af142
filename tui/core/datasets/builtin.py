"""The built-in datasets: scikit-learn's digits (embedded), MNIST, Fashion-MNIST, CIFAR-10 (Python pickles or
JPEG folders / archives) and CIFAR-100, found in the data directories or downloaded from the URLs Keras uses."""

from __future__ import annotations

import gzip
import pickle
import tarfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tui.core.config import DatasetConfig
from tui.core.datasets.common import CIFAR10_NAMES, DIGIT_NAMES, FASHION_NAMES, Loaded, Throttle
from tui.core.datasets.images import decode_images, file_stats, scan_classes, try_decode, walk_files
from tui.core.datasets.sources import (bad_file, cache_dir, cache_signature, data_dirs, fetch, file_signature,
                                       find_file, load_cache, save_cache)

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)

Arrays = tuple[np.ndarray, np.ndarray]


def load_digits(cfg: DatasetConfig, report: Throttle) -> Loaded:
    """scikit-learn's 8x8 digits, scaled to 0-255: always there, nothing to download."""
    from sklearn import datasets as sklearn_datasets

    d = sklearn_datasets.load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return Loaded(x, d.target.astype(np.int64), DIGIT_NAMES, "embedded (scikit-learn digits)")


def load_mnist(cfg: DatasetConfig, report: Throttle) -> Loaded:
    path = find_file(cfg, ["mnist.npz"])
    source = str(path)
    if path is None:
        path = cache_dir() / "mnist.npz"
        source = fetch(cfg, MNIST_URL, path, "mnist.npz", report)
    try:
        with np.load(path, allow_pickle=False) as z:
            xtr, ytr, xte, yte = z["x_train"], z["y_train"], z["x_test"], z["y_test"]
    except Exception as exc:
        raise bad_file(cfg, path, exc) from exc
    return Loaded(_nhwc(xtr), ytr, DIGIT_NAMES, source, _nhwc(xte), yte)


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


def load_fashion_mnist(cfg: DatasetConfig, report: Throttle) -> Loaded:
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
                fetch(cfg, FASHION_URL + f, folder / f, expected, report)
        source = f"downloaded to {folder}"
    arrays = []
    for f in FASHION_FILES:
        try:
            arrays.append(_read_idx(folder / f))
        except Exception as exc:
            raise bad_file(cfg, folder / f, exc) from exc
    xtr, ytr, xte, yte = arrays
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise bad_file(cfg, folder, ValueError("image and label counts differ"))
    return Loaded(_nhwc(xtr), ytr, FASHION_NAMES, source, _nhwc(xte), yte)


def _cifar_from_pickles(read: Callable[[str], Any], files_train: list[str], file_test: str,
                        label_key: bytes) -> tuple[Arrays, Arrays]:
    def batch(name: str) -> Arrays:
        d = read(name)
        x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), np.asarray(d[label_key], np.int64)

    parts = [batch(n) for n in files_train]
    test = batch(file_test)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])), test


_PICKLED_DATA = {(np_module, name) for np_module in ("numpy.core.multiarray", "numpy._core.multiarray")
                 for name in ("_reconstruct", "scalar")} | {
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}
"""What a CIFAR pickle may name: NumPy's array and dtype rebuilders, and the bytes rebuilder of protocol 2 as
Python 3 writes it (dicts, lists and Python 2's strings need none)."""


class _DataUnpickler(pickle.Unpickler):
    """Reads a pickle that holds data only: any other global (a function a crafted file would have called as it
    loads) is refused, so nothing read from a data folder runs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLED_DATA:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not data (CIFAR's files hold arrays "
                                         "and lists only); refused without running it")
        return super().find_class(module, name)


def _load_pickle(f: Any) -> Any:
    return _DataUnpickler(f, encoding="bytes").load()  # the CIFAR format is pickles (written by Python 2)


def _pickle_reader(path: Path) -> tuple[Callable[[str], Any], Callable[[], None]]:
    """A function reading one member (by base name) of a pickled CIFAR folder or .tar.gz, and a closer."""
    if path.is_dir():
        def read_dir(name: str) -> Any:
            with open(path / name, "rb") as f:
                return _load_pickle(f)
        return read_dir, lambda: None
    tar = tarfile.open(path, "r:gz")
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

    def read_tar(name: str) -> Any:
        if name not in members:
            raise KeyError(f"{name} is not in the archive")
        f = tar.extractfile(members[name])
        assert f is not None
        return _load_pickle(f)

    return read_tar, tar.close


def load_cifar10(cfg: DatasetConfig, report: Throttle) -> Loaded:
    candidates = [
        "cifar-10-batches-py", "cifar-10-batches-py_extracted/cifar-10-batches-py", "cifar-10-python.tar.gz",
        "cifar-10-batches-py.tar.gz", "cifar10-jpg", "cifar10-jpg.tar.gz",
    ]
    path = find_file(cfg, candidates)
    source = str(path)
    if path is None:
        path = cache_dir() / "cifar-10-python.tar.gz"
        source = fetch(cfg, CIFAR10_URL, path, "cifar-10-python.tar.gz (or cifar10-jpg.tar.gz)", report)
    if path.name.startswith("cifar10-jpg"):
        train, test = _load_cifar10_jpg(cfg, path, report)
        return Loaded(train[0], train[1], CIFAR10_NAMES, source, test[0], test[1])
    try:
        report(f"Reading {path.name}", 0, None, final=True)
        read, close = _pickle_reader(path)
        try:
            train, test = _cifar_from_pickles(read, [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                                              b"labels")
        finally:
            close()
    except Exception as exc:
        raise bad_file(cfg, path, exc) from exc
    return Loaded(train[0], train[1], CIFAR10_NAMES, source, test[0], test[1])


def load_cifar100(cfg: DatasetConfig, report: Throttle) -> Loaded:
    candidates = ["cifar-100-python", "cifar-100-python_extracted/cifar-100-python", "cifar-100-python.tar.gz"]
    path = find_file(cfg, candidates)
    source = str(path)
    if path is None:
        path = cache_dir() / "cifar-100-python.tar.gz"
        source = fetch(cfg, CIFAR100_URL, path, "cifar-100-python.tar.gz", report)
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
        raise bad_file(cfg, path, exc) from exc
    if len(names) != 100:
        names = tuple(str(i) for i in range(100))
    return Loaded(train[0], train[1], names, source, test[0], test[1])


def _cifar10_jpg_from_tar(archive: Path, report: Throttle) -> tuple[Arrays, Arrays]:
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
            image = try_decode(f.read() if f else b"", 32, "RGB", skipped)
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


def _load_cifar10_jpg(cfg: DatasetConfig, path: Path, report: Throttle) -> tuple[Arrays, Arrays]:
    """CIFAR-10 as JPEGs (a ``cifar10-jpg/`` folder or its .tar.gz), decoded once and cached as .npz."""
    if path.is_dir():
        sig = cache_signature("cifar10-jpg", str(path.resolve()), file_stats(path, walk_files(path)))
    else:
        sig = cache_signature("cifar10-jpg", file_signature(path))
    cache = cache_dir() / f"cifar10-jpg-{sig}.npz"
    cached = load_cache(cache)
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
                files, labels = scan_classes(path / split, classes)
                x, keep, skipped = decode_images(files, 32, "RGB", report, f"Decoding CIFAR-10 {split} images")
                if skipped:
                    raise ValueError(f"unreadable images in {path / split}: {dict(skipped)}")
                parts.append((x, labels[keep]))
            (xtr, ytr), (xte, yte) = parts
        else:
            (xtr, ytr), (xte, yte) = _cifar10_jpg_from_tar(path, report)
    except Exception as exc:
        raise bad_file(cfg, path, exc) from exc
    save_cache(cache, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return (xtr, ytr), (xte, yte)
