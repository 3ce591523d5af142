"""Where dataset files come from: the data directories searched in order, downloads (atomic, with progress), and
the decoded-image caches (.npz in the download cache)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tui.core.config import DatasetConfig
from tui.core.datasets.common import DatasetError, Throttle

DATA_DIR_ENV = "CNN_TUI_DATA_DIR"
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
DOWNLOAD_TIMEOUT_S = 15.0
CACHE_FORMAT = 1  # bump to invalidate decoded-image caches


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


def open_url(url: str, timeout: float) -> Any:
    """Open `url` for reading (a context manager with .read(n) and .headers); tests replace this."""
    return urllib.request.urlopen(url, timeout=timeout)  # fixed https URLs


def download(url: str, dest: Path, report: Throttle) -> None:
    """Fetch `url` to `dest` through a temporary file, renamed when complete; raises OSError-like errors."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    message = f"Downloading {dest.name}"
    try:
        with os.fdopen(fd, "wb") as out, open_url(url, DOWNLOAD_TIMEOUT_S) as resp:
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


def find_file(cfg: DatasetConfig, candidates: Iterable[str]) -> Path | None:
    """The first existing `candidate` (relative path) in the first data directory that has one."""
    names = list(candidates)
    for d in data_dirs(cfg):
        for name in names:
            p = d / name
            if p.exists():
                return p
    return None


def fetch(cfg: DatasetConfig, url: str, dest: Path, expected: str, report: Throttle) -> str:
    try:
        download(url, dest, report)
    except Exception as exc:  # any network/disk error becomes one clear message
        raise _not_found(cfg, expected, exc, url) from exc
    return f"downloaded to {dest}"


def cache_signature(*parts: Any) -> str:
    return hashlib.sha1(repr((CACHE_FORMAT, *parts)).encode()).hexdigest()[:20]


def file_signature(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def load_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def save_cache(path: Path, **arrays: np.ndarray) -> None:
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


def bad_file(cfg: DatasetConfig, path: Path, exc: BaseException) -> DatasetError:
    return DatasetError(f"dataset {cfg.name}: cannot read {path}: {exc}. The file may be incomplete or "
                        f"damaged; delete it (a fresh copy is downloaded next time) or replace it.")

