"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tui.core import owner
from tui.core.rundir import RunDir, SweepDir, run_dirs


@dataclass(frozen=True)
class RunRecord:
    name: str
    path: Path
    started: datetime
    dataset: str
    architecture: str
    status: str  # finished | stopped | failed | running | remote | interrupted (killed: resumable) | unknown
    best_val_accuracy: float | None
    epochs: int
    wall_seconds: float | None

    @property
    def live(self) -> bool:
        """A process on this machine is writing the run now (attach follows it; stop and pause reach it)."""
        return self.status == "running"

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
    live = rd.liveness()
    if live == owner.LIVE:
        status = "running"
    elif live == owner.REMOTE and summary is None:
        status = "remote"  # owned by a process on another host: cannot be checked from here
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


class RunRemoveError(Exception):
    """A run cannot be deleted or archived; the message says why."""


ARCHIVE_DIR = "archive"
"""Where `cnn-tui runs --archive` packs runs, inside the runs folder."""


def resolve_run(name: str, runs_dir: str | Path | None = None) -> Path:
    """A run (or sweep) directory given as a path, or as its name in the runs folder."""
    path = Path(name).expanduser()
    if not path.is_dir():
        path = Path(runs_dir or "runs") / name
    if not RunDir(path).is_run() and not SweepDir(path).is_sweep():
        raise RunRemoveError(f"{name}: not a run directory (no config.toml) in {path.parent}")
    return path


def _check_removable(path: Path) -> None:
    if SweepDir(path).is_sweep():
        if SweepDir(path).running_pid() is not None:
            raise RunRemoveError(f"the sweep {path.name} is running now; stop it first")
        return
    live = RunDir(path).liveness()
    if live == owner.LIVE:
        raise RunRemoveError(f"{path.name} is running now; stop it first (cnn-tui attach {path}, then s)")
    if live == owner.REMOTE:
        record = RunDir(path).read_owner()
        raise RunRemoveError(f"{path.name} is owned by a process on host {record.host if record else '?'}; "
                             "remove it there, or delete the folder by hand if that run is over")


def delete_run(path: Path) -> Path:
    """Delete an ended run (or sweep) directory for good."""
    import shutil

    _check_removable(path)
    shutil.rmtree(path)
    return path


def archive_run(path: Path) -> Path:
    """Pack an ended run (or sweep) into RUNS/archive/NAME.tar.gz and remove the directory; returns the archive."""
    import shutil
    import tarfile

    _check_removable(path)
    folder = path.parent / ARCHIVE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.name}.tar.gz"
    if target.exists():
        raise RunRemoveError(f"{target} exists already; move it away first")
    tmp = folder / f".{path.name}.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(path, arcname=path.name)
    os.replace(tmp, target)
    shutil.rmtree(path)
    return target
