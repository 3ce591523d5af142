"""The training screen's four charts: all at once in a tall terminal; in a short one (under 40 rows) two at a
time, `g` switching between loss/accuracy and learning rate/batch loss. A chart shown again shows what arrived
while it was hidden (its drawn frames are kept only for the data they were drawn from)."""

from collections import deque
from pathlib import Path

from textual.app import App

from pilot_wait import until
from still_session import StillSession
from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.events import BatchEnd, EpochEnd, LayerInfo, ModelSummary, RunStarted
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
    """The charts on the terminal now."""
    return {chart.id for chart in screen.query(LineChart) if chart.display and chart.region.area}


def drawn(screen: TrainingScreen, chart_id: str) -> str:
    return "\n".join(screen.query_one(f"#{chart_id}", LineChart).render_line(y).text
                     for y in range(screen.query_one(f"#{chart_id}").size.height))


async def test_a_short_terminal_shows_two_charts_and_g_switches_the_pair():
    screen = training_screen(epochs=8)
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 8 and not screen.events)
        await pilot.pause()
        assert shown(screen) == {"chart-loss", "chart-acc"}
        await pilot.press("g")
        assert shown(screen) == {"chart-lr", "chart-batch"}
        assert "learning rate" in drawn(screen, "chart-lr")
        await pilot.press("g")
        assert shown(screen) == {"chart-loss", "chart-acc"}


async def test_a_tall_terminal_shows_all_four_charts():
    screen = training_screen(epochs=3)
    async with Host(screen).run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 3 and not screen.events)
        await pilot.pause()
        assert shown(screen) == {"chart-loss", "chart-acc", "chart-lr", "chart-batch"}


async def test_a_chart_shown_again_shows_the_epochs_that_ended_while_it_was_hidden():
    screen = training_screen(epochs=4)
    async with Host(screen).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: screen.monitor.epochs_seen == 4 and not screen.events)
        await pilot.pause()
        assert "4.0" in drawn(screen, "chart-loss")  # the x axis ends at epoch 4
        await pilot.press("g")  # loss hidden; two more epochs end, the second with a lower learning rate
        screen.events.extend([epoch(5), epoch(6, lr=0.0001)])
        await until(pilot, lambda: screen.monitor.epochs_seen == 6 and not screen.events)
        # the shown chart follows (at once, or after a gap of ~20 × its last frame's cost when epochs come fast)
        await until(pilot, lambda: "0.0001" in drawn(screen, "chart-lr"), seconds=30)
        await pilot.press("g")
        assert shown(screen) == {"chart-loss", "chart-acc"}
        # redrawn to epoch 6, not left at the frame kept (at once, or when the UI's CPU budget allows: ≤ 10 s)
        await until(pilot, lambda: "6.0" in drawn(screen, "chart-loss")
                    and "4.0" not in drawn(screen, "chart-loss").splitlines()[-2], seconds=30)


async def test_the_batch_chart_spans_the_epoch_s_batches_from_its_first_point():
    # one point so far (a short epoch, or the first ~¼ s): plotext alone centres it in a range around it
    screen = training_screen(epochs=1)
    screen.events.append(BatchEnd(2, 9, 36, 0.8, 0.7, 0.8, 700.0, 0.5))
    async with Host(screen).run_test(size=(100, 50)) as pilot:
        await until(pilot, lambda: not screen.events and screen.monitor.last_batch is not None)
        await pilot.pause()
        lines = drawn(screen, "chart-batch").splitlines()
        x_axis = next(line for line in reversed(lines) if any(c.isdigit() for c in line))  # the tick labels
        values = [float(v) for v in x_axis.split()]
        assert min(values) == 0 and max(values) == 36, x_axis
