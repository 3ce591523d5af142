"""Sweep cells on Dask distributed: an embedded local cluster (127.0.0.1, no dashboard) or an existing one.

Dask's scheduler, its futures (``concurrent.futures`` compatible) and its worker restarts replace the home-made
process pool: a worker killed in the middle of a cell makes the scheduler run that cell again on another worker.
Per-cell progress travels as Dask events (``Worker.log_event`` -> ``Client.subscribe_topic``); the sweep's stop
is a Dask ``Event`` that every running cell watches and turns into a stop at its next batch, and the futures of the
cells not begun are cancelled (``Client.cancel``), so no worker starts them.

A Dask scheduler runs whatever code a connected client sends it: the embedded cluster listens on the loopback
address only, and connecting to an unencrypted (tcp://) address on another host is warned about.

`run_cell` runs on a worker. When the worker sees the sweep directory itself (a shared runs folder, recognised
by the token the driver writes there) the cell's run directory is written there directly; otherwise the cell
trains in the worker's own scratch space and its run directory comes back with the result as an archive
(RunDir.pack / RunDir.unpack own what goes in it).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tui.core import tfenv
from tui.core.params import ConfigError

SCHEMES = ("tcp", "tls")
LOOPBACK_HOST = "127.0.0.1"


def check_address(address: str) -> str:
    """A scheduler address as given (``tcp://host:8786`` or ``tls://host:8786``), checked; ConfigError if not."""
    text = address.strip()
    parts = urlsplit(text if "://" in text else "tcp://" + text)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError("--scheduler", f"got {address!r}; expected tcp://HOST:8786 or tls://HOST:8786 "
                                         "(the address `dask scheduler` prints)")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError("--scheduler", f"{address!r} has a bad port; e.g. tcp://127.0.0.1:8786") from None
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_warning(address: str) -> str | None:
    """Why connecting to `address` is unsafe, or None: an unencrypted scheduler on another host lets anyone who
    reaches it run code on every worker (and reads the sweep's traffic)."""
    parts = urlsplit(check_address(address))
    if parts.scheme == "tcp" and not is_loopback(parts.hostname or ""):
        return (f"warning: {address} is an unencrypted Dask scheduler on another host; anyone who can reach it can "
                "run code on its workers. Use tls:// with certificates (--tls-ca-file, --tls-cert, --tls-key) or an "
                "SSH tunnel to 127.0.0.1 (see the README's cluster recipe).")
    return None


def make_security(address: str | None, ca_file: str | None = None, cert: str | None = None,
                  key: str | None = None) -> Any:
    """Dask's Security for a tls:// scheduler (the files given, else Dask's own configuration), None for tcp://."""
    given = [x for x in (ca_file, cert, key) if x]
    if not address or not address.startswith("tls://"):
        if given:
            raise ConfigError("--tls-ca-file", "certificates only apply to a tls:// scheduler address")
        return None
    Security = dask_module("distributed.security").Security

    if given and len(given) != 3:
        raise ConfigError("--tls-ca-file", "a tls:// scheduler needs all three: --tls-ca-file, --tls-cert, --tls-key")
    for flag, path in (("--tls-ca-file", ca_file), ("--tls-cert", cert), ("--tls-key", key)):
        if path and not Path(path).is_file():
            raise ConfigError(flag, f"{path} does not exist")
    if given:
        return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    security = Security()  # distributed.comm.tls.* from Dask's configuration files
    if not security.tls_ca_file:
        raise ConfigError("--scheduler", "a tls:// scheduler needs certificates: --tls-ca-file, --tls-cert and "
                                         "--tls-key (or distributed.comm.tls in Dask's configuration)")
    return security


def dask_module(name: str = "distributed") -> Any:
    """A Dask module, imported when first needed (Dask ships no type information: typed as Any)."""
    import importlib

    return importlib.import_module(name)


def quiet_dask() -> None:
    """Dask logs to stderr on its own; the sweep says what matters itself (and the app owns the terminal)."""
    for name in ("distributed", "distributed.worker", "distributed.nanny", "distributed.scheduler",
                 "distributed.client", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class Cluster:
    """A Dask client on an embedded LocalCluster (`workers` processes) or on the scheduler at `address`."""

    def __init__(self, workers: int, address: str | None = None, security: Any = None) -> None:
        Client, LocalCluster = dask_module().Client, dask_module().LocalCluster

        quiet_dask()
        self.address = address
        self.client: Any = None
        self.local: Any = None
        self.threads: int | None = None
        if address is None:
            _start_resource_tracker()
            self.threads = max(1, available_cores() // workers)  # workers × threads ≤ cores
            self.local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOOPBACK_HOST,
                                      dashboard_address=None, silence_logs=logging.CRITICAL,
                                      worker_dashboard_address=None, protocol="tcp://")
            self.client = Client(self.local, set_as_default=False)
            self.client.register_plugin(_LeaveCtrlCToTheDriver(), name="cnn-tui-sigint")
        else:
            try:
                self.client = Client(address, security=security, set_as_default=False, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError("--scheduler", f"cannot reach the Dask scheduler at {address}: {exc}; start one "
                                                 "with `dask scheduler` (see the README)") from None

    def describe(self) -> str:
        n = len(self.client.scheduler_info().get("workers", {}))
        if self.local is not None:
            return f"embedded Dask cluster on 127.0.0.1, {n} workers × {self.threads} threads"
        return f"Dask scheduler {self.address}, {n} workers"

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # the scheduler may be gone already
            pass
        if self.local is not None:
            try:
                self.local.close(timeout=10)
            except Exception:
                pass


# -- helpers shared with the in-process runner (tui.core.sweep) ---------------------------------------------------
def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cell_result(session: Any, result: Any, t0: float) -> dict[str, Any]:
    """What a finished cell reports (plain data: it crosses from a worker process)."""
    return {"status": result.status, "best": _best_accuracy(session.history), "error": result.error,
            "epochs": len(session.history), "seconds": round(time.perf_counter() - t0, 2),
            "run_dir": Path(result.run_dir).name if result.run_dir else None}


def _best_accuracy(history: Sequence[Mapping[str, float]]) -> float | None:
    accs = [v for h in history if (v := h.get("val_accuracy")) is not None and math.isfinite(v)]
    return max(accs) if accs else None


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr: it passes `sys.stderr.fileno()` to the new
    process, and a UI that captures sys.stderr (Textual does) answers -1 ("bad value(s) in fds_to_keep")."""
    import sys
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        try:
            usable = sys.stderr is not None and sys.stderr.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            usable = False
        if not usable and sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


def _release_cell() -> None:
    """After a cell: collect its model and datasets (what TensorFlow and Keras kept of it went when the last cell
    in this process left `tfenv.cell_scope`), so a long sweep holds the memory of one cell, not of all of them."""
    import gc

    gc.collect()


def _LeaveCtrlCToTheDriver() -> Any:
    """Embedded workers share the terminal's process group: Ctrl+C is the driver's to turn into a clean stop
    (cells stop at their next batch), not a signal that kills every worker in the middle of its cell."""
    WorkerPlugin: Any = dask_module("distributed.diagnostics.plugin").WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            import signal

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


# -- on a worker ----------------------------------------------------------------------------------------------------
def executing_keys(dask_worker: Any) -> list[str]:
    """The tasks this worker is executing now, cancelled ones included (a thread cannot be interrupted: a cancelled
    task that had begun runs to its end). Called through `Client.run`."""
    state = dask_worker.state
    return [str(ts.key) for ts in (*state.executing, *state.long_running)]


_one_cell_at_a_time = threading.Lock()
"""Keras keeps global state per process: a worker with several threads still runs one cell at a time."""


def _set_threads(threads: int | None) -> None:
    if not threads or "tensorflow" in __import__("sys").modules:
        return
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    from tui.core import tfenv

    tf = tfenv.import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _tensorflow_missing(worker: Any) -> str | None:
    """Why this worker cannot train (its Python cannot import TensorFlow), naming the worker and the fix; None if
    it can. The cell would fail anyway; this says where and what to do instead of a bare ImportError."""
    try:
        tfenv.import_tensorflow()
    except ImportError as exc:
        name = worker.name if isinstance(worker.name, str) else None
        who = f"{name} ({worker.address})" if name and name != worker.address else worker.address
        return (f"the Dask worker {who} on {socket.gethostname()} cannot import TensorFlow ({exc}); install "
                "cnn-tui's dependencies in the Python environment that runs `dask worker` there (pip install -e . "
                "in the cnn-tui folder, or pip install tensorflow), then restart that worker")
    return None


def run_cell(config: dict[str, Any], sweep_dir: str, token: str, name: str, index: list[int], topic: str,
             stop_name: str, threads: int | None, models: bool) -> dict[str, Any]:
    """Run one cell on a Dask worker: progress as events on `topic`, stop when the Dask Event `stop_name` is set;
    returns the cell's result (plain data), with its run directory packed in when the sweep folder is not here."""
    Event, get_worker = dask_module().Event, dask_module().get_worker

    from tui.core import config as config_mod
    from tui.core.events import EpochEnd, RunStarted
    from tui.core.rundir import RunDir, SweepDir
    from tui.core.session import TrainingSession

    worker = get_worker()
    attempt = uuid.uuid4().hex
    with _one_cell_at_a_time:
        stop = Event(stop_name)
        if stop.is_set():  # the sweep was stopped as this cell began (its future was being cancelled): no start
            return {"status": "stopped", "best": None, "error": None, "epochs": 0, "seconds": None, "run_dir": None,
                    "attempt": attempt}
        missing = _tensorflow_missing(worker)
        if missing:  # before a run directory is made: nothing half-made is left behind for this cell
            return {"status": "failed", "best": None, "error": missing, "epochs": 0, "seconds": None,
                    "run_dir": None, "attempt": attempt, "cause": "no-tensorflow"}
        _set_threads(threads)
        shared = SweepDir(Path(sweep_dir)).has_token(token)
        runs_dir = sweep_dir if shared else tempfile.mkdtemp(prefix="cnn-tui-cell-", dir=worker.local_directory)

        def listen(event: Any) -> None:
            if isinstance(event, RunStarted):
                worker.log_event(topic, ["start", index, attempt, Path(event.run_dir).name, event.epochs,
                                         worker.address])
            elif isinstance(event, EpochEnd) and not event.partial:
                worker.log_event(topic, ["epoch", index, attempt, event.epoch])

        session = TrainingSession(config_mod.from_dict(config, "sweep"), runs_dir=runs_dir, listeners=[listen],
                                  name=name)
        ended = threading.Event()

        def watch() -> None:
            while not ended.is_set():
                try:
                    if stop.wait(0.5):
                        session.stop()
                        return
                except Exception:  # the scheduler went away: the cell's own result is lost anyway
                    time.sleep(0.5)

        threading.Thread(target=watch, daemon=True, name="cnn-tui-cell-stop").start()
        t0 = time.perf_counter()
        try:
            with tfenv.cell_scope():
                result = session.run()
        finally:
            ended.set()
        _release_cell()
        out = _cell_result(session, result, t0)
        out.update(attempt=attempt, host=socket.gethostname(), shipped=not shared)
        if not shared:
            try:
                if result.run_dir:
                    out["archive"] = RunDir(Path(result.run_dir)).pack(models=models)
            finally:
                shutil.rmtree(runs_dir, ignore_errors=True)
        return out
