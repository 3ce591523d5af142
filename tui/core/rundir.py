"""The on-disk layout of a run directory and of a sweep directory, in one place.

Nothing else in the code names a file inside a run directory: ask a :class:`RunDir` for the path, or better for
the typed content (:class:`RunSummary`, :class:`EpochRecord`). Writes are atomic (temporary file + rename), so a
reader — the run history, an attached terminal, a sweep that resumes — never sees half a file. Files that an older
version did not write are simply absent: every read tolerates that, so old run directories still open.

A run directory::

    config.toml      the resolved configuration (loads back as a preset)
    history.csv      Keras' CSVLogger, one row per epoch (epochs counted from 0 in the file, from 1 here)
    events.jsonl     the event log (tui.core.eventlog owns its format)
    events.offsets   its index: the byte offset of every record but batch progress (tui.core.eventlog, a cache)
    summary.json     RunSummary; summary.md the same for people
    changes.json     settings changed while the run was paused (tui.core.changes), in order, with epoch and
                     batch: kept while it runs so a resumed run applies them again; summary.json lists them too
    best.keras, last.keras, checkpoints/epoch-NNN.keras
    predictions.npz  example test predictions (tui.core.evaluation owns its format)
    error.txt        the traceback of a failed run
    inspect/         `cnn-tui inspect`'s PNG files (tui.core.inside names them), linked from summary.md
    owner.json       who trains the run while it is in progress: host, boot id, pid, process start time
                     (tui.core.owner owns its format; a kill leaves it; older versions wrote running.pid)
    control/         control requests to that process (stop, pause, resume, change; tui.core.control)
    output.log       a detached run's standard output and error
    backup/          Keras' BackupAndRestore state (+ our seed_states-N.npz) while a run is unfinished
    tensorboard/     with training.tensorboard

A sweep directory holds ``sweep.json`` (state), ``base.toml`` (the base experiment), ``sweep.pid`` while a process
runs it, ``results.csv`` / ``results.md`` (export), and one run directory per cell.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.atomic import atomic_write_json, atomic_write_text
from tui.core import owner as owner_mod
from tui.core.findings import Finding

if TYPE_CHECKING:
    from tui.core.config import ExperimentConfig


# -- typed records --------------------------------------------------------------------------------------------------
_TOML_LINE = re.compile(r'^[ \t]*(?:\[\[?([^\[\]\n]+)\]\]?|(name|architecture)[ \t]*=[ \t]*"([^"\\\n]*)")'
                        r'[ \t]*(?:#[^\n]*)?$', re.MULTILINE)
"""A table header, or a `name` or `architecture` key holding a plain string, on a line of its own."""
_LISTED = {("dataset", "name"), ("model", "architecture")}
_EPOCH_FIELDS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of history (counted from 1): Keras' logs plus what the session adds.

    `extra` holds every other numeric column (``penalty``, ``data_loss``, ``class_accuracy``,
    ``samples_per_second``, ``partial``, ...), so a column a newer version writes survives a round trip.
    """

    epoch: int
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    lr: float | None = None
    epoch_seconds: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpochRecord:
        known = {k: float(d[k]) for k in _EPOCH_FIELDS if d.get(k) is not None}
        extra = {k: float(v) for k, v in d.items() if k not in _EPOCH_FIELDS and k != "epoch" and v is not None}
        return cls(epoch=int(d["epoch"]), extra=extra, **known)

    def as_dict(self) -> dict[str, float]:
        """The flat row the monitor, the doctor and the renderers read (absent values left out)."""
        row: dict[str, float] = {"epoch": self.epoch}
        row.update({k: v for k in _EPOCH_FIELDS if (v := getattr(self, k)) is not None})
        row.update(self.extra)
        return row


@dataclass(frozen=True)
class RunSummary:
    """summary.json, the stable contract of a run that ended (see README, Run directory). Epochs counted from 1.

    `best`, `final`, `test`, `params` and `dataset` stay plain mappings: their keys are documented in the README
    and read by renderers that already take mappings. Unknown keys (a newer version) are ignored; missing ones
    (an older version) take the defaults.
    """

    status: str = "unknown"
    error: str | None = None
    epochs_run: int = 0
    best: Mapping[str, Any] | None = None
    final: Mapping[str, Any] | None = None
    test: Mapping[str, Any] | None = None
    wall_seconds: float = 0.0
    train_samples_per_second: float | None = None
    params: Mapping[str, int] | None = None
    dataset: Mapping[str, Any] | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    device: Any = "?"
    """A block (name, strategy, replicas, devices, dtype_policy, global/per-replica batch); a string in older runs."""
    findings: Sequence[Mapping[str, Any]] = ()
    run_dir: str | None = None
    config: Mapping[str, Any] | None = None
    lr_find: Mapping[str, Any] | None = None
    """The learning-rate range test run before the run (tui.core.lrfind.RangeTestResult.to_dict()), if any."""
    changes: Sequence[Mapping[str, Any]] = ()
    """Settings changed while paused: {"epoch", "batch", "values": {key: new}, "previous": {key: old}}, in order."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSummary:
        if not isinstance(d, Mapping):
            raise TypeError(f"a run summary is a JSON object, not {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in d.items() if k in names and v is not None}
        if "findings" in kept:
            kept["findings"] = tuple(f for f in kept["findings"] if isinstance(f, Mapping))
        if "changes" in kept:
            kept["changes"] = tuple(c for c in kept["changes"] if isinstance(c, Mapping))
        return cls(**kept)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Mapping):
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @property
    def best_val_accuracy(self) -> float | None:
        return (self.best or {}).get("val_accuracy")

    def findings_list(self) -> list[Finding]:
        """The findings as Finding records (malformed entries skipped)."""
        out = []
        for d in self.findings:
            try:
                out.append(Finding.from_dict(d))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
        return out


def read_history_file(path: Path) -> list[EpochRecord]:
    """A CSVLogger file (epochs counted from 0 in it) as records counted from 1; [] when it does not exist."""
    import csv

    rows: list[EpochRecord] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rec: dict[str, float] = {}
                for k, v in row.items():
                    try:
                        rec[k] = float(v)
                    except (TypeError, ValueError):
                        continue
                if "epoch" in rec:
                    rec["epoch"] = int(rec["epoch"]) + 1
                    rows.append(EpochRecord.from_dict(rec))
    except FileNotFoundError:
        pass
    return rows


# -- the run directory ----------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "run"


def _new_dir(parent: Path, name: str) -> Path:
    """A new, unique directory under `parent` (safe when two processes create one at the same moment)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + _slug(name)
    for i in range(1000):
        candidate = parent / (stem if i == 0 else f"{stem}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run directory under {parent}")


def pid_alive(pid_file: Path) -> int | None:
    """The pid in `pid_file` when that process is alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


@dataclass(frozen=True)
class RunDir:
    """One run directory: paths, typed reads and atomic writes."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def create(cls, runs_dir: Path | str, name: str) -> RunDir:
        return cls(_new_dir(Path(runs_dir), name))

    # paths (for Keras callbacks that write the file themselves, and for messages naming a file)
    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def history_file(self) -> Path:
        return self.path / "history.csv"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def summary_md_file(self) -> Path:
        return self.path / "summary.md"

    @property
    def best_model_file(self) -> Path:
        return self.path / "best.keras"

    @property
    def last_model_file(self) -> Path:
        return self.path / "last.keras"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def checkpoint_pattern(self) -> str:
        """ModelCheckpoint's file pattern for training.checkpoint_every."""
        return str(self.checkpoints_dir / "epoch-{epoch:03d}.keras")

    @property
    def predictions_file(self) -> Path:
        return self.path / "predictions.npz"

    @property
    def inspect_dir(self) -> Path:
        """`cnn-tui inspect` writes its PNG files here (filters, feature maps, Grad-CAM)."""
        return self.path / "inspect"

    def inspect_files(self) -> list[Path]:
        """The PNG files of the last `cnn-tui inspect`, by name (none when it never ran)."""
        return sorted(self.inspect_dir.glob("*.png")) if self.inspect_dir.is_dir() else []

    @property
    def error_file(self) -> Path:
        return self.path / "error.txt"

    @property
    def pid_file(self) -> Path:
        return self.path / "running.pid"

    @property
    def backup_dir(self) -> Path:
        return self.path / "backup"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    @property
    def name(self) -> str:
        return self.path.name

    # what it is
    def is_run(self) -> bool:
        """A run directory holds its config.toml from the moment training starts."""
        return self.config_file.is_file()

    def started(self) -> datetime:
        return datetime.fromtimestamp(self.config_file.stat().st_mtime)

    # config
    def read_config(self) -> ExperimentConfig:
        """The run's configuration, validated (ConfigError naming the file and key when it does not load)."""
        from tui.core import config as config_mod

        return config_mod.load(self.config_file)

    def listed_config(self) -> tuple[str, str]:
        """config.toml's dataset.name and model.architecture, what the run history lists; ("?", "?") when the file
        cannot be read. Taken from the lines `config.save` writes (``name = "mnist" # comment`` under
        ``[dataset]``): a first listing of thousands of runs reads them all, and tomllib parses a whole file in the
        time this finds the two lines in many. A file written any other way is parsed by tomllib."""
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return "?", "?"
        if "'''" not in text and '"""' not in text:  # no multi-line string: every line is a header or a key
            section, found = "", {}
            for m in _TOML_LINE.finditer(text):
                if m.group(1) is not None:
                    section = m.group(1).strip()
                elif (section, m.group(2)) in _LISTED:
                    if (section, m.group(2)) in found:
                        break  # a key given twice is not TOML: tomllib says so
                    found[section, m.group(2)] = m.group(3)
            else:
                if len(found) == 2:
                    return found["dataset", "name"], found["model", "architecture"]
        from tui.core.params import tomllib

        try:
            table = tomllib.loads(text)
            return str(table["dataset"]["name"]), str(table["model"]["architecture"])
        except (tomllib.TOMLDecodeError, KeyError, TypeError):
            return "?", "?"

    def config_text(self) -> str:
        try:
            return self.config_file.read_text(encoding="utf-8")
        except OSError:
            return ""

    def write_config(self, config: ExperimentConfig) -> Path:
        from tui.core import config as config_mod

        return config_mod.save(config, self.config_file)

    # history
    def read_epochs(self) -> list[EpochRecord]:
        """history.csv as written by Keras' CSVLogger, epochs counted from 1; [] when there is none yet."""
        return read_history_file(self.history_file)

    def read_history(self) -> list[dict[str, float]]:
        """The epochs as flat rows (what monitors, the doctor and charts read)."""
        return [e.as_dict() for e in self.read_epochs()]

    def truncate_history(self, epochs: int) -> None:
        """Keep the header and the first `epochs` rows of history.csv (a resume trains the rest again)."""
        if self.history_file.is_file():
            lines = self.history_file.read_text().splitlines(keepends=True)
            atomic_write_text(self.history_file, "".join(lines[: 1 + epochs]))

    # summary
    def read_summary(self) -> RunSummary | None:
        """summary.json, or None when the run has not ended (or the file is unreadable)."""
        try:
            return RunSummary.from_dict(json.loads(self.summary_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def write_summary(self, summary: RunSummary | Mapping[str, Any], markdown: str | None = None) -> None:
        data = summary.as_dict() if isinstance(summary, RunSummary) else dict(summary)
        atomic_write_json(self.summary_file, data)
        if markdown is not None:
            atomic_write_text(self.summary_md_file, markdown)

    @property
    def changes_file(self) -> Path:
        return self.path / "changes.json"

    def write_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        atomic_write_json(self.changes_file, {"version": 1, "changes": [dict(c) for c in changes]})

    def read_changes(self) -> list[dict[str, Any]]:
        """The changes recorded so far (none when the file is absent or unreadable)."""
        try:
            data = json.loads(self.changes_file.read_text(encoding="utf-8"))
            return [dict(c) for c in data["changes"] if isinstance(c, Mapping) and "values" in c]
        except (OSError, ValueError, TypeError, KeyError):
            return []

    def read_summary_md(self) -> str | None:
        try:
            return self.summary_md_file.read_text(encoding="utf-8")
        except OSError:
            return None

    def write_error(self, text: str) -> None:
        atomic_write_text(self.error_file, text)

    # models
    def model_file(self) -> Path | None:
        """The best model, else the last one, else None (the run ended before its first epoch)."""
        return next((p for p in (self.best_model_file, self.last_model_file) if p.is_file()), None)

    def exported_files(self) -> dict[str, Path]:
        """The files an export lists, by name, that exist."""
        files = (self.summary_md_file, self.summary_file, self.history_file, self.best_model_file,
                 self.last_model_file, self.config_file)
        return {p.name: p for p in files if p.is_file()}

    @property
    def owner_file(self) -> Path:
        return self.path / "owner.json"

    @property
    def control_dir(self) -> Path:
        return self.path / "control"

    @property
    def output_log(self) -> Path:
        return self.path / "output.log"

    # the training process
    def mark_running(self, detached: bool = False) -> None:
        """Record this process as the run's owner (tui.core.owner: host, boot id, pid, start time)."""
        self.write_owner(owner_mod.Owner.of(detached=detached))

    def write_owner(self, owner: owner_mod.Owner) -> None:
        owner_mod.write(self.owner_file, owner)

    def read_owner(self) -> owner_mod.Owner | None:
        return owner_mod.read(self.owner_file)

    def clear_running(self) -> None:
        self.owner_file.unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)

    def liveness(self) -> str:
        """tui.core.owner's LIVE / DEAD / REMOTE / NONE for this run's owner."""
        return owner_mod.liveness(self.owner_file, self.pid_file)

    def running_pid(self) -> int | None:
        """The pid of the live process training this run on this machine, or None."""
        record = self.read_owner()
        if record is not None:
            return record.pid if record.liveness() == owner_mod.LIVE else None
        return pid_alive(self.pid_file)  # an older version's running.pid

    # Keras' BackupAndRestore state
    # a cell run on another machine, shipped back whole (tui.core.cluster)
    def pack(self, models: bool = True) -> bytes:
        """The run directory as a .tar.gz in memory: summary, history, events, config, logs and (unless `models`
        is False) the saved models; never Keras' backup state or the owner/control files of the live process."""
        import io
        import tarfile

        skip = {self.backup_dir, self.owner_file, self.pid_file, self.control_dir}
        if not models:
            skip |= {self.best_model_file, self.last_model_file, self.checkpoints_dir}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for item in sorted(self.path.rglob("*")):
                if item.is_file() and not any(item == s or s in item.parents for s in skip):
                    tar.add(item, arcname=str(item.relative_to(self.path)), recursive=False)
        return buf.getvalue()

    @classmethod
    def unpack(cls, archive: bytes, parent: Path | str, name: str) -> RunDir:
        """A run directory `name` under `parent` from `pack()`'s bytes (a unique name if `name` is taken).
        Only regular files at relative paths inside the new directory are written (what `pack()` puts in); a
        link, a device, an absolute path or one that climbs out with ".." is refused with ValueError. (Checked
        here rather than by tarfile's "data" filter, which Python 3.10 and 3.11 before 3.11.4 do not have.)"""
        import io
        import shutil
        import tarfile

        target = Path(parent) / name
        try:
            target.mkdir(parents=True)
        except FileExistsError:
            target = _new_dir(Path(parent), name)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or not parts or Path(member.name).is_absolute() or ".." in parts:
                    raise ValueError(f"a run archive holds {member.name!r}, which is not a file inside the run "
                                     "directory: refused (only what `pack()` writes is unpacked)")
                dest = target.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                with source, open(dest, "wb") as out:
                    shutil.copyfileobj(source, out)
        return cls(target)

    def has_backup(self) -> bool:
        return (self.backup_dir / "training_metadata.json").is_file()

    def backup_epoch(self) -> int | None:
        """The epoch Keras' backup resumes at (the fallback copy when the weights were being written at a kill),
        or None when there is nothing to resume."""
        meta = self.backup_dir / "training_metadata.json"
        if not _h5_readable(self.backup_dir / "latest.weights.h5"):
            meta = self.backup_dir / "training_metadata.json.bkp"
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def seed_state_file(self, epoch: int) -> Path:
        """Where the random generators' state after `epoch` epochs is kept (for an identical resume)."""
        return self.backup_dir / f"seed_states-{epoch}.npz"


def _h5_readable(path: Path) -> bool:
    if not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


# -- the sweep directory --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepDir:
    """One sweep directory: its state file, base experiment, lock, exports and cell run directories."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def create(cls, runs_dir: Path | str, name: str) -> SweepDir:
        return cls(_new_dir(Path(runs_dir), name))

    @property
    def state_file(self) -> Path:
        return self.path / "sweep.json"

    @property
    def base_file(self) -> Path:
        return self.path / "base.toml"

    @property
    def lock_file(self) -> Path:
        return self.path / "sweep.pid"

    @property
    def results_csv(self) -> Path:
        return self.path / "results.csv"

    @property
    def results_md(self) -> Path:
        return self.path / "results.md"

    @property
    def name(self) -> str:
        return self.path.name

    def is_sweep(self) -> bool:
        return self.state_file.is_file()

    def read_state(self) -> dict[str, Any]:
        """sweep.json as data (FileNotFoundError when this is not a sweep directory, ValueError when unreadable)."""
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("sweep.json is not a JSON object")
        return data

    def write_state(self, data: Mapping[str, Any]) -> None:
        atomic_write_json(self.state_file, dict(data))

    def read_base(self) -> ExperimentConfig:
        from tui.core import config as config_mod

        return config_mod.load(self.base_file)

    def write_base(self, config: ExperimentConfig) -> None:
        from tui.core import config as config_mod

        config_mod.save(config, self.base_file, meta={"description": "base experiment of a cnn-tui sweep"})

    def lock(self) -> None:
        self.lock_file.write_text(str(os.getpid()))

    def unlock(self) -> None:
        self.lock_file.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        """The pid of another live process running this sweep, or None."""
        pid = pid_alive(self.lock_file)
        return pid if pid is not None and pid != os.getpid() else None

    def write_results(self, csv_text: str, markdown: str) -> tuple[Path, Path]:
        return atomic_write_text(self.results_csv, csv_text), atomic_write_text(self.results_md, markdown)

    @property
    def token_file(self) -> Path:
        return self.path / "sweep.token"

    def write_token(self) -> str:
        """A fresh random token in the sweep directory: a worker that reads the same token through the path
        sees this very directory (a shared runs folder) and writes its cells here; any other ships them back."""
        import secrets

        token = secrets.token_hex(8)
        atomic_write_text(self.token_file, token)
        return token

    def has_token(self, token: str) -> bool:
        try:
            return self.token_file.read_text(encoding="utf-8").strip() == token
        except OSError:
            return False

    def cell(self, name: str) -> RunDir:
        return RunDir(self.path / name)

    def cell_dirs(self) -> Iterator[RunDir]:
        return (RunDir(d) for d in sorted(self.path.iterdir()) if d.is_dir())


def list_sweeps(runs_dir: Path | str) -> list[SweepDir]:
    """Sweep directories under a runs folder, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = (SweepDir(d) for d in runs_dir.iterdir() if d.is_dir())
    return sorted((s for s in found if s.is_sweep()), key=lambda s: s.name, reverse=True)


def run_dirs(runs_dir: Path | str) -> Iterator[RunDir]:
    """Every run directory under a runs folder, the cells of its sweeps included (not filtered by is_run)."""
    for d in Path(runs_dir).iterdir():
        if d.is_dir():
            yield RunDir(d)
            sweep = SweepDir(d)
            if sweep.is_sweep():
                yield from sweep.cell_dirs()
