"""TensorFlow, imported lazily and quietly.

TensorFlow's import takes seconds and its C++ side writes log lines straight to file descriptor 2 (some of
them before TF_CPP_MIN_LOG_LEVEL is read). Nothing here runs at import time of the package: callers ask for
TensorFlow when they need it, off the start-up path.
"""

from __future__ import annotations

import os
import sys
import threading
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
