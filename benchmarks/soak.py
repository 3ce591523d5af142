"""Soak: resident memory of a long run and of a long in-process sweep, against a bare `model.fit` of the same
model and data. Each measurement runs in a fresh process, one after another (the machine is shared: noisy).

    python benchmarks/soak.py [EPOCHS] [CELLS]

Prints RSS against epochs / cells and the growth per epoch (headless session vs bare fit; target ≤ 1.5×) and per
sweep cell after the first (target ≤ 1 MB). The session child also folds every event into a RunMonitor (the
state the app draws from); the Textual app itself in tmux is not measured here yet. Its drawing state is bounded
by construction (tui/core/monitor.py, the epoch table's TABLE_ROWS) and checked by tests/test_soak.py.

Measured (Dec 2026, 60 epochs / 4 cells): the session still grows ~95 KB/epoch against ~16 KB for the bare fit;
tracemalloc shows only ~1 KB/epoch of Python objects (the epoch histories the doctor needs), so the rest is
native, in Keras' per-epoch saves. Bisected with model.fit on the same tf.data pipeline, 50 epochs: no
callbacks 15 KB/epoch, + BackupAndRestore(save_freq="epoch") 82 KB/epoch, + ModelCheckpoint saving every epoch
93 KB/epoch: each weights/model save leaks ~70-80 KB of native memory (h5py / zip writer), not yet fixed.
A sweep cell in-process keeps ~2 MB of TensorFlow FuncGraph objects (tensorflow/python/framework/ops.py,
func_graph.py) even after keras.backend.clear_session(): not yet fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def child(mode: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import gc

    from tui.core import presets

    marks: list[tuple[int, float]] = []
    every = max(1, n // 10)

    def mark(i: int) -> None:
        if i % every == 0 or i == n:
            gc.collect()
            marks.append((i, rss_mb()))

    runs = tempfile.mkdtemp()
    if mode == "sweep":
        from tui.core import sweep

        base = presets.load_experiment("default", ["training.epochs=3"], None)
        spec = sweep.make_spec(base, [("model.dense_units", list(range(16, 16 + n)))], 3, None)
        runner = sweep.SweepRunner.create(spec, runs, workers=1)
        done = [0]

        def on_change(*_: object) -> None:
            finished = sum(1 for c in runner.state.cells if c.done)
            if finished > done[0]:
                done[0] = finished
                gc.collect()
                marks.append((finished, rss_mb()))

        runner._listeners.append(on_change)
        runner.run()
    else:
        config = presets.load_experiment("default", [f"training.epochs={n}"], None)
        if mode == "bare":
            import keras

            from models import build_model
            from tui.core import datasets, keras_parts

            data = datasets.load_dataset(config.dataset)
            model = build_model(config, data.info.input_shape, data.info.num_classes)
            model.compile(optimizer=keras_parts.make_optimizer(config), loss=config.training.loss,
                          metrics=["accuracy"])

            class Mark(keras.callbacks.Callback):
                def on_epoch_end(self, epoch: int, logs: object = None) -> None:
                    mark(epoch + 1)

            def labels(y: object) -> object:
                one_hot = config.training.loss in keras_parts.ONE_HOT_LOSSES
                return keras.utils.to_categorical(y, data.info.num_classes) if one_hot else y

            model.fit(data.x_train, labels(data.y_train), validation_data=(data.x_val, labels(data.y_val)), epochs=n,
                      batch_size=config.training.batch_size, verbose=0, callbacks=[Mark()])
        else:
            from tui.core.events import EpochEnd
            from tui.core.monitor import RunMonitor
            from tui.core.session import TrainingSession

            monitor = RunMonitor()  # what the app folds events into

            def listen(event: object) -> None:
                monitor.apply(event)  # type: ignore[arg-type]
                if isinstance(event, EpochEnd):
                    mark(event.epoch)

            TrainingSession(config, runs_dir=runs, listeners=[listen]).run()
    print("RESULT " + json.dumps(marks), flush=True)


def measure(mode: str, n: int) -> list[tuple[int, float]]:
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(n)], capture_output=True, text=True)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return [tuple(p) for p in json.loads(line[7:])]  # type: ignore[misc]


def slope_kb(marks: list[tuple[int, float]], skip: int) -> float:
    """Growth per step (KB) from the first mark at or after `skip` to the last one."""
    pts = [p for p in marks if p[0] >= skip] or marks
    (a, ra), (b, rb) = pts[0], pts[-1]
    return (rb - ra) * 1024 / (b - a) if b > a else 0.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    cells = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    bare, headless = measure("bare", n), measure("headless", n)
    sweep = measure("sweep", cells)
    skip = max(1, n // 10)
    print(f"digits, default simple_cnn, {n} epochs (noisy: shared 2-core machine)")
    print(f"{'epoch':>6}{'bare MB':>10}{'session MB':>12}")
    for (e, rb), (_, rh) in zip(bare, headless):
        print(f"{e:>6}{rb:>10.1f}{rh:>12.1f}")
    gb, gh = slope_kb(bare, skip), slope_kb(headless, skip)
    print(f"growth per epoch after epoch {skip}: bare {gb:.1f} KB, session {gh:.1f} KB, ratio "
          f"{gh / gb if gb > 0 else float('inf'):.2f} (target ≤ 1.5)")
    print(f"\nsweep of {cells} cells in one process (3 epochs each)")
    for c, r in sweep:
        print(f"{'cell':>6} {c:>3}{r:>10.1f} MB")
    print(f"growth per cell after the first: {slope_kb(sweep, 1) / 1024:.2f} MB (target ≤ 1 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
