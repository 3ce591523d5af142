"""The runs folder as data: one record per run directory, for `cnn-tui runs`, `compare` and the app's run
history, and the index that keeps listing thousands of them fast.

The index, a cache of the fields the run history shows, kept beside the runs.

``<runs>/.cnn-tui-index.json`` holds one entry per run directory (sweep cells included): the listed fields
(`RunRecord`) and the signature of the directory when they were read — the directory's inode and modification time,
and summary.json's (history.csv's when there is no summary). An entry is used only when the signature still matches
and it was read more than `RACY_SECONDS` after the last change (a change in the same clock tick would not move the
mtime); a run with an ``owner.json`` (or an older ``running.pid``: live, or killed and resumable) is always read
again. Runs are only ever written through renames or in directories that hold one, so a changed run always shows a
changed signature.

The index is a cache: deleting it, or a corrupt or foreign file in its place, costs one full scan and nothing else.
Two processes updating it at once take a lock (``.cnn-tui-index.lock``), merge their entries into what is on disk,
and replace the file atomically, so a reader never sees half a file.

`scan` lists a folder: on a warm index it validates the newest `first` runs and hands them out before the rest
(the first screenful shows in milliseconds); on a cold one it reads directories newest name first and hands out
records in batches, so a view can fill in progressively.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from tui.core import owner
from tui.core.rundir import RunDir, SweepDir


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

    @cached_property
    def row(self) -> tuple[str, ...]:
        """The row as text (`cells`), worked out once per record: a table redraws, a filter reads every row."""
        return cells(self)

    @cached_property
    def search_text(self) -> str:
        """The row in lower case, one string: what a filter looks in."""
        return " ".join(self.row).lower()


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
    """Every run under `runs_dir` (sweep cells included), newest first, read through the folder's index."""
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
    t = r.started  # as strftime("%Y-%m-%d %H:%M") writes it, in half the time (a filter reads 10,000 rows)
    return (r.name, f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}", r.dataset,
            r.architecture, "● live" if r.live else r.status,
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


# -- the index ------------------------------------------------------------------------------------------------------
INDEX_FILE = ".cnn-tui-index.json"
LOCK_FILE = ".cnn-tui-index.lock"
VERSION = 2
RACY_SECONDS = 2.0
"""An entry read less than this long after its run last changed is read again next time."""
_RUN, _SWEEP = RunDir(Path()), SweepDir(Path())
SUMMARY, HISTORY, CONFIG = _RUN.summary_file.name, _RUN.history_file.name, _RUN.config_file.name
RUNNING = (_RUN.owner_file.name, _RUN.pid_file.name)
"""A run holding one of these (owner.json, or an older version's running.pid) is in progress or was killed."""
"""The names tui.core.rundir gives these files (joined to plain strings here: a scan stats thousands of them)."""
SWEEP_STATE = _SWEEP.state_file.name


@dataclass
class Batch:
    """Records read or validated since the last batch, and how far the scan has got."""

    records: list[RunRecord]
    done: int
    total: int


@dataclass
class Listing:
    """Every run in a folder, newest first, and the folder's sweep directories (newest name first)."""

    records: list[RunRecord] = field(default_factory=list)
    sweeps: list[Path] = field(default_factory=list)
    complete: bool = True
    """False when only the newest runs were validated (`scan(limit=...)`)."""
    total: int = 0
    """Run directories in the folder (all of them, also when only the newest were validated)."""


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def signature(run_dir: str) -> list[int] | None:
    """What changes whenever the listed fields of a run can change; None when the directory is gone."""
    d = _stat(run_dir)
    if d is None:
        return None
    s = _stat(f"{run_dir}/{SUMMARY}")
    if s is not None:
        return [d.st_ino, d.st_mtime_ns, s.st_mtime_ns, s.st_size]
    h = _stat(f"{run_dir}/{HISTORY}")
    return [d.st_ino, d.st_mtime_ns, 0, -1] + ([h.st_mtime_ns, h.st_size] if h else [])


SIG, CHECKED, LIVE, STARTED, DATASET, ARCHITECTURE, STATUS, BEST, EPOCHS, WALL = range(10)
"""An index entry is a list (JSON arrays decode twice as fast as objects): these are its fields."""


def _to_entry(rec: RunRecord, sig: list[int], checked: float, live: bool) -> list[Any]:
    return [sig, checked, live, rec.started.timestamp(), rec.dataset, rec.architecture, rec.status,
            rec.best_val_accuracy, rec.epochs, rec.wall_seconds]


_NUMBER, _MAYBE_NUMBER = (int, float), (int, float, type(None))
_ENTRY_TYPES = frozenset((list, checked, bool, started, str, str, str, best, int, wall)
                         for checked in _NUMBER for started in _NUMBER for best in _MAYBE_NUMBER
                         for wall in _MAYBE_NUMBER)
"""The types of an entry's fields, as this version writes them."""


def _entry_ok(e: Any) -> bool:
    """The shape and types this version writes (anything else is dropped and its run read again): one look-up
    of the entry's field types, not ten isinstance calls (the index of 10,000 runs is checked on every load)."""
    return type(e) is list and tuple(map(type, e)) in _ENTRY_TYPES


_child = getattr(Path, "_make_child_relpath", None)
"""pathlib's own join of one plain name (3.11-3.12), three times faster than `/`, which parses the name again."""


def _join(folder: Path, rel: str) -> Path:
    if _child is None:
        return folder / rel
    path = folder
    for part in rel.split("/"):
        path = _child(path, part)
    return path


def _from_entry(runs_dir: Path, rel: str, e: list[Any]) -> RunRecord:
    return RunRecord(name=rel.rsplit("/", 1)[-1], path=_join(runs_dir, rel), started=datetime.fromtimestamp(e[STARTED]),
                     dataset=e[DATASET], architecture=e[ARCHITECTURE], status=e[STATUS], best_val_accuracy=e[BEST],
                     epochs=e[EPOCHS], wall_seconds=e[WALL])


def _trusted(e: list[Any], sig: list[int] | None) -> bool:
    return (sig is not None and not e[LIVE] and e[SIG] == sig
            and e[CHECKED] - max(sig[1:3]) / 1e9 > RACY_SECONDS)


class RunIndex:
    """One runs folder and its index file."""

    def __init__(self, runs_dir: Path | str) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_FILE

    # -- the file -----------------------------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """The index on disk; an empty one when it is missing, unreadable, corrupt or of another version."""
        try:
            data = json.loads(self.path.read_bytes())
            if (isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("runs"), dict)
                    and isinstance(data.get("dirs"), dict)):
                # an entry that is not what this version writes is dropped (and its run read again)
                data["runs"] = {k: e for k, e in data["runs"].items() if _entry_ok(e)}
                data["dirs"] = {k: d for k, d in data["dirs"].items() if isinstance(d, dict)
                                and d.get("kind") in ("run", "sweep", "other") and isinstance(d.get("cells"), list)}
                return data
        except (OSError, ValueError):
            pass
        return {"version": VERSION, "runs": {}, "dirs": {}}

    def save(self, runs: dict[str, Any], dirs: dict[str, Any], gone_runs: Iterable[str] = (),
             gone_dirs: Iterable[str] = ()) -> bool:
        """Merge these entries into the index on disk under the lock; False when the folder is not writable or
        another process holds the lock for long (the index is a cache: the next scan writes it)."""
        import fcntl
        import tempfile

        try:
            with open(self.runs_dir / LOCK_FILE, "a") as lock:
                for _ in range(50):
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        time.sleep(0.02)
                else:
                    return False
                data = self.load()
                data["runs"].update(runs)
                data["dirs"].update(dirs)
                for rel in gone_runs:
                    data["runs"].pop(rel, None)
                for rel in gone_dirs:
                    data["dirs"].pop(rel, None)
                fd, tmp = tempfile.mkstemp(prefix=f"{INDEX_FILE}.", dir=self.runs_dir)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        json.dump(data, fh, separators=(",", ":"))
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
        except OSError:
            return False
        return True

    # -- the folder ---------------------------------------------------------------------------------------------
    def _classify(self, rel: str) -> str:
        path = os.path.join(self.runs_dir, rel)
        if os.path.isfile(os.path.join(path, SWEEP_STATE)):
            return "sweep"
        return "run" if os.path.isfile(os.path.join(path, CONFIG)) else "other"

    def _layout(self, dirs: dict[str, Any], changed: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
        """(run directories, sweep directories, directories gone) relative to the folder. Known run directories are
        not touched (their entries are validated when listed); sweeps and other directories are stat-ed."""
        runs: list[str] = []
        sweeps: list[str] = []
        seen: set[str] = set()
        try:
            top = [e.name for e in os.scandir(self.runs_dir) if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            top = []
        for name in top:
            seen.add(name)
            known = dirs.get(name)
            if known is not None and known["kind"] == "run":
                runs.append(name)
                continue
            st = _stat(os.path.join(self.runs_dir, name))
            if st is None:
                continue
            sig = [st.st_ino, st.st_mtime_ns]
            if known is None or known.get("sig") != sig or time.time() - st.st_mtime_ns / 1e9 <= RACY_SECONDS:
                kind = self._classify(name)
                cells: list[str] = []
                if kind == "sweep":
                    try:
                        cells = sorted(e.name for e in os.scandir(os.path.join(self.runs_dir, name)) if e.is_dir())
                    except OSError:
                        pass
                known = {"kind": kind, "sig": sig, "cells": cells}
                changed[name] = known
            if known["kind"] == "run":
                runs.append(name)
            elif known["kind"] == "sweep":
                sweeps.append(name)
                runs.append(name)  # a sweep directory is listed as a run when it has a config.toml of its own
                runs.extend(f"{name}/{c}" for c in known["cells"])
        gone = [name for name in dirs if name not in seen]
        return runs, sorted(sweeps, reverse=True), gone

    def layout(self) -> tuple[list[str], list[Path]]:
        """(run directories relative to the folder, sweep directories), without reading any run: what `compare`
        needs to find a run by part of its name, and the sweep list needs."""
        if not self.runs_dir.is_dir():
            return [], []
        data = self.load()
        changed: dict[str, Any] = {}
        rels, sweeps, gone = self._layout(data["dirs"], changed)
        if changed or gone:
            self.save({}, changed, gone, gone)
        return rels, [self.runs_dir / s for s in sweeps]

    def scan(self, on_batch: Callable[[Batch], None] | None = None, *, first: int = 100, interval: float = 0.25,
             limit: int | None = None) -> Listing:
        """Every run in the folder, newest first, read through the index (which is brought up to date).

        `on_batch` receives records as they are known: the newest `first` before anything else on a warm index,
        then what came in every `interval` seconds. With `limit`, only the newest `limit` runs are validated and
        returned."""
        if not self.runs_dir.is_dir():
            return Listing()
        data = self.load()
        known: dict[str, Any] = data["runs"]
        changed_dirs: dict[str, Any] = {}
        rels, sweeps, gone = self._layout(data["dirs"], changed_dirs)
        fresh: dict[str, Any] = {}
        records: dict[str, RunRecord] = {}
        # known runs in the index's newest-first order; new ones first, newest name first (names start with the time)
        new = sorted((r for r in rels if r not in known), reverse=True)
        old = sorted((r for r in rels if r in known), key=lambda r: known[r][STARTED], reverse=True)
        total = len(rels)
        listed_now = set(rels)
        gone_runs = [r for r in known if r not in listed_now]
        not_runs: list[str] = []
        root = str(self.runs_dir)
        done = 0
        pending: list[RunRecord] = []

        def read(rel: str, entry: list[Any] | None) -> None:
            nonlocal done
            path = f"{root}/{rel}"
            sig = signature(path)
            done += 1
            rec = None
            if entry is not None and _trusted(entry, sig):
                try:
                    rec = _from_entry(self.runs_dir, rel, entry)
                except (ValueError, OverflowError, OSError):
                    rec = None  # a time out of range: read the run
            if rec is None:
                checked = time.time()
                rec = read_run(Path(path)) if sig is not None else None
                if rec is None:
                    not_runs.append(rel)
                    return
                in_progress = any(os.path.exists(os.path.join(path, f)) for f in RUNNING)
                fresh[rel] = _to_entry(rec, sig or [], checked, in_progress)
            records[rel] = rec
            pending.append(rec)

        last_flush: float | None = None

        def flush(force: bool = False) -> None:
            # the newest `first`, then at most every `interval` seconds: a view redraws a few times a second,
            # not once per run (a warm index is validated in a few batches, a first scan fills in steadily)
            nonlocal last_flush
            if on_batch is None or not pending:
                return
            now = time.monotonic()
            if force or (len(pending) >= first if last_flush is None else now - last_flush >= interval):
                on_batch(Batch(sorted(pending, key=lambda r: r.started, reverse=True), done, total))
                pending.clear()
                last_flush = now

        order = new + old
        if limit is not None:
            # new directories first (any of them may be the newest), then the index's newest
            order = new + old[:limit]
        for rel in order:
            read(rel, known.get(rel))
            flush()
        flush(force=True)
        complete = limit is None
        gone_runs += [r for r in not_runs if r in known]
        # a top-level directory that turned out not to be a run is classified again next time
        gone_dirs = gone + [r for r in not_runs
                            if data["dirs"].get(r, {}).get("kind") == "run" and r not in changed_dirs]
        if fresh or changed_dirs or gone_runs or gone_dirs:
            self.save(fresh, changed_dirs, gone_runs, gone_dirs)
        listed = sorted(records.values(), key=lambda r: r.started, reverse=True)
        if limit is not None:
            listed = listed[:limit]
        return Listing(listed, [self.runs_dir / s for s in sweeps], complete, total - len(not_runs))


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
