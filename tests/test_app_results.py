"""Test results and images in the app: the end of a run, the run detail screen, the dataset samples (F3)."""

from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from pilot_wait import run_drawn, until
from tui.core import config as cfg
from tui.core.runs import read_run
from tui.ui.app import CnnTuiApp
from tui.ui.screens.runs import RunDetailScreen
from tui.ui.screens.setup import SetupScreen
from tui.ui.widgets.picture import Picture

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
        await run_drawn(pilot)
        screen = app.screen
        assert screen.monitor.state == "finished"
        assert screen.has_class("-results") and not screen.query_one("#charts").display
        text = shown(screen, "#test-results-body")
        assert "balanced accuracy" in text and "Per class" in text and "lowest recall" in text
        assert "Confusion matrix" in text and "true\\pred" in text
        examples = screen.query_one("#test-examples")
        await until(pilot, lambda: len(examples.query(Picture)) > 0)
        titles = [str(t.render()) for t in examples.query(".examples-title")]
        assert titles[0].startswith("Most confident mistakes") and titles[1].startswith("Correct predictions")
        captions = [p.caption for p in examples.query(Picture)]
        assert any("→" in c for c in captions)  # a mistake: true→predicted, with its confidence
        await pilot.press("t")
        assert screen.query_one("#charts").display and not screen.query_one("#test-results").display
        await pilot.press("t", "g")  # g ("Charts" in the footer) from the test results shows the curves too
        assert screen.query_one("#charts").display and not screen.query_one("#test-results").display

        run_dir = Path(screen.monitor.ended.run_dir)
        app.push_screen(RunDetailScreen(read_run(run_dir)))
        await pilot.pause()
        detail = shown(app.screen, "#detail-results")
        assert "Confusion matrix" in detail
        await until(pilot, lambda: len(app.screen.query_one("#detail-examples").query(Picture)) == len(captions))


async def test_f3_shows_a_few_samples_of_each_class_with_the_class_counts(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        # the side column is mounted once the first frame is painted
        await until(pilot, lambda: "F3 shows" in shown(screen, "#dataset-preview"))
        await pilot.press("f3")
        await until(pilot, lambda: len(screen.query_one("#dataset-samples").query(Picture)) > 0, seconds=20)
        samples = screen.query_one("#dataset-samples")
        rows = list(samples.query("SamplesView > Horizontal"))
        assert len(rows) == 10
        for digit, count, row in zip("0123456789", screen.dataset_info.class_counts, rows):
            label = str(row.query_one(".samples-label", Static).render()).splitlines()
            assert label == [digit, f"{count:,}"]  # the class's name, its count under it
            assert len(row.query(Picture)) >= 1  # and its samples beside it, drawn by textual-image
            assert all(type(i).__module__.startswith("textual_image") for i in row.query("Picture > *")
                       if not i.has_class("caption"))
        await pilot.press("f3")
        # the side column is mounted once the first frame is painted
        await until(pilot, lambda: "F3 shows" in shown(screen, "#dataset-preview"))
        await until(pilot, lambda: len(samples.query(Picture)) == 0)
