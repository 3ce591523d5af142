"""The training screen's four charts: all at once in a tall terminal; in a short one (under 40 rows) two at a
time, `g` switching between loss/accuracy and learning rate/batch loss. A chart shown again shows what arrived
while it was hidden (its drawn frames are kept only for the data they were drawn from)."""

from collections import deque
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from pilot_wait import until
from still_session import StillSession
from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.events import BatchEnd, EpochEnd, LayerInfo, ModelSummary, Prepare, RunStarted, StateChanged
from tui.ui.screens.training import TrainingScreen
from tui.ui.widgets.chart import LineChart

CSS = str(Path(__file__).resolve().parents[1] / "tui" / "ui" / "app.tcss")


class Host(App[None]):
    CSS_PATH = CSS

    def __init__(self, screen: TrainingScreen) -> None:
        super().__init__()
        self.training = screen
        self.runs_dir = Path("runs")

    def on_mount(self) -> None:
        self.push_screen(self.training)


def epoch(n: int, lr: float = 0.001) -> EpochEnd:
    loss = 1.5 / n
    return EpochEnd(n, 100, {"loss": loss, "accuracy": 1 - loss / 2, "val_loss": loss * 1.2,
                             "val_accuracy": 0.9 - loss / 3}, lr, 1.5, 766.0)


def training_screen(epochs: int) -> TrainingScreen:
    config = cfg.ExperimentConfig().with_values({"training.epochs": 100})
    info = DatasetInfo("digits", (8, 8, 1), 10, tuple(str(i) for i in range(10)), 1149, 288, 360, (180,) * 10)
    model = ModelSummary("simple_cnn", (LayerInfo("conv", "Conv2D", "(8, 8, 32)", 320, True),), 41_000, 41_000)
    events = deque([RunStarted("runs/x", config, info, model, 100, 36, 32), *(epoch(i) for i in range(1, epochs + 1))])
    return TrainingScreen(StillSession(), events)


def shown(screen: TrainingScreen) -> set[str]:
    """The titles of the charts on the terminal now."""
    return {chart.title for chart in screen.query(LineChart) if chart.display and chart.region.area}


def drawn(screen: TrainingScreen, name: str) -> str:
    """Chart `name` ("loss", "accuracy", "lr", "batch") as it is painted: the lines Textual hands the terminal for
    it (through its styled-line cache, which `g` moves with what a chart shows)."""
    chart = screen.chart(name)
    return "\n".join(strip.text for strip in chart.render_lines(chart.size.region))


def drawn_anew(screen: TrainingScreen, name: str) -> str:
    """Chart `name` as its data draw it now, past any lines kept."""
    chart = screen.chart(name)
    return "\n".join(chart.render_line(y).text for y in range(chart.size.height))


async def test_a_short_terminal_shows_two_charts_and_g_switches_the_pair():
    screen = training_screen(epochs=8)
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 8 and not screen.events)
        await pilot.pause()
        assert shown(screen) == {"loss", "accuracy"}
        await pilot.press("g")
        assert shown(screen) == {"learning rate", "batch loss"}
        assert "learning rate" in drawn(screen, "lr")
        await pilot.press("g")
        assert shown(screen) == {"loss", "accuracy"}


def x_axis_end(screen: TrainingScreen, name: str) -> float:
    """The last tick label of chart `name`'s x axis as painted."""
    return float(drawn(screen, name).splitlines()[-2].split()[-1])


def in_reading_order(screen: TrainingScreen) -> list[str]:
    """The titles of the charts shown, left to right and top to bottom."""
    charts = [chart for chart in screen.query(LineChart) if chart.display and chart.region.area]
    return [chart.title for chart in sorted(charts, key=lambda c: (c.region.y, c.region.x))]


async def test_g_moves_the_charts_with_their_data_and_marks_and_a_taller_terminal_puts_them_back_in_order():
    screen = training_screen(epochs=5)
    screen.events.append(BatchEnd(6, 9, 36, 0.8, 0.7, 0.8, 700.0, 0.5))
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 5 and not screen.events)
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert in_reading_order(screen) == ["learning rate", "batch loss"]
        assert "learning rate" in drawn(screen, "lr") and "epoch 6" in drawn(screen, "batch")
        await pilot.press("g")
        await pilot.pause()
        assert in_reading_order(screen) == ["loss", "accuracy"]
        assert x_axis_end(screen, "loss") == 5 and screen.chart("loss").labels == ("loss", "val_loss")
        await pilot.press("g")
        await pilot.resize_terminal(120, 45)
        await pilot.pause()
        assert in_reading_order(screen) == ["loss", "accuracy", "learning rate", "batch loss"]
        assert x_axis_end(screen, "loss") == 5 and "epoch 6" in drawn(screen, "batch")


async def test_g_back_and_forth_paints_each_pair_as_its_data_draw_it():
    screen = training_screen(epochs=5)
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 5 and not screen.events)
        await pilot.pause()
        for press in range(6):
            pair = ("lr", "batch") if press % 2 else ("loss", "accuracy")
            if press == 3:  # (while the run trains its last frame may answer the key, the new one following in budget)
                await until(pilot, lambda: "0.0001" in drawn(screen, "lr"), seconds=30)
            for name in pair:
                assert drawn(screen, name) == drawn_anew(screen, name), (press, name)
            assert "learning rate" in drawn(screen, "lr") if press % 2 else "loss" in drawn(screen, "loss")
            if press == 2:  # an epoch ends while loss and accuracy show: the pair away is drawn anew on its return
                screen.events.append(epoch(6, lr=0.0001))
                await until(pilot, lambda: screen.monitor.epochs_seen == 6 and not screen.events)
                await until(pilot, lambda: "6.0" in drawn(screen, "loss"), seconds=30)
            await pilot.press("g")
            await pilot.pause()


async def test_a_tall_terminal_shows_all_four_charts():
    screen = training_screen(epochs=3)
    async with Host(screen).run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 3 and not screen.events)
        await pilot.pause()
        assert shown(screen) == {"loss", "accuracy", "learning rate", "batch loss"}


async def test_a_chart_shown_again_shows_the_epochs_that_ended_while_it_was_hidden():
    screen = training_screen(epochs=4)
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 4 and not screen.events)
        await pilot.pause()
        assert "4.0" in drawn(screen, "loss")  # the x axis ends at epoch 4
        await pilot.press("g")  # loss hidden; two more epochs end, the second with a lower learning rate
        screen.events.extend([epoch(5), epoch(6, lr=0.0001)])
        await until(pilot, lambda: screen.monitor.epochs_seen == 6 and not screen.events)
        # the shown chart follows (at once, or after a gap of ~20 × its last frame's cost when epochs come fast)
        await until(pilot, lambda: "0.0001" in drawn(screen, "lr"), seconds=30)
        await pilot.press("g")
        assert shown(screen) == {"loss", "accuracy"}
        # redrawn to epoch 6, not left at the frame kept (at once, or when the UI's CPU budget allows: ≤ 10 s)
        await until(pilot, lambda: "6.0" in drawn(screen, "loss")
                    and "4.0" not in drawn(screen, "loss").splitlines()[-2], seconds=30)


async def test_the_batch_chart_spans_the_epoch_s_batches_from_its_first_point():
    # one point so far (a short epoch, or the first ~¼ s): plotext alone centres it in a range around it
    screen = training_screen(epochs=1)
    screen.events.append(BatchEnd(2, 9, 36, 0.8, 0.7, 0.8, 700.0, 0.5))
    async with Host(screen).run_test(size=(100, 50)) as pilot:
        await until(pilot, lambda: not screen.events and screen.monitor.last_batch is not None)
        await pilot.pause()
        lines = drawn(screen, "batch").splitlines()
        x_axis = next(line for line in reversed(lines) if any(c.isdigit() for c in line))  # the tick labels
        values = [float(v) for v in x_axis.split()]
        assert min(values) == 0 and max(values) == 36, x_axis


async def test_the_batch_chart_says_which_epoch_it_shows_in_a_short_terminal_too():
    # plotext leaves out a title wider than the plot: at 100 columns, with a late epoch's small losses (wide tick
    # labels), the batch chart had no title at all
    screen = training_screen(epochs=1)
    screen.events.extend(BatchEnd(155, batch, 36, loss, 1.0, loss, 700.0, 0.5)
                         for batch, loss in ((9, 0.000677), (18, 0.000301), (27, 0.000226)))
    async with Host(screen).run_test(size=(100, 50)) as pilot:
        await until(pilot, lambda: not screen.events and screen.monitor.last_batch is not None)
        await pilot.pause()
        assert "batch loss — epoch 155" in drawn(screen, "batch")
        assert "loss, ¼ s means" in drawn(screen, "batch")


@pytest.mark.parametrize(("columns", "title"), [(80, "learning rate"),
                                               (200, "learning rate — marked: changed while paused")])
async def test_the_learning_rate_chart_keeps_its_title_when_its_subtitle_has_no_room(columns, title):
    # plotext leaves out a title it has no room for: after a change made while paused, "learning rate — marked:
    # changed while paused" did not fit a chart half of 80 or 90 columns wide, and the chart had no title at all
    from tui.core.events import SettingsChanged

    screen = training_screen(epochs=3)
    screen.events.extend([SettingsChanged(3, 36, 36, {"optimizer.learning_rate": 0.0001},
                                          {"optimizer.learning_rate": 0.001}), epoch(4, lr=0.0001)])
    async with Host(screen).run_test(size=(columns, 50)) as pilot:
        await until(pilot, lambda: not screen.events and len(screen.monitor.changes) == 1)
        await until(pilot, lambda: "0.0001" in drawn(screen, "lr"), seconds=30)
        assert title in drawn(screen, "lr")
        assert screen.chart("lr").marks == (3.0,)


async def test_after_a_stop_the_status_line_says_the_test_split_is_being_evaluated():
    """Between the stop taking effect and the results, the test split is evaluated (seconds on a large one); the
    status line says so rather than still "stopping at the next batch"."""
    screen = training_screen(epochs=3)
    status = lambda: str(screen.query_one("#run-status", Static).render())  # noqa: E731
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        screen.events.append(StateChanged("stopping"))
        await until(pilot, lambda: "stopping at the next batch" in status())
        screen.events.append(EpochEnd(4, 100, {"loss": 0.3}, 0.001, 0.5, 700.0, partial=True))
        screen.events.append(Prepare("test", "Evaluating on the test split…"))
        await until(pilot, lambda: "Evaluating on the test split" in status())
        assert "stopping" not in status()
