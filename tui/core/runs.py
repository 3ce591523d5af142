"""The runs folder as data: one record per run directory, for `cnn-tui runs`, `compare` and the app's run
history, and the index that keeps listing thousands of them fast.

The index, a cache of the fields the run history shows, kept beside the runs.

``<runs>/.cnn-tui-index/runs.jsonl`` holds one entry per run directory (sweep cells included): the listed fields
(`RunRecord`), the row's text as a filter reads it, and the signature of the directory when they were read: the
directory's inode and modification time. An entry is used only when the signature still matches and it was read
more than `RACY_SECONDS` after the last change (a change in the same clock tick would not move the mtime); a run
with an ``owner.json`` (or an older ``running.pid``: live, or killed) is always read again. A run that no process
owns is only ever changed through files made, renamed or removed in its directory (every write is a rename), so a
changed run always shows a changed signature; the one file appended to in place, history.csv, is written only by
the run's owner.

The file's first line also holds the runs folder's own signature, taken before the folder was last listed in full.
A directory made, renamed or removed in the folder moves that time; a run changed in place (a summary written, a
live run's files) does not, which is why every listed run is still validated by its own signature. While the
folder's signature holds, the folder is not listed again, and the runs follow newest first one line each, so the
newest screenful is read (and validated) without decoding the other thousands. The index has a folder of its own
so that writing it never moves the runs folder's time.

The index is a cache: deleting it, or a corrupt or foreign file in its place, costs one full scan and nothing else.
Two processes updating it at once take a lock (``.cnn-tui-index/lock``), merge their entries into what is on disk,
and replace the file atomically, so a reader never sees half a file.

`scan` lists a folder: on a warm index it validates the newest `first` runs and hands them out before the rest
(the first screenful shows in milliseconds); on a cold one it reads directories newest name first and hands out
records in batches, so a view can fill in progressively. `query` filters and orders a folder on the entries
themselves (every run validated: one stat each) and makes records only of the runs it returns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

    if not TYPE_CHECKING:  # (a type checker still sees every attribute a record has)
        def __getattr__(self, name: str) -> Any:
            """A record made from the index (`_from_entry`) makes its `path` when first asked for: the history
            makes a record of every run and draws a screenful of them (making 10,000 Paths was a quarter of
            validating 10,000 runs)."""
            if name == "path":
                d = self.__dict__
                if "_rel" in d:
                    path = d["path"] = _join(d["_folder"], d["_rel"])
                    return path
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def read_run(run_dir: Path) -> RunRecord | None:
    """The record of one run directory, or None if it is not one (no config.toml)."""
    rd = RunDir(run_dir)
    if not rd.is_run():
        return None
    dataset, arch = rd.listed_config()
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
    lambda r: r.name, lambda r: (r.started, r.name), lambda r: r.dataset, lambda r: r.architecture, lambda r: r.status,
    lambda r: -1.0 if r.best_val_accuracy is None else r.best_val_accuracy, lambda r: r.epochs,
    lambda r: -1.0 if r.wall_seconds is None else r.wall_seconds)
"""Sort key of each column: by value, not by its text (wall time 9.5 s before 1 min 05 s). Runs started in the same
second are in the order of their names (which begin with the time), however they were read."""


def sort_column(name: str) -> int:
    """The index of a column given by (a unique prefix of) its name; ValueError naming the columns."""
    hits = [i for i, c in enumerate(COLUMNS) if c == name] or [i for i, c in enumerate(COLUMNS) if c.startswith(name)]
    if len(hits) != 1:
        raise ValueError(f"no column {name!r}; sort by one of: " + ", ".join(COLUMNS))
    return hits[0]


# -- the index ------------------------------------------------------------------------------------------------------
INDEX_DIR = ".cnn-tui-index"
"""The index lives in a folder of its own inside the runs folder, so that writing it never changes the runs
folder's modification time: that time then tells whether a run directory came or went since the index was written."""
INDEX_FILE = f"{INDEX_DIR}/runs.jsonl"
LOCK_FILE = f"{INDEX_DIR}/lock"
OLD_INDEX_FILES = (".cnn-tui-index.json", ".cnn-tui-index.lock")
"""Where versions up to 3 kept the index (removed when this version writes its own)."""
VERSION = 4
RACY_SECONDS = 2.0
"""An entry read less than this long after its run last changed is read again next time."""
_RUN, _SWEEP = RunDir(Path()), SweepDir(Path())
CONFIG = _RUN.config_file.name
"""The names tui.core.rundir gives these files (joined to plain strings here: a scan stats thousands of them)."""
RUNNING = (_RUN.owner_file.name, _RUN.pid_file.name)
"""A run holding one of these (owner.json, or an older version's running.pid) is in progress or was killed."""
SWEEP_STATE = _SWEEP.state_file.name
LARGEST_FIRST = (1, 5, 6, 7)
"""Columns (of COLUMNS) listed largest first unless reversed: started, best val_acc, epochs, wall."""
_KEEP: Any = object()
"""`RunIndex.save(folder=_KEEP)`: leave the folder's signature on disk as it is."""


@dataclass
class Batch:
    """Records read or validated since the last batch (none handed out before), and how far the scan has got."""

    records: list[RunRecord]
    done: int
    total: int


@dataclass
class Listing:
    """Runs in a folder, newest first (or in the order asked for), and the folder's sweep directories (newest name
    first)."""

    records: list[RunRecord] = field(default_factory=list)
    sweeps: list[Path] = field(default_factory=list)
    complete: bool = True
    """False when only the newest runs were validated (`scan(limit=...)`)."""
    total: int = 0
    """Run directories in the folder (all of them, also when only the newest were validated)."""
    matching: int = 0
    """Runs that the filter let through (`RunIndex.query`; all of them without a filter), shown or not."""


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def signature(run_dir: str) -> list[int] | None:
    """The directory's identity and modification time (one stat); None when it is gone.

    That is all that changes when the listed fields of a run that no process owns can change: such a run changes
    only through files made, renamed or removed in its directory (a summary written, a resume's owner.json, Keras'
    backup folder), each of which moves the directory's time. The one file written in place, history.csv (Keras'
    CSVLogger appends to it), is written only by the process that owns the run, and an owned run is read again
    every time."""
    d = _stat(run_dir)
    return None if d is None else [d.st_ino, d.st_mtime_ns]


SIG, CHECKED, LIVE, STARTED, DATASET, ARCHITECTURE, STATUS, BEST, EPOCHS, WALL, TEXT = range(11)
"""An index entry is a list (JSON arrays decode twice as fast as objects): these are its fields. TEXT is the row
as a filter reads it (`RunRecord.search_text`), so that filtering and sorting thousands of runs works on the
entries, and only the runs shown become records."""


def _to_entry(rec: RunRecord, sig: list[int], checked: float, live: bool) -> list[Any]:
    return [sig, int(checked), live, rec.started.timestamp(), rec.dataset, rec.architecture, rec.status,
            rec.best_val_accuracy, rec.epochs, rec.wall_seconds, rec.search_text]


_NUMBER, _MAYBE_NUMBER = (int, float), (int, float, type(None))
_ENTRY_TYPES = frozenset((list, checked, bool, started, str, str, str, best, int, wall, str)
                         for checked in _NUMBER for started in _NUMBER for best in _MAYBE_NUMBER
                         for wall in _MAYBE_NUMBER)
"""The types of an entry's fields, as this version writes them."""
_EARLIEST, _LATEST = -2.0e9, 2.5e11
"""Start times (seconds since 1970) that datetime can hold in any time zone: 1906 to 9892."""


def _entry_ok(e: Any) -> bool:
    """The shape and types this version writes (anything else is dropped and its run read again): one look-up
    of the entry's field types, not eleven isinstance calls (the index of 10,000 runs is checked on every load)."""
    return type(e) is list and tuple(map(type, e)) in _ENTRY_TYPES


def _zone() -> list[Any]:
    """The local time zone, which the started column's text depends on."""
    return [time.timezone, time.altzone, time.daylight, list(time.tzname)]


_child = getattr(Path, "_make_child_relpath", None)
"""pathlib's own join of one plain name (3.11-3.12), three times faster than `/`, which parses the name again."""


def _join(folder: Path, rel: str) -> Path:
    if _child is None:
        return folder / rel
    path = folder
    for part in rel.split("/"):
        path = _child(path, part)
    return path


def _from_entry(runs_dir: Path, rel: str, e: list[Any], _new: Any = object.__new__) -> RunRecord:
    # the fields set directly, as the frozen dataclass's __init__ would (at half its cost: the app makes a record of
    # every run), with the search_text cached_property's value from the index; the path is made when asked for
    rec: RunRecord = _new(RunRecord)
    rec.__dict__.update(name=rel.rsplit("/", 1)[-1], _folder=runs_dir, _rel=rel,
                        started=datetime.fromtimestamp(e[STARTED]), dataset=e[DATASET], architecture=e[ARCHITECTURE],
                        status=e[STATUS], best_val_accuracy=e[BEST], epochs=e[EPOCHS], wall_seconds=e[WALL],
                        search_text=e[TEXT])
    return rec


def _trusted(e: list[Any], sig: list[int] | None) -> bool:
    return (sig is not None and not e[LIVE] and e[SIG] == sig
            and e[CHECKED] - sig[1] / 1e9 > RACY_SECONDS and _EARLIEST < e[STARTED] < _LATEST)


ENTRY_KEYS: tuple[Callable[[tuple[str, list[Any]]], Any], ...] = (
    lambda it: it[0].rsplit("/", 1)[-1], lambda it: (it[1][STARTED], it[0].rsplit("/", 1)[-1]),
    lambda it: it[1][DATASET],
    lambda it: it[1][ARCHITECTURE], lambda it: it[1][STATUS],
    lambda it: -1.0 if it[1][BEST] is None else it[1][BEST], lambda it: it[1][EPOCHS],
    lambda it: -1.0 if it[1][WALL] is None else it[1][WALL])
"""SORT_KEYS for (relative path, entry) pairs: the same order, without records."""


def folder_signature(folder: str) -> list[int] | None:
    """The folder's identity and modification time, which move whenever a directory is made, renamed or removed in
    it; None when it is gone, or changed too recently (`RACY_SECONDS`) to tell from a change in the same clock tick.
    Taken before the folder is listed, so that whatever comes meanwhile moves it again."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    if time.time() - st.st_mtime_ns / 1e9 <= RACY_SECONDS:
        return None
    return [st.st_ino, st.st_mtime_ns]


def _newest_entry(item: tuple[str, list[Any]]) -> tuple[float, str]:
    return float(item[1][STARTED]), item[0].rsplit("/", 1)[-1]


class _Look:
    """One look at a folder through its index: which directories are runs now, and each one's entry as it holds
    now (the index's own when the run's signature still matches, else read again from the directory).

    When the runs folder's signature is the one the index was written with, no directory came or went since: the
    folder is not listed (the index names its runs), and with `newest` only the index's newest `newest` entries
    are read from the file (`partial`) — as long as no sweep's folder changed either."""

    def __init__(self, index: RunIndex, newest: int | None = None) -> None:
        self.index = index
        self.root = str(index.runs_dir)
        self.fresh: dict[str, Any] = {}
        self.read: dict[str, RunRecord] = {}
        self.not_runs: list[str] = []
        self.changed_dirs: dict[str, Any] = {}
        self.folder = folder_signature(self.root)
        data = index.load(newest, self.folder)
        if data["partial"]:
            # the sweeps and other directories are looked at (a cell came or went: their times moved)
            _, sweeps, gone = index._layout(data["dirs"], self.changed_dirs, {}, list(data["dirs"]), with_cells=False)
            if not (self.changed_dirs or gone):
                self._take(data)
                self.rels, self.sweeps = list(self.known), sweeps
                self.gone_dirs: list[str] = []
                return
            self.changed_dirs = {}
            data = index.load()
        self._take(data)
        if self.unchanged:  # the index's own top-level runs, and its sweeps and other directories looked at
            dirs = self.dirs
            runs, self.sweeps, self.gone_dirs = index._layout(dirs, self.changed_dirs, {}, list(dirs))
            self.rels = [rel for rel in self.known if "/" not in rel and rel not in dirs] + runs
        else:
            self.rels, self.sweeps, self.gone_dirs = index._layout(self.dirs, self.changed_dirs, self.known)

    def _take(self, data: dict[str, Any]) -> None:
        self.partial: bool = data["partial"]
        self.saved_folder = data["folder"]
        self.unchanged = self.folder is not None and self.saved_folder == self.folder
        """No directory came or went in the runs folder since the index was written."""
        self.count: int = data["count"]
        self.known: dict[str, Any] = data["runs"]
        self.dirs: dict[str, Any] = data["dirs"]

    def newest_first(self, limit: int | None = None) -> list[str]:
        """Directories that came since the index was written (newest name first: names start with the time), then
        the index's runs newest first (only its newest `limit`)."""
        known = self.known
        new = sorted((r for r in self.rels if r not in known), reverse=True)
        old = sorted((r for r in self.rels if r in known), key=lambda r: (known[r][STARTED], r.rsplit("/", 1)[-1]),
                     reverse=True)
        return new + (old if limit is None else old[:limit])

    def entry(self, rel: str) -> list[Any] | None:
        """The run's entry as it holds now; None when the directory is gone or is not a run."""
        path = f"{self.root}/{rel}"
        e: list[Any] | None = self.known.get(rel)
        sig = signature(path)
        if e is not None and _trusted(e, sig):
            return e
        checked = time.time()
        rec = read_run(Path(path)) if sig is not None else None
        if rec is None or sig is None:
            self.not_runs.append(rel)
            return None
        in_progress = any(os.path.exists(os.path.join(path, f)) for f in RUNNING)
        new = _to_entry(rec, sig, checked, in_progress)
        self.read[rel] = rec
        if e is None or e[:CHECKED] + e[CHECKED + 1:] != new[:CHECKED] + new[CHECKED + 1:] or not e[LIVE]:
            self.fresh[rel] = new  # a live run read again as it was (its history did not grow): nothing to write
        return new

    def valid(self, rels: Iterable[str]) -> Iterator[tuple[str, list[Any]]]:
        """(rel, entry) for each of `rels` that is a run now: what `entry` gives, with the test of a trusted entry
        written out here (a filter validates every run in the folder: 10,000 calls less), and each directory
        looked up from the open runs folder rather than from its whole path (a third less time)."""
        known, racy, stat = self.known, RACY_SECONDS, os.stat
        try:
            folder: int | None = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            folder = None
        try:
            for rel in rels:
                e = known.get(rel)
                if e is not None and not e[LIVE] and folder is not None:
                    try:
                        st = stat(rel, dir_fd=folder)
                    except OSError:
                        st = None
                    if st is not None:
                        sig = e[SIG]
                        mtime = st.st_mtime_ns
                        if (sig[1] == mtime and sig[0] == st.st_ino and e[CHECKED] - mtime / 1e9 > racy
                                and _EARLIEST < e[STARTED] < _LATEST):
                            yield rel, e
                            continue
                e = self.entry(rel)
                if e is not None:
                    yield rel, e
        finally:
            if folder is not None:
                os.close(folder)

    def record(self, rel: str, e: list[Any]) -> RunRecord:
        rec = self.read.get(rel)
        return rec if rec is not None else _from_entry(self.index.runs_dir, rel, e)

    @property
    def sweep_paths(self) -> list[Path]:
        return [self.index.runs_dir / s for s in self.sweeps]

    @property
    def total(self) -> int:
        """Run directories in the folder (in the index's count when only its newest were read)."""
        return (self.count if self.partial else len(self.rels)) - len(self.not_runs)

    def finish(self) -> None:
        """Bring the index up to date with what this look found (nothing is written when nothing changed)."""
        known, listed = self.known, set(self.rels)
        gone_runs = [r for r in known if r not in listed] + [r for r in self.not_runs if r in known]
        for rel in self.not_runs:
            # a top-level directory that turned out not to be a run (any more): looked at again next time, also
            # when the folder is not listed
            if "/" not in rel and rel not in self.dirs and rel not in self.changed_dirs:
                self.changed_dirs[rel] = {"kind": "other", "sig": None, "cells": []}
        # the folder's signature is written by a look that had every directory in it (a partial one read only the
        # index's newest runs, and the signature on disk is the one it matched)
        folder = _KEEP if self.partial else self.folder
        moved = folder is not _KEEP and folder is not None and folder != self.saved_folder
        if self.fresh or self.changed_dirs or gone_runs or self.gone_dirs or moved:
            self.index.save(self.fresh, self.changed_dirs, gone_runs, self.gone_dirs, folder=folder)


class RunIndex:
    """One runs folder and its index file."""

    def __init__(self, runs_dir: Path | str) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_FILE

    # -- the file -----------------------------------------------------------------------------------------------
    # One line of JSON for the folder (version, time zone, the runs folder's signature when it was last listed,
    # the sweeps and the other directories, how many runs follow), then one line per run, newest first:
    # [relative path, entry],  — so that the newest few are read without decoding the rest.
    def empty(self) -> dict[str, Any]:
        return {"version": VERSION, "zone": _zone(), "folder": None, "dirs": {}, "count": 0, "runs": {},
                "partial": False}

    def load(self, newest: int | None = None, folder: list[int] | None = None) -> dict[str, Any]:
        """The index on disk; an empty one when it is missing, unreadable, corrupt or of another version. With
        `newest`, and when the runs folder's signature is `folder` (as when the index was written), only the newest
        `newest` runs are read ("partial": True)."""
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.readline())
                if not (isinstance(data, dict) and data.get("version") == VERSION
                        and isinstance(data.get("dirs"), dict) and type(data.get("count")) is int):
                    raise ValueError("not an index of this version")
                count = data["count"]
                partial = newest is not None and folder is not None and data.get("folder") == folder
                if partial:
                    lines = [fh.readline() for _ in range(min(newest or 0, count))]
                    rows = [json.loads(line.rstrip(b",\n")) for line in lines]
                    partial = count > len(rows)
                else:
                    rows = json.loads(b"[" + fh.read().rstrip().rstrip(b",") + b"]")
                    if len(rows) != count:
                        raise ValueError("truncated")
                # an entry that is not what this version writes is dropped (and its run read again)
                runs = data["runs"] = {rel: e for rel, e in rows if type(rel) is str and _entry_ok(e)}
        except (OSError, ValueError, TypeError, RecursionError):
            return self.empty()
        data["partial"] = partial
        f = data.get("folder")
        if not (type(f) is list and len(f) == 2 and all(type(x) is int for x in f)):
            data["folder"] = None
        data["dirs"] = {k: d for k, d in data["dirs"].items() if isinstance(d, dict)
                        and d.get("kind") in ("sweep", "other") and isinstance(d.get("cells"), list)}
        if data.get("zone") != _zone():  # written in another time zone: the started column reads otherwise
            for rel, e in runs.items():
                if _EARLIEST < e[STARTED] < _LATEST:
                    e[TEXT] = " ".join(cells(_from_entry(self.runs_dir, rel, e))).lower()
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Replace the index file with `data` (as `load` returns it), atomically; the caller holds the lock."""
        import tempfile

        dumps = json.JSONEncoder(separators=(",", ":")).encode
        runs = data["runs"]
        head = {"version": VERSION, "zone": data.get("zone", _zone()), "folder": data.get("folder"),
                "dirs": data.get("dirs", {}), "count": len(runs)}
        fd, tmp = tempfile.mkstemp(prefix=f"{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dumps(head) + "\n")
                fh.writelines(dumps([rel, e]) + ",\n" for rel, e in runs.items())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def make_folder(self) -> None:
        """The index's folder (made when the index is first written: that moves the runs folder's time, once, after
        the signature was taken, so the next full listing writes the signature again)."""
        try:
            self.path.parent.mkdir(exist_ok=True)
        except OSError:
            pass  # a folder that cannot be written: listed without an index

    def save(self, runs: dict[str, Any], dirs: dict[str, Any], gone_runs: Iterable[str] = (),
             gone_dirs: Iterable[str] = (), folder: Any = _KEEP) -> bool:
        """Merge these entries into the index on disk under the lock; False when the folder is not writable or
        another process holds the lock for long (the index is a cache: the next scan writes it). `folder`: the
        runs folder's signature taken before it was listed in full (None: too recent to trust)."""
        import fcntl

        try:
            self.make_folder()
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
                data["zone"] = _zone()
                if folder is not _KEEP:
                    data["folder"] = folder
                data["runs"].update(runs)
                data["dirs"].update(dirs)
                for rel in gone_runs:
                    data["runs"].pop(rel, None)
                for rel in gone_dirs:
                    data["dirs"].pop(rel, None)
                data["runs"] = dict(sorted(data["runs"].items(), key=_newest_entry, reverse=True))
                self.write(data)
            for old in OLD_INDEX_FILES:
                (self.runs_dir / old).unlink(missing_ok=True)
        except OSError:
            return False
        return True

    # -- the folder ---------------------------------------------------------------------------------------------
    def _classify(self, rel: str) -> str:
        path = os.path.join(self.runs_dir, rel)
        if os.path.isfile(os.path.join(path, SWEEP_STATE)):
            return "sweep"
        return "run" if os.path.isfile(os.path.join(path, CONFIG)) else "other"

    def _layout(self, dirs: dict[str, Any], changed: dict[str, Any], known_runs: dict[str, Any],
                top: list[str] | None = None, with_cells: bool = True) -> tuple[list[str], list[str], list[str]]:
        """(run directories, sweep directories, directories gone) relative to the folder. Known run directories are
        not touched (their entries are validated when listed); sweeps and other directories are stat-ed, and a new
        directory is classified. `dirs` (the index's) holds the sweeps and the directories that are not runs (yet);
        any other directory with an entry in `known_runs` is a run. `top`: the folder's directories when known
        without listing it; `with_cells`: list the sweeps' cells as runs."""
        runs: list[str] = []
        sweeps: list[str] = []
        gone: list[str] = []
        seen: set[str] = set()
        if top is None:
            try:
                top = [e.name for e in os.scandir(self.runs_dir) if e.is_dir() and not e.name.startswith(".")]
            except OSError:
                top = []
        for name in top:
            seen.add(name)
            known = dirs.get(name)
            if known is None and name in known_runs:
                runs.append(name)
                continue
            st = _stat(os.path.join(self.runs_dir, name))
            if st is None:
                if known is not None:
                    gone.append(name)
                continue
            sig = [st.st_ino, st.st_mtime_ns]
            if known is None or known.get("sig") != sig or time.time() - st.st_mtime_ns / 1e9 <= RACY_SECONDS:
                # new, changed, or too recent to trust its time: classified (and a sweep's cells listed) again
                kind = self._classify(name)
                found: list[str] = []
                if kind == "sweep":
                    try:
                        found = sorted(e.name for e in os.scandir(os.path.join(self.runs_dir, name)) if e.is_dir())
                    except OSError:
                        pass
                now = {"kind": kind, "sig": sig, "cells": found}
                if now != known:
                    if kind != "run":
                        changed[name] = now
                    elif name in dirs:
                        gone.append(name)  # a run now: its entry in the runs says so
                known = now
            if known["kind"] == "run":
                runs.append(name)
            elif known["kind"] == "sweep":
                sweeps.append(name)
                runs.append(name)  # a sweep directory is listed as a run when it has a config.toml of its own
                if with_cells:
                    runs.extend(f"{name}/{c}" for c in known["cells"])
        gone += [name for name in dirs if name not in seen]
        return runs, sorted(sweeps, reverse=True), gone

    def layout(self) -> tuple[list[str], list[Path]]:
        """(run directories relative to the folder, sweep directories), without reading any run: what `compare`
        needs to find a run by part of its name, and the sweep list needs."""
        if not self.runs_dir.is_dir():
            return [], []
        look = _Look(self)
        # the folder's signature is left as it is: a run that came is not in the index until a listing reads it
        if look.changed_dirs or look.gone_dirs:
            self.save({}, look.changed_dirs, look.gone_dirs, look.gone_dirs)
        return look.rels, look.sweep_paths

    def scan(self, on_batch: Callable[[Batch], None] | None = None, *, first: int = 100, interval: float = 0.25,
             limit: int | None = None) -> Listing:
        """Every run in the folder, newest first, read through the index (which is brought up to date).

        `on_batch` receives records as they are known, each run once: the newest `first` before anything else on a
        warm index (read from the index's first lines when no directory came or went), then what came in every
        `interval` seconds; what is left when nothing is to be written to the index comes only in the `Listing`
        returned, which holds every run (as validated last). With `limit`, only the newest `limit` runs are
        validated and returned."""
        if not self.runs_dir.is_dir():
            return Listing()
        look: _Look | None = None
        last_flush: float | None = None
        handed: set[str] = set()
        """The runs handed out in the first batch, before the whole index was read: not handed out again."""
        if limit is not None or on_batch is not None:
            look = _Look(self, newest=limit if limit is not None else first)
            if look.partial:  # the newest, from the index's first lines: the rest is not even decoded
                newest = [(rel, look.record(rel, e)) for rel in look.newest_first()
                          if (e := look.entry(rel)) is not None]
                quick = sorted((rec for _, rec in newest), key=_started, reverse=True)
                look.finish()
                if limit is not None:
                    return Listing(quick[:limit], look.sweep_paths, False, look.total, look.total)
                if on_batch is not None and quick:
                    on_batch(Batch(quick, len(quick), look.total))
                    last_flush = time.monotonic()
                    handed = {rel for rel, _ in newest}
                    # the rest of a warm index is validated in well under a second: handed out in one batch, which a
                    # view sorts and draws once (on a loaded machine a batch every `interval` drew it two or three
                    # times, each draw slowing the reading further)
                    interval = max(interval, 1.0)
                look = None
        if look is None:
            look = _Look(self)
            if last_flush is not None:
                # batches come every `interval` seconds of reading, the whole index's loading not counted
                last_flush = time.monotonic()
        total = len(look.rels)
        records: list[RunRecord] = []
        pending: list[RunRecord] = []
        done = 0

        def flush(force: bool = False) -> None:
            # the newest `first`, then at most every `interval` seconds: a view redraws a few times a second,
            # not once per run (a warm index is validated in a few batches, a first scan fills in steadily)
            nonlocal last_flush
            if on_batch is None or not pending:
                return
            now = time.monotonic()
            if force or (len(pending) >= first if last_flush is None else now - last_flush >= interval):
                on_batch(Batch(sorted(pending, key=_started, reverse=True), done, total))
                pending.clear()
                last_flush = now

        # with `limit`: new directories first (any of them may be the newest), then the index's newest; a slice at a
        # time (the first the size of the first batch)
        rels = look.newest_first(limit)
        read, root = look.read, self.runs_dir
        at, size = 0, max(1, min(first, 200))
        while at < len(rels):
            for rel, e in look.valid(rels[at:at + size]):
                rec = read.get(rel) or _from_entry(root, rel, e)
                records.append(rec)
                if rel not in handed:
                    pending.append(rec)
            at += size
            done = min(at, len(rels))
            size = 200
            flush()
        if look.fresh:  # runs read anew, which the index is now written with: what is read shows first
            flush(force=True)
        look.finish()
        records.sort(key=_started, reverse=True)
        return Listing(records[:limit], look.sweep_paths, limit is None, look.total, look.total)

    def query(self, needle: str = "", column: int = 1, reverse: bool = False, limit: int | None = None,
              on_progress: Callable[[int, int], None] | None = None, interval: float = 0.25) -> Listing:
        """The runs whose row contains `needle` (any column, any case), ordered by `column` (of COLUMNS: largest
        first for those in LARGEST_FIRST, `reverse` flips it), newest first among equals; the first `limit`
        of them as records. Every run is validated, but the filter and the order work on the index's entries:
        only the runs shown become records. `on_progress(done, total)` every `interval` seconds meanwhile (a
        first scan reads every run once)."""
        descending = (column in LARGEST_FIRST) != reverse
        if not needle and column == 1 and descending:  # the newest: only those shown need validating
            def progress(b: Batch) -> None:
                if on_progress is not None:
                    on_progress(b.done, b.total)

            return self.scan(progress, limit=limit, interval=interval)
        if not self.runs_dir.is_dir():
            return Listing()
        look = _Look(self)
        total = len(look.rels)
        entries: list[tuple[str, list[Any]]] = []
        last = time.monotonic()
        for at in range(0, total, 200):  # progress between slices (a first scan reads every run once)
            entries += look.valid(look.rels[at:at + 200])
            if on_progress is not None and time.monotonic() - last >= interval:
                on_progress(min(at + 200, total), total)
                last = time.monotonic()
        look.finish()
        runs = len(entries)
        if needle:
            needle = needle.lower()
            entries = [it for it in entries if needle in it[1][TEXT]]
        entries.sort(key=ENTRY_KEYS[1], reverse=True)
        if column != 1 or not descending:
            entries.sort(key=ENTRY_KEYS[column], reverse=descending)
        shown = entries if limit is None else entries[:limit]
        return Listing([look.record(rel, e) for rel, e in shown], look.sweep_paths, True, runs, len(entries))


def _started(r: RunRecord) -> tuple[datetime, str]:
    return r.started, r.name


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
