"""Detached runs: training in a process of its own session (it survives the terminal closing and SSH dropping), its
output in ``output.log`` in the run directory, bounded by a limit of detached runs at once on this machine.

The detached process is an ordinary ``cnn-tui train`` (or ``resume``) in a directory made for it beforehand, so a
detached run is an ordinary run directory. Each one is registered in ``$XDG_STATE_HOME/cnn-tui/detached/`` (a file
per run: its owner record and directory); the limit counts the registered runs whose owner is still live.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core import owner as owner_mod
from tui.core.rundir import RunDir

if TYPE_CHECKING:
    from tui.core.config import ExperimentConfig


class DetachRefused(Exception):
    """A detached run cannot start now; the message says why and what to do."""


def registry_dir() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "cnn-tui" / "detached"


def default_limit(cores: int | None = None) -> int:
    """One detached run per two cores (each gets the threads of two), at least one."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(cores) // 2)


def limit() -> int:
    from tui.core import settings

    configured = settings.load().max_detached
    return configured or default_limit()


def live_runs() -> list[Path]:
    """The run directories of the detached runs live on this machine now (dead entries are forgotten)."""
    folder = registry_dir()
    live = []
    for entry in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(entry.read_text())
            owner = owner_mod.Owner.from_dict(data["owner"])
            run_dir = Path(data["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            entry.unlink(missing_ok=True)
            continue
        if owner.liveness() == owner_mod.LIVE:
            live.append(run_dir)
        elif owner.liveness() == owner_mod.DEAD:
            entry.unlink(missing_ok=True)
    return live


def check_room() -> None:
    """Raise DetachRefused when the limit of detached runs at once is reached."""
    running, allowed = live_runs(), limit()
    if len(running) >= allowed:
        listing = "\n".join(f"  {d}" for d in running)
        raise DetachRefused(
            f"{len(running)} detached run(s) already running on this machine, and the limit is {allowed}:\n{listing}\n"
            "Wait for one to end, or stop one (cnn-tui attach RUN_DIR, then s). The limit is max_detached in the "
            "settings file or $CNN_TUI_MAX_DETACHED (default: one per 2 cores).")


@contextmanager
def _registry_lock() -> Iterator[None]:
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _package_root() -> str:
    import tui

    return str(Path(tui.__file__).resolve().parents[1])


def spawn(cli_args: Sequence[str], run_dir: Path) -> owner_mod.Owner:
    """Start `cnn-tui CLI_ARGS` detached for `run_dir`, within the limit; returns its owner record.

    The child gets its own session (no controlling terminal, no SIGHUP when the terminal goes), stdin from
    /dev/null and stdout + stderr appended to the run's output.log."""
    run_dir = Path(run_dir).resolve()
    with _registry_lock():
        check_room()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH", "")) if p)
        env.pop("TEXTUAL", None)
        with open(RunDir(run_dir).output_log, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "tui.cli", *cli_args], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                    cwd=os.getcwd(), env=env)
        owner = owner_mod.Owner.of(proc.pid, detached=True)
        if RunDir(run_dir).liveness() != owner_mod.LIVE:
            RunDir(run_dir).write_owner(owner)  # at once: a viewer (and the limit) sees it live before it loads
        entry = registry_dir() / f"{proc.pid}-{owner.start_ticks}.json"
        entry.write_text(json.dumps({"owner": owner.as_dict(), "run_dir": str(run_dir)}))
        return owner


def start_train(config: ExperimentConfig, runs_dir: str | Path | None, notify: bool = False) -> Path:
    """A new run directory for `config` and a detached `cnn-tui train` in it; returns the directory."""
    from tui.core.session import default_runs_dir

    check_room()  # before making a directory that would stay empty
    runs = Path(runs_dir) if runs_dir else default_runs_dir()
    rd = RunDir.create(runs, f"{config.dataset.name}-{config.model.architecture}")
    rd.write_config(config)
    run_dir = rd.path
    try:
        spawn(["train", "--in-run-dir", str(run_dir), "--detached-child", *(["--notify"] if notify else [])],
              run_dir)
    except DetachRefused:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)  # another detach took the last place meanwhile
        raise
    return run_dir


def resume(run_dir: Path, notify: bool = False) -> owner_mod.Owner:
    """Continue an interrupted run detached, in its own directory."""
    return spawn(["resume", str(Path(run_dir).resolve()), "--detached-child", *(["--notify"] if notify else [])],
                 run_dir)
