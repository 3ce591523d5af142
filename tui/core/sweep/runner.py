"""Running a sweep's cells: in this process one at a time, or on Dask (tui.core.cluster)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui.core.cluster import _cell_result, _release_cell, available_cores
from tui.core import tfenv
from tui.core.params import ConfigError
from tui.core.rundir import RunDir, SweepDir
from tui.core.sweep.grid import SweepSpec
from tui.core.sweep.state import (DONE, Cell, Listener, SweepProgress, SweepState, _fmt_value, _state_json,
                                  export, load_state)


# -- running ----------------------------------------------------------------------------------------------------------
GIVE_UP_AFTER = 2
"""A sweep stops when its first cells (this many) all fail with the same error before their first epoch."""

PARALLEL_MIN_CORES = 4
"""`auto` runs cells in parallel only from this many cores up: on the 2-core machine this was measured on
(benchmarks/sweep_parallel.py), one cell at a time with both cores was faster than two single-thread cells."""


def auto_workers(cells: int, cores: int | None = None) -> int:
    """How many cells to run at once when --workers is auto: each worker gets at least two threads."""
    cores = cores or available_cores()
    if cores < PARALLEL_MIN_CORES:
        return 1
    return max(1, min(cells, cores // 2))


def _check_not_running(sweep_dir: Path) -> None:
    pid = SweepDir(sweep_dir).running_pid()
    if pid is not None:
        raise ConfigError("", f"this sweep is running in process {pid}; stop that one first", str(sweep_dir))


def cell_name(values: Mapping[str, Any]) -> str:
    return "_".join(f"{k.split('.', 1)[-1]}-{_fmt_value(v)}" for k, v in values.items())


class SweepRunner:
    """Runs the cells of a sweep directory that are not done yet, saving sweep.json after every change.

    `run()` blocks (call it from a worker thread in the UI); `stop()` may be called from any thread: running
    cells stop at their next batch, are recorded as interrupted and run again on resume."""

    def __init__(self, state: SweepState, workers: int | None = None, listeners: list[Listener] | None = None,
                 scheduler: str | None = None, security: Any = None, models: bool = True) -> None:
        todo = sum(not c.done for c in state.cells)
        self.scheduler = scheduler
        self.security = security
        self.models = models
        if scheduler is not None:
            self.workers = workers or 0  # 0: as many cells at once as the cluster has workers
        else:
            self.workers = max(1, min(workers or auto_workers(todo), max(todo, 1)))
        self.state = replace(state, workers=max(1, self.workers))
        self._attempts: dict[tuple[int, ...], list[tuple[str, str]]] = {}
        self._worker_of: dict[tuple[int, ...], str] = {}
        self._missing: set[str] = set()  # workers of running cells that the scheduler lacked at the last check
        self._shipped: dict[str, int] = {}
        self._listeners = list(listeners or [])
        self._lock = threading.RLock()  # held while listeners hear a change: they hear them in order
        self._stop = threading.Event()
        self._sessions: list[Any] = []
        self._early_failures: list[tuple[tuple[int, ...], str | None, str | None]] | None = []
        self._abort: str | None = None
        self._lost: str | None = None
        self._hearing = False  # progress from Dask workers is taken while the cells run

    @classmethod
    def create(cls, spec: SweepSpec, runs_dir: str | Path, workers: int | None = None,
               listeners: list[Listener] | None = None, **cluster: Any) -> "SweepRunner":
        """A new sweep directory under `runs_dir` (base.toml + sweep.json) and a runner for it."""
        b = spec.base
        sd = SweepDir.create(runs_dir, "sweep-" + "-".join(
            [b.dataset.name, b.model.architecture] + [a.name for a in spec.axes]))
        sweep_dir = sd.path
        sd.write_base(b)
        cells = tuple(Cell(index, tuple(values.items())) for index, values in spec.cells())
        state = SweepState(sweep_dir, spec.axes, cells, b, spec.epochs, spec.train_size)
        sd.write_state(_state_json(state))
        return cls(state, workers, listeners, **cluster)

    @classmethod
    def resume(cls, sweep_dir: str | Path, workers: int | None = None,
               listeners: list[Listener] | None = None, **cluster: Any) -> "SweepRunner":
        _check_not_running(Path(sweep_dir))
        return cls(load_state(sweep_dir), workers, listeners, **cluster)

    # -- control ----------------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def stop(self) -> None:
        self._stop.set()
        for session in list(self._sessions):
            session.stop()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- state ------------------------------------------------------------------------------------------------
    def _update(self, index: tuple[int, ...] | None = None, save: bool = True, final: bool = False,
                message: str | None = None, **changes: Any) -> None:
        """Change one cell (`index`) or the sweep, save sweep.json (unless `save` is False) and tell listeners."""
        with self._lock:
            state = self.state
            if index is not None:
                cells = tuple(replace(c, **changes) if c.index == index else c for c in state.cells)
                state = replace(state, cells=cells)
            else:
                state = replace(state, **changes)
            if message is not None:
                state = replace(state, message=message)
            self.state = state
            if save:
                SweepDir(state.sweep_dir).write_state(_state_json(state))
            event = SweepProgress(state, final)  # (progress also arrives on Dask's client thread)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # a broken listener must not stop the sweep
                    pass

    def _claim(self) -> None:
        _check_not_running(self.state.sweep_dir)
        SweepDir(self.state.sweep_dir).lock()

    def _fresh_dir(self, cell: Cell) -> None:
        """An interrupted cell runs again from scratch: its partial run directory goes."""
        if cell.run_dir:
            old = (self.state.sweep_dir / cell.run_dir).resolve()
            if old.parent == self.state.sweep_dir.resolve() and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)

    def run(self) -> SweepState:
        """Run every cell not done yet; returns the final state (status finished or stopped)."""
        self._claim()
        try:
            todo = [c for c in self.state.cells if not c.done]
            for c in todo:
                self._fresh_dir(c)
                self._update(c.index, save=False, status="pending", run_dir=None, epoch=0, epochs=0, error=None,
                             best_val_accuracy=None, seconds=None)
            self._update(status="running", message=f"{len(todo)} of {self.state.total} cells to run, "
                                                   f"{self.workers or 'as many as the cluster has workers'} at a time")
            if self.scheduler is not None or (self.workers > 1 and len(todo) > 1):
                self._run_dask(todo)
            else:
                self._update(save=False, placement="this process, one cell at a time")
                for c in todo:
                    if self._stop.is_set():
                        break
                    self._run_here(c)
            finished = all(c.done for c in self.state.cells)
            self._update(status="finished" if finished else "stopped",
                         message="all cells done" if finished else
                         f"stopped: the first {GIVE_UP_AFTER} cells failed the same way before training: "
                         f"{self._abort}" if self._abort else self._lost or "stopped: resume runs the cells left")
            export(self.state)
            self._update(save=False, final=True)
            return self.state
        finally:
            SweepDir(self.state.sweep_dir).unlock()

    def _cell_started(self, index: tuple[int, ...], run_dir: str, epochs: int) -> None:
        self._update(index, status="running", run_dir=run_dir, epoch=0, epochs=epochs,
                     message=f"running {self.state.cell(index).label()}")

    def _cell_ended(self, index: tuple[int, ...], result: Mapping[str, Any]) -> None:
        status = result["status"]  # "stopped" only comes from the sweep's stop: the cell runs again on resume
        cell = self.state.cell(index)
        best = result.get("best") if status in DONE else None  # an interrupted cell's partial figure is no result
        self._update(index, status=status, best_val_accuracy=best, seconds=result.get("seconds"),
                     error=result.get("error"), run_dir=result.get("run_dir") or cell.run_dir,
                     message=f"{cell.label()}: {status}" + (
                         f", best val_acc {best:.3f}" if best is not None else ""))
        if status == "finished":
            self._early_failures = None
        elif status == "failed" and not result.get("epochs") and self._early_failures is not None:
            # (a worker without TensorFlow names itself in the message: two such workers are still one cause)
            self._early_failures.append((index, result.get("error"), result.get("cause") or result.get("error")))
            self._give_up_if_all_fail()

    def _give_up_if_all_fail(self) -> None:
        """The first cells all failing the same way before any epoch (data not found, a batch larger than the
        subset...) is the set-up's fault, not theirs: stop, and leave them to run again on resume."""
        failures = self._early_failures or []
        if len(failures) < GIVE_UP_AFTER or len({cause for _, _, cause in failures}) != 1:
            return
        for index, _, _ in failures:
            self._update(index, status="stopped")
        self._abort = failures[0][1]
        self.stop()

    def _run_here(self, cell: Cell) -> None:
        from tui.core.events import EpochEnd, RunStarted
        from tui.core.session import TrainingSession

        values = dict(cell.values)
        config = self.state.base.with_values(values, source="sweep")

        def listen(event: Any) -> None:
            if isinstance(event, RunStarted):
                self._cell_started(cell.index, Path(event.run_dir).name, event.epochs)
            elif isinstance(event, EpochEnd) and not event.partial:
                self._update(cell.index, save=False, epoch=event.epoch)

        session = TrainingSession(config, runs_dir=self.state.sweep_dir, listeners=[listen], name=cell_name(values))
        self._sessions.append(session)
        try:
            if self._stop.is_set():
                return
            t0 = time.perf_counter()
            with tfenv.cell_scope():
                result = session.run()
        finally:
            self._sessions.remove(session)
            _release_cell()
        self._cell_ended(cell.index, _cell_result(session, result, t0))

    def _run_dask(self, todo: list[Cell]) -> None:
        """The cells on Dask: an embedded local cluster, or the scheduler at `self.scheduler`."""
        from concurrent.futures import CancelledError

        from tui.core import cluster as cluster_mod

        Event = cluster_mod.dask_module().Event
        FutureCancelledError = cluster_mod.dask_module("distributed.client").FutureCancelledError

        sd = SweepDir(self.state.sweep_dir)
        token = sd.write_token()
        topic, stop_name = f"cnn-tui-sweep-{token}", f"cnn-tui-stop-{token}"
        try:
            cl = cluster_mod.Cluster(self.workers, self.scheduler, self.security)
        except ConfigError as exc:
            self._lost = f"stopped: {exc}"
            return
        client = cl.client
        try:
            where = cl.describe()
            if self.scheduler is not None:
                self.workers = max(1, len(client.scheduler_info().get("workers", {})))
            self._update(save=False, workers=self.workers, placement=where)
            self._hearing = True
            client.subscribe_topic(topic, self._cluster_event)
            stop = Event(stop_name, client=client)
            futures = {client.submit(cluster_mod.run_cell, self.state.base.with_values(dict(c.values), source="sweep")
                                     .to_dict(), str(self.state.sweep_dir), token, cell_name(dict(c.values)),
                                     list(c.index), topic, stop_name, cl.threads, self.models,
                                     key=f"cell-{cell_name(dict(c.values))}-{token}", pure=False): c.index
                       for c in todo}
            pending = set(futures)
            cancelled: list[str] = []
            gone_since: float | None = None
            stopping = False
            lost: list[tuple[int, ...]] = []
            while pending:
                done = {f for f in pending if f.done()}
                pending -= done
                if not done:
                    time.sleep(0.25)
                for fut in done:
                    index = futures[fut]
                    try:
                        result = fut.result()
                    except (CancelledError, FutureCancelledError):
                        if not stopping:  # not cancelled by us: the scheduler lost it (it went away)
                            lost.append(index)
                        continue
                    except Exception as exc:
                        result = self._task_error(exc)
                    self._cell_ended(index, self._bring_home(index, result))
                if self._stop.is_set() and not stopping:
                    stopping = True
                    cancelled = self._cancel_not_begun(client, futures, pending)
                    stop.set()  # running cells stop at their next batch (one just beginning, at once)
                self._notice_dead_workers(client)
                if client.status != "running" or lost:
                    gone_since = gone_since or time.monotonic()
                    if lost or client.status in ("closed", "closing") or time.monotonic() - gone_since > 10:
                        self._lost = (f"stopped: the Dask scheduler {self.scheduler or ''} is gone "
                                      f"(client {client.status}); resume runs the cells left").replace("  ", " ")
                        for index in lost + [futures[f] for f in pending]:
                            if self.state.cell(index).status == "running":
                                self._update(index, status="stopped")
                        return
                else:
                    gone_since = None
            self._wait_until_not_executing(client, cancelled)
        finally:
            self._hearing = False  # a start heard from now on (a cell cancelled as it began) changes nothing
            for c in self.state.cells:  # begun, but no result came back (stopped or cancelled as it began)
                if c.status == "running":
                    self._update(c.index, status="stopped")
            for index, attempts in self._attempts.items():  # cells left without a result (stopped, scheduler gone):
                cell = self.state.cell(index)  # only their latest directory stays (resume replaces it)
                for _, run_dir in attempts:
                    if run_dir != cell.run_dir:
                        self._fresh_dir(replace(cell, run_dir=run_dir))
            counts = ", ".join(f"{n} {how}" for how, n in sorted(self._shipped.items()))
            if counts:
                self._update(save=False, placement=f"{self.state.placement}; run directories: {counts}")
            cl.close()

    def _cancel_not_begun(self, client: Any, futures: Mapping[Any, tuple[int, ...]], pending: set[Any]) -> list[str]:
        """Stop: the cells that have not begun are cancelled through Dask, so that no worker starts them (the
        scheduler drops them from its queue and from the workers'); they stay pending and run on resume.
        Returns the keys cancelled."""
        waiting = [f for f in pending if self.state.cell(futures[f]).status == "pending"]
        if not waiting:
            return []
        try:
            client.cancel(waiting, reason="cnn-tui: the sweep was stopped", msg="the sweep was stopped")
        except Exception:  # the scheduler is gone: nothing will start them anyway
            return []
        return [str(f.key) for f in waiting]

    def _wait_until_not_executing(self, client: Any, keys: list[str], timeout: float = 60.0) -> None:
        """A cell cancelled in the instant it began on a worker (its start not heard yet) runs on there until the
        stop reaches it at its next batch: wait for that, so its start is heard and its run directory recorded
        (it is a stopped cell, replaced on resume) rather than left behind unknown."""
        from tui.core.cluster import executing_keys

        deadline = time.monotonic() + timeout
        while keys and time.monotonic() < deadline:
            try:
                busy = client.run(executing_keys, on_error="ignore")
            except Exception:  # the scheduler is gone
                return
            if not set(keys).intersection(k for found in busy.values() for k in found):
                return
            time.sleep(0.25)

    @staticmethod
    def _task_error(exc: BaseException) -> dict[str, Any]:
        """A cell whose task raised: its worker died too often (KilledWorker: not done, runs again on resume),
        or the worker could not even run it (e.g. cnn-tui or TensorFlow missing there: a failure with that text)."""
        from tui.core.cluster import dask_module

        KilledWorker = dask_module("distributed.scheduler").KilledWorker

        if isinstance(exc, KilledWorker):
            return {"status": "stopped", "error": f"its workers kept dying: {exc}"}
        if isinstance(exc, ImportError):  # the worker's Python lacks cnn-tui (or something it imports)
            return {"status": "failed", "epochs": 0, "cause": "worker-import",
                    "error": f"a Dask worker could not load the cell: {type(exc).__name__}: {exc}; install cnn-tui "
                             "(pip install -e . in the cnn-tui folder) in the Python environment that runs "
                             "`dask worker` on every machine, then restart the workers"}
        return {"status": "failed", "epochs": 0, "error": f"{type(exc).__name__}: {exc}"}

    def _notice_dead_workers(self, client: Any) -> None:
        """A running cell whose worker left the cluster shows as pending again: the scheduler runs it again on
        another worker (its start there makes it running again; the partial run directory goes at its end).

        A worker counts as gone only when the scheduler has lacked it on two checks in a row, each asked after the
        cell was seen to begin on it: a worker that joins as the sweep starts can begin a cell before the list of
        workers asked for at that moment names it, and a user must not be told that a live worker died."""
        began = dict(self._worker_of)  # cells whose start was heard before the scheduler is asked
        try:
            alive = set(client.scheduler_info().get("workers", {}))
        except Exception:
            return
        if alive and len(alive) != self.workers:  # workers joined or left: ETA and "at a time" follow
            self.workers = len(alive)
            self._update(save=False, workers=self.workers)
        missing = {address for address in began.values() if address and address not in alive}
        gone, self._missing = missing & self._missing, missing
        for index, address in began.items():
            with self._lock:  # not at the same time as _began_again hears the cell begin on another worker
                cell = self.state.cell(index)
                if address in gone and self._worker_of.get(index) == address and cell.status == "running":
                    self._worker_gone(index, address)

    def _began_again(self, index: tuple[int, ...], worker: str) -> None:
        """A cell seen running on one worker begins on another: the scheduler gave up on the first (it died), maybe
        before two checks of `_notice_dead_workers` had passed. The user hears of the lost worker all the same, with
        the cell pending for that instant, as it would have been had the rerun waited for a free worker."""
        with self._lock:
            before = self._worker_of.get(index)
            cell = self.state.cell(index)
            if before and before != worker and cell.status == "running":
                self._worker_gone(index, before)

    def _worker_gone(self, index: tuple[int, ...], address: str) -> None:
        """The running cell `index` lost its worker: pending until it begins on another (caller holds the lock)."""
        del self._worker_of[index]
        self._update(index, status="pending", epoch=0,
                     message=f"worker {address} is gone in the middle of {self.state.cell(index).label()}: "
                             "the cell runs again on another worker")

    def _cluster_event(self, event: Any) -> None:
        """Progress from a worker (Dask's client thread): a cell attempt started or finished an epoch."""
        try:
            _, (kind, index, attempt, *rest) = event
            index = tuple(index)
            if not self._hearing:
                return
            if self.state.cell(index).done:
                return
            attempts = self._attempts.setdefault(index, [])
            if kind == "start":
                worker = rest[2] if len(rest) > 2 else ""
                self._began_again(index, worker)
                attempts.append((attempt, rest[0]))
                self._worker_of[index] = worker
                self._cell_started(index, rest[0], rest[1])
            elif kind == "epoch" and attempts and attempts[-1][0] == attempt:
                self._update(index, save=False, epoch=rest[0])
        except Exception:  # a malformed event is not worth the sweep
            pass

    def _bring_home(self, index: tuple[int, ...], result: dict[str, Any]) -> dict[str, Any]:
        """Unpack a shipped run directory into the sweep directory, and delete the partial directories of
        earlier attempts at this cell (their worker died): only the attempt that returned is a result."""
        archive = result.pop("archive", None)
        if archive is not None and result.get("run_dir"):
            result["run_dir"] = RunDir.unpack(archive, self.state.sweep_dir, result["run_dir"]).name
        self._worker_of.pop(index, None)
        for attempt, run_dir in self._attempts.pop(index, []):
            if attempt != result.get("attempt") and run_dir != result.get("run_dir"):
                self._fresh_dir(replace(self.state.cell(index), run_dir=run_dir))
        if "shipped" in result:
            how = ("shipped back by workers" + ("" if self.models else " without models")) if result["shipped"] \
                else "written directly (shared runs folder)"
            self._shipped[how] = self._shipped.get(how, 0) + 1
        return result
