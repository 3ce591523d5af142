"""One run on several devices: tf.distribute.MirroredStrategy over the CPU split into two logical devices (how CI
runs the multi-device path without a GPU), next to the same run on one device; and what training.devices and
training.mixed_precision refuse.

Logical devices must be set before TensorFlow initialises, so the two-device run is a Python process of its own;
the one-device run and the refusals are ordinary runs in this process (no second TensorFlow import for them)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.core import config as cfg
from tui.core.params import ConfigError
from tui.core.session import TrainingSession
from tui.core.tfenv import device_label

ROOT = Path(__file__).resolve().parents[1]
SAME = {"dataset.name": "digits", "model.architecture": "simple_cnn", "model.conv_filters": 8,
        "model.dense_units": 32, "training.batch_size": 64, "training.epochs": 4, "training.seed": 7,
        "training.gradient_every": 0}

CHILD = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]  # before anything initialises TensorFlow's devices
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tui.core import config as cfg
from tui.core.session import TrainingSession
for name, values in json.loads(sys.argv[2]).items():
    result = TrainingSession(cfg.ExperimentConfig().with_values(values), runs_dir=sys.argv[1], name=name).run()
    print("RESULT " + json.dumps({"name": name, "status": result.status, "error": result.error,
                                  "run_dir": result.run_dir}))
"""


def with_summary(status: str, error: str | None, run_dir: str | None) -> dict:
    result = {"status": status, "error": error, "run_dir": run_dir}
    if run_dir and (Path(run_dir) / "summary.json").is_file():
        result["summary"] = json.loads((Path(run_dir) / "summary.json").read_text())
    return result


def train_on_two_logical_cpus(tmp_path: Path, **runs: dict) -> dict[str, dict]:
    """Each run (name → values over SAME) in one child process, one after another, whose CPU is split into two
    logical devices."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "two"),
                          json.dumps({name: {**SAME, **values} for name, values in runs.items()})],
                         capture_output=True, text=True, env=env, timeout=600)
    results = [json.loads(x[7:]) for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    assert len(results) == len(runs), out.stdout[-2000:] + out.stderr[-3000:]
    return {r["name"]: with_summary(r["status"], r["error"], r["run_dir"]) for r in results}


def train_here(tmp_path: Path, **values) -> dict:
    result = TrainingSession(cfg.ExperimentConfig().with_values({**SAME, **values}), runs_dir=tmp_path / "one").run()
    return with_summary(result.status, result.error, result.run_dir)


@pytest.mark.slow
def test_two_logical_devices_train_under_mirrored_strategy_as_well_as_one_device(tmp_path):
    two = train_on_two_logical_cpus(tmp_path, mirrored={})
    one = train_here(tmp_path)
    mirrored = two["mirrored"]
    assert one["status"] == mirrored["status"] == "finished", (one, mirrored)
    d1, d2 = one["summary"]["device"], mirrored["summary"]["device"]
    assert d1["strategy"] == "default" and d1["replicas"] == 1 and d1["per_replica_batch"] == 64
    assert d2["strategy"] == "MirroredStrategy" and d2["replicas"] == 2
    assert d2["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert d2["global_batch"] == 64 and d2["per_replica_batch"] == 32 and d2["dtype_policy"] == "float32"
    assert "MirroredStrategy × 2 (32 per replica)" in device_label(d2)
    acc1, acc2 = one["summary"]["test"]["accuracy"], mirrored["summary"]["test"]["accuracy"]
    loss1, loss2 = one["summary"]["test"]["loss"], mirrored["summary"]["test"]["loss"]
    print(f"\ntest accuracy (loss), same data/seed/global batch 64, {SAME['training.epochs']} epochs: one device "
          f"{acc1:.4f} ({loss1:.5f}), MirroredStrategy on 2 logical CPUs {acc2:.4f} ({loss2:.5f})")
    assert acc1 > 0.5 and abs(acc1 - acc2) <= 0.02
    md = (Path(mirrored["run_dir"]) / "summary.md").read_text()
    assert "MirroredStrategy × 2 (32 per replica)" in md


def test_mixed_precision_is_refused_on_the_cpu_with_the_reason(tmp_path):
    result = train_here(tmp_path, **{"training.mixed_precision": True, "training.epochs": 1})
    assert result["status"] == "failed"
    assert "training.mixed_precision: mixed_float16 needs a GPU" in result["error"]
    assert "float16 on the CPU is slower than float32" in result["error"]


def test_training_devices_takes_auto_cpu_or_gpu_indices():
    base = cfg.ExperimentConfig()
    assert cfg.parse_devices(base.training.devices) == "auto"
    assert cfg.parse_devices(base.with_values({"training.devices": "0,1"}).training.devices) == (0, 1)
    assert cfg.parse_devices("cpu") == "cpu"
    for bad in ("gpu", "0,0", "1,x", ""):
        with pytest.raises(ConfigError, match="training.devices: .*expected auto, cpu, or distinct GPU indices"):
            base.with_values({"training.devices": bad})


def test_an_older_runs_device_string_still_reads():
    assert device_label("CPU (2 cores)") == "CPU (2 cores)"
    assert device_label({"name": "GPU: H100", "strategy": "MirroredStrategy", "replicas": 4,
                         "per_replica_batch": 32, "dtype_policy": "mixed_float16"}) == \
        "GPU: H100, MirroredStrategy × 4 (32 per replica), mixed_float16"
