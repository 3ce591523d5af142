"""Synthetic run directories in the formats training writes (config.toml through `config.save`, summary.json through
`build_summary` and `atomic_write_json`, history.csv with Keras' CSVLogger columns, a BackupAndRestore backup for
a killed run), for the run-history tests and benchmarks/run_history.py. No model is trained."""

from __future__ import annotations

import csv
import os
import random
import time
from pathlib import Path

from tui.core import config as cfg
from tui.core.atomic import atomic_write_json
from tui.core.records import build_summary
from tui.core.rundir import RunDir

DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits")
ARCHITECTURES = ("simple_cnn", "mlp", "lenet", "vgg_small", "resnet")
STATUSES = ("finished", "finished", "finished", "stopped", "failed", "interrupted", "no summary")


def _config_text(dataset: str, architecture: str, _cache: dict = {}) -> str:  # noqa: B006 - a per-process cache
    key = (dataset, architecture)
    if key not in _cache:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            config = cfg.ExperimentConfig().with_values({"dataset.name": dataset, "model.architecture": architecture})
            _cache[key] = cfg.save(config, Path(tmp) / "config.toml").read_text(encoding="utf-8")
    return _cache[key]


def write_run(folder: Path, name: str, *, dataset: str = "mnist", architecture: str = "simple_cnn",
              status: str = "finished", epochs: int = 3, best: float = 0.9, wall: float = 12.5,
              started: float | None = None) -> Path:
    """One run directory. `status` "interrupted" leaves a backup and no summary (a kill -9), "no summary" only the
    config and history (a run killed before its first backup); `started` sets config.toml's time."""
    rd = RunDir(Path(folder) / name)
    run = rd.path
    run.mkdir(parents=True)
    rd.config_file.write_text(_config_text(dataset, architecture), encoding="utf-8")  # what RunDir.write_config wrote
    history = [{"epoch": e, "accuracy": best * e / epochs, "loss": 1.0 / e, "val_accuracy": best * e / epochs,
                "val_loss": 1.2 / e, "lr": 0.001, "epoch_seconds": wall / epochs} for e in range(1, epochs + 1)]
    with open(rd.history_file, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows({**h, "epoch": h["epoch"] - 1} for h in history)  # CSVLogger counts epochs from 0
    if status == "interrupted":
        rd.backup_dir.mkdir()
        atomic_write_json(rd.backup_dir / "training_metadata.json", {"epoch": epochs - 1})  # Keras' own file
    elif status != "no summary":
        rd.write_summary(build_summary(
            status=status, error="synthetic failure" if status == "failed" else None, history=history, test=None,
            wall_seconds=wall, params=None, dataset=None, versions={}, device="cpu", run_dir=str(run)))
    if started is not None:
        os.utime(rd.config_file, (started, started))
    return run


def write_runs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """`n` runs with varied datasets, architectures and statuses, started one minute apart (the last newest)."""
    rng = random.Random(seed)
    start = time.time() - 60 * n - 3600
    runs = []
    for i in range(n):
        t = start + 60 * i
        name = time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f"-{i:05d}"
        runs.append(write_run(folder, name, dataset=rng.choice(DATASETS), architecture=rng.choice(ARCHITECTURES),
                              status=rng.choice(STATUSES), epochs=rng.randint(1, 30),
                              best=round(rng.uniform(0.1, 0.995), 4), wall=rng.uniform(2, 9000), started=t))
    return runs
