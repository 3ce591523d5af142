"""Test results and images in the app: the end of a run, the run detail screen, the dataset samples (F3)."""

from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from tui.core import config as cfg
from tui.core.runs import read_run
from tui.ui.app import CnnTuiApp
from tui.ui.screens.runs import RunDetailScreen
from tui.ui.screens.setup import SetupScreen

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.batch_size": 50,
        "training.epochs": 1}


def shown(screen, selector: str) -> str:
    """What a Static holding a rich renderable shows, as plain text."""
    console = Console(width=120, record=True, color_system=None)
    console.print(screen.query_one(selector, Static).content)
    return console.export_text()


async def test_a_finished_run_shows_its_test_results_then_t_returns_to_the_curves(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path, start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.6)
        screen = app.screen
        assert screen.monitor.state == "finished"
        assert screen.has_class("-results") and not screen.query_one("#charts").display
        text = shown(screen, "#test-results-body")
        assert "balanced accuracy" in text and "Per class" in text and "lowest recall" in text
        assert "Confusion matrix" in text and "true\\pred" in text
        assert "Most confident mistakes" in text and "▀" in text
        await pilot.press("t")
        assert screen.query_one("#charts").display and not screen.query_one("#test-results").display

        run_dir = Path(screen.monitor.ended.run_dir)
        app.push_screen(RunDetailScreen(read_run(run_dir)))
        await pilot.pause()
        detail = shown(app.screen, "#detail-results")
        assert "Confusion matrix" in detail and "Correct predictions" in detail


async def test_f3_shows_a_few_samples_of_each_class_with_the_class_counts(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        assert "F3 shows" in shown(screen, "#dataset-preview")
        await pilot.press("f3")
        for _ in range(200):
            await pilot.pause(0.05)
            if screen._preview is not None:
                break
        text = shown(screen, "#dataset-preview")
        lines = text.splitlines()
        for digit, count in zip("0123456789", screen.dataset_info.class_counts):
            row = next(i for i, line in enumerate(lines) if line.startswith(f"{digit} "))
            assert lines[row + 1].startswith(f"{count:,}")  # the class's count under its name
            assert "▀" in lines[row]  # and its samples beside it
        await pilot.press("f3")
        assert "F3 shows" in shown(screen, "#dataset-preview")
