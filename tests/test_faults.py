"""Faults that happen to real runs: a signal, an unusable runs folder, a full disk, two runs at once."""

import errno
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tui.core import config as cfg
from tui.core import records
from tui.core.session import TrainingSession

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 1}
ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_stops_the_headless_run_at_the_next_batch_and_writes_the_summary(tmp_path):
    sets = [f"--set={k}={v}" for k, v in {**TINY, "training.epochs": 500, "training.batch_size": 5}.items()]
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *sets, "--runs-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("*/history.csv")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["status"] == "stopped" and summary["epochs_run"] < 500
    assert "STOPPED" in out


def test_a_runs_folder_that_cannot_be_created_is_refused_with_a_clear_message(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    result = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=blocker).run()
    assert result.status == "failed"
    assert "cannot create a run directory" in result.error and "--runs-dir" in result.error


def test_a_full_disk_fails_the_run_saying_so_and_leaves_no_half_written_summary(tmp_path, monkeypatch):
    import tui.core.atomic as atomic

    real = atomic.atomic_write_bytes

    def full_disk(path, data):
        if path.name.startswith("summary"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(atomic, "atomic_write_bytes", full_disk)  # every atomic write goes through it
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    result = session.run()
    assert result.status == "failed" and "No space left on device" in result.error
    assert not (session.run_dir / "summary.json").exists()
    assert not list(session.run_dir.glob(".summary*"))  # no temporary file left behind
    assert (session.run_dir / "history.csv").is_file()  # the recorded epoch is kept


def test_runs_started_at_the_same_moment_get_their_own_directories(tmp_path):
    made = []
    threads = [threading.Thread(target=lambda: made.append(records.create_run_dir(tmp_path, "digits-mlp")))
               for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 16 and all(p.is_dir() for p in made)


def test_run_names_cannot_escape_the_runs_folder(tmp_path):
    path = records.create_run_dir(tmp_path / "runs", "../../etc/evil name")
    assert path.parent == tmp_path / "runs"


def test_a_huge_image_in_a_folder_is_skipped_and_counted(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from tui.core.config import DatasetConfig
    from tui.core.datasets import load_dataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(tmp_path / "imgs" / "dog" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 pixels is a decompression bomb now
    data = load_dataset(DatasetConfig(name="folder", path=str(tmp_path / "imgs"), image_size=8))
    assert data.info.skipped.get("too large") == 1
    assert data.info.class_counts == (6, 6)


def test_preset_names_from_the_save_dialog_cannot_leave_the_preset_folder():
    from tui.ui.screens.dialogs import PRESET_NAME

    for bad in ("../evil", "a/b", "", ".hidden", "x" * 65, "name with space"):
        assert not PRESET_NAME.match(bad), bad
    assert PRESET_NAME.match("my-experiment_2.v1")


def test_an_exported_model_is_checked_to_load_in_safe_mode(tmp_path):
    import keras
    import pytest

    good = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    good.save(tmp_path / "good.keras")
    records.check_model_file(tmp_path / "good.keras")
    bad = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)])
    bad.save(tmp_path / "bad.keras")
    with pytest.raises(ValueError, match="safe mode"):
        records.check_model_file(tmp_path / "bad.keras")
