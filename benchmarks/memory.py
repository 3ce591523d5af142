"""Peak memory (max RSS) with CIFAR-10 loaded and one training epoch on it, against TensorFlow's own baseline
plus the uint8 data size, and against the common way (float32 copies of the whole set, `fit` on NumPy arrays).
Each measurement in a fresh process; `--rounds` rounds of baseline, pipeline, baseline again, interleaved (the
pipeline's max RSS moves by up to ~150 MB between runs of the same code: TensorFlow's allocations during `fit`),
the common way once.

    python benchmarks/memory.py [--rounds 3]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CNN_TUI_BENCH_DATA") or ROOT.parent / "shared" / "data")
"""The real datasets (CNN_TUI_BENCH_DATA overrides: a worktree's ../shared/data may not exist)."""
MB = 1024 * 1024
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import control_line, mean_ci, target_line  # noqa: E402


def child(mode: str, dataset: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if mode == "cnn-tui":  # imported as the app and `cnn-tui train` import it, with their settings (tui.core.tfenv)
        from tui.core import tfenv

        tfenv.import_tensorflow()
    else:  # TensorFlow's own baseline, and a user's own script
        import tensorflow as tf  # noqa: F401

    out: dict[str, float] = {}
    if mode != "tf":
        from tui.core import config as cfg
        from tui.core import datasets, keras_parts

        from models import build_model

        where = {"dataset.name": "cifar10", "dataset.data_dir": str(SHARED)} if dataset == "cifar10" else {
            "dataset.name": "digits"}
        config = cfg.ExperimentConfig().with_values({
            **where, "training.epochs": 1,
            "training.batch_size": 128, "model.conv_filters": 32, "model.dense_units": 128})
        data = datasets.load_dataset(config.dataset)
        arrays = (data.x_train, data.x_val, data.x_test)
        out["data_mb"] = sum(a.nbytes for a in arrays if a is not None) / MB
        model = build_model(config, data.info.input_shape, data.info.num_classes)
        model.compile(optimizer=keras_parts.make_optimizer(config), loss=config.training.loss,
                      metrics=["accuracy"])
        n = data.info.num_classes
        if mode == "cnn-tui":
            train = keras_parts.make_dataset(data.x_train, data.y_train, n, config, shuffle=True)
            val = keras_parts.make_dataset(data.x_val, data.y_val, n, config, shuffle=False)
            model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False)
        else:  # the common way: float copies, one-hot labels, fit on NumPy (the model still rescales: /255 twice
            # would not change memory, so the copies are what this measures)
            import numpy as np

            x_train = data.x_train.astype("float32") * 255.0 / 255.0
            x_val = data.x_val.astype("float32")
            y_train = np.eye(n, dtype="float32")[data.y_train]
            y_val = np.eye(n, dtype="float32")[data.y_val]
            model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=1, batch_size=128, verbose=0)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def measure(mode: str, dataset: str) -> dict[str, float]:
    res = subprocess.run([sys.executable, __file__, "--child", mode, dataset], capture_output=True, text=True)
    line = next((l for l in res.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(line[7:])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=("auto", "digits"), default="auto",
                        help="auto: CIFAR-10 from ../shared/data when present, else digits (the smoke test)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dataset = "cifar10" if args.dataset == "auto" and (SHARED / "cifar10-jpg.tar.gz").is_file() else "digits"
    rounds = []
    for r in range(args.rounds):
        tf, ours, tf_again = measure("tf", dataset), measure("cnn-tui", dataset), measure("tf", dataset)
        rounds.append((tf, ours, tf_again))
        print(f"round {r + 1}: import tensorflow {tf['max_rss_mb']:.0f} MB, "
              f"cnn-tui pipeline {ours['max_rss_mb']:.0f} MB, "
              f"import tensorflow again {tf_again['max_rss_mb']:.0f} MB", flush=True)
    common = measure("common", dataset)
    data_mb = rounds[0][1]["data_mb"]
    tf_mb = statistics.fmean(t["max_rss_mb"] for t, _, _ in rounds)
    ours_mb = statistics.fmean(o["max_rss_mb"] for _, o, _ in rounds)
    budget = tf_mb + data_mb
    print(f"{dataset} (uint8 arrays {data_mb:.0f} MB), simple_cnn, one epoch, batch 128; "
          f"means over {len(rounds)} rounds")
    print(f"{'process':<44}{'max RSS MB':>12}{'ratio':>8}")
    print(f"{'import tensorflow (baseline)':<44}{tf_mb:>12.0f}")
    print(f"{'baseline + uint8 data':<44}{budget:>12.0f}{1.0:>8.2f}")
    print(f"{'cnn-tui pipeline (uint8 + tf.data)':<44}{ours_mb:>12.0f}{ours_mb / budget:>8.2f}")
    print(f"{'common way (float32 copies, fit on NumPy)':<44}{common['max_rss_mb']:>12.0f}"
          f"{common['max_rss_mb'] / budget:>8.2f}")
    ratios = [o["max_rss_mb"] / (t["max_rss_mb"] + data_mb) for t, o, _ in rounds]
    print(target_line(f"memory pipeline/(TF+data), {dataset}", *mean_ci(ratios), len(ratios), at_most=1.2))
    print(control_line("memory TF baseline/baseline again", [t["max_rss_mb"] / a["max_rss_mb"] for t, _, a in rounds]))

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
