"""The run-history screen (F2) with many runs: rows fill in from a worker, newest first, with a count, while the
screen answers keys; filter and sort work on what is listed; the wall time reads as in `cnn-tui runs`."""

import shutil
import threading

import pytest
from synthetic_runs import write_run, write_runs
from textual.widgets import Input, Static

import tui.core.runs as run_index
from tui.cli import main
from tui.ui.app import CnnTuiApp
from tui.ui.widgets.run_table import RunTable


async def until(pilot, condition, timeout: float = 30.0) -> None:
    """Let the app run until `condition()` holds (a condition, not a fixed sleep)."""
    import time

    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting for the screen"
        await pilot.pause(0.02)


def hint(app) -> str:
    return str(app.screen.query_one("#runs-hint", Static).render())


async def test_a_first_scan_fills_the_history_progressively_newest_first_while_keys_work(tmp_path, monkeypatch):
    runs = write_runs(tmp_path, 160)
    newest = runs[-1].name
    gate, reads = threading.Event(), []
    real = run_index.read_run

    def slow_disk(run_dir):  # the disk stalls after the first 120 runs until the test has looked at the screen
        reads.append(run_dir)
        if len(reads) > 120:
            assert gate.wait(60)
        return real(run_dir)

    monkeypatch.setattr(run_index, "read_run", slow_disk)
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f2")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: table.row_count >= 100)
        assert table.row_count < 160 and table.rows[0].name == newest
        assert "reading the folder…" in hint(app) and "/160" in hint(app)
        app.screen.query_one("#filter", Input).value = "finished"  # the screen answers while the scan goes on
        await until(pilot, lambda: all(r.status == "finished" for r in table.rows))
        app.screen.query_one("#filter", Input).value = ""
        gate.set()
        await until(pilot, lambda: table.row_count == 160 and app.screen.scanning is None)
        assert "reading" not in hint(app) and "160/160 runs" in hint(app)
        assert table.rows[0].name == newest


async def test_on_a_warm_index_the_newest_screenful_shows_before_the_rest_of_the_index_is_read(tmp_path,
                                                                                              monkeypatch):
    import os

    runs = write_runs(tmp_path, 300)
    monkeypatch.setattr(run_index, "RACY_SECONDS", -1.0)  # what was just written counts as written long ago
    run_index.list_runs(tmp_path)  # the index is written
    t = tmp_path.stat().st_mtime - 3600
    os.utime(tmp_path, (t, t))  # the folder, unchanged since
    run_index.list_runs(tmp_path)  # ... is listed once more: the index now holds its time
    gate = threading.Event()
    real = run_index.RunIndex.load

    def slow_index(self, newest=None, folder=None):  # the whole index takes until the test has looked
        data = real(self, newest, folder)
        if not data["partial"]:
            assert gate.wait(60)
        return data

    monkeypatch.setattr(run_index.RunIndex, "load", slow_index)
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        try:
            await pilot.press("f2")
            table = app.screen.query_one(RunTable)
            await until(pilot, lambda: table.row_count >= 40)
            assert table.row_count < 300 and [r.name for r in table.rows[:40]] == [r.name for r in runs[::-1][:40]]
            assert "reading the folder…" in hint(app) and "/300" in hint(app)
        finally:
            gate.set()
        await until(pilot, lambda: table.row_count == 300 and app.screen.scanning is None)
        assert [r.name for r in table.rows] == [r.name for r in runs[::-1]]


async def test_runs_that_come_go_or_progress_while_the_history_is_shown_update_it(tmp_path):
    from tui.core.atomic import atomic_write_json
    from tui.core.rundir import RunDir

    old = write_runs(tmp_path, 3)
    live = write_run(tmp_path, "20990101-000000-live", status="no summary", epochs=1)
    RunDir(live).mark_running()  # this process plays the trainer
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("f2")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: table.row_count == 4 and app.screen.scanning is None)
        assert table.rows[0].status == "running" and table.rows[0].epochs == 1
        with open(live / "history.csv", "a") as fh:  # the trainer finishes epoch 2
            fh.write("1,0.9,1.0,0.9,1.0,0.001,1.0\n")
        await until(pilot, lambda: table.rows[0].epochs == 2)
        shutil.rmtree(old[0])
        added = write_run(tmp_path, "20990102-000000-added", status="failed")
        RunDir(live).clear_running()
        atomic_write_json(live / "summary.json", {"status": "finished", "epochs_run": 2, "wall_seconds": 65.0})
        await until(pilot, lambda: [r.name for r in table.rows][:2] == [added.name, live.name]
                    and table.row_count == 4 and table.rows[1].status == "finished")
        assert old[0].name not in {r.name for r in table.rows}


async def test_sorting_and_filtering_use_values_and_the_shared_wall_time_format(tmp_path, capsys):
    write_run(tmp_path, "20260101-000000-quick", wall=9.5, best=0.91, started=1_000)
    write_run(tmp_path, "20260101-000001-slow", wall=65.0, best=0.42, started=2_000)
    write_run(tmp_path, "20260101-000002-killed", status="interrupted", started=3_000)
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    cli = capsys.readouterr().out
    assert "1 min 05 s" in cli and "9.5 s" in cli
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("f2")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: table.row_count == 3 and app.screen.scanning is None)
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["killed", "slow", "quick"]  # newest first
        screen_text = "\n".join(table.render_line(y).text for y in range(3))
        assert "1 min 05 s" in screen_text and "9.5 s" in screen_text  # as the CLI wrote them
        for _ in range(6):  # s: the next column, up to the wall time (largest first)
            await pilot.press("s")
        assert "wall▼" in str(app.screen.query_one("#runs-header", Static).render())
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["slow", "quick", "killed"]
        await pilot.press("o")  # reversed: by value, 9.5 s before 1 min 05 s
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["killed", "quick", "slow"]
        await pilot.press("slash", "q")
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["quick"]
        await pilot.press("backspace")  # a shorter filter lets the others back, in the same order
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["killed", "quick", "slow"]
        await pilot.press(*"interrupted")
        assert [r.name.rsplit("-", 1)[1] for r in table.rows] == ["killed"]
        await pilot.press("enter", "enter")  # back in the table; Enter opens the run
        await until(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen")
        assert "interrupted: r resumes it" in str(app.screen.query_one("#run-title").render())


@pytest.mark.parametrize("sort, key", [("best", lambda r: r.best_val_accuracy or -1),
                                       ("wall", lambda r: r.wall_seconds or -1)])
def test_cnn_tui_runs_sorts_by_value_and_shows_a_screenful(tmp_path, capsys, sort, key):
    from tui.core.runs import list_runs

    write_runs(tmp_path, 40)
    top = sorted(list_runs(tmp_path), key=key, reverse=True)[:5]
    assert main(["runs", "--runs-dir", str(tmp_path), "-n", "5", "--sort", sort]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line.strip().startswith("20")] == [r.name for r in top]
    assert "5 of 40 runs shown" in out
    assert main(["runs", "--runs-dir", str(tmp_path), "--sort", "nope"]) == 2
    assert "sort by one of: run, started" in capsys.readouterr().err


async def test_once_the_count_says_every_run_is_listed_end_shows_the_oldest(tmp_path):
    runs = write_runs(tmp_path, 300)
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: "300/300 runs" in hint(app) and "reading" not in hint(app))
        await pilot.press("end")
        table = app.screen.query_one(RunTable)
        lines = [table.render_line(y).text for y in range(table.scrollable_content_region.height)]
        assert runs[0].name in lines[-1] and runs[1].name in lines[-2]  # the oldest last, the one before above it
        await pilot.press("home")
        assert runs[-1].name in table.render_line(0).text
