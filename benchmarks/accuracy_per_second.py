"""Accuracy per wall-second on real data: cnn-tui's headless session against a plain Keras script written the
common way (float32 copies of the whole set, one-hot labels, `fit` on NumPy arrays with validation_split), same
model and batch size. Time to target = wall time from process start until the first epoch whose validation
accuracy reaches the target. Each run in a fresh process.

    python benchmarks/accuracy_per_second.py      (needs ../shared/data)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

T0 = time.perf_counter()

from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CASES = {  # dataset: (train_size or 0, epochs, target validation accuracy)
    "fashion_mnist": (0, 5, 0.88),
    "mnist": (0, 5, 0.98),
    "cifar10": (10000, 8, 0.50),
}


def config_for(name: str):
    from tui.core import config as cfg

    train_size, epochs, _ = CASES[name]
    return cfg.ExperimentConfig().with_values({
        "dataset.name": name, "dataset.data_dir": str(SHARED), "dataset.train_size": train_size,
        "model.architecture": "simple_cnn", "model.conv_filters": 32, "model.dense_units": 128, "model.dropout": 0.3,
        "training.epochs": epochs, "training.batch_size": 128, "training.seed": 3})


def ours(name: str) -> list[tuple[float, float]]:
    import tempfile

    from tui.core.events import EpochEnd
    from tui.core.session import TrainingSession

    points: list[tuple[float, float]] = []
    listener = lambda e: points.append((time.perf_counter() - T0, e.logs["val_accuracy"])) \
        if isinstance(e, EpochEnd) else None  # noqa: E731
    with tempfile.TemporaryDirectory() as runs:
        TrainingSession(config_for(name), runs_dir=runs, listeners=[listener]).run()
    return points


def common(name: str) -> list[tuple[float, float]]:
    """What a tutorial script does: float arrays in memory, fit on NumPy, validation_split."""
    import keras
    import numpy as np

    from tui.core import datasets

    config = config_for(name)
    data = datasets.load_dataset(config.dataset.__class__(**{**config.dataset.__dict__, "val_fraction": 0.1}))
    x = np.concatenate([data.x_train, data.x_val]).astype("float32") / 255.0
    y = keras.utils.to_categorical(np.concatenate([data.y_train, data.y_val]), data.info.num_classes)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input(x.shape[1:]), keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(data.info.num_classes, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    points: list[tuple[float, float]] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            points.append((time.perf_counter() - T0, float(logs["val_accuracy"])))

    model.fit(x, y, validation_split=len(data.x_val) / len(x), epochs=CASES[name][1], batch_size=128, verbose=0,
              callbacks=[Clock()])
    return points


def time_to(points: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, acc in points if acc >= target), None)


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit("needs ../shared/data")
    print(f"{'dataset':<15}{'target':>8}{'cnn-tui s':>11}{'common s':>10}{'ratio':>8}{'best acc (ours/common)':>26}")
    for name, (_, _, target) in CASES.items():
        res = {}
        for mode in ("common", "ours"):
            out = subprocess.run([sys.executable, __file__, mode, name], capture_output=True, text=True,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{mode} {name} failed:\n{out.stderr[-3000:]}")
            res[mode] = json.loads(line[7:])
        a, b = time_to(res["ours"], target), time_to(res["common"], target)
        ratio = f"{a / b:.2f}" if a and b else "–"
        best = f"{max(p[1] for p in res['ours']):.4f}/{max(p[1] for p in res['common']):.4f}"
        print(f"{name:<15}{target:>8.2f}{a or float('nan'):>11.1f}{b or float('nan'):>10.1f}{ratio:>8}{best:>26}",
              flush=True)
    print("ratio = cnn-tui time to target / common-way time to target (below 1: cnn-tui gets there sooner)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) == 3:
        pts = {"ours": ours, "common": common}[sys.argv[1]](sys.argv[2])
        print("RESULT " + json.dumps(pts))
    else:
        main()
