"""Dataset loading: offline, fast, with tiny fake files; real-data checks only where ../shared/data exists."""

from __future__ import annotations

import gzip
import io
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tui.core import datasets
from tui.core.datasets import builtin, sources
from tui.core.config import DatasetConfig
from tui.core.datasets import DatasetError, data_dirs, known_shape, load_dataset

SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="real datasets in ../shared/data not present")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real caches, data dirs or network: every test sees only its own tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("CNN_TUI_DATA_DIR", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", ())

    def no_network(url, timeout):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(sources, "open_url", no_network)


# --- helpers --------------------------------------------------------------------------------------------------


def fake_images(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_mnist(directory: Path) -> tuple[np.ndarray, ...]:
    xtr, ytr = fake_images(200)
    xte, yte = fake_images(50, seed=1)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return xtr, ytr, xte, yte


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_fashion(directory: Path) -> tuple[np.ndarray, ...]:
    xtr, ytr = fake_images(100, seed=2)
    xte, yte = fake_images(30, seed=3)
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in zip(builtin.FASHION_FILES, (xtr, ytr, xte, yte)):
        (directory / name).write_bytes(idx_bytes(arr))
    return xtr, ytr, xte, yte


def save_image(path: Path, mode: str, size: tuple[int, int], fmt: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    bands = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    Image.fromarray(arr[..., 0] if bands == 1 else arr, mode).save(path, fmt)


def make_folder(root: Path) -> dict[str, int]:
    """3 classes with 10/30/20 good images plus a text file, a truncated JPEG, an RGBA PNG and a grey PNG."""
    counts = {"ants": 10, "bees": 30, "cats": 20}
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            fmt = "PNG" if i % 2 else "JPEG"
            save_image(root / name / f"{i}.{fmt.lower()}", "RGB", (12 + i % 5, 10), fmt, seed=i)
    (root / "ants" / "notes.txt").write_text("not an image")
    buf = io.BytesIO()
    save_image(buf, "RGB", (64, 64), "JPEG")  # type: ignore[arg-type]
    (root / "bees" / "broken.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    save_image(root / "cats" / "alpha.png", "RGBA", (20, 20), "PNG")
    save_image(root / "cats" / "grey.png", "L", (9, 9), "PNG")
    counts["cats"] += 2
    return counts


# --- built-in shapes and search order -------------------------------------------------------------------------


def test_known_shape():
    assert known_shape(DatasetConfig(name="mnist")) == ((28, 28, 1), 10)
    assert known_shape(DatasetConfig(name="cifar10")) == ((32, 32, 3), 10)
    assert known_shape(DatasetConfig(name="cifar100", grayscale=True)) == ((32, 32, 1), 100)
    assert known_shape(DatasetConfig(name="folder", path="x")) is None


def test_data_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_TUI_DATA_DIR", str(tmp_path / "env"))
    dirs = data_dirs(DatasetConfig(name="mnist", data_dir=str(tmp_path / "cfg")))
    assert dirs == [tmp_path / "cfg", tmp_path / "env", tmp_path / "cache" / "cnn-tui" / "data",
                    tmp_path / "keras" / "datasets"]


def test_no_tensorflow_or_textual_import():
    for path in Path(datasets.__file__).parent.glob("*.py"):  # every module of the package
        source = path.read_text()
        assert "import textual" not in source and "from textual" not in source
        assert not any(line.startswith(("import tensorflow", "import keras", "from keras", "from tensorflow"))
                       for line in source.splitlines())


def test_every_dataset_name_has_a_loader_and_every_loader_returns_the_same_shape():
    """One signature, loader(config, progress), and one result, Loaded, for every choice of dataset.name."""
    from tui.core.config import DATASETS

    assert set(datasets.LOADERS) == set(DATASETS)
    found = datasets.LOADERS["digits"](DatasetConfig(name="digits"), datasets.Throttle(None))
    assert isinstance(found, datasets.Loaded) and found.class_names == datasets.DIGIT_NAMES
    assert found.x.dtype == np.uint8 and found.x.shape[1:] == (8, 8, 1) and len(found.y) == len(found.x) == 1797
    assert found.x_test is None and found.source == "embedded (scikit-learn digits)"


# --- digits ---------------------------------------------------------------------------------------------------


def test_digits_offline():
    ds = load_dataset(DatasetConfig(name="digits", val_fraction=0.2, test_fraction=0.1))
    info = ds.info
    assert info.input_shape == (8, 8, 1) and info.num_classes == 10
    assert info.class_names == tuple("0123456789")
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape[1:] == (8, 8, 1)
    assert np.issubdtype(ds.y_train.dtype, np.integer)
    assert max(ds.x_train.max(), ds.x_val.max(), ds.x_test.max()) == 255
    assert info.train + info.val + info.test == 1797 == sum(info.class_counts)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (info.train, info.val, info.test)
    assert info.test == pytest.approx(180, abs=2)
    assert info.val == pytest.approx(0.2 * (1797 - info.test), abs=2)
    assert "embedded" in info.source


def test_digits_seeded_split():
    a = load_dataset(DatasetConfig(name="digits", seed=1))
    b = load_dataset(DatasetConfig(name="digits", seed=1))
    c = load_dataset(DatasetConfig(name="digits", seed=2))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_train, c.x_train)


def _image_label_pairs(x: np.ndarray, y: np.ndarray) -> list[tuple[bytes, int]]:
    return sorted((row.tobytes(), int(label)) for row, label in zip(x, y))


@pytest.mark.parametrize("train_size", [0, 300])
def test_the_splits_hold_each_loaded_image_once_with_its_own_label(train_size):
    """Cut in the loaded array's own memory (rows permuted in place), not copied: still a partition of the data."""
    loaded = builtin.load_digits(DatasetConfig(name="digits"), datasets.Throttle(None))
    ds = load_dataset(DatasetConfig(name="digits", val_fraction=0.2, test_fraction=0.1, train_size=train_size))
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    everything = _image_label_pairs(loaded.x, loaded.y)
    if train_size:
        assert len(ds.y_train) == train_size
        assert not Counter(_image_label_pairs(x, y)) - Counter(everything)  # each kept image once, labelled
    else:
        assert _image_label_pairs(x, y) == everything


def test_take_rows_is_fancy_indexing_in_place():
    from tui.core.datasets.splits import take_rows

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 500):
        x = rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
        order = rng.permutation(n)
        assert np.array_equal(take_rows(x.copy(), order), x[order])
        assert np.array_equal(take_rows(x.copy(), order[: n // 2]), x[order[: n // 2]])
    with pytest.raises(ValueError, match="each row"):
        take_rows(np.zeros((3, 2)), np.array([0, 0, 1]))


def test_train_size_subset_is_stratified():
    ds = load_dataset(DatasetConfig(name="digits", train_size=50))
    assert ds.info.train == len(ds.y_train) == 50
    assert set(ds.y_train.tolist()) == set(range(10))
    assert np.bincount(ds.y_train).min() >= 4
    assert load_dataset(DatasetConfig(name="digits", train_size=100000)).info.train > 1000  # more than exists: all


def test_grayscale_is_noop_for_one_channel():
    ds = load_dataset(DatasetConfig(name="digits", grayscale=True))
    assert ds.x_train.shape[1:] == (8, 8, 1)


# --- local files ----------------------------------------------------------------------------------------------


def test_mnist_from_data_dir(tmp_path):
    xtr, ytr, xte, yte = write_mnist(tmp_path / "data")
    ds = load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "data")))
    assert (ds.info.train, ds.info.val, ds.info.test) == (180, 20, 50)
    assert ds.x_train.shape[1:] == (28, 28, 1) and ds.x_train.dtype == np.uint8
    assert np.array_equal(ds.x_test[..., 0], xte) and np.array_equal(ds.y_test, yte)
    assert ds.info.source == str(tmp_path / "data" / "mnist.npz")
    assert ds.info.class_counts == tuple([25] * 10)
    # every train/val image is one of the originals, with its label
    lookup = {x.tobytes(): y for x, y in zip(xtr, ytr)}
    assert all(lookup[x[..., 0].tobytes()] == y for x, y in zip(ds.x_val, ds.y_val))


def test_mnist_from_env_var(tmp_path, monkeypatch):
    write_mnist(tmp_path / "envdata")
    monkeypatch.setenv("CNN_TUI_DATA_DIR", str(tmp_path / "envdata"))
    ds = load_dataset(DatasetConfig(name="mnist", grayscale=True, train_size=30))
    assert ds.info.train == 30 and ds.info.test == 50
    assert "envdata" in ds.info.source


def test_fashion_idx_parsed(tmp_path):
    xtr, ytr, xte, yte = write_fashion(tmp_path / "data" / "fashion-mnist")
    ds = load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(tmp_path / "data")))
    assert ds.info.class_names[0] == "T-shirt/top" and ds.info.class_names[9] == "Ankle boot"
    assert (ds.info.train, ds.info.val, ds.info.test) == (90, 10, 30)
    assert np.array_equal(ds.x_test[..., 0], xte) and np.array_equal(ds.y_test, yte)


def test_fashion_in_dir_itself(tmp_path):
    write_fashion(tmp_path / "flat")
    ds = load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(tmp_path / "flat")))
    assert ds.info.test == 30


def test_cifar10_pickles(tmp_path):
    import pickle

    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
        (folder / name).write_bytes(pickle.dumps(data))
    ds = load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data"), grayscale=True))
    assert (ds.info.train, ds.info.val, ds.info.test) == (90, 10, 20)
    assert ds.x_train.shape[1:] == (32, 32, 1) and ds.info.class_names[0] == "airplane"


# --- missing data and downloads -------------------------------------------------------------------------------


def test_missing_dataset_names_dirs_env_and_file(tmp_path):
    cfg = DatasetConfig(name="mnist", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError) as err:
        load_dataset(cfg)
    message = str(err.value)
    for part in (str(tmp_path / "nowhere"), "CNN_TUI_DATA_DIR", "mnist.npz", "dataset.data_dir",
                 "network disabled in tests"):
        assert part in message
    assert not list((tmp_path / "cache").rglob("*.part"))  # no partial download left behind


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}

    def read(self, n: int = -1) -> bytes:  # small chunks, like a slow network
        return super().read(min(n, 4096) if n and n > 0 else 4096)


def test_download_reports_progress_and_caches(tmp_path, monkeypatch):
    buf = io.BytesIO()
    xtr, ytr = fake_images(40)
    np.savez(buf, x_train=xtr, y_train=ytr, x_test=xtr[:10], y_test=ytr[:10])
    payload = buf.getvalue()
    urls = []

    def serve(url, timeout):
        urls.append(url)
        return FakeResponse(payload)

    monkeypatch.setattr(sources, "open_url", serve)
    monkeypatch.setattr(datasets.Throttle, "__call__", lambda self, m, d, t, final=False: self.fn and self.fn(m, d, t))
    calls = []
    ds = load_dataset(DatasetConfig(name="mnist"), progress=lambda m, d, t: calls.append((m, d, t)))
    assert urls == [builtin.MNIST_URL]
    downloads = [c for c in calls if c[0] == "Downloading mnist.npz"]
    assert len(downloads) > 3
    done = [d for _, d, _ in downloads]
    assert done == sorted(done) and done[-1] == len(payload)
    assert all(t == len(payload) for _, _, t in downloads)
    cached = tmp_path / "cache" / "cnn-tui" / "data" / "mnist.npz"
    assert cached.read_bytes() == payload
    assert ds.info.source == f"downloaded to {cached}" and ds.info.test == 10

    monkeypatch.setattr(sources, "open_url", lambda url, timeout: pytest.fail("downloaded twice"))
    assert load_dataset(DatasetConfig(name="mnist")).info.source == str(cached)


def test_progress_is_throttled_to_about_ten_a_second_keeping_the_first_and_the_final(monkeypatch):
    from types import SimpleNamespace

    from tui.core.datasets import common

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(common, "time", SimpleNamespace(monotonic=lambda: clock.now))  # no wall clock: no flake
    calls = []
    throttle = datasets.Throttle(lambda m, d, t: calls.append(d))
    for i in range(1000):  # 1,000 reports over 0.5 s
        throttle("work", i, 1000)
        clock.now += 0.0005
    throttle("work", 1000, 1000, final=True)
    assert calls[0] == 0 and calls[-1] == 1000 and 5 <= len(calls) <= 7, calls


# --- image folders --------------------------------------------------------------------------------------------


def test_folder_dataset(tmp_path):
    counts = make_folder(tmp_path / "imgs")
    calls = []
    cfg = DatasetConfig(name="folder", path=str(tmp_path / "imgs"), image_size=16)
    ds = load_dataset(cfg, progress=lambda m, d, t: calls.append((m, d, t)))
    info = ds.info
    assert info.class_names == ("ants", "bees", "cats")
    assert info.class_counts == (counts["ants"], counts["bees"], counts["cats"])
    assert dict(info.skipped) == {"not an image": 1, "corrupt": 1}
    assert ds.x_train.shape[1:] == (16, 16, 3) and ds.x_train.dtype == np.uint8
    assert info.input_shape == (16, 16, 3)
    total = sum(counts.values())
    assert info.train + info.val + info.test == total
    assert info.test == pytest.approx(0.1 * total, abs=1) and info.val == pytest.approx(0.09 * total, abs=1.5)
    assert set(ds.y_train.tolist()) == {0, 1, 2}
    assert calls and calls[-1][0] == "Reading images" and calls[-1][1] == calls[-1][2]
    # the second load comes from the decoded cache and is identical
    again = load_dataset(cfg)
    assert again.info == info and np.array_equal(again.x_train, ds.x_train)


def test_folder_grayscale(tmp_path):
    make_folder(tmp_path / "imgs")
    ds = load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "imgs"), image_size=8, grayscale=True))
    assert ds.x_train.shape[1:] == (8, 8, 1) and ds.info.input_shape == (8, 8, 1)


def test_folder_refusals(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "missing")))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "file.txt")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no readable images"):
        load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "empty")))
    (tmp_path / "one" / "cats").mkdir(parents=True)
    (tmp_path / "one" / "dogs").mkdir()
    save_image(tmp_path / "one" / "cats" / "a.png", "RGB", (8, 8), "PNG")
    with pytest.raises(DatasetError, match="at least 2 class"):
        load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "one")))


def test_folder_symlink_loop_is_cut(tmp_path):
    make_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "ants" / "loop").symlink_to(tmp_path / "imgs" / "ants")
    ds = load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "imgs"), image_size=8))
    assert ds.info.class_counts[0] == 10


# --- real data (CI only) --------------------------------------------------------------------------------------


@needs_shared
def test_real_mnist():
    ds = load_dataset(DatasetConfig(name="mnist", data_dir=str(SHARED_DATA)))
    assert (ds.info.train, ds.info.val, ds.info.test) == (54000, 6000, 10000)
    with np.load(SHARED_DATA / "mnist.npz") as z:
        assert z["y_train"][:5].tolist() == [5, 0, 4, 1, 9]


@needs_shared
def test_real_fashion_mnist():
    ds = load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(SHARED_DATA), train_size=1000))
    assert ds.x_train.shape == (1000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.info.class_counts == tuple([7000] * 10)


def test_cifar10_jpg_archive_decoded_once(tmp_path, monkeypatch):
    import tarfile

    src = tmp_path / "src" / "cifar10-jpg"
    for split, n in (("train", 3), ("test", 1)):
        for c, name in enumerate(datasets.CIFAR10_NAMES):
            (src / split / name).mkdir(parents=True)
            for i in range(n):
                save_image(src / split / name / f"{i:04d}.jpg", "RGB", (32, 32), "JPEG", seed=c * 10 + i)
    (tmp_path / "data").mkdir()
    with tarfile.open(tmp_path / "data" / "cifar10-jpg.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar10-jpg")
    (tmp_path / "data").chmod(0o555)  # the data dir may be read-only: nothing is written there
    try:
        cfg = DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data"), val_fraction=0.2)
        ds = load_dataset(cfg)
        assert (ds.info.train, ds.info.val, ds.info.test) == (24, 6, 10)
        assert ds.x_train.shape[1:] == (32, 32, 3) and ds.info.class_counts == tuple([4] * 10)
        assert sorted(ds.y_test.tolist()) == list(range(10))
        assert list((tmp_path / "cache" / "cnn-tui" / "data").glob("cifar10-jpg-*.npz"))
        monkeypatch.setattr(builtin, "_cifar10_jpg_from_tar", lambda *a: pytest.fail("decoded twice"))
        again = load_dataset(cfg)
        assert np.array_equal(again.x_train, ds.x_train) and np.array_equal(again.y_test, ds.y_test)
    finally:
        (tmp_path / "data").chmod(0o755)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_pickles_of_any_protocol_load_and_one_that_would_run_code_is_refused_unrun(tmp_path, protocol):
    import pickle

    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": np.arange(20) % 10}
        (folder / name).write_bytes(pickle.dumps(data, protocol=protocol))
    assert load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data"))).info.test == 20

    ran = tmp_path / "ran"

    class Payload:  # what a crafted file does: call a function of its choosing as it loads
        def __reduce__(self):
            return (Path.touch, (ran,))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=protocol))
    with pytest.raises(DatasetError) as err:
        load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data")))
    assert not ran.exists()
    assert "not data" in str(err.value) and "refused" in str(err.value) and "cifar-10-batches-py" in str(err.value)
