"""Sweeps: a base experiment, one or two configuration keys with lists of values, and a budget per cell.

Every cell is an ordinary run (its own run directory under the sweep directory, made by TrainingSession), so the
run history lists it too. ``sweep.json`` records the grid and each cell's status; resuming a sweep never runs a
finished (or failed) cell again, and a cell that was interrupted is run again from scratch in a fresh run
directory (its partial one is deleted). Cells run one after another in this process (one worker), or on Dask
distributed (tui.core.cluster): an embedded local cluster of worker processes, each pinned to its share of the CPU
threads, or an existing cluster the user started (`--scheduler`).
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui.core.cluster import (_best_accuracy, _cell_result, _release_cell, _start_resource_tracker,  # noqa: F401
                              available_cores)
from tui.core.config import ExperimentConfig, param_for
from tui.core.params import ConfigError, Param, parse_scalar, tomllib
from tui.core.rundir import RunDir, SweepDir
from tui.core.runs import RunIndex

STATE_FILE = SweepDir(Path()).state_file.name
"""Deprecated: use SweepDir(path).state_file (tui.core.rundir owns the sweep directory's layout)."""
MAX_CELLS = 1000
DONE = ("finished", "failed")
"""Cell statuses that are final: such a cell is never run again (a failure such as NaN loss is a result too)."""

_RANGE = re.compile(r"(-?\d+)\s*\.\.\s*(-?\d+)")


# -- the grid -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[-1]


def _param(key: str, architecture: str) -> Param:
    try:
        return param_for(key, architecture)
    except ConfigError:
        from models import ARCHITECTURES

        arch = ARCHITECTURES.get(architecture)
        own = ", ".join(f"model.{p.name}" for p in arch.params) if arch else ""
        raise ConfigError(key, "unknown key; keys look like section.name (as in --set), e.g. training.batch_size"
                               + (f"; {architecture}'s own parameters are {own}" if own else "")) from None


def _split(text: str) -> list[str]:
    """Split on commas outside brackets (so list values like [64, 32] stay whole)."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return items


def _series(key: str, param: Param, items: list[str]) -> list[Any]:
    """Expand ``a, b, ..., z`` (and ``a, b, c, ..., z``): geometric when b/a is a whole ratio ≥ 2 that reaches
    z exactly (2,4,...,256 doubles), otherwise arithmetic with step b − a (10,20,...,100)."""
    if param.kind not in (int, float) or items.count("...") != 1 or items.index("...") != len(items) - 2 \
            or len(items) < 4:
        raise ConfigError(key, "a series looks like 2,4,...,256 (two or more terms, '...', then the last term)")
    nums = []
    for item in items[:-2] + items[-1:]:
        value = parse_scalar(item, param.kind)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"{item!r} is not a number; a series needs numbers, e.g. 2,4,...,256")
        nums.append(value)
    *head, end = nums
    a, b = head[0], head[1]

    def fix(v: float) -> Any:
        return round(v) if param.kind is int else float(f"{v:.12g}")

    def close(x: float, y: float) -> bool:
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)

    ratio = b / a if a else 0.0
    geometric = a > 0 and ratio >= 2 - 1e-9 and all(close(h, a * ratio ** i) for i, h in enumerate(head)) and \
        close(math.log(end / a, ratio) if end > 0 else -1, round(math.log(end / a, ratio)) if end > 0 else 0)
    step = b - a
    if not geometric and (step == 0 or not all(close(h, a + step * i) for i, h in enumerate(head))):
        raise ConfigError(key, f"{', '.join(items[:-2])} is neither an arithmetic nor a doubling-style series")
    out: list[Any] = []
    i = 0
    while len(out) <= MAX_CELLS:
        v = fix(a * ratio ** i if geometric else a + step * i)
        if (v > end and not close(v, end)) if (geometric or step > 0) else (v < end and not close(v, end)):
            break
        out.append(v)
        i += 1
    if not out or not close(out[-1], end):
        raise ConfigError(key, f"the series {', '.join(items[:-1])} does not reach {items[-1]}; "
                               f"check the last term")
    return out


def parse_values(key: str, text: str, architecture: str) -> tuple[Any, ...]:
    """Values for one key from text: ``2..11`` (integers, inclusive), ``2,4,...,256`` (a series), or a comma
    list (``relu,sigmoid``); each checked with the key's own Param rules."""
    param = _param(key, architecture)
    text = text.strip()
    if not text:
        raise ConfigError(key, "no values; give a list like 2,4,8, a range like 2..11 or a series like 2,4,...,256")
    match = _RANGE.fullmatch(text)
    if match:
        if param.kind is not int:
            raise ConfigError(key, f"a range like {text} needs an integer key; {key} takes {param.allowed()}, "
                                   "so list the values")
        lo, hi = int(match[1]), int(match[2])
        if hi < lo:
            raise ConfigError(key, f"the range {text} is empty; write the smaller value first")
        if hi - lo >= MAX_CELLS:
            raise ConfigError(key, f"the range {text} has more than {MAX_CELLS} values")
        raw: list[Any] = list(range(lo, hi + 1))
        return _checked_values(key, param, raw)
    items = _split(text)
    if "..." in items:
        return _checked_values(key, param, _series(key, param, items))
    if any(not item for item in items):
        raise ConfigError(key, f"an empty value in {text!r}; separate values with single commas")
    return _checked_values(key, param, [param.parse_text(item, key) for item in items])


def _checked_values(key: str, param: Param, values: Sequence[Any]) -> tuple[Any, ...]:
    out = tuple(param.validate(v, key) for v in values)
    seen = set()
    for v in out:
        if v in seen:
            raise ConfigError(key, f"the value {v!r} is listed twice")
        seen.add(v)
    return out


@dataclass(frozen=True)
class SweepSpec:
    """What to run: the base experiment (per-cell budget applied) and one or two axes."""

    base: ExperimentConfig
    axes: tuple[Axis, ...]
    epochs: int | None = None
    train_size: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    def cells(self) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
        """(index, {key: value}) for every cell, row by row."""
        if len(self.axes) == 1:
            return [((i,), {self.axes[0].key: v}) for i, v in enumerate(self.axes[0].values)]
        a, b = self.axes
        return [((i, j), {a.key: va, b.key: vb}) for i, va in enumerate(a.values) for j, vb in enumerate(b.values)]

    def config_for(self, values: Mapping[str, Any]) -> ExperimentConfig:
        return self.base.with_values(values, source="sweep")


def make_spec(base: ExperimentConfig, grid: Sequence[tuple[str, Any]], epochs: int | None = None,
              train_size: int | None = None) -> SweepSpec:
    """Validate a grid (``[(key, "2..11" or [2, 3]), ...]``, one or two keys) and a budget into a SweepSpec.

    Every cell's configuration is built here, so a value that only fails in combination is refused up front."""
    if not 1 <= len(grid) <= 2:
        raise ConfigError("", f"a sweep takes one or two keys (got {len(grid)}); e.g. --grid model.conv_filters=2..11")
    budget: dict[str, Any] = {}
    if epochs is not None:
        budget["training.epochs"] = epochs
    if train_size is not None:
        budget["dataset.train_size"] = train_size
    if budget:
        base = base.with_values(budget, source="sweep budget")
    axes: list[Axis] = []
    for key, values in grid:
        key = key.strip()
        if any(a.key == key for a in axes):
            raise ConfigError(key, "the same key is swept twice; give each key once")
        arch = base.model.architecture
        if isinstance(values, str):
            parsed = parse_values(key, values, arch)
        elif isinstance(values, (list, tuple)) and values:
            parsed = _checked_values(key, _param(key, arch), values)
        else:
            raise ConfigError(key, "values must be text like 2..11 or a non-empty list like [2, 4, 8]")
        axes.append(Axis(key, parsed))
    spec = SweepSpec(base, tuple(axes), epochs, train_size)
    if math.prod(spec.shape) > MAX_CELLS:
        raise ConfigError("", f"the grid has {math.prod(spec.shape)} cells; at most {MAX_CELLS}")
    for _, values in spec.cells():
        spec.config_for(values)
    return spec


def parse_grid_option(text: str) -> tuple[str, str]:
    """Split a ``--grid key=values`` option."""
    key, eq, values = text.partition("=")
    if not eq or "." not in key:
        raise ConfigError(key.strip(), "a grid looks like section.key=values, e.g. model.conv_filters=2..11")
    return key.strip(), values


def read_preset_sweep(path: str | Path) -> dict[str, Any]:
    """The ``[sweep]`` table of a preset (``grid``, ``epochs``, ``train_size``), checked for shape; {} if none."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("", f"cannot read: {exc}", source) from None
    table = data.get("sweep")
    if table is None:
        return {}
    allowed = ("grid", "epochs", "train_size")
    for k in table:
        if k not in allowed:
            raise ConfigError(f"sweep.{k}", f"unknown key; [sweep] allows {', '.join(allowed)}", source)
    grid = table.get("grid")
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("sweep.grid", 'must be a table like grid = { "model.conv_filters" = "2..11" }', source)
    for k in ("epochs", "train_size"):
        if k in table and (isinstance(table[k], bool) or not isinstance(table[k], int) or table[k] < 0):
            raise ConfigError(f"sweep.{k}", "must be a whole number", source)
    return {"grid": list(grid.items()), "epochs": table.get("epochs"), "train_size": table.get("train_size")}


# -- state --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    index: tuple[int, ...]
    values: tuple[tuple[str, Any], ...]
    status: str = "pending"  # pending | running | finished | failed | stopped
    best_val_accuracy: float | None = None
    run_dir: str | None = None  # name of the run directory inside the sweep directory
    seconds: float | None = None
    error: str | None = None
    epoch: int = 0  # progress of a running cell
    epochs: int = 0

    @property
    def done(self) -> bool:
        return self.status in DONE

    def label(self) -> str:
        return ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in self.values)


@dataclass(frozen=True)
class SweepState:
    """An immutable snapshot of a sweep, handed to listeners (UI, headless view) after every change."""

    sweep_dir: Path
    axes: tuple[Axis, ...]
    cells: tuple[Cell, ...]
    base: ExperimentConfig
    epochs: int | None
    train_size: int | None
    status: str = "pending"  # pending | running | finished | stopped
    workers: int = 1
    message: str = ""
    placement: str = ""
    """Where the cells ran and how their run directories got here (said in results.md and sweep.json)."""

    @property
    def total(self) -> int:
        return len(self.cells)

    @property
    def done(self) -> int:
        return sum(c.done for c in self.cells)

    def cell(self, index: tuple[int, ...]) -> Cell:
        return next(c for c in self.cells if c.index == index)

    def eta_seconds(self) -> float | None:
        """Mean finished-cell time × the work left (running cells count by their epochs done) ÷ workers."""
        times = [c.seconds for c in self.cells if c.done and c.seconds]
        if not times:
            return None
        left = sum(1.0 for c in self.cells if c.status in ("pending", "stopped"))
        left += sum(1.0 - (c.epoch / c.epochs if c.epochs else 0.0) for c in self.cells if c.status == "running")
        return sum(times) / len(times) * left / max(1, min(self.workers, math.ceil(left) or 1))

    def best(self) -> Cell | None:
        scored = [c for c in self.cells if c.done and c.best_val_accuracy is not None]
        return max(scored, key=lambda c: c.best_val_accuracy or 0.0) if scored else None


@dataclass(frozen=True)
class SweepProgress:
    """Sent to listeners whenever the sweep's state changes (a cell starts, finishes an epoch, ends)."""

    state: SweepState
    final: bool = False


Listener = Callable[[SweepProgress], None]


def _state_json(state: SweepState) -> dict[str, Any]:
    return {
        "version": 1, "status": state.status, "epochs": state.epochs, "train_size": state.train_size,
        "placement": state.placement,
        "axes": [{"key": a.key, "values": list(a.values)} for a in state.axes],
        "cells": [{"index": list(c.index), "values": dict(c.values),
                   "status": "stopped" if c.status == "running" else c.status,
                   "best_val_accuracy": c.best_val_accuracy, "run_dir": c.run_dir, "seconds": c.seconds,
                   "error": c.error} for c in state.cells],
    }


def load_state(sweep_dir: str | Path) -> SweepState:
    """Read a sweep directory back (grid re-validated, cell statuses from sweep.json)."""
    sweep_dir = Path(sweep_dir)
    sd = SweepDir(sweep_dir)
    source = str(sd.state_file)
    try:
        data = sd.read_state()
        axes = [(a["key"], a["values"]) for a in data["axes"]]
        recorded = {tuple(c["index"]): c for c in data["cells"]}
    except FileNotFoundError:
        raise ConfigError("", f"not a sweep directory (no {sd.state_file.name})", str(sweep_dir)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("", f"unreadable sweep state: {exc}", source) from None
    base = sd.read_base()
    spec = make_spec(base, axes)
    cells = []
    for index, values in spec.cells():
        rec = recorded.get(index, {})
        status = rec.get("status", "pending")
        status = status if status in DONE + ("pending", "stopped") else "stopped"  # "running": the process died
        cells.append(Cell(index, tuple(values.items()), status=status,
                          best_val_accuracy=rec.get("best_val_accuracy") if status in DONE else None,
                          run_dir=rec.get("run_dir"),
                          seconds=rec.get("seconds"), error=rec.get("error")))
    return SweepState(sweep_dir, spec.axes, tuple(cells), base, data.get("epochs"), data.get("train_size"),
                      status=str(data.get("status", "stopped")))


def list_sweeps(runs_dir: str | Path) -> list[Path]:
    """Sweep directories under a runs folder, newest first."""
    return RunIndex(runs_dir).layout()[1]  # the index knows which directories are sweeps


# -- export ---------------------------------------------------------------------------------------------------------
def _fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def to_csv(state: SweepState) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([a.key for a in state.axes] + ["status", "best_val_accuracy", "seconds", "run_dir"])
    for c in state.cells:
        writer.writerow([_fmt_value(v) for _, v in c.values] + [
            c.status, "" if c.best_val_accuracy is None or not c.done else f"{c.best_val_accuracy:.4f}",
            "" if c.seconds is None else f"{c.seconds:.1f}", c.run_dir or ""])
    return out.getvalue()


def _cell_text(c: Cell, best: Cell | None) -> str:
    if c.best_val_accuracy is not None and c.done:
        text = f"{c.best_val_accuracy:.3f}"
        return f"**{text}**" if c is best else text
    return {"failed": "✗", "running": "▶"}.get(c.status, "·")


def to_markdown(state: SweepState) -> str:
    """A heatmap table of best validation accuracy (rows: first key, columns: second key), the best cell bold."""
    b = state.base
    best = state.best()
    budget = f"epochs per cell: {b.training.epochs}" + (
        f", {b.dataset.train_size} training samples" if b.dataset.train_size else "")
    lines = [f"# Sweep {state.sweep_dir.name}", "",
             f"Best validation accuracy of {b.model.architecture} on {b.dataset.name}, {budget}. "
             f"{state.done}/{state.total} cells done ({state.status}).", ""]
    if len(state.axes) == 2:
        rows, cols = state.axes
        lines.append(f"| {rows.name} \\ {cols.name} | " + " | ".join(map(_fmt_value, cols.values)) + " |")
        lines.append("| --- " * (len(cols.values) + 1) + "|")
        for i, rv in enumerate(rows.values):
            cells = [_cell_text(state.cell((i, j)), best) for j in range(len(cols.values))]
            lines.append(f"| **{_fmt_value(rv)}** | " + " | ".join(cells) + " |")
    else:
        (axis,) = state.axes
        lines.append(f"| {axis.name} | " + " | ".join(map(_fmt_value, axis.values)) + " |")
        lines.append("| --- " * (len(axis.values) + 1) + "|")
        lines.append("| best val_acc | " + " | ".join(_cell_text(c, best) for c in state.cells) + " |")
    lines.append("")
    if best is not None:
        lines += [f"Best: {best.label()} → {best.best_val_accuracy:.4f}"
                  + (f" (run `{best.run_dir}`)." if best.run_dir else "."), ""]
    if state.placement:
        lines += [f"Ran on: {state.placement}.", ""]
    lines += ["· not run yet, ✗ failed (see the cell's run directory).", ""]
    return "\n".join(lines)


def export(state: SweepState) -> tuple[Path, Path]:
    """Write results.csv and results.md into the sweep directory; return their paths."""
    return SweepDir(state.sweep_dir).write_results(to_csv(state), to_markdown(state))


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
        self._shipped: dict[str, int] = {}
        self._listeners = list(listeners or [])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sessions: list[Any] = []
        self._early_failures: list[tuple[tuple[int, ...], str | None]] | None = []
        self._abort: str | None = None
        self._lost: str | None = None

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
        event = SweepProgress(state, final)
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
            self._early_failures.append((index, result.get("error")))
            self._give_up_if_all_fail()

    def _give_up_if_all_fail(self) -> None:
        """The first cells all failing the same way before any epoch (data not found, a batch larger than the
        subset...) is the set-up's fault, not theirs: stop, and leave them to run again on resume."""
        failures = self._early_failures or []
        if len(failures) < GIVE_UP_AFTER or len({error for _, error in failures}) != 1:
            return
        for index, _ in failures:
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
            result = session.run()
        finally:
            self._sessions.remove(session)
            _release_cell()
        self._cell_ended(cell.index, _cell_result(session, result, t0))

    def _run_dask(self, todo: list[Cell]) -> None:
        """The cells on Dask: an embedded local cluster, or the scheduler at `self.scheduler`."""
        from concurrent.futures import CancelledError

        from distributed import Event
        from distributed.client import FutureCancelledError

        from tui.core import cluster as cluster_mod

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
            client.subscribe_topic(topic, self._cluster_event)
            stop = Event(stop_name, client=client)
            futures = {client.submit(cluster_mod.run_cell, self.state.base.with_values(dict(c.values), source="sweep")
                                     .to_dict(), str(self.state.sweep_dir), token, cell_name(dict(c.values)),
                                     list(c.index), topic, stop_name, cl.threads, self.models,
                                     key=f"cell-{cell_name(dict(c.values))}-{token}", pure=False): c.index
                       for c in todo}
            pending = set(futures)
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
                if self._stop.is_set() and not stopping:  # pending cells are cancelled, running ones stop
                    stopping = True
                    stop.set()
                    waiting = [f for f in pending if self.state.cell(futures[f]).status != "running"]
                    client.cancel(waiting)
                    pending -= set(waiting)
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
        finally:
            counts = ", ".join(f"{n} {how}" for how, n in sorted(self._shipped.items()))
            if counts:
                self._update(save=False, placement=f"{self.state.placement}; run directories: {counts}")
            cl.close()

    @staticmethod
    def _task_error(exc: BaseException) -> dict[str, Any]:
        """A cell whose task raised: its worker died too often (KilledWorker: not done, runs again on resume),
        or the worker could not even run it (e.g. cnn-tui or TensorFlow missing there: a failure with that text)."""
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            return {"status": "stopped", "error": f"its workers kept dying: {exc}"}
        return {"status": "failed", "epochs": 0, "error": f"{type(exc).__name__}: {exc}"}

    def _cluster_event(self, event: Any) -> None:
        """Progress from a worker (Dask's client thread): a cell attempt started or finished an epoch."""
        try:
            _, (kind, index, attempt, *rest) = event
            index = tuple(index)
            if self.state.cell(index).done:
                return
            attempts = self._attempts.setdefault(index, [])
            if kind == "start":
                attempts.append((attempt, rest[0]))
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
        for attempt, run_dir in self._attempts.pop(index, []):
            if attempt != result.get("attempt") and run_dir != result.get("run_dir"):
                self._fresh_dir(replace(self.state.cell(index), run_dir=run_dir))
        if "shipped" in result:
            how = ("shipped back by workers" + ("" if self.models else " without models")) if result["shipped"] \
                else "written directly (shared runs folder)"
            self._shipped[how] = self._shipped.get(how, 0) + 1
        return result
