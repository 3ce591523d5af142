"""The sweep in the app, as a person uses it: F6 on the set-up screen, pick keys and values, watch the heatmap
fill in; resume a stopped sweep from the same dialog."""

from textual.geometry import Region
from textual.widgets import Button, Input, Select, Static

from pilot_wait import until

from tui.core import config as cfg
from tui.core.sweep import SweepRunner, load_state, make_spec
from tui.ui.app import CnnTuiApp
from tui.ui.screens.setup import SetupScreen
from tui.ui.screens.sweep import SweepScreen
from tui.ui.screens.sweep_dialog import SweepDialog
from tui.ui.widgets.heatmap import Heatmap

TINY = {"dataset.train_size": 200, "model.architecture": "simple_cnn", "model.dense_units": 8,
        "training.batch_size": 50}


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def shown(widget) -> str:
    """The widget's lines as drawn on the screen."""
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


async def finish(pilot) -> None:
    """Until the sweep has ended and its screen has drawn the final state (it draws that one at once)."""
    await pilot.app.workers.wait_for_complete()
    await until(pilot, lambda: getattr(pilot.app.screen, "ended", False), 30)


async def test_f6_sweeps_two_keys_and_the_heatmap_fills_in(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SweepDialog)
        assert dialog.query_one("#key1", Select).value == "model.conv_filters"
        assert dialog.query_one("#key2", Select).value == "model.dense_units"
        dialog.query_one("#values1", Input).value = "2,4"
        dialog.query_one("#values2", Input).value = "0,8"
        dialog.query_one("#epochs", Input).value = "1"
        await pilot.pause()
        assert "model.dense_units: 0 is out of range" in text(dialog, "#sweep-check")
        assert dialog.query_one("#start-sweep", Button).disabled
        dialog.query_one("#values2", Input).value = "8"
        await pilot.pause()
        assert "2 × 1 = 2 cells" in text(dialog, "#sweep-check")
        await pilot.click("#start-sweep")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        await finish(pilot)
        assert "2/2 cells done" in text(screen, "#sweep-progress")
        rows = [line.split() for line in shown(screen.query_one(Heatmap)).splitlines()]
        assert ["conv_filters", "8"] in rows
        values = {row[0]: row[1] for row in rows if row[:1] in (["2"], ["4"])}
        assert set(values) == {"2", "4"} and all(0 <= float(v) <= 1 for v in values.values())
        assert (screen.state.sweep_dir / "results.md").is_file()
        await pilot.press("b")
        assert isinstance(app.screen, SetupScreen)


async def test_a_stopped_sweep_resumes_from_the_dialog_without_rerunning_finished_cells(tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3")], epochs=1)
    runner = SweepRunner.create(spec, tmp_path, workers=1)
    runner.subscribe(lambda e: runner.stop() if e.state.done == 1 else None)
    first = runner.run().cells[0]
    assert first.status == "finished"
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        assert "(1/2 done)" in text(app.screen, "#resume-dir #label")
        await pilot.click("#resume")
        await pilot.pause()
        assert isinstance(app.screen, SweepScreen)
        await finish(pilot)
        assert "2/2 cells done" in text(app.screen, "#sweep-progress")
    state = load_state(runner.state.sweep_dir)
    assert [c.status for c in state.cells] == ["finished", "finished"]
    assert state.cells[0].run_dir == first.run_dir and state.cells[0].seconds == first.seconds


async def test_the_sweep_dialog_takes_a_dask_scheduler_and_warns_about_an_open_one(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#values1", Input).value = "2,4"
        dialog.query_one("#scheduler", Input).value = "ftp://10.1.2.3"
        await pilot.pause()
        assert "expected tcp://HOST:8786 or tls://HOST:8786" in text(dialog, "#sweep-check")
        assert dialog.query_one("#start-sweep", Button).disabled
        dialog.query_one("#scheduler", Input).value = "tcp://10.1.2.3:8786"
        await pilot.pause()
        said = text(dialog, "#sweep-check")
        assert "cells" in said and "unencrypted Dask scheduler on another host" in said
        dialog.query_one("#scheduler", Input).value = "tcp://127.0.0.1:8786"
        await pilot.pause()
        assert "unencrypted" not in text(dialog, "#sweep-check")
        assert not dialog.query_one("#start-sweep", Button).disabled
