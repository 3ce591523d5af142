"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.core.rundir import RunDir


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


def read_run(run_dir: Path) -> RunRecord | None:
    """The record of one run directory, or None if it is not one (no config.toml)."""
    rd = RunDir(run_dir)
    if not rd.is_run():
        return None
    table = rd.read_config_table()
    try:
        dataset, arch = str(table["dataset"]["name"]), str(table["model"]["architecture"])
    except (KeyError, TypeError):
        dataset, arch = "?", "?"
    summary = rd.read_summary()
    # history.csv only when the summary lacks what is listed (no summary yet: a live, killed or crashed run)
    history = rd.read_epochs() if summary is None or summary.best_val_accuracy is None else []
    if rd.running_pid() is not None:
        status = "running"
    elif rd.has_backup() and (summary is None or summary.status != "finished"):
        status = "interrupted"
    else:
        status = summary.status if summary is not None else "unknown"
    best = summary.best_val_accuracy if summary is not None else None
    if best is None:
        accs = [h.val_accuracy for h in history if h.val_accuracy is not None]
        best = max(accs) if accs else None
    return RunRecord(
        name=rd.name, path=rd.path, started=rd.started(), dataset=dataset, architecture=arch, status=status,
        best_val_accuracy=best, epochs=max(summary.epochs_run if summary else 0, len(history)),
        wall_seconds=summary.wall_seconds if summary is not None else None)


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
