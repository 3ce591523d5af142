"""A sweep's state (cells, progress, ETA: what the heatmap draws), sweep.json through SweepDir, and the
CSV/Markdown exports."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.core.config import ExperimentConfig
from tui.core.params import ConfigError
from tui.core.rundir import SweepDir
from tui.core.runs import RunIndex

from tui.core.sweep.grid import Axis, make_spec

STATE_FILE = SweepDir(Path()).state_file.name
"""Deprecated: use SweepDir(path).state_file (tui.core.rundir owns the sweep directory's layout)."""
DONE = ("finished", "failed")
"""Cell statuses that are final: such a cell is never run again (a failure such as NaN loss is a result too)."""


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


