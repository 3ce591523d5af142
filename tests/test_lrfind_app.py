"""The learning-rate range test in the set-up screen, as a person uses it: F7, watch the curve, F8, start."""

import json
import threading

from textual.widgets import Input, Static

from pilot_wait import forms_built, until

from tui.core import config as cfg
from tui.ui.app import CnnTuiApp
from tui.ui.messages import RangeTestDone
from tui.ui.screens.setup import SetupScreen
from tui.ui.widgets.chart import LineChart


SETUP = {"dataset.name": "digits", "training.batch_size": 16, "optimizer.name": "sgd", "training.epochs": 1}
"""The default CNN: SGD finds its range on digits within one epoch in batches of 16 (90 steps)."""


def status(screen) -> str:
    return str(screen.query_one("#lr-find-status", Static).render())


class RangeTests(list):
    """The results of the range tests the set-up screen ran (its RangeTestDone messages, each seen once though it
    bubbles up to the app): pass it as `app.run_test(message_hook=...)`."""

    def __call__(self, message) -> None:
        if isinstance(message, RangeTestDone) and not any(message.result is r for r in self):
            self.append(message.result)


def curve_drawn(chart: LineChart) -> bool:
    return chart.display and len(chart.points("smoothed loss")[0]) > 0


async def test_f7_draws_the_curve_f8_puts_the_suggestion_into_the_form_and_the_run_keeps_the_curve(tmp_path):
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(SETUP), runs_dir=tmp_path)
    ended = RangeTests()
    async with app.run_test(size=(130, 45), message_hook=ended) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await forms_built(pilot)
        screen.query_one("#tabs").active = "tab-optimizer"
        await until(pilot, lambda: screen.query_one("#field-optimizer-learning_rate Input", Input))
        field = screen.query_one("#field-optimizer-learning_rate Input", Input)
        assert field.value == "0.001"

        await pilot.press("f7")
        chart = screen.query_one("#lr-find-chart", LineChart)
        await until(pilot, lambda: curve_drawn(chart), seconds=120)
        # (the curve drawn while the test still runs is checked by the Esc test below, which stops it mid-way)
        await until(pilot, lambda: ended and "F8" in status(screen), seconds=120)
        [result] = ended
        assert 1e-3 <= result.suggestion <= 1
        assert "steepest descent" in status(screen) and "minimum ÷ 10" in status(screen)
        assert set(chart.marks) == {result.steepest, result.min_tenth}  # both suggestions marked

        await pilot.press("f8")
        await pilot.pause()
        chosen = float(f"{result.suggestion:.3g}")
        assert float(field.value) == chosen
        assert screen.config.optimizer.learning_rate == chosen

        await pilot.press("f5")
        await until(pilot, lambda: app.session is not None and app.session.result is not None, seconds=120)
        summary = json.loads((app.session.run_dir / "summary.json").read_text())
        assert summary["config"]["optimizer"]["learning_rate"] == chosen
        assert summary["lr_find"]["suggestion"] == result.suggestion


async def test_esc_stops_the_range_test_and_the_forms_stay_usable_meanwhile(tmp_path, monkeypatch):
    from tui.core import lrfind

    escaped = threading.Event()

    class StepHeldUntilEscape(lrfind.RangeTestStep):  # from the third step on, the test waits for Esc:
        def __init__(self, *args):                      # a fast machine cannot finish it first
            super().__init__(*args)
            if self.step >= 3:
                escaped.wait(60)

    monkeypatch.setattr(lrfind, "RangeTestStep", StepHeldUntilEscape)
    app = CnnTuiApp(cfg.ExperimentConfig().with_values(SETUP), runs_dir=tmp_path)
    ended = RangeTests()
    async with app.run_test(size=(130, 45), message_hook=ended) as pilot:
        screen = app.screen
        await pilot.press("f7")
        await until(pilot, lambda: curve_drawn(screen.query_one("#lr-find-chart", LineChart)), seconds=120)
        screen.query_one("#tabs").active = "tab-training"  # the forms answer while the test runs
        await until(pilot, lambda: screen.query_one("#field-training-epochs Input", Input))
        await pilot.press("escape")
        escaped.set()
        await until(pilot, lambda: ended and "stopped by request" in status(screen), seconds=60)
        assert [r.stop_reason for r in ended] == ["stopped"]
