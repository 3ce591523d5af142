"""Runs that outlive their terminal: a detached run followed live from `cnn-tui attach`, stopped and paused from there
through the control channel; a writer that dies shows as interrupted; torn lines, several viewers, deleted runs and
folders that are not runs are handled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.ui.widgets.epoch_table import EpochTable
from tui.cli import main
from tui.core import control, owner
from tui.core.eventlog import EventLogFollower
from tui.core.rundir import RunDir
import benchmarks.attach as bench
from pilot_wait import Notices
from tui.ui.attach import AttachApp, AttachScreen
from tui.ui.widgets.run_table import RunTable

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "dataset.train_size=200", "--set", "model.conv_filters=4", "--set", "model.dense_units=8",
        "--set", "training.batch_size=50"]


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    """Each test has its own registry of detached runs and settings file (and so its own limit)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CNN_TUI_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CNN_TUI_MAX_DETACHED", raising=False)


async def until(pilot, condition, timeout: float = 120.0) -> None:
    """Let the app run until `condition()` holds (fails after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.1)


def rows(app) -> int:
    return app.screen.query_one("#epochs", EpochTable).row_count


def newest_epoch(app) -> int:
    """The epoch in the table's newest row (the table keeps a window of rows: their count stops growing)."""
    table = app.screen.query_one("#epochs", EpochTable)
    return int(table.get_row_at(table.row_count - 1)[0].rstrip("*")) if table.row_count else 0


def detach(tmp_path, *args: str) -> Path:
    """`cnn-tui train --detach` in a child process, as a user types it; returns the run directory it printed."""
    out = subprocess.run([sys.executable, "-m", "tui.cli", "train", "--detach", "--runs-dir", str(tmp_path / "runs"),
                          *TINY, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("Detached run: ") and "cnn-tui attach " in out.stdout
    return Path(first.removeprefix("Detached run: "))


def kill_owner(run_dir: Path) -> None:
    record = RunDir(run_dir).read_owner()
    if record is not None and record.liveness() == owner.LIVE:
        os.kill(record.pid, signal.SIGKILL)


async def test_attach_follows_a_detached_run_to_its_end_and_its_summary_says_finished(tmp_path):
    # That rows arrive while the run trains is the next test's (a 3-epoch tiny run can pass two epochs between looks).
    run_dir = detach(tmp_path, "--set", "training.epochs=3")
    try:
        assert RunDir(run_dir).read_owner().detached  # recorded before the child has even loaded TensorFlow
        app = AttachApp("run", run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.screen.monitor.ended is not None and rows(app) == 3)
            assert "finished" in str(app.screen.query_one("#run-status").render())
        assert RunDir(run_dir).read_summary().status == "finished"
        assert "epoch   3/3" in RunDir(run_dir).output_log.read_text()
        deadline = time.monotonic() + 30  # the owner record goes last, after the RunEnded the view showed
        while RunDir(run_dir).owner_file.exists():
            assert time.monotonic() < deadline, "the finished run's owner record was never removed"
            time.sleep(0.1)
    finally:
        kill_owner(run_dir)


async def test_stop_from_the_attached_view_stops_the_owner_which_says_so(tmp_path):
    run_dir = detach(tmp_path, "--set", "training.epochs=100000")  # (200 tiny epochs last ~10 s: too few)
    try:
        app = AttachApp("run", run_dir)
        notices = Notices()
        async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
            await until(pilot, lambda: rows(app) >= 1)
            assert "live" in app.screen.sub_title
            await pilot.press("p")
            await until(pilot, lambda: app.screen.monitor.state == "paused")
            paused_at = newest_epoch(app)
            await pilot.press("p")
            await until(pilot, lambda: newest_epoch(app) > paused_at)  # resumed: training goes on
            assert app.screen.monitor.ended is None  # the rows came while it trained, not replayed after its end
            await pilot.press("s")
            await until(pilot, lambda: app.screen.monitor.ended is not None)
            assert app.screen.monitor.ended.status == "stopped"
            assert notices.count("stopping at the next batch")  # the owner's ack
        summary = RunDir(run_dir).read_summary()
        assert summary.status == "stopped" and summary.epochs_run < 100000
    finally:
        kill_owner(run_dir)


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[2])))
from benchmarks.attach import epoch_record, header
from tui.core.rundir import RunDir
run = RunDir(Path(sys.argv[1]))
run.mark_running()
with open(run.events_file, "a") as fh:
    fh.write(header(run.path, 50, 4) + epoch_record(1, 50) + epoch_record(2, 50))
    fh.write(epoch_record(3, 50)[:30])  # killed in the middle of a line
    fh.flush()
    print("ready", flush=True)
    time.sleep(600)
"""


def epoch_line(e: int) -> str:
    return bench.epoch_record(e, 50)


def started_run(tmp_path, events: bool = False) -> Path:
    """A run directory as a session leaves it once training has started (events: its log's first lines)."""
    from tui.core.config import ExperimentConfig

    rd = RunDir.create(tmp_path / "runs", "r1")
    rd.write_config(ExperimentConfig())
    if events:
        rd.events_file.write_text(bench.header(rd.path, 50, 4))
    return rd.path


async def test_a_killed_writer_shows_as_interrupted_and_its_torn_last_line_is_skipped(tmp_path):
    run_dir = started_run(tmp_path)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir), str(ROOT)], stdout=subprocess.PIPE,
                              text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert writer.stdout.readline().strip() == "ready"
        app = AttachApp("run", run_dir)
        notices = Notices()
        async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
            await until(pilot, lambda: rows(app) == 2)
            assert "live" in app.screen.sub_title and not app.screen.interrupted
            writer.kill()
            writer.wait()
            await until(pilot, lambda: app.screen.interrupted)
            status = str(app.screen.query_one("#run-status").render())
            assert "interrupted" in status and "r resumes" in status
            assert rows(app) == 2  # the half-written third record is not shown
            await pilot.press("s")  # nobody to stop: the view says it is read-only
            assert notices.count("gone")
        assert not RunDir(run_dir).control_dir.exists() or not list(RunDir(run_dir).control_dir.iterdir())
    finally:
        writer.kill()


def test_the_follower_leaves_a_torn_line_until_it_is_complete(tmp_path):
    run_dir = started_run(tmp_path)
    log = RunDir(run_dir).events_file
    line = epoch_line(1)
    log.write_text(line + line[:20])
    follower = EventLogFollower(log)
    assert [e.epoch for e in follower.read().events] == [1]
    with open(log, "a") as fh:
        fh.write(line[20:] + "not json\n")
    chunk = follower.read()
    assert [e.epoch for e in chunk.events] == [1] and chunk.skipped == 1  # completed line read; garbage skipped
    log.write_text(epoch_line(7))  # replaced by a new run
    chunk = follower.read()
    assert chunk.replaced and [e.epoch for e in chunk.events] == [7]  # the viewer starts over


async def test_two_viewers_follow_the_same_run_and_both_reach_its_owner(tmp_path):
    """The owner here is this test process, with the same control poller a training session runs."""
    from tui.core.eventlog import EventLogWriter

    run_dir = started_run(tmp_path, events=True)
    RunDir(run_dir).mark_running()
    log = EventLogWriter(RunDir(run_dir).events_file)
    acted: list[str] = []

    class Owner:
        def stop(self):
            acted.append("stop")

        def pause(self):
            acted.append("pause")

        def resume(self):
            acted.append("resume")

    poller = control.ControlPoller(run_dir, Owner(), log.write, interval=0.05).start()
    raw = open(RunDir(run_dir).events_file, "a")
    try:
        raw.write(epoch_line(1))
        raw.flush()
        one, two = AttachApp("run", run_dir), AttachApp("run", run_dir)
        seen_by_one, seen_by_two = Notices(), Notices()
        async with (one.run_test(size=(120, 40), message_hook=seen_by_one) as p1,
                    two.run_test(size=(120, 40), message_hook=seen_by_two) as p2):
            await until(p1, lambda: rows(one) == 1)
            await until(p2, lambda: rows(two) == 1)
            raw.write(epoch_line(2))
            raw.flush()
            await until(p1, lambda: rows(one) == 2)
            await until(p2, lambda: rows(two) == 2)
            await p1.press("p")
            await p2.press("s")
            await until(p1, lambda: sorted(acted) == ["pause", "stop"], timeout=10)
            # each view sees both acknowledgements
            await until(p1, lambda: seen_by_one.count("next batch") == 2, timeout=10)
            await until(p2, lambda: seen_by_two.count("next batch") == 2, timeout=10)
        assert not list(RunDir(run_dir).control_dir.glob("*.json"))  # the owner consumed them
    finally:
        poller.close()
        log.close()
        raw.close()


async def test_a_run_directory_deleted_while_attached_is_said(tmp_path):
    import shutil

    run_dir = started_run(tmp_path, events=True)
    with open(RunDir(run_dir).events_file, "a") as fh:
        fh.write(epoch_line(1))
    app = AttachApp("run", run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: rows(app) == 1)
        shutil.rmtree(run_dir)
        await until(pilot, lambda: app.screen.gone)
        assert "deleted" in str(app.screen.query_one("#run-status").render())
        assert rows(app) == 1  # what was read stays on screen


def diagnosis_line(*fixes) -> str:
    from tui.core.eventlog import encode
    from tui.core.events import Diagnosis
    from tui.core.findings import Finding

    return json.dumps(encode(Diagnosis((Finding("overfitting", "warning", 1, "Overfitting", "val_loss rose 20%",
                                                "memorising", fixes),)))) + "\n"


async def choose_the_fix(pilot, label: str) -> None:
    """d opens the doctor's finding; Enter on the fix named `label` chooses it."""
    from textual.widgets import OptionList

    from tui.ui.screens.finding import FindingScreen

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, AttachScreen) and app.screen.monitor.findings, timeout=10)
    await pilot.press("d")
    await until(pilot, lambda: isinstance(app.screen, FindingScreen), timeout=10)
    fixes = app.screen.query_one("#fixes", OptionList)
    fixes.highlighted = next(i for i in range(fixes.option_count) if label in str(fixes.get_option_at_index(i).prompt))
    await pilot.press("enter")


async def test_a_fix_chosen_while_attached_goes_to_the_apps_set_up_form_and_attach_alone_says_where_it_would(
        tmp_path):
    from tui.core.findings import Fix
    from tui.ui.app import CnnTuiApp
    from tui.ui.messages import AttachRequested
    from tui.ui.screens.setup import SetupScreen

    run_dir = started_run(tmp_path, events=True)
    with open(RunDir(run_dir).events_file, "a") as fh:
        fh.write(epoch_line(1) + diagnosis_line(Fix("add dropout 0.3", {"model.dropout": 0.3})))
    attach_alone, notices = AttachApp("run", run_dir), Notices()
    async with attach_alone.run_test(size=(120, 40), message_hook=notices) as pilot:
        await choose_the_fix(pilot, "add dropout 0.3")
        await until(pilot, lambda: notices.count("Fixes go into the app's set-up form"), timeout=10)
    app = CnnTuiApp(runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(AttachRequested(run_dir))  # what Enter on a live run in the run history asks for
        await until(pilot, lambda: isinstance(app.screen, AttachScreen), timeout=10)
        await choose_the_fix(pilot, "add dropout 0.3")
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), timeout=10)  # the run is not this app's
        assert app.screen.config.model.dropout == 0.3


async def test_a_subscriber_that_failed_in_the_runs_process_is_said_in_the_attached_view(tmp_path):
    from tui.core.eventlog import encode
    from tui.core.events import SubscriberFailed

    run_dir = started_run(tmp_path, events=True)
    failed = SubscriberFailed("the doctor", "EpochEnd", "KeyError: 'loss'")
    with open(RunDir(run_dir).events_file, "a") as fh:
        fh.write(epoch_line(1) + json.dumps(encode(failed)) + "\n" + epoch_line(2))
    app, notices = AttachApp("run", run_dir), Notices()
    async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
        await until(pilot, lambda: rows(app) == 2, timeout=10)
        await until(pilot, lambda: notices.count(failed.message), timeout=10)


def test_attach_to_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert main(["attach", str(tmp_path / "photos")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["attach", "latest", "--runs-dir", str(tmp_path / "empty")]) == 2
    assert "no runs in" in capsys.readouterr().err


def test_a_viewer_writes_nothing_but_control_requests(tmp_path):
    run_dir = started_run(tmp_path, events=True)
    before = sorted(p.name for p in run_dir.rglob("*"))
    EventLogFollower(RunDir(run_dir).events_file).read()
    assert control.can_control(run_dir) is not None  # nobody owns it: read-only
    with pytest.raises(control.ControlRefused):
        control.send(run_dir, "stop")
    assert sorted(p.name for p in run_dir.rglob("*")) == before


def test_liveness_needs_host_boot_pid_and_start_time_to_match(tmp_path):
    me = owner.Owner.of()
    assert me.liveness() == owner.LIVE
    from dataclasses import replace

    assert replace(me, start_ticks=(me.start_ticks or 0) + 1).liveness() == owner.DEAD  # the pid was reused
    assert replace(me, boot_id="another-boot").liveness() == owner.DEAD  # the machine rebooted
    assert replace(me, host="elsewhere").liveness() == owner.REMOTE  # cannot be checked from here
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert owner.Owner.of(dead.pid).liveness() == owner.DEAD or owner.process_start(dead.pid) is not None


def test_detached_runs_beyond_the_limit_are_refused_clearly(tmp_path, monkeypatch, capsys):
    from tui.core import detach

    monkeypatch.setenv("CNN_TUI_MAX_DETACHED", "1")
    registry = detach.registry_dir()
    registry.mkdir(parents=True)
    me = owner.Owner.of(detached=True)  # stands for a detached run live on this machine
    (registry / "x.json").write_text(json.dumps({"owner": me.as_dict(), "run_dir": str(tmp_path / "busy")}))
    assert main(["train", "--detach", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "limit is 1" in err and str(tmp_path / "busy") in err and "max_detached" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # no empty run left
    assert detach.default_limit(2) == 1 and detach.default_limit(16) == 8


def test_runs_delete_and_archive_refuse_a_live_run(tmp_path, capsys):
    import tarfile

    runs = tmp_path / "runs"
    done, live = started_run(tmp_path), started_run(tmp_path)
    RunDir(live).mark_running()
    assert main(["runs", "--runs-dir", str(runs), "--delete", live.name]) == 2
    assert "running now" in capsys.readouterr().err and live.is_dir()
    assert main(["runs", "--runs-dir", str(runs), "--archive", done.name]) == 0
    assert not done.exists()
    with tarfile.open(runs / "archive" / f"{done.name}.tar.gz") as tar:
        assert f"{done.name}/config.toml" in tar.getnames()
    RunDir(live).clear_running()
    assert main(["runs", "--runs-dir", str(runs), "--delete", str(live)]) == 0 and not live.exists()


async def test_shift_f5_starts_detached_and_the_run_history_attaches_to_the_live_run(tmp_path):
    from tui.core import config as cfg
    from tui.ui.app import CnnTuiApp
    from tui.ui.screens.runs import RunsScreen
    from tui.ui.screens.setup import SetupScreen

    config = cfg.ExperimentConfig().with_values({"dataset.train_size": 200, "model.conv_filters": 4,
                                                 "model.dense_units": 8, "training.batch_size": 50,
                                                 "training.epochs": 100000})  # outlives the hops
    app = CnnTuiApp(config, runs_dir=tmp_path / "runs")
    run_dir = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("shift+f5")
            await until(pilot, lambda: isinstance(app.screen, AttachScreen))
            run_dir = app.screen.run_dir
            await until(pilot, lambda: rows(app) >= 1)
            await pilot.press("b")  # leave the view: the run goes on
            await until(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, RunsScreen))
            table = app.screen.query_one(RunTable)
            await until(pilot, lambda: table.row_count >= 1)
            assert "● live" in table.rows[0].row
            table.focus()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, AttachScreen))
            await pilot.press("s")
            await until(pilot, lambda: app.screen.monitor.ended is not None)
            assert app.screen.monitor.ended.status == "stopped"
        assert RunDir(run_dir).read_summary().status == "stopped"
    finally:
        if run_dir is not None:
            kill_owner(run_dir)


async def test_the_run_history_deletes_an_ended_run_after_a_confirmation(tmp_path):
    from tui.ui.app import CnnTuiApp
    from tui.ui.screens.dialogs import ConfirmDialog

    run_dir = started_run(tmp_path)
    app = CnnTuiApp(runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: app.screen.query(RunTable) and app.screen.query_one(RunTable).row_count == 1)
        app.screen.query_one(RunTable).focus()
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause()
        assert run_dir.is_dir()
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: not run_dir.exists())
        await until(pilot, lambda: app.screen.query_one(RunTable).row_count == 0)


@pytest.mark.parametrize("indexed", [True, False], ids=["with its offsets index", "an older log without"])
def test_a_long_backlog_replays_every_epoch_and_only_the_last_epochs_batches(tmp_path, indexed):
    """The fast path for a large finished log gives the same history as reading every line."""
    run_dir = bench.write_run(tmp_path / "long", 60, batches_per_epoch=240, indexed=indexed)  # > 1 MB of records
    assert RunDir(run_dir).events_file.stat().st_size > 1 << 20
    events = EventLogFollower(RunDir(run_dir).events_file).read().events
    from tui.core.events import BatchEnd, EpochEnd, RunEnded, RunStarted

    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunEnded)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(1, 61))
    assert {e.epoch for e in events if isinstance(e, BatchEnd)} == {60}  # the batch trace shows the last epoch


async def test_a_sweep_directory_shows_its_heatmap_and_enter_attaches_to_a_cell(tmp_path):
    from textual.widgets import OptionList

    from tui.core import config as cfg
    from tui.core import sweep
    from tui.ui.attach import SweepAttachScreen

    spec = sweep.make_spec(cfg.ExperimentConfig(), [("model.conv_filters", "4,8")], epochs=1)
    runner = sweep.SweepRunner.create(spec, tmp_path / "runs")
    cell = RunDir.create(runner.state.sweep_dir, "conv_filters-4")
    cell.write_config(cfg.ExperimentConfig())
    cell.events_file.write_text(bench.header(cell.path, 1, 4) + epoch_line(1))
    runner._update((0,), status="finished", run_dir=cell.name, best_val_accuracy=0.5)
    app = AttachApp("sweep", runner.state.sweep_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SweepAttachScreen) and app.screen.state is not None)
        cells = app.screen.query_one("#sweep-cells", OptionList)
        assert cells.option_count == 2 and "finished" in str(cells.get_option_at_index(0).prompt)
        assert "1/2" in str(app.screen.query_one("#sweep-progress").render())
        cells.focus()
        cells.highlighted = 1
        await pilot.press("enter")  # not started yet: said, and the heatmap stays
        assert isinstance(app.screen, SweepAttachScreen)
        cells.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AttachScreen) and rows(app) == 1)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, SweepAttachScreen))
