"""The app as a person uses it, through Textual's Pilot: fill the forms, start, watch, export, quit."""

import json
from pathlib import Path

from textual.widgets import Button, Input, Select, Static

from pilot_wait import forms_built, run_drawn, until

from tui.ui.widgets.epoch_table import EpochTable
from tui.core import config as cfg
from tui.ui.app import CnnTuiApp
from tui.ui.screens.setup import SetupScreen
from tui.ui.screens.training import TrainingScreen
from tui.ui.widgets.doctor_banner import DoctorBanner

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.batch_size": 50}


async def type_into(pilot, key: str, text: str) -> None:
    """Focus a form field and type into it, as a person would."""
    selector = f"#field-{key.replace('.', '-')} Input"

    def field_input() -> Input:  # (the one on the screen now: a form rebuilt since would leave an earlier one behind)
        return pilot.app.screen.query_one(selector, Input)

    def state() -> str:
        found = pilot.app.screen.query(selector)
        tabs = pilot.app.screen.query("#tabs")
        return (f"{len(found)} {selector}, region {found.first().region if found else None}, attached "
                f"{found.first().is_attached if found else None}, tab {tabs.first().active if tabs else None}, "
                f"focused {pilot.app.focused!r}")

    # a click before the tab is laid out lands at (0, 0): the header's icon, which opens the command palette
    await until(pilot, lambda: field_input().region.width > 0 and field_input().region.y > 0, state=state)
    await pilot.click(field_input())
    field_input().value = ""
    await pilot.press(*text)
    await pilot.pause()


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_fill_the_forms_start_a_run_and_watch_charts_and_table_update(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        assert isinstance(app.screen, SetupScreen)
        await forms_built(pilot)
        app.screen.query_one("#tabs").active = "tab-training"
        await pilot.pause()
        await type_into(pilot, "training.epochs", "2")
        assert app.screen.config.training.epochs == 2
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await run_drawn(pilot)
        screen = app.screen
        assert screen.monitor.state == "finished"
        assert screen.query_one("#epochs", EpochTable).row_count == 2
        assert "nothing wrong so far" in str(screen.query_one("#findings").get_option_at_index(0).prompt)
        loss_chart = screen.chart("loss")
        assert {label: len(loss_chart.points(label)[1]) for label in loss_chart.labels} == {"loss": 2, "val_loss": 2}
        assert "finished" in static_text(screen, "#run-status")


async def test_invalid_input_disables_start_and_says_why(tmp_path):
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await forms_built(pilot)
        app.screen.query_one("#tabs").active = "tab-model"
        await pilot.pause()
        await type_into(pilot, "model.dropout", "1.5")
        button = app.screen.query_one("#start", Button)
        assert button.disabled
        why = static_text(app.screen, "#why-not")
        assert "model.dropout" in why and "< 1" in why
        field_error = str(app.screen.query_one("#field-model-dropout .error", Static).render())
        assert "out of range" in field_error
        await pilot.press("f5")
        assert isinstance(app.screen, SetupScreen)  # nothing started
        await type_into(pilot, "model.dropout", "0.3")
        assert not button.disabled and app.screen.config.model.dropout == 0.3


async def test_loading_a_preset_fills_the_forms_at_once(tmp_path):
    from tui.core.presets import resolve

    preset = resolve("fashion-mnist-cnn")
    expected = cfg.load(preset)
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await forms_built(pilot)
        app.screen.query_one("#preset", Select).value = str(preset)
        screen = app.screen
        await until(pilot, lambda: screen.query_one("#field-dataset-name Select", Select).value == "fashion_mnist")
        assert screen.config == expected
        assert screen.query_one("#field-dataset-name Select", Select).value == "fashion_mnist"
        screen.query_one("#tabs").active = "tab-training"  # other tabs' fields are built when first shown
        await until(pilot, lambda: bool(screen.query("#field-training-batch_size Input")))
        assert screen.query_one("#field-training-batch_size Input", Input).value == str(
            expected.training.batch_size)


async def test_an_overfitting_run_raises_the_flag_marks_the_epoch_and_a_fix_goes_to_the_form(tmp_path):
    config = cfg.ExperimentConfig().with_values({
        "dataset.train_size": 40, "model.architecture": "mlp", "model.hidden_units": [256, 256],
        "optimizer.learning_rate": 0.003, "training.epochs": 40, "training.batch_size": 8})
    app = CnnTuiApp(config, runs_dir=tmp_path, start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        await run_drawn(pilot)
        screen = app.screen
        finding = screen.monitor.finding
        assert finding is not None and finding.id == "overfitting"
        banner = screen.query_one(DoctorBanner)
        assert banner.has_class("-shown")
        text = str(banner.render())
        assert f"Overfitting from epoch {finding.epoch}" in text and "dropout" in text
        assert finding.epoch in screen.chart("loss").marks
        assert "Overfitting" in str(screen.query_one("#findings").get_option_at_index(0).prompt)

        await pilot.press("d")  # the doctor: explanation, evidence, fixes
        await pilot.pause()
        fixes = app.screen.query_one("#fixes")
        labels = [str(fixes.get_option_at_index(i).prompt) for i in range(fixes.option_count)]
        dropout = next(i for i, label in enumerate(labels) if "dropout" in label)
        fixes.highlighted = dropout
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)  # the run had ended: straight to the set-up
        assert app.screen.config.model.dropout == 0.3
        assert app.screen.config.with_values({"model.dropout": 0.0}) == config


async def test_export_writes_the_summary_files_for_a_finished_run(tmp_path):
    config = cfg.ExperimentConfig().with_values({**TINY, "training.epochs": 1})
    app = CnnTuiApp(config, runs_dir=tmp_path, start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        await run_drawn(pilot)
        run_dir = Path(app.screen.monitor.ended.run_dir)
        (run_dir / "summary.md").unlink()
        await pilot.press("e")
        await pilot.pause()
        for name in ("summary.md", "summary.json", "history.csv", "last.keras"):
            assert (run_dir / name).is_file(), name
        assert "## Results" in (run_dir / "summary.md").read_text()
        assert "exported" in static_text(app.screen, "#run-status")


async def test_quit_during_a_run_asks_then_stops_training_cleanly(tmp_path):
    config = cfg.ExperimentConfig().with_values({**TINY, "training.epochs": 10000, "training.batch_size": 4})
    app = CnnTuiApp(config, runs_dir=tmp_path, start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: getattr(getattr(app.screen, "monitor", None), "last_batch", None) is not None,
                    120)  # training is under way (TensorFlow loaded first: slow on a busy machine)
        await pilot.press("q")
        await pilot.pause()
        from tui.ui.screens.dialogs import ConfirmDialog

        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await app.workers.wait_for_complete()
    session = app.session
    assert session.result is not None and session.result.status == "stopped"
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert summary["epochs_run"] < 10000


async def test_a_failed_run_says_why_and_the_app_stays_usable(tmp_path):
    config = cfg.ExperimentConfig().with_values({"dataset.name": "folder", "dataset.path": str(tmp_path / "nope")})
    app = CnnTuiApp(config, runs_dir=tmp_path / "runs", start=True)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        await run_drawn(pilot)
        screen = app.screen
        assert screen.monitor.state == "failed"
        assert "nope" in static_text(screen, "#run-error")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)


async def test_a_terminal_too_small_says_so_and_resizing_recovers(tmp_path):
    from tui.ui.screens.dialogs import TooSmallScreen

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        assert "needs at least 80x24" in static_text(app.screen, "#too-small")
        await pilot.resize_terminal(100, 32)
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)


async def test_a_run_started_before_the_first_frame_is_written_is_laid_out_with_its_panels(tmp_path, monkeypatch):
    """On a busy machine a key can come before the first frame reaches the terminal (after which the other
    screens' styles are read): the training screen opened then still has its epoch table, doctor list and
    gradient panel side by side (without those styles, the doctor list crashed Textual's layout)."""
    monkeypatch.setattr(CnnTuiApp, "_painted", lambda self: None)  # the first frame not yet written
    app = CnnTuiApp(cfg.ExperimentConfig().with_values({**TINY, "training.epochs": 1}), runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, TrainingScreen))
        await run_drawn(pilot)
        widths = [app.screen.query_one(f"#{name}").region.width for name in ("epochs", "findings", "gradients")]
        assert widths[0] > widths[1] > 20 and abs(widths[1] - widths[2]) <= 1  # 3 : 2 : 2 of the width
        assert app.screen.monitor.state == "finished"
