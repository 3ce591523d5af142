"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tui.core.rundir import RunDir, run_dirs


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
    history = rd.read_epochs()
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
    """Every run under `runs_dir` (sweep cells included), newest first."""
    if not Path(runs_dir).is_dir():
        return []
    records = [r for d in run_dirs(runs_dir) if (r := read_run(d.path)) is not None]
    return sorted(records, key=lambda r: r.started, reverse=True)
