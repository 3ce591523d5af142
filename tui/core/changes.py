"""Pause, change, continue: the settings a person may change in a running (paused) run, and the run's plan that
the training thread follows.

A change is asked for from any thread (the app's form, or an attached view through tui.core.control), checked at
once (:meth:`RunPlan.check`: a bad value is refused with the key and the fix), queued, and applied in the training
thread at the next batch boundary by the Keras callback :class:`tui.core.keras.changes.ChangeApplier`
(optimizer.learning_rate.assign, EarlyStopping.patience, the optimizer's clipnorm with the train step retraced, the
epoch the run ends at). Each applied change becomes a ``SettingsChanged`` event and a record in the run directory
(``RunDir.write_changes``), listed by summary.json/md and compare, and applied again at the same epoch and batch
when a killed run is resumed.

Only settings that the running model and optimizer can take without being rebuilt are offered (CHANGEABLE);
anything else is refused with that reason. The learning rate is changed "from here on": the rate becomes the new
value now, and a schedule (exponential, step, cosine, one-cycle) goes on from it, scaled by new ÷ old.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from tui.core.config import ExperimentConfig, param_for
from tui.core.params import format_value

CHANGEABLE: dict[str, str] = {
    "optimizer.learning_rate": "learning rate (a schedule goes on from the new rate)",
    "training.epochs": "the number of epochs the run ends at",
    "training.patience": "early stopping: epochs without improvement before stopping",
    "optimizer.clipnorm": "clip each gradient to this norm (0 = off)",
}
"""What a paused run takes, with a short help for the form."""


class RunPlan:
    """The settings a running fit follows and may change (epochs, learning-rate scale, patience, clipnorm), with
    the queue of changes asked for and the list of those applied. Thread-safe: `check`/`request` are called from
    any thread, the rest from the training thread."""

    def __init__(self, config: ExperimentConfig, recorded: Sequence[Mapping[str, Any]] | None = None,
                 resume_epoch: int = 0) -> None:
        self.config = config
        self.epochs = config.training.epochs
        self.lr_scale = 1.0
        """A schedule's rate is multiplied by this: the product of new ÷ old of every learning-rate change."""
        self.patience = config.training.patience
        self.clipnorm = config.optimizer.clipnorm
        self.position = (1, 0)
        """(epoch counted from 1, batches of it done) where the training thread is."""
        self.applied: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pending: deque[dict[str, Any]] = deque()
        self._replay: list[dict[str, Any]] = []
        for rec in recorded or ():
            rec = {"epoch": int(rec["epoch"]), "batch": int(rec["batch"]), "values": dict(rec["values"]),
                   "previous": dict(rec.get("previous") or {})}
            if rec["epoch"] <= resume_epoch:  # took effect in an epoch the backup holds: in force from the start
                self._note(rec)
                self._replay.append({**rec, "at": (0, 0), "replayed": True})
            else:  # in an epoch that is trained again: applied again where it was, as it was the first time
                self._replay.append({**rec, "at": (rec["epoch"], rec["batch"]), "previous": None,
                                     "replayed": False})

    # -- any thread ------------------------------------------------------------------------------------------
    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The typed values of `params` ({"section.key": value or text}), or ValueError naming the key and fix."""
        if not params:
            raise ValueError("nothing to change")
        out: dict[str, Any] = {}
        for key, raw in params.items():
            if key not in CHANGEABLE:
                raise ValueError(f"{key}: cannot be changed while the run goes on (it would need the model, the "
                                 f"optimizer or the data built again); a paused run takes "
                                 f"{', '.join(CHANGEABLE)}")
            param = param_for(key)
            value = param.parse_text(raw, key) if isinstance(raw, str) else param.validate(raw, key)
            out[key] = value
        epoch = self.position[0]
        if "training.epochs" in out and out["training.epochs"] < epoch:
            raise ValueError(f"training.epochs: epoch {epoch} is under way; choose {epoch} or more (s stops the run "
                             "now)")
        if "training.patience" in out and not self.config.training.early_stopping:
            raise ValueError("training.patience: early stopping is off in this run (training.early_stopping = "
                             "false) and cannot be switched on while it runs; set it before the next run")
        return out

    def request(self, values: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.append(dict(values))

    # -- the training thread ---------------------------------------------------------------------------------
    def due(self, epoch: int, batch: int) -> list[dict[str, Any]]:
        """Changes to apply at this batch boundary: replays of a resumed run first, then requests, in order."""
        self.position = (epoch, batch)
        with self._lock:
            out = [r for r in self._replay if r["at"] <= (epoch, batch)]
            self._replay = [r for r in self._replay if r["at"] > (epoch, batch)]
            while self._pending:
                out.append({"epoch": epoch, "batch": batch, "values": self._pending.popleft(), "previous": None,
                            "replayed": False})
        return out

    def record(self, epoch: int, batch: int, values: Mapping[str, Any], previous: Mapping[str, Any],
               replayed: bool = False) -> dict[str, Any]:
        """Take an applied change into the plan; returns its record (what summary.json lists)."""
        rec = {"epoch": epoch, "batch": batch, "values": dict(values), "previous": dict(previous)}
        if not replayed:
            self._note(rec)
        return rec

    def _note(self, rec: Mapping[str, Any]) -> None:
        values, previous = rec["values"], rec["previous"]
        if "optimizer.learning_rate" in values:
            old = previous.get("optimizer.learning_rate")
            if old:
                self.lr_scale *= float(values["optimizer.learning_rate"]) / float(old)
        self.epochs = int(values.get("training.epochs", self.epochs))
        self.patience = int(values.get("training.patience", self.patience))
        self.clipnorm = float(values.get("optimizer.clipnorm", self.clipnorm))
        self.applied.append(dict(rec))


def describe(values: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> str:
    """``learning_rate 0.001 → 0.01, epochs 5 → 8`` (short names, for a table cell or a message)."""
    parts = []
    for key, value in values.items():
        name = key.partition(".")[2]
        old = (previous or {}).get(key)
        new = format_value(value, digits=3)
        parts.append(f"{name} {format_value(old, digits=3)} → {new}" if old is not None else f"{name} → {new}")
    return ", ".join(parts)


SHORT = {"optimizer.learning_rate": "lr", "training.epochs": "epochs", "training.patience": "patience",
         "optimizer.clipnorm": "clip"}


def describe_short(values: Mapping[str, Any]) -> str:
    """``lr 0.01 · epochs 8``: the new values only, for a narrow table cell."""
    return " · ".join(f"{SHORT.get(key, key)} {format_value(value, digits=3)}" for key, value in values.items())
