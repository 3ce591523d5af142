"""Reading a run's event log (``events.jsonl``, written by the training session) back into events, and following it
while it grows: what `cnn-tui attach` and every other viewer read.

The follower tolerates what files on disk do: a last line without its newline is left for the next read (the
writer is mid-write) and never parsed half; a line that is not JSON, or an event type or field this version does not
know, is skipped; a log that is replaced (a new inode, or shorter than what was read) is reported so the viewer
starts over; a log or run directory that disappears is reported too.

Replay of a long finished run is fast: in a large backlog only the records that change what a viewer shows are
decoded (every record but the throttled per-batch ones, and the per-batch ones of the last epoch).
"""

from __future__ import annotations

import json
import mmap
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from tui.core.events import (BatchEnd, ControlAck, Diagnosis, EpochEnd, Event, GradientNorms, ModelSummary,
                             RunEnded, RunStarted, StateChanged)

EVENTS_FILE = "events.jsonl"
FAST_REPLAY_BYTES = 1 << 20
"""A backlog larger than this is replayed through the fast path (batch records of finished epochs not decoded)."""
_NOT_BATCH = re.compile(rb'\{"event": "(?!BatchEnd")[^\n]*\n')
_EPOCH = b'{"event": "EpochEnd"'

_SIMPLE: dict[str, type[Event]] = {c.__name__: c for c in (BatchEnd, EpochEnd, GradientNorms, StateChanged,
                                                            ControlAck)}


_FIELDS: dict[type, frozenset[str]] = {}


def _known(cls: type, record: Mapping[str, Any]) -> dict[str, Any]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
    return {k: v for k, v in record.items() if k in names}


def decode(record: Mapping[str, Any], run_dir: Path | None = None) -> Event | None:
    """One log record as an event, or None for a record this version does not show (unknown type, bad fields)."""
    kind = record.get("event")
    try:
        if kind in _SIMPLE:
            cls = _SIMPLE[str(kind)]
            values = _known(cls, record)
            for k in ("layers", "norms"):
                if k in values:
                    values[k] = tuple(values[k])
            return cls(**values)
        if kind == "Diagnosis":
            from tui.core.diagnostics import Finding

            return Diagnosis(tuple(Finding.from_dict(f) for f in record.get("findings", ())))
        if kind == "RunEnded":
            return RunEnded(str(record["status"]), record.get("error"), record.get("run_dir"),
                            record.get("summary") or {})
        if kind == "RunStarted":
            return _run_started(record, run_dir)
    except (TypeError, ValueError, KeyError):
        return None
    return None


def _run_started(record: Mapping[str, Any], run_dir: Path | None) -> RunStarted:
    from tui.core import config as config_mod
    from tui.core.datasets import DatasetInfo

    config = None
    if isinstance(record.get("config"), Mapping):
        try:
            config = config_mod.from_dict(record["config"], "events.jsonl")
        except config_mod.ConfigError:
            config = None
    if config is None and run_dir is not None:  # older logs: the run's config.toml
        try:
            config = config_mod.load(Path(run_dir) / "config.toml")
        except (OSError, config_mod.ConfigError):
            config = None
    config = config or config_mod.ExperimentConfig()
    d = dict(record.get("dataset") or {})
    values = _known(DatasetInfo, d)
    for k in ("input_shape", "class_names", "class_counts"):
        values[k] = tuple(values.get(k) or ())
    values.setdefault("name", config.dataset.name)
    for k in ("num_classes", "train", "val", "test"):
        values.setdefault(k, 0)
    dataset = DatasetInfo(**values)
    m = record.get("model") or {}
    total = int(m.get("total", record.get("params") or 0))
    model = ModelSummary(str(m.get("name", config.model.architecture)), (), total, int(m.get("trainable", total)))
    return RunStarted(str(record.get("run_dir") or run_dir or ""), config, dataset, model, int(record["epochs"]),
                      int(record["steps_per_epoch"]), int(record.get("batch_size") or config.training.batch_size))


@dataclass
class Chunk:
    """What one read of the log found."""

    events: list[Event] = field(default_factory=list)
    replaced: bool = False
    """The log was replaced since the last read (the viewer should start over); `events` are the new log's."""
    missing: bool = False
    """The log (or its run directory) does not exist now."""
    skipped: int = 0
    """Lines that were not a readable record (torn by a killed writer, or corrupt)."""


class EventLogFollower:
    """Reads a growing events.jsonl from where it left off. Never writes anything."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / EVENTS_FILE
        self.offset = 0
        self._inode: tuple[int, int] | None = None
        self.skipped = 0

    def read(self) -> Chunk:
        chunk = Chunk()
        try:
            st = os.stat(self.path)
        except OSError:
            chunk.missing = True
            return chunk
        inode = (st.st_dev, st.st_ino)
        if self._inode is not None and (inode != self._inode or st.st_size < self.offset):
            chunk.replaced = True
            self.offset = 0
        self._inode = inode
        if st.st_size <= self.offset:
            return chunk
        try:
            with open(self.path, "rb") as fh:
                if st.st_size - self.offset > FAST_REPLAY_BYTES:
                    with mmap.mmap(fh.fileno(), st.st_size, access=mmap.ACCESS_READ) as mm:
                        end = mm.rfind(b"\n", self.offset, st.st_size) + 1
                        lines = _relevant_lines(mm, self.offset, end) if end else []
                else:
                    fh.seek(self.offset)
                    data = fh.read(st.st_size - self.offset)
                    end = data.rfind(b"\n") + 1  # a last line without its newline is being written: next time
                    lines = data[:end].splitlines()
                    end += self.offset if end else 0
        except (OSError, ValueError):
            chunk.missing = True
            return chunk
        if not end:
            return chunk
        self.offset = end
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                chunk.skipped += 1
                continue
            event = decode(record, self.run_dir) if isinstance(record, dict) else None
            if event is not None:
                chunk.events.append(event)
        self.skipped += chunk.skipped
        return chunk

def _relevant_lines(data: Any, start: int, end: int) -> list[bytes]:
    """The lines of data[start:end] but the batch records of epochs before the last one that ended (the batch
    trace shows one epoch), in order. `data` is a memory map searched in one regular-expression pass: a backlog of
    a million batch records is never copied or split into lines."""
    last_epoch = data.rfind(_EPOCH, start, end)
    previous = data.rfind(_EPOCH, start, last_epoch) if last_epoch >= 0 else -1
    if previous < 0:
        return data[start:end].splitlines()  # type: ignore[no-any-return]
    cut = data.find(b"\n", previous, end) + 1
    out = [m.group(0) for m in _NOT_BATCH.finditer(data, start, cut)]
    out.extend(data[cut:end].splitlines())
    return out


def read_all(run_dir: Path) -> list[Event]:
    """Every event of a run's log (a finished run's replay)."""
    return EventLogFollower(run_dir).read().events
