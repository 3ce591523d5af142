"""The run directory's owner: typed records round-trip, and directories written by older versions still open."""

import json

from tui.core.rundir import EpochRecord, RunDir, RunSummary, SweepDir, list_sweeps, run_dirs
from tui.core.runs import read_run


def test_a_summary_from_an_older_version_opens_with_defaults_and_a_newer_ones_extra_keys_are_ignored(tmp_path):
    rd = RunDir(tmp_path / "old-run")
    rd.path.mkdir()
    rd.config_file.write_text('[dataset]\nname = "digits"\n[model]\narchitecture = "mlp"\n')
    rd.summary_file.write_text(json.dumps({"status": "finished", "epochs_run": 3, "from_the_future": 1}))
    rd.history_file.write_text("epoch,loss,val_accuracy,penalty\n0,1.5,0.5,0.1\n1,1.0,0.7,0.1\n")
    summary = rd.read_summary()
    assert summary is not None and summary.status == "finished" and summary.epochs_run == 3
    assert summary.findings == () and summary.best is None
    record = read_run(rd.path)
    assert record is not None and (record.status, record.epochs, record.best_val_accuracy) == ("finished", 3, 0.7)
    assert [e.epoch for e in rd.read_epochs()] == [1, 2]  # counted from 1, as everywhere but the CSV itself


def test_records_round_trip_through_their_dicts():
    row = {"epoch": 2, "loss": 0.5, "val_accuracy": 0.8, "penalty": 0.01, "partial": 1.0}
    assert EpochRecord.from_dict(row).as_dict() == row
    s = RunSummary(status="stopped", epochs_run=2, best={"epoch": 1, "val_accuracy": 0.8}, findings=({"id": "x"},))
    assert RunSummary.from_dict(json.loads(json.dumps(s.as_dict()))) == s


def test_a_missing_or_torn_summary_reads_as_none_and_writes_leave_no_temporary_file(tmp_path):
    rd = RunDir.create(tmp_path, "digits-mlp")
    assert rd.read_summary() is None
    rd.summary_file.write_text('{"status": "fin')
    assert rd.read_summary() is None
    rd.write_summary(RunSummary(status="finished"), "# run")
    assert rd.read_summary().status == "finished" and rd.read_summary_md() == "# run"
    assert sorted(p.name for p in rd.path.iterdir()) == ["summary.json", "summary.md"]


def test_sweep_cells_are_listed_with_the_runs(tmp_path):
    sweep = SweepDir.create(tmp_path, "sweep-a")
    sweep.write_state({"version": 1, "cells": []})
    sweep.cell("lr-0.1").path.mkdir()
    assert [s.path for s in list_sweeps(tmp_path)] == [sweep.path]
    assert {d.name for d in run_dirs(tmp_path)} == {sweep.name, "lr-0.1"}


def test_a_run_shipped_from_a_worker_unpacks_its_files_and_an_archive_that_reaches_outside_is_refused(tmp_path):
    import io
    import tarfile

    import pytest

    run = RunDir(tmp_path / "worker" / "run")
    (run.path / "control").mkdir(parents=True)
    run.history_file.write_text("epoch,loss\n0,1.0\n")
    (run.path / "logs").mkdir()
    (run.path / "logs" / "output.log").write_text("epoch 1/1\n")
    (run.control_dir / "stop.json").write_text("{}")  # the live process's: not shipped
    home = RunDir.unpack(run.pack(), tmp_path / "home", "run")
    assert home.history_file.read_text() == "epoch,loss\n0,1.0\n"
    assert (home.path / "logs" / "output.log").read_text() == "epoch 1/1\n"
    assert not home.control_dir.exists()

    for evil in ("../escaped.txt", "/tmp/escaped-absolute.txt", "link"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo(evil)
            if evil == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = 3
                tar.addfile(info, io.BytesIO(b"bad"))
        with pytest.raises(ValueError, match="refused"):
            RunDir.unpack(buf.getvalue(), tmp_path / "home", "evil")
    assert not (tmp_path / "home" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not list((tmp_path / "home").glob("evil*/link"))
