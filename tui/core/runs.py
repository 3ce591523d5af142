"""The runs folder as data: one record per run directory, for `cnn-tui runs` and the app's run history."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from tui.core import owner
from tui.core.records import read_history_csv

BACKUP = "backup"
RUNNING_FILE = owner.LEGACY_PID_FILE
"""Older versions' pid file (now: owner.json, tui.core.owner); still read."""


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
    live = owner.liveness(run_dir)
    if live == owner.LIVE:
        status = "running"
    elif live == owner.REMOTE and not summary:
        status = "remote"  # owned by a process on another host: cannot be checked from here
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


class RunRemoveError(Exception):
    """A run cannot be deleted or archived; the message says why."""


ARCHIVE_DIR = "archive"


def resolve_run(name: str, runs_dir: str | Path | None = None) -> Path:
    """A run directory given as a path, or as a run's name in the runs folder."""
    path = Path(name).expanduser()
    if not path.is_dir():
        path = Path(runs_dir or "runs") / name
    if not (path / "config.toml").is_file() and not (path / "sweep.json").is_file():
        raise RunRemoveError(f"{name}: not a run directory (no config.toml) in {path.parent}")
    return path


def _check_removable(run_dir: Path) -> None:
    live = owner.liveness(run_dir)
    if live == owner.LIVE:
        raise RunRemoveError(f"{run_dir.name} is running now; stop it first (cnn-tui attach {run_dir}, then s)")
    if live == owner.REMOTE:
        record = owner.read(run_dir)
        raise RunRemoveError(f"{run_dir.name} is owned by a process on host {record.host if record else '?'}; "
                             "remove it there, or delete the folder by hand if that run is over")
    lock = run_dir / "sweep.pid"  # tui.core.sweep.LOCK_FILE: the pid of the process running the sweep
    if lock.is_file():
        try:
            os.kill(int(lock.read_text().strip()), 0)
        except (OSError, ValueError):
            return
        raise RunRemoveError(f"the sweep {run_dir.name} is running now; stop it first")


def delete_run(run_dir: Path) -> Path:
    """Delete an ended run (or sweep) directory for good."""
    import shutil

    _check_removable(run_dir)
    shutil.rmtree(run_dir)
    return run_dir


def archive_run(run_dir: Path) -> Path:
    """Pack an ended run (or sweep) into RUNS/archive/NAME.tar.gz and remove the directory; returns the archive."""
    import shutil
    import tarfile

    _check_removable(run_dir)
    folder = run_dir.parent / ARCHIVE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{run_dir.name}.tar.gz"
    if target.exists():
        raise RunRemoveError(f"{target} exists already; move it away first")
    tmp = folder / f".{run_dir.name}.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(run_dir, arcname=run_dir.name)
    tmp.replace(target)
    shutil.rmtree(run_dir)
    return target
