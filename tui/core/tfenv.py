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
    # TensorFlow's own best-fit allocator for CPU tensors, instead of malloc: a training step's activations and
    # gradients (tens of MB each) are reused from its pool. Through malloc they fragment glibc's per-thread arenas
    # and the resident set creeps up through an epoch (CIFAR-10: 884 MB at the first batch, 983 MB at the last;
    # with the pool it stays at ~920 MB), with no loss in speed (benchmarks/README.md, memory round 3)
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


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
            enable_memory_growth(tf)
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
            _tf = tf
            # TensorFlow's and Keras' ~250,000 objects (modules, classes, functions) live as long as the process:
            # moved out of the garbage collector's reach, so that its full passes, which any burst of new objects
            # sets off (10,000 runs read for the history, a training epoch's), no longer walk them every time
            # (240 ms of CPU a pass with them on this machine, microseconds without)
            import gc

            gc.freeze()
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


# -- devices of one run ---------------------------------------------------------------------------------------------
def enable_memory_growth(tf: Any) -> None:
    """GPU memory grows as needed instead of TensorFlow taking all of it (so a sweep's runs can share a GPU).
    Called where TensorFlow is first imported, before any GPU is initialised (it cannot change afterwards)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised by an earlier import in this process
            pass


class Placement:
    """Where one run trains: its tf.distribute strategy (None: TensorFlow's default device) and the facts for
    summary.json's `device` block."""

    def __init__(self, strategy: Any, info: dict[str, Any]) -> None:
        self.strategy = strategy
        self.info = info

    @property
    def replicas(self) -> int:
        return int(self.info["replicas"])

    def scope(self) -> Any:
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def placement(devices: str | tuple[int, ...], mixed_precision: bool, batch_size: int) -> Placement:
    """The strategy for `training.devices` (parsed) and `training.mixed_precision`; ConfigError when the machine
    does not have what they ask for. Two or more devices: MirroredStrategy (also over a CPU split into logical
    devices, which is how the tests run it without a GPU)."""
    import keras

    from tui.core.params import ConfigError

    tf = import_tensorflow()
    gpus = tf.config.list_logical_devices("GPU")
    if devices == "cpu" or (devices == "auto" and not gpus):
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
    elif devices == "auto":
        names = [d.name for d in gpus]
    else:
        missing = [i for i in devices if isinstance(i, int) and i >= len(gpus)]
        if missing:
            raise ConfigError("training.devices", f"GPU {missing[0]} does not exist: this machine has "
                              f"{len(gpus)} GPU(s){' (0..' + str(len(gpus) - 1) + ')' if gpus else ''}; use auto "
                              "or cpu")
        names = [gpus[i].name for i in devices]
    on_gpu = any("GPU" in n for n in names)
    if mixed_precision:
        if not on_gpu:
            raise ConfigError("training.mixed_precision", "mixed_float16 needs a GPU (float16 on the CPU is slower "
                              "than float32, not faster); set it to false for this run")
        old = [n for n in names if _compute_capability(tf, n) < (7, 0)]
        if old:
            raise ConfigError("training.mixed_precision", f"{old[0]} is older than compute capability 7.0 (no "
                              "tensor cores): mixed_float16 would be slower there; set it to false")
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)  # every run sets it: a sweep's cells share the process
    replicas = len(names)
    if replicas >= 2 and batch_size % replicas:
        raise ConfigError("training.batch_size", f"{batch_size} does not split evenly over {replicas} devices; "
                          f"use a multiple of {replicas} (it is the global batch)")
    if replicas >= 2:
        strategy = tf.distribute.MirroredStrategy(devices=names)
    elif devices != "auto" and names:  # cpu on a GPU machine, or one chosen GPU: pin the run there
        strategy = tf.distribute.OneDeviceStrategy(names[0])
    else:
        strategy = None
    info = {"name": device_name() if not names or "CPU" not in names[0] or replicas == 1 else
            f"CPU split into {replicas} logical devices",
            "strategy": type(strategy).__name__ if strategy is not None else "default",
            "replicas": replicas, "devices": names, "dtype_policy": policy,
            "global_batch": batch_size, "per_replica_batch": batch_size // max(1, replicas)}
    return Placement(strategy, info)


def _compute_capability(tf: Any, name: str) -> tuple[int, int]:
    index = int(name.rsplit(":", 1)[-1])
    try:
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[index])
        major, minor = details.get("compute_capability") or (0, 0)
        return int(major), int(minor)
    except Exception:
        return (0, 0)


def device_label(device: Any) -> str:
    """summary.json's `device` (a block since 0.x; older runs have a plain string) in a few words."""
    if isinstance(device, dict):
        text = str(device.get("name", "?"))
        if device.get("replicas", 1) > 1:
            text += f", {device['strategy']} × {device['replicas']} ({device.get('per_replica_batch')} per replica)"
        if device.get("dtype_policy") not in (None, "float32"):
            text += f", {device['dtype_policy']}"
        return text
    return str(device or "?")

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


def release_scalar_cache() -> None:
    """Empty TensorFlow's cache of the Python numbers it has turned into tensors (nothing when it is not loaded).

    Eager TensorFlow keeps the tensor of every distinct Python int or float it converts (`tf.constant(0.731)`,
    `keras.ops.less(val_loss, best)`) in a process-wide cache that nothing trims: 0.64 KB of C heap each, measured.
    Keras' monitor callbacks (ModelCheckpoint's best model, EarlyStopping, ReduceLROnPlateau) compare each epoch's
    metric through keras.ops and a learning-rate schedule assigns a new Python float, so every epoch of a run added
    at least one: most of a headless run's memory growth beyond a bare fit's (issue 22). The cache only saves
    converting a number again; emptying it costs microseconds."""
    tfe = sys.modules.get("tensorflow.python.pywrap_tfe")
    if tfe is not None:
        tfe.TFE_ClearScalarCache()


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
    release_scalar_cache()
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        ops = None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if isinstance(registry, dict):
        for name in [n for n in registry if isinstance(n, str) and n.startswith("CustomGradient-")]:
            del registry[name]
    gc.collect()
