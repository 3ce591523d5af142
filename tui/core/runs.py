"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.core.records import read_history_csv

BACKUP = "backup"
RUNNING_FILE = "running.pid"
"""Holds the training process's pid while a run is in progress (written by the session; a kill leaves it)."""


@dataclass(frozen=True)
class RunRecord:
    name: str
    path: Path
    started: datetime
    dataset: str
    architecture: str
    status: str  # finished | stopped | failed | running | interrupted (killed: resumable) | unknown
    best_val_accuracy: float | None
    epochs: int
    wall_seconds: float | None

    @property
    def resumable(self) -> bool:
        return self.status == "interrupted"


def _config_bits(run_dir: Path) -> tuple[str, str]:
    from tui.core.params import tomllib

    try:
        data = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
        return str(data["dataset"]["name"]), str(data["model"]["architecture"])
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return "?", "?"


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def read_run(run_dir: Path) -> RunRecord | None:
    """The record of one run directory, or None if it is not one (no config.toml)."""
    if not (run_dir / "config.toml").is_file():
        return None
    dataset, arch = _config_bits(run_dir)
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        pass
    if not isinstance(summary, dict):
        summary = {}
    best = (summary.get("best") or {}).get("val_accuracy")
    # history.csv only when the summary lacks what is listed (no summary yet: a live, killed or crashed run)
    history = read_history_csv(run_dir / "history.csv") if best is None or "epochs_run" not in summary else []
    if _alive(run_dir / RUNNING_FILE):
        status = "running"
    elif (run_dir / BACKUP / "training_metadata.json").is_file() and summary.get("status") != "finished":
        status = "interrupted"
    else:
        status = str(summary.get("status") or "unknown")
    if best is None:
        accs = [h["val_accuracy"] for h in history if "val_accuracy" in h]
        best = max(accs) if accs else None
    return RunRecord(
        name=run_dir.name, path=run_dir, started=datetime.fromtimestamp((run_dir / "config.toml").stat().st_mtime),
        dataset=dataset, architecture=arch, status=status, best_val_accuracy=best,
        epochs=max(int(summary.get("epochs_run") or 0), len(history)), wall_seconds=summary.get("wall_seconds"))


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """Every run under `runs_dir` (sweep cells included), newest first, read through the folder's index."""
    from tui.core.run_index import RunIndex

    return RunIndex(runs_dir).scan().records


def format_wall(seconds: float | None) -> str:
    """A run's wall time as the CLI and the app both show it: "–", "42.5 s", "3 min 05 s", "2 h 07 min"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


COLUMNS = ("run", "started", "dataset", "architecture", "status", "best val_acc", "epochs", "wall")
"""The run history's columns, in the CLI's table and the app's alike."""


def cells(r: RunRecord) -> tuple[str, ...]:
    """One run's row as text, column by column (COLUMNS)."""
    return (r.name, r.started.strftime("%Y-%m-%d %H:%M"), r.dataset, r.architecture, r.status,
            f"{r.best_val_accuracy:.4f}" if r.best_val_accuracy is not None else "–", str(r.epochs),
            format_wall(r.wall_seconds))


SORT_KEYS: tuple[Any, ...] = (
    lambda r: r.name, lambda r: r.started, lambda r: r.dataset, lambda r: r.architecture, lambda r: r.status,
    lambda r: -1.0 if r.best_val_accuracy is None else r.best_val_accuracy, lambda r: r.epochs,
    lambda r: -1.0 if r.wall_seconds is None else r.wall_seconds)
"""Sort key of each column: by value, not by its text (wall time 9.5 s before 1 min 05 s)."""


def sort_column(name: str) -> int:
    """The index of a column given by (a unique prefix of) its name; ValueError naming the columns."""
    hits = [i for i, c in enumerate(COLUMNS) if c == name] or [i for i, c in enumerate(COLUMNS) if c.startswith(name)]
    if len(hits) != 1:
        raise ValueError(f"no column {name!r}; sort by one of: " + ", ".join(COLUMNS))
    return hits[0]
