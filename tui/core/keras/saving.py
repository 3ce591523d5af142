"""Saving: the Keras 3.15 save-cache work-around, checkpoints every N epochs, and the random-generator states kept
beside BackupAndRestore's weights."""

from __future__ import annotations

import io
from typing import Any

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


class SeedStateBackup(keras.callbacks.Callback):
    """Keeps the random-generator states (dropout, augmentation) beside BackupAndRestore's weights, which omit
    them: a resumed run then draws the same dropout masks as one that never stopped."""

    def __init__(self, run_dir: RunDir) -> None:
        super().__init__()
        self.run_dir = run_dir

    def _states(self) -> list[Any]:
        return [v for v in self.model.variables if "seed_generator_state" in v.path]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # After BackupAndRestore (earlier in the list) has set the epoch it restored.
        path = self.run_dir.seed_state_file(getattr(self.model, "_initial_epoch", 0) or 0)
        if path.is_file():
            saved = np.load(path)
            for i, var in enumerate(self._states()):
                if f"s{i}" in saved:
                    var.assign(saved[f"s{i}"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        run_dir = self.run_dir
        run_dir.backup_dir.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        savez: Any = np.savez  # numpy's stub takes **arrays for its keyword options
        savez(buf, **{f"s{i}": np.asarray(v.numpy()) for i, v in enumerate(self._states())})
        # Not synced: the weights they go with (BackupAndRestore's) are not either, and a sync waits on the disk
        # every epoch (5-10 ms here, ~40 ms beside another run's checkpoints).
        atomic_write_bytes(run_dir.seed_state_file(epoch + 1), buf.getvalue(), sync=False)
        run_dir.seed_state_file(epoch - 1).unlink(missing_ok=True)  # keep this epoch's and the last
