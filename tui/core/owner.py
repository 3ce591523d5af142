"""Who owns a run right now: the liveness record (``RunDir.owner_file``, owner.json) and the live /
interrupted decision made from it.

A pid alone is not enough: pids are reused after a reboot or a few hours of busy machine, and a run folder can sit
on a disk shared by several hosts or be copied from one. The record holds the host name, the kernel's boot id, the
pid and the process's start time (clock ticks since boot, from /proc), and a run is live only when all four match a
process on this machine. On another host nothing can be checked from here: the answer is "remote".
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LIVE, DEAD, REMOTE, NONE = "live", "dead", "remote", "none"
"""Liveness answers: the owner runs on this machine now; it died (or the machine rebooted); it runs or ran on
another host (nothing can be checked from here); there is no owner record (the run ended or never started)."""


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Owner:
    """The process that writes a run: enough to tell, from any process, whether it still does."""

    host: str
    boot_id: str
    pid: int
    start_ticks: int | None
    started: float
    """Wall-clock time the record was written (seconds since the epoch)."""
    detached: bool = False
    """Started with --detach (in its own session, with no terminal)."""

    @classmethod
    def of(cls, pid: int | None = None, detached: bool = False) -> "Owner":
        import socket  # here: `cnn-tui runs` checks owners without ever importing it

        pid = pid or os.getpid()
        return cls(socket.gethostname(), boot_id(), pid, process_start(pid), round(time.time(), 3), detached)

    def liveness(self) -> str:
        import socket

        if self.host != socket.gethostname():
            return REMOTE
        if self.boot_id and self.boot_id != boot_id():
            return DEAD  # the machine rebooted since
        start = process_start(self.pid)
        if start is None:
            if not Path("/proc/self/stat").exists():  # no /proc (not Linux): the pid is all there is
                try:
                    os.kill(self.pid, 0)
                except PermissionError:
                    return LIVE
                except OSError:
                    return DEAD
                return LIVE
            return DEAD
        return LIVE if self.start_ticks is None or start == self.start_ticks else DEAD  # pid reused

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Owner":
        return cls(str(data["host"]), str(data.get("boot_id") or ""), int(data["pid"]),
                   None if data.get("start_ticks") is None else int(data["start_ticks"]),
                   float(data.get("started") or 0.0), bool(data.get("detached", False)))


def write(path: Path, owner: Owner) -> None:
    """Write the record to `path` (a run directory's ``RunDir.owner_file``), atomically."""
    from tui.core.atomic import atomic_write_json

    atomic_write_json(path, owner.as_dict())


def read(path: Path) -> Owner | None:
    """The record at `path`, or None when there is none (or it cannot be read: a newer version's, or torn)."""
    try:
        return Owner.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def liveness(path: Path, legacy_pid_file: Path | None = None) -> str:
    """LIVE, DEAD, REMOTE or NONE for the record at `path` (an older run's pid file is checked by pid only)."""
    owner = read(path)
    if owner is not None:
        return owner.liveness()
    if legacy_pid_file is not None and legacy_pid_file.is_file():
        try:
            os.kill(int(legacy_pid_file.read_text().strip()), 0)
        except (OSError, ValueError):
            return DEAD
        return LIVE
    return NONE
