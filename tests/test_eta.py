"""The ETA on the status line (the app's and the attached view's) follows the pace of the latest epochs: the first
epoch traces the model and takes several times longer, and a change made while paused moves the pace."""

from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.events import EpochEnd, LayerInfo, ModelSummary, RunStarted
from tui.core.monitor import RunMonitor


def started(epochs: int) -> RunStarted:
    info = DatasetInfo("digits", (8, 8, 1), 10, tuple(str(i) for i in range(10)), 1149, 288, 360, (180,) * 10)
    model = ModelSummary("simple_cnn", (LayerInfo("conv", "Conv2D", "(8, 8, 32)", 320, True),), 41_000, 41_000)
    return RunStarted("runs/x", cfg.ExperimentConfig(), info, model, epochs, 36, 32)


def epoch(n: int, seconds: float) -> EpochEnd:
    return EpochEnd(n, 100, {"loss": 1 / n}, 1e-3, seconds, 1000.0)


def test_the_first_epoch_s_tracing_does_not_inflate_the_time_left():
    monitor = RunMonitor()
    monitor.apply(started(epochs=100))
    monitor.apply(epoch(1, seconds=30.0))  # tracing
    assert monitor.eta_seconds() == 99 * 30.0  # all there is to go by
    for n in range(2, 5):
        monitor.apply(epoch(n, seconds=2.0))
    assert monitor.eta_seconds() == 96 * 2.0  # not 96 x 9.0, the mean with the first epoch in it


def test_the_time_left_follows_a_change_of_pace_within_ten_epochs():
    monitor = RunMonitor()
    monitor.apply(started(epochs=100))
    for n in range(1, 31):
        monitor.apply(epoch(n, seconds=2.0))
    for n in range(31, 41):  # the batch size halved while paused: each epoch now takes twice as long
        monitor.apply(epoch(n, seconds=4.0))
    assert monitor.eta_seconds() == 60 * 4.0
