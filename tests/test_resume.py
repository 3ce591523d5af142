"""An interrupted run keeps every recorded epoch and continues where it stopped, on the same curve."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core import config as cfg
from tui.core.events import EpochEnd
from tui.core.session import TrainingSession
from simulated_crash import crash_in_epoch_3

CONFIG = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "model.dropout": 0.3,
          "training.epochs": 4, "training.batch_size": 25}


def curve(events):
    return [(e.epoch, e.logs["loss"], e.logs["val_loss"]) for e in events if isinstance(e, EpochEnd)]


def test_a_crashed_run_resumes_from_its_last_backup_on_the_same_curve_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """Backups are spaced to cost a sliver of the training time: here (share near zero) only the first epoch's is
    written, so a run that crashes in epoch 3 trains epoch 2 again, to the same numbers, and a viewer of its event
    log (which holds epoch 2 twice) shows each epoch once."""
    from tui.core.eventlog import read_events
    from tui.core.keras import saving
    from tui.core.monitor import RunMonitor

    config = cfg.ExperimentConfig().with_values(CONFIG)
    straight = []
    TrainingSession(config, runs_dir=tmp_path / "straight", listeners=[straight.append]).run()

    monkeypatch.setattr(saving, "SAVE_SHARE", 1e-9)  # every gap is MAX_SAVE_GAP: no backup after the first
    stop_crashing = crash_in_epoch_3(monkeypatch)
    first = TrainingSession(config, runs_dir=tmp_path / "crashed")
    result = first.run()
    assert result.status == "failed" and "simulated crash" in result.error
    assert len(list(csv.DictReader(open(first.run_dir / "history.csv")))) == 2  # epochs 1-2 kept
    assert json.loads((first.run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert (first.run_dir / "best.keras").is_file()  # the best epoch written although fit raised
    stop_crashing()

    resumed_events = []
    resumed = TrainingSession.resume_from(first.run_dir, listeners=[resumed_events.append])
    assert resumed.run().status == "finished"
    assert [e[0] for e in curve(resumed_events)] == [2, 3, 4]
    assert curve(resumed_events) == curve(straight)[1:]  # bitwise: same seed, same batches, same dropout
    summary = json.loads((first.run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_run"] == 4
    assert [int(r["epoch"]) for r in csv.DictReader(open(first.run_dir / "history.csv"))] == [0, 1, 2, 3]
    assert not (first.run_dir / "backup").exists()  # a finished run needs no backup

    logged = read_events(first.run_dir / "events.jsonl")
    assert [e.epoch for e in logged if isinstance(e, EpochEnd)] == [1, 2, 2, 3, 4]
    viewer = RunMonitor()
    for event in logged:
        viewer.apply(event)
    assert [(r["epoch"], r["loss"], r["val_loss"]) for r in viewer.history] == curve(straight)
    assert viewer.series("loss")["loss"][0] == [1, 2, 3, 4]


def test_resuming_a_finished_run_is_refused_with_the_reason(tmp_path):
    session = TrainingSession(cfg.ExperimentConfig().with_values({**CONFIG, "training.epochs": 1}),
                              runs_dir=tmp_path)
    session.run()
    before = (session.run_dir / "summary.json").read_bytes()
    result = TrainingSession.resume_from(session.run_dir).run()
    assert result.status == "failed" and "nothing to resume" in result.error
    assert (session.run_dir / "summary.json").read_bytes() == before  # the finished run's record is untouched


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_during_an_epoch_keeps_earlier_epochs_and_resume_finishes(tmp_path):
    runs = tmp_path / "runs"
    sets = [f"--set={k}={v}" for k, v in {**CONFIG, "training.epochs": 200, "training.batch_size": 5}.items()]
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *sets, "--runs-dir", str(runs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            dirs = list(runs.glob("*"))
            if dirs and (dirs[0] / "history.csv").is_file() and \
                    len((dirs[0] / "history.csv").read_text().splitlines()) >= 4:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the run did not record 3 epochs in time")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    run_dir = dirs[0]
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    assert len(rows) >= 3 and all(r["val_loss"] for r in rows)  # every recorded epoch intact
    assert not (run_dir / "summary.json").exists() or json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "backup" / "training_metadata.json").is_file()
    # Resume with fewer epochs to keep the test short: the resumed run picks up from the backup.
    text = (run_dir / "config.toml").read_text().replace("epochs = 200", "epochs = 6")
    (run_dir / "config.toml").write_text(text)
    out = subprocess.run([sys.executable, "-m", "tui.cli", "resume", str(run_dir)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_run"] == 6
