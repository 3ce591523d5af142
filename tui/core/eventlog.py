"""The event log (``events.jsonl``): the contract between a trainer and every viewer.

One JSON object per line, appended and flushed as the session emits events. The first line is a header,
``{"event": "EventLog", "version": 1, "time": ...}``; every other line is ``{"event": <type>, "time": <unix
seconds>, <the event's fields>}`` (types and fields: README, "Event log"). This module is the only writer and
reader of the format:

- a reader ignores fields it does not know (a newer writer may add some) and takes defaults for fields an older
  writer did not write; a log without a header (written before the header existed) reads as version 0;
- a torn last line (the trainer was killed mid-write, or is writing it right now) is skipped, and
  :func:`read_from` leaves its offset before it, so a viewer that follows the log picks it up once complete;
- :func:`read_from` returns the records appended since a byte offset and the offset to continue from, which is
  all a viewer attached to a running trainer needs (poll it, or wait on the file);
- :class:`EventLogFollower` is what `cnn-tui attach` polls: it also says when the log was replaced (a new inode,
  or shorter than what was read) or deleted, and replays a large backlog fast: the batch records of epochs before
  the last one are not decoded (nothing shows them), and with the log's offsets index (``events.offsets``, written
  beside it) they are not even read; without the index a memory map is searched in one pass.

Progress events (BatchEnd) are throttled by the session (4 a second), and GradientNorms are sampled every
``training.gradient_every`` batches, so the log grows by a bounded amount per hour of training (README).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import IO, Any

from tui.core.events import (BatchEnd, ControlAck, Diagnosis, EpochEnd, Event, GradientNorms, LayerInfo, ModelSummary,
                             Prepare, RunEnded, RunStarted, SettingsChanged, StateChanged, SubscriberFailed)
from tui.core.findings import Finding

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""1: a header line; RunStarted carries config, batch_size and model. 0: no header, RunStarted only params."""
HEADER = "EventLog"


def to_json_value(obj: Any) -> Any:
    """Dataclasses, mappings, sequences and paths as JSON-ready values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_json_value(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): to_json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def encode(event: Event, now: float | None = None) -> dict[str, Any]:
    """The log record of one event (without the newline)."""
    record: dict[str, Any] = {"event": type(event).__name__, "time": round(time.time() if now is None else now, 3)}
    if isinstance(event, RunStarted):
        record.update({"run_dir": event.run_dir, "epochs": event.epochs, "steps_per_epoch": event.steps_per_epoch,
                       "batch_size": event.batch_size, "dataset": to_json_value(event.dataset),
                       "params": event.model.total_params, "model": to_json_value(event.model),
                       "config": event.config.to_dict()})
    elif isinstance(event, Diagnosis):
        record["findings"] = [f.as_dict() for f in event.findings]
    else:
        record.update(to_json_value(event))
    return record


@dataclass(frozen=True)
class LogRecord:
    """One line of the log: its type, when it was written, its fields as written, and the log's version."""

    kind: str
    time: float
    fields: Mapping[str, Any]
    version: int = SCHEMA_VERSION

    def event(self) -> Event | None:
        """The event this record holds, or None for a type this version does not know (or one too malformed to
        rebuild). RunStarted needs a version-1 log (an older one did not record the configuration)."""
        try:
            return _decode(self.kind, self.fields)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.debug("cannot rebuild a %s event from the log", self.kind, exc_info=True)
            return None


_FIELDS: dict[type, frozenset[str]] = {}


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
    return {k: v for k, v in data.items() if k in names}


def _decode(kind: str, data: Mapping[str, Any]) -> Event | None:
    if kind == "BatchEnd":
        return BatchEnd(**_known(BatchEnd, data))
    if kind == "EpochEnd":
        kept = _known(EpochEnd, data)
        kept["logs"] = dict(kept.get("logs") or {})
        return EpochEnd(**kept)
    if kind == "GradientNorms":
        kept = _known(GradientNorms, data)
        return GradientNorms(**{**kept, "layers": tuple(kept["layers"]), "norms": tuple(kept["norms"])})
    if kind == "StateChanged":
        return StateChanged(str(data["state"]))
    if kind == "ControlAck":
        return ControlAck(**_known(ControlAck, data))
    if kind == "SubscriberFailed":
        return SubscriberFailed(**_known(SubscriberFailed, data))
    if kind == "SettingsChanged":
        kept = _known(SettingsChanged, data)
        return SettingsChanged(**{**kept, "values": dict(kept["values"]), "previous": dict(kept["previous"])})
    if kind == "RunEnded":
        kept = _known(RunEnded, data)
        return RunEnded(**{**kept, "summary": dict(kept.get("summary") or {})})
    if kind == "Diagnosis":
        return Diagnosis(tuple(Finding.from_dict(f) for f in data.get("findings", [])))
    if kind == "RunStarted":
        from tui.core import config as config_mod
        from tui.core.datasets import DatasetInfo

        ds = _known(DatasetInfo, data["dataset"])
        ds.update(input_shape=tuple(ds["input_shape"]), class_names=tuple(ds["class_names"]),
                  class_counts=tuple(ds["class_counts"]))
        m = data["model"]
        model = ModelSummary(str(m["name"]), tuple(LayerInfo(**_known(LayerInfo, layer)) for layer in m["layers"]),
                             int(m["total_params"]), int(m["trainable_params"]))
        return RunStarted(str(data["run_dir"]), config_mod.from_dict(data["config"], "events.jsonl"),
                          DatasetInfo(**ds), model, int(data["epochs"]), int(data["steps_per_epoch"]),
                          int(data["batch_size"]))
    return None


class EventLogWriter:
    """Appends events to a log, one flushed line each. Creating it on an empty file writes the header; on a log
    that already has records (a resumed run) it appends after them, ending a torn last line first."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()  # control acknowledgements are written from the control thread
        size = os.fstat(self._fh.fileno()).st_size
        self._index: IO[str] | None = None
        index = index_path(self.path)
        if size == 0 or index.is_file():  # never a partial index of a log an older version began
            try:
                self._index = open(index, "w" if size == 0 else "a", encoding="ascii")
            except OSError:
                log.debug("no offsets index for %s", self.path, exc_info=True)
        if size == 0:
            self._write_line({"event": HEADER, "version": SCHEMA_VERSION, "time": round(time.time(), 3)})
        elif not _ends_with_newline(self.path, size):
            self._fh.write("\n")
            self._fh.flush()

    def _write_line(self, record: Mapping[str, Any]) -> None:
        assert self._fh is not None
        line = json.dumps(record, default=str) + "\n"
        with self._lock:
            if self._index is not None and record.get("event") != "BatchEnd":
                self._note_offset(str(record.get("event")))
            self._fh.write(line)
            self._fh.flush()

    def _note_offset(self, kind: str) -> None:
        """Index the record about to be written, before it is: a record is never in the log and not in the index.
        (A kill between the two leaves an entry with no record, which a reader skips.)"""
        assert self._fh is not None and self._index is not None
        try:
            self._index.write(f"{os.fstat(self._fh.fileno()).st_size} {kind}\n")
            self._index.flush()
        except (OSError, ValueError):  # an index that misses a record must not be read: remove it
            log.debug("offsets index dropped", exc_info=True)
            self._index = None
            index_path(self.path).unlink(missing_ok=True)

    def write(self, event: Event) -> None:
        """Record one event (Prepare is progress of the moment, not recorded). Never raises: a log that cannot
        be written must not stop training."""
        if self._fh is None or isinstance(event, Prepare):
            return
        try:
            self._write_line(encode(event))
        except (OSError, ValueError):
            log.debug("could not write to the event log", exc_info=True)

    __call__ = write  # a listener on the session's bus

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) == b"\n"


def _version(path: Path) -> int:
    """The version in the log's header line; 0 when it has none."""
    try:
        with open(path, "rb") as fh:
            first = json.loads(fh.readline())
        if isinstance(first, dict) and first.get("event") == HEADER:
            return int(first.get("version", 0))
    except (OSError, ValueError, TypeError):
        pass
    return 0


def read_from(path: Path | str, offset: int = 0) -> tuple[list[LogRecord], int]:
    """The records appended to the log at `path` since byte `offset`, and the offset to read from next time.

    Only complete lines count: a torn last line is left for the next call (the offset stays before it). Lines
    that are not JSON objects are skipped. A missing log reads as empty (offset unchanged)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # 0 when there is no complete line
    return _parse(chunk[:end].splitlines(), _version(path))[0], offset + end


def _parse(lines: list[bytes], version: int) -> tuple[list[LogRecord], int]:
    """The records of complete lines, and how many lines were not records (torn, corrupt)."""
    records: list[LogRecord] = []
    bad = 0
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            bad += 1
            continue  # a line torn by a kill, then ended by a resumed writer
        if not isinstance(data, dict) or data.get("event") == HEADER or "event" not in data:
            continue
        kind = str(data.pop("event"))
        stamp = data.pop("time", 0.0)
        records.append(LogRecord(kind, float(stamp) if isinstance(stamp, (int, float)) else 0.0, data, version))
    return records, bad


def read_all(path: Path | str) -> list[LogRecord]:
    """Every complete record of the log (a torn last line skipped)."""
    return read_from(path, 0)[0]


def read_events(path: Path | str) -> list[Event]:
    """The log's records rebuilt as events, in order (records of unknown types left out)."""
    return [e for r in read_all(path) if (e := r.event()) is not None]


# -- the offsets index ----------------------------------------------------------------------------------------------
def index_path(log_path: Path | str) -> Path:
    """The log's offsets index (``events.offsets`` beside ``events.jsonl``): one line ``<byte offset> <type>`` for
    every record but BatchEnd, written by the writer before the record. A cache: a log without one (an older
    version's, a copy without it) is read by scanning, and an entry that points at no record is skipped."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.stem + ".offsets")


def _indexed(data: Any, end: int, index: Path) -> list[tuple[int, bytes]] | None:
    """(offset, type) of the indexed records that lie whole in data[:end], in order; None without a usable index."""
    try:
        raw = index.read_bytes()
    except OSError:
        return None
    entries: dict[int, bytes] = {}
    for line in raw[:raw.rfind(b"\n") + 1].splitlines():  # a torn last entry is being written: left out
        offset, _, kind = line.partition(b" ")
        if not offset.isdigit():
            return None
        at = int(offset)
        if at < end and data[at:at + _KIND_AT + len(kind) + 1] == _RECORD + kind + b'"':
            entries[at] = kind  # an entry written twice (a kill, then a resume at the same place) counts once
    return sorted(entries.items())


# -- following a log that grows -------------------------------------------------------------------------------------
FAST_REPLAY_BYTES = 1 << 20
"""A backlog larger than this is replayed through the fast path (batch records of finished epochs not decoded)."""
_NOT_BATCH = re.compile(rb'\{"event": "(?!BatchEnd")[^\n]*\n')
_EPOCH = b'{"event": "EpochEnd"'
_RECORD = b'{"event": "'
_KIND_AT = len(_RECORD)


@dataclass
class Chunk:
    """What one read of a followed log found."""

    events: list[Event]
    replaced: bool = False
    """The log was replaced since the last read (a viewer starts over); `events` are the new log's."""
    missing: bool = False
    """The log (or its run directory) does not exist now."""
    skipped: int = 0
    """Lines that were not a readable record (torn by a killed writer, or corrupt)."""


class EventLogFollower:
    """Reads a growing log from where it left off, as events. Never writes anything."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.offset = 0
        self._inode: tuple[int, int] | None = None
        self._version: int | None = None

    def read(self) -> Chunk:
        chunk = Chunk([])
        try:
            st = os.stat(self.path)
        except OSError:
            chunk.missing = True
            return chunk
        inode = (st.st_dev, st.st_ino)
        if self._inode is not None and (inode != self._inode or st.st_size < self.offset):
            chunk.replaced, self.offset, self._version = True, 0, None
        self._inode = inode
        if st.st_size <= self.offset:
            return chunk
        try:
            with open(self.path, "rb") as fh:
                if st.st_size - self.offset > FAST_REPLAY_BYTES:
                    with mmap.mmap(fh.fileno(), st.st_size, access=mmap.ACCESS_READ) as mm:
                        end = mm.rfind(b"\n", self.offset, st.st_size) + 1
                        lines = _relevant_lines(mm, self.offset, end, index_path(self.path)) if end else []
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
        if self._version is None:
            self._version = _version(self.path)
        records, chunk.skipped = _parse(lines, self._version)
        chunk.events = [e for r in records if (e := r.event()) is not None]
        return chunk


def _relevant_lines(data: Any, start: int, end: int, index: Path | None = None) -> list[bytes]:
    """The lines of data[start:end] but the batch records of epochs before the last one that ended (the batch
    trace shows one epoch), in order. `data` is a memory map: with the log's offsets index only the indexed records
    are read (a replay costs its epochs, not its million batch records); without, it is searched in one
    regular-expression pass, never copied or split into lines."""
    entries = [(at, kind) for at, kind in _indexed(data, end, index) or () if at >= start] if index else []
    epochs = [at for at, kind in entries if kind == b"EpochEnd"]
    if len(epochs) >= 2:
        cut = data.find(b"\n", epochs[-2], end) + 1
        out = [data[at:data.find(b"\n", at, cut) + 1] for at, _ in entries if at < cut]
        out.extend(data[cut:end].splitlines())
        return out
    last_epoch = data.rfind(_EPOCH, start, end)
    previous = data.rfind(_EPOCH, start, last_epoch) if last_epoch >= 0 else -1
    if previous < 0:
        lines: list[bytes] = data[start:end].splitlines()
        return lines
    cut = data.find(b"\n", previous, end) + 1
    out = [m.group(0) for m in _NOT_BATCH.finditer(data, start, cut)]
    out.extend(data[cut:end].splitlines())
    return out
