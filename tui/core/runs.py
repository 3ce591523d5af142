"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

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
    history = read_history_csv(run_dir / "history.csv")
    if _alive(run_dir / RUNNING_FILE):
        status = "running"
    elif (run_dir / BACKUP / "training_metadata.json").is_file() and summary.get("status") != "finished":
        status = "interrupted"
    else:
        status = str(summary.get("status") or "unknown")
    best = (summary.get("best") or {}).get("val_accuracy") if summary else None
    if best is None:
        accs = [h["val_accuracy"] for h in history if "val_accuracy" in h]
        best = max(accs) if accs else None
    return RunRecord(
        name=run_dir.name, path=run_dir, started=datetime.fromtimestamp((run_dir / "config.toml").stat().st_mtime),
        dataset=dataset, architecture=arch, status=status, best_val_accuracy=best,
        epochs=max(int(summary.get("epochs_run") or 0), len(history)), wall_seconds=summary.get("wall_seconds"))


def _run_dirs(runs_dir: Path) -> Iterator[Path]:
    """The folder's sub-directories, and the cells of each sweep in it (a sweep directory holds sweep.json)."""
    for d in runs_dir.iterdir():
        if d.is_dir():
            yield d
            if (d / "sweep.json").is_file():
                yield from (cell for cell in d.iterdir() if cell.is_dir())


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """Every run under `runs_dir` (sweep cells included), newest first."""
    if not Path(runs_dir).is_dir():
        return []
    records = [r for d in _run_dirs(Path(runs_dir)) if (r := read_run(d)) is not None]
    return sorted(records, key=lambda r: r.started, reverse=True)
