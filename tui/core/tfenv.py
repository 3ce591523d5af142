"""TensorFlow, imported lazily and quietly.

TensorFlow's import takes seconds and its C++ side writes log lines straight to file descriptor 2 (some of
them before TF_CPP_MIN_LOG_LEVEL is read). Nothing here runs at import time of the package: callers ask for
TensorFlow when they need it, off the start-up path.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_tf: Any = None


def quiet_environment() -> None:
    """Environment for a quiet TensorFlow; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def log_path() -> Path:
    """Where TensorFlow's native log goes while the app owns the terminal."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "cnn-tui"
    return base / "tensorflow.log"


def move_native_stderr(path: Path | None = None) -> Path:
    """Send file descriptor 2 (where C++ libraries write) to a log file for good, while Python's own
    `sys.__stderr__` / `sys.stderr` keep writing to the terminal through a duplicate descriptor.

    Textual draws through `sys.__stderr__`, so the app keeps its screen and TensorFlow cannot scribble on it.
    """
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(sys.__stderr__, "encoding", None) or "utf-8",
                         errors="backslashreplace")
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    if sys.stderr is sys.__stderr__:
        sys.stderr = terminal
    setattr(sys, "__stderr__", terminal)  # noqa: B010 - mypy: __stderr__ is Final in typeshed
    return path


def import_tensorflow() -> Any:
    """Import TensorFlow and Keras once (thread-safe) and return the tensorflow module."""
    global _tf
    with _lock:
        if _tf is None:
            quiet_environment()
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
            _tf = tf
    return _tf


def device_name() -> str:
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
            more = f" (+{len(gpus) - 1})" if len(gpus) > 1 else ""
            return f"GPU: {details.get('device_name', gpus[0].name)}" + more
        except Exception:
            return f"GPU: {gpus[0].name}"
    return f"CPU ({os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    import platform

    tf = import_tensorflow()
    import keras

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__}


_cells = 0
_cells_lock = threading.Lock()


@contextmanager
def cell_scope() -> Iterator[None]:
    """Around a sweep cell that runs in a process outliving it (in-process, or on a Dask worker): when the last cell
    running in the process ends, what TensorFlow and Keras kept of it is released (`release_graph_state`)."""
    global _cells
    with _cells_lock:
        _cells += 1
    try:
        yield
    finally:
        with _cells_lock:
            _cells -= 1
            last = _cells == 0
        if last:  # no other cell is tracing a graph in this process now
            release_graph_state()


def release_graph_state() -> None:
    """Drop Keras' global state and the gradient functions TensorFlow registered for the graphs traced so far.

    `keras.backend.clear_session()` drops Keras' graphs, but every graph traced through an op with a custom gradient
    (Keras' training step has two) registers that gradient in TensorFlow's process-wide gradient registry under a
    fresh "CustomGradient-<n>" name that is never removed, and the registered function holds its whole FuncGraph: an
    in-process sweep grew ~7 MB a cell. The entries are only looked up while a graph is being traced, so once no
    training traces in this process they can go. Only call it then (`cell_scope` does)."""
    import gc

    keras = sys.modules.get("keras")
    if keras is None:  # TensorFlow never loaded: nothing to release
        return
    keras.backend.clear_session()
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        ops = None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if isinstance(registry, dict):
        for name in [n for n in registry if isinstance(n, str) and n.startswith("CustomGradient-")]:
            del registry[name]
    gc.collect()
