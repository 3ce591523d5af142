"""Saving: the Keras 3.15 save-cache work-around, checkpoints every N epochs, and the run's best model and resume
backup (Keras' ModelCheckpoint and BackupAndRestore) written within a share of the training time, the backup with
the random-generator states its weights omit."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import keras
import numpy as np

from tui.core.atomic import atomic_write_bytes
from tui.core.rundir import RunDir

SAVEABLE_TYPES = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")
"""The object kinds Keras' saving walks (keras.src.saving.saving_lib.get_attr_skipset)."""


def keep_save_attribute_cache() -> None:
    """Works around a Keras 3 bug that leaks ~70 KB of native memory on every weights or model save.

    `saving_lib.get_attr_skipset` caches the attribute names it skips under "saving_attr_skipset_<kind>" but looks
    them up under "saving_attr_skiplist_<kind>", so the cache never hits: each save builds fresh reference objects
    (a Layer, an Optimizer with its variables, a Metric, ...) whose TensorFlow state is never freed. With a backup and
    a checkpoint every epoch, a 5,000-epoch run grew by ~0.5 GB. Filling the key it reads, once per thread (Keras'
    global state is thread-local and `clear_session` empties it), makes the cache work. Harmless on a Keras that
    has the bug fixed (the key is then simply unused)."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:  # a Keras laid out otherwise: nothing to work around
        return
    for kind in SAVEABLE_TYPES:
        key = f"saving_attr_skiplist_{kind}"
        if global_state.get_global_attribute(key) is None:
            global_state.set_global_attribute(key, saving_lib.get_attr_skipset(kind))


class SaveAttributeCache(keras.callbacks.Callback):
    """First of the callbacks: fills Keras' save cache in the thread that trains (keep_save_attribute_cache)."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        keep_save_attribute_cache()


class EveryN(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint saving every `every` epochs (Keras' save_freq counts batches, not epochs) to `pattern`."""

    def __init__(self, every: int, pattern: str) -> None:
        super().__init__(pattern, save_freq="epoch", verbose=0)
        self.every = every

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every == 0:
            super().on_epoch_end(epoch, logs)


SAVE_SHARE = 0.000625
"""The share of the training time each per-epoch save (the best model, the resume backup) may take. A save of a
small model costs 35-100 ms (Keras walks every layer and writes HDF5), which is 1-4 % of a 3-second epoch: saved
every epoch, the two cost the run more than the 2 % the live app may. At 0.25 % each they still took 0.57 % of a
1.72 s epoch (benchmarks/README.md, throughput round 10) beside the gradient panel's share, and at 0.125 % the two
were still 7 ms of a 2 s epoch (round 13): at 0.0625 % a 50 ms save comes every 80 s of training (MAX_SAVE_GAP at
most), and best.keras is exact when the run ends whatever the share. Read at each decision (tests raise it)."""
MAX_SAVE_GAP = 300.0
"""Seconds of training after which a save is due whatever it costs: a crash never loses more than this."""


class SaveSpacing:
    """When a save is due, so that saving takes at most SAVE_SHARE of the run whatever the epoch length.

    The first epoch's end is always due (a run has a resume point and a best model from its first epoch on). After
    that, a save is due once the time since the last one ended is at least its cost / SAVE_SHARE (at most
    MAX_SAVE_GAP): every epoch when epochs are long, every few epochs when they take seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self._since = self.clock()
        self._cost: float | None = None

    def due(self) -> bool:
        if self._cost is None:
            return True
        return self.clock() - self._since >= min(self._cost / SAVE_SHARE, MAX_SAVE_GAP)

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Around a save: its cost sets the next gap."""
        start = self.clock()
        try:
            yield
        finally:
            self._since = self.clock()
            self._cost = self._since - start


class BestModel(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint (save_best_only, the run's best.keras), written when SaveSpacing says a save is due.

    Keras decides what is best (`_should_save_model`, with its monitor and mode). An improvement made while a save
    is not due is kept as a copy of the weights and written with them when one is, and at the end of training
    (`write_pending`; the session calls it too when fit raised). So best.keras is at most one save gap behind
    while a run trains, and exact when it ends."""

    def __init__(self, filepath: str, monitor: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(filepath, monitor=monitor, save_best_only=True, verbose=0)
        self.spacing = SaveSpacing(clock)
        self._pending: list[Any] | None = None
        """The best epoch's weights while they wait to be written."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        self.spacing.reset()
        self._pending = None

    def _save_model(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        improved = self._should_save_model(epoch, batch, logs, self.filepath)  # Keras' comparison; sets self.best
        if improved and self.spacing.due():
            self._pending = None
            self._write()
        elif improved:
            self._pending = self.model.get_weights()
        elif self._pending is not None and self.spacing.due():
            self.write_pending()

    def write_pending(self) -> None:
        """Write the best weights not yet written (the model's own weights are put back after)."""
        if self._pending is None:
            return
        held = self.model.get_weights()
        self.model.set_weights(self._pending)
        try:
            self._write()
        finally:
            self.model.set_weights(held)
            self._pending = None

    def _write(self) -> None:
        with self.spacing.timed():
            self.model.save(self.filepath, overwrite=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.write_pending()


class SpacedBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (the run's backup/, what `cnn-tui resume` continues from), saved at an epoch's end
    when SaveSpacing says a save is due, with the random-generator states (dropout, augmentation) that its weights
    omit, so that a resumed run draws the same masks as one that never stopped.

    A run killed between backups resumes from the last one and trains the epochs after it again. They come out
    the same, number for number: same weights, generator states and batches (tests/test_resume.py). history.csv
    is cut back to the backup (tui.core.session); a viewer following the event log sees those epochs twice and
    keeps the first (tui.core.monitor)."""

    def __init__(self, run_dir: RunDir, clock: Callable[[], float] = time.monotonic) -> None:
        # double_checkpoint: a kill while the weights are being written falls back to the previous backup.
        super().__init__(str(run_dir.backup_dir), save_freq="epoch", double_checkpoint=True, delete_checkpoint=True)
        self.run_dir = run_dir
        self.spacing = SaveSpacing(clock)
        self._kept: list[int] = []
        """The epochs whose generator states are on disk: the last backup's and the one before (the fallback)."""

    def _states(self) -> list[Any]:
        return [v for v in self.model.variables if "seed_generator_state" in v.path]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)  # sets the epoch it restored
        self.spacing.reset()
        epoch = getattr(self.model, "_initial_epoch", 0) or 0
        self._kept = [epoch]
        path = self.run_dir.seed_state_file(epoch)
        if path.is_file():
            saved = np.load(path)
            for i, var in enumerate(self._states()):
                if f"s{i}" in saved:
                    var.assign(saved[f"s{i}"])

    def _save_model(self) -> None:
        if not self.spacing.due():
            return
        with self.spacing.timed():
            # The states first: a kill after them and before the weights leaves the previous backup whole.
            self._save_states(self._current_epoch)
            super()._save_model()
        self._kept = [*self._kept[-1:], self._current_epoch]
        for path in self.run_dir.backup_dir.glob("seed_states-*.npz"):
            if path not in {self.run_dir.seed_state_file(e) for e in self._kept}:
                path.unlink(missing_ok=True)

    def _save_states(self, epoch: int) -> None:
        self.run_dir.backup_dir.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        savez: Any = np.savez  # numpy's stub takes **arrays for its keyword options
        savez(buf, **{f"s{i}": np.asarray(v.numpy()) for i, v in enumerate(self._states())})
        # Not synced: the weights they go with (Keras') are not either, and a sync waits on the disk (5-10 ms here,
        # ~40 ms beside another run's checkpoints).
        atomic_write_bytes(self.run_dir.seed_state_file(epoch), buf.getvalue(), sync=False)
