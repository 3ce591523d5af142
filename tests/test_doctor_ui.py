"""The doctor in the app: findings a person can open, fixes that land in the set-up form, a warning before a
doubtful run starts, and the gradient-flow bars."""

import json
from pathlib import Path

from rich.text import Text

from pilot_wait import run_drawn, until

from tui.core import config as cfg
from tui.core.diagnostics import Finding, Fix
from tui.ui.app import CnnTuiApp
from tui.ui.screens.finding import FindingScreen
from tui.ui.screens.runs import RunDetailScreen
from tui.ui.screens.setup import SetupScreen
from tui.ui.screens.training import TrainingScreen
from tui.ui.widgets.gradient_flow import gradient_bars

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.batch_size": 50,
        "training.epochs": 1}

def _style_of(text: Text, char: str) -> str:
    """The style of the first run of `char` in `text`."""
    start = text.plain.index(char)
    return next(str(span.style) for span in text.spans if span.start <= start < span.end)


def test_gradient_bars_are_log_scaled_and_flag_vanishing_layers():
    text = gradient_bars(["conv_1", "dense_1", "out"], [1e-7, 1e-2, 1e-1], width=40)
    lines = text.plain.splitlines()
    assert [line.split()[0] for line in lines] == ["conv_1", "dense_1", "out"]
    bars = [line.count("█") for line in lines]
    assert bars[2] > bars[1] > bars[0]  # one decade below the top is a little shorter; six decades far shorter
    assert bars[0] < bars[2] // 3
    assert "1.0e-07" in lines[0] and "1.0e-01" in lines[2]
    assert _style_of(text, "█") == "red"  # the first row's bar: six decades below the largest


async def test_a_doubtful_setup_asks_before_starting_and_a_fix_changes_the_form(tmp_path):
    config = cfg.ExperimentConfig().with_values({**TINY, "training.loss": "binary_crossentropy"})
    app = CnnTuiApp(config, runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: "Wrong loss" in str(app.screen.query_one("#preflight").render()))
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, FindingScreen)
        fixes = app.screen.query_one("#fixes")
        labels = [str(fixes.get_option_at_index(i).prompt) for i in range(fixes.option_count)]
        assert "Start anyway" in labels[0]
        fixes.highlighted = next(i for i, label in enumerate(labels) if "categorical" in label)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)  # a fix does not start training by itself
        assert app.screen.config.training.loss == "categorical_crossentropy"
        assert "no concern" in str(app.screen.query_one("#preflight").render())
        await pilot.press("f5")  # nothing doubtful left: no question
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await app.workers.wait_for_complete()


async def test_start_anyway_trains_the_doubtful_setup_and_the_finding_is_kept(tmp_path):
    config = cfg.ExperimentConfig().with_values({**TINY, "training.loss": "binary_crossentropy"})
    app = CnnTuiApp(config, runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("escape")  # changed my mind: nothing starts
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and not app.training_active
        await pilot.press("f5")
        await pilot.pause()
        assert "Start anyway" in str(app.screen.query_one("#fixes").get_option_at_index(0).prompt)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await run_drawn(pilot)
        screen = app.screen
        assert screen.session.config.training.loss == "binary_crossentropy"
        assert "wrong_loss" in [f.id for f in screen.monitor.findings]
        summary = json.loads((Path(screen.monitor.ended.run_dir) / "summary.json").read_text())
        assert "wrong_loss" in [f["id"] for f in summary["findings"]]


async def test_a_past_runs_findings_open_and_a_fix_loads_that_runs_config(tmp_path):
    run = tmp_path / "run-1"
    run.mkdir()
    config = cfg.ExperimentConfig().with_values({**TINY, "model.activation": "sigmoid"})
    cfg.save(config, run / "config.toml")
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy\n1,2.3,0.1,2.3,0.1\n")
    finding = Finding("vanishing_gradients", "error", 1, "Vanishing gradients", "conv_1 1e-9 vs out 1e-2",
                      "The first layers barely learn.",
                      (Fix("switch to relu with he_normal init",
                           {"model.activation": "relu", "model.kernel_initializer": "he_normal"}),))
    (run / "summary.json").write_text(json.dumps({"status": "finished", "findings": [finding.as_dict()]}))
    from tui.core.runs import list_runs

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        app.push_screen(RunDetailScreen(next(r for r in list_runs(tmp_path) if r.name == "run-1")))
        await pilot.pause()
        assert "Vanishing gradients" in str(app.screen.query_one("#detail-findings").get_option_at_index(0).prompt)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, FindingScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert app.screen.config == config.with_values(
            {"model.activation": "relu", "model.kernel_initializer": "he_normal"})
