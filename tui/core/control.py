"""The one control channel of a run: how any process (an attached view, another terminal, a script) asks the process
that owns a run to stop, pause, resume or change something, and how it learns that the owner acted.

Requests are small JSON files in the run directory's ``control/`` folder (``RunDir.control_dir``), each written
atomically under a unique name (so any number of viewers can send at once without locks). The owner polls the folder
from a timer thread (``ControlPoller``, 4 times a second: one directory listing, nothing when it is empty), takes
each request in the order sent, deletes it, acts on it through its ``Controllable`` (a training session: stop /
pause / resume happen at the next batch boundary) and writes a ``ControlAck`` event into the run's event log, which
every viewer follows.

This works the same for the app's own training thread, a headless ``cnn-tui train``, a detached run and a sweep
cell, on any file system both processes see. Where the owner cannot act (its process is dead, or it runs on another
host and the folder is a copy), ``can_control`` says why and a viewer stays read-only.

Request document (version 1)::

    {"version": 1, "id": "<unique>", "action": "stop" | "pause" | "resume" | "change",
     "params": {...},            # for "change": {"section.key": value, ...} (issue 15's pause-change-continue)
     "sent": <unix time>, "from": "<host>:<pid>"}

A ``change`` goes to the owner's ``change(params)``, which returns a sentence saying what it did or raises
ValueError saying why not; an owner without one refuses every change ("this run takes no changes").
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tui.core.events import ControlAck, Event
from tui.core.rundir import RunDir

log = logging.getLogger(__name__)

VERSION = 1
ACTIONS = ("stop", "pause", "resume", "change")
POLL_SECONDS = 0.25


class Stoppable(Protocol):
    """What can be asked to stop at its next batch boundary: a training session, a sweep (all its running cells),
    an attached run (through this channel). Any thread may call it; it returns at once."""

    def stop(self) -> None: ...


class Interruptible(Stoppable, Protocol):
    """A stoppable that says whether a stop was already asked for (the command line: a second Ctrl+C exits at once)."""

    @property
    def stop_requested(self) -> bool: ...


class Controllable(Stoppable, Protocol):
    """What a control request acts on: a run that can also be held at a batch boundary and continued."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Changeable(Controllable, Protocol):
    """A run whose settings can be changed while it is paused (tui.core.changes.CHANGEABLE): `change` returns a
    sentence saying what it did, or raises ValueError saying why not."""

    @property
    def paused(self) -> bool: ...

    def change(self, params: dict[str, Any]) -> str: ...


class ControlRefused(Exception):
    """A request cannot be sent: the message says why (the view is then read-only)."""


def can_control(run_dir: Path) -> str | None:
    """None when a request sent now reaches the owner, else why not (in words a person understands)."""
    from tui.core import owner as owner_mod

    record = RunDir(Path(run_dir)).read_owner()
    state = RunDir(Path(run_dir)).liveness()
    if state == owner_mod.LIVE:
        return None
    if state == owner_mod.REMOTE and record is not None:
        return f"read-only: this run is owned by a process on host {record.host}, which cannot be reached from here"
    if state == owner_mod.DEAD:
        return "read-only: the process that wrote this run is gone (interrupted)"
    return "read-only: no process owns this run now (it has ended, or it is a copied folder)"


def send(run_dir: Path, action: str, params: Mapping[str, Any] | None = None, check: bool = True) -> str:
    """Write one request for the owner of `run_dir`; returns its id (the ControlAck carries it back).

    With `check`, refuse (ControlRefused) when the owner cannot act on it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown control action {action!r}; one of {', '.join(ACTIONS)}")
    run_dir = Path(run_dir)
    if check and (why := can_control(run_dir)):
        raise ControlRefused(why)
    folder = RunDir(run_dir).control_dir
    folder.mkdir(exist_ok=True)
    request_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    doc = {"version": VERSION, "id": request_id, "action": action, "params": dict(params or {}),
           "sent": round(time.time(), 3), "from": f"{socket.gethostname()}:{os.getpid()}"}
    tmp = folder / f".{request_id}.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, folder / f"{request_id}.json")  # the owner never sees half a request
    return request_id


def take_requests(run_dir: Path) -> list[dict[str, Any]]:
    """The pending requests, oldest first, removed from the folder (only the owner calls this)."""
    folder = RunDir(Path(run_dir)).control_dir
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []
    out = []
    for name in names:
        path = folder / name
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            doc = {"id": name[:-5], "action": "?", "params": {}}
        path.unlink(missing_ok=True)
        if isinstance(doc, dict):
            out.append(doc)
    return out


def apply(target: Controllable, request: Mapping[str, Any]) -> ControlAck:
    """Act on one request and say what was done (never raises)."""
    action = str(request.get("action"))
    rid = str(request.get("id", ""))
    try:
        if action == "stop":
            target.stop()
            return ControlAck(rid, action, True, "stopping at the next batch")
        if action == "pause":
            target.pause()
            return ControlAck(rid, action, True, "pausing at the next batch")
        if action == "resume":
            target.resume()
            return ControlAck(rid, action, True, "resumed")
        if action == "change":
            change = getattr(target, "change", None)
            if change is None:
                return ControlAck(rid, action, False, "this run takes no changes")
            params = request.get("params") or {}
            return ControlAck(rid, action, True, str(change(dict(params))))
        return ControlAck(rid, action, False, f"unknown request {action!r} (sent by a newer version?)")
    except ValueError as exc:
        return ControlAck(rid, action, False, str(exc))
    except Exception as exc:  # a broken request must not break training
        log.exception("control request failed")
        return ControlAck(rid, action, False, f"{type(exc).__name__}: {exc}")


class ControlPoller:
    """The owner's side: a daemon thread that takes requests every `interval` seconds until `close()`."""

    def __init__(self, run_dir: Path, target: Controllable, emit: Callable[[Event], None],
                 interval: float = POLL_SECONDS) -> None:
        self.run_dir = Path(run_dir)
        self.target = target
        self.emit = emit
        self.interval = interval
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlPoller":
        RunDir(self.run_dir).control_dir.mkdir(exist_ok=True)
        for stale in take_requests(self.run_dir):  # sent to a previous owner that died before acting
            log.info("dropping a control request sent to a previous owner: %s", stale.get("action"))
        self._thread = threading.Thread(target=self._loop, name="cnn-tui-control", daemon=True)
        self._thread.start()
        return self

    def poll(self) -> None:
        for request in take_requests(self.run_dir):
            self.emit(apply(self.target, request))

    def _loop(self) -> None:
        while not self._closed.wait(self.interval):
            try:
                self.poll()
            except Exception:  # keep polling
                log.exception("control poll failed")

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
