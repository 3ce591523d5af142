"""The session's bus: every subscriber (the event log, the doctor, the app, a viewer) sees one stream in one order,
and a subscriber that breaks is reported while training goes on."""

import io
import re

from rich.console import Console

from tui.core import config as cfg
from tui.core.bus import EventBus
from tui.core.diagnostics import Doctor
from tui.core.eventlog import read_events
from tui.core.events import Diagnosis, EpochEnd, Prepare, RunEnded, StateChanged, SubscriberFailed
from tui.core.rundir import RunDir
from tui.core.session import TrainingSession

TINY = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "mlp", "model.hidden_units": [8],
        "training.epochs": 2, "training.batch_size": 16}


def epoch(n: int) -> EpochEnd:
    return EpochEnd(n, 3, {"loss": 1.0 / n}, 0.001, 1.0, 100.0)


def test_subscribers_get_every_event_in_the_order_they_subscribed_the_first_one_first():
    bus, seen = EventBus(), []
    bus.subscribe(lambda e: seen.append(("view", e.epoch)))
    bus.subscribe(lambda e: seen.append(("log", e.epoch)), first=True)
    stop_viewing = bus.subscribe(lambda e: seen.append(("other view", e.epoch)))
    bus.publish(epoch(1))
    stop_viewing()
    bus.publish(epoch(2))
    assert seen == [("log", 1), ("view", 1), ("other view", 1), ("log", 2), ("view", 2)]


def test_an_event_published_by_a_subscriber_comes_after_the_one_it_handles_for_everyone():
    """The doctor answers an EpochEnd with a Diagnosis: no subscriber sees the Diagnosis before the EpochEnd."""
    bus = EventBus()
    first, last = [], []
    bus.subscribe(first.append)
    bus.subscribe(lambda e: bus.publish(Diagnosis(())) if isinstance(e, EpochEnd) else None)
    bus.subscribe(last.append)
    bus.publish(epoch(1))
    bus.publish(epoch(2))
    assert [type(e) for e in first] == [type(e) for e in last] == [EpochEnd, Diagnosis, EpochEnd, Diagnosis]
    assert first == last


def test_a_subscriber_that_raises_is_reported_once_and_the_others_still_get_everything():
    bus, seen = EventBus(), []

    def broken(event):
        raise ValueError("no room on the disk\nsecond line")

    bus.subscribe(broken, name="the event log")
    bus.subscribe(seen.append)
    for n in (1, 2, 3):
        bus.publish(epoch(n))  # never raises to the publisher (the training thread)
    assert [type(e) for e in seen] == [EpochEnd, SubscriberFailed, EpochEnd, EpochEnd]
    report = seen[1]
    assert (report.subscriber, report.failed_on, report.error) == (
        "the event log", "EpochEnd", "ValueError: no room on the disk")
    assert report.message == ("the event log failed on EpochEnd (ValueError: no room on the disk); the run goes on "
                              "without it")


def test_a_subscriber_that_also_fails_on_the_report_does_not_loop():
    bus, seen = EventBus(), []
    bus.subscribe(lambda e: 1 / 0)
    bus.subscribe(seen.append)
    bus.publish(StateChanged("paused"))
    bus.publish(StateChanged("running"))
    assert [type(e) for e in seen] == [StateChanged, SubscriberFailed, StateChanged]
    assert "<lambda>" in seen[1].subscriber and seen[1].error == "ZeroDivisionError: division by zero"


def test_the_headless_view_prints_the_warning():
    from tui.headless import HeadlessView

    out = io.StringIO()
    view = HeadlessView(Console(file=out, width=200))
    view.handle(SubscriberFailed("the doctor", "EpochEnd", "KeyError: 'loss'"))
    assert "warning the doctor failed on EpochEnd (KeyError: 'loss'); the run goes on without it" in out.getvalue()


def test_while_shown_the_headless_view_draws_on_its_own_thread_so_training_never_waits_for_the_terminal():
    """The listener runs on the training thread: while the view is shown it returns at once, even when the
    terminal is slow, and every row is printed, in order, before the view is left."""
    import threading

    from tui.headless import HeadlessView

    out = io.StringIO()
    view = HeadlessView(Console(file=out, width=200))
    view.epoch_task = view.progress.add_task("epochs", total=3, info="")
    slow_terminal = threading.Event()
    drawn_on = []
    draw = view.draw

    def slow_draw(event):
        slow_terminal.wait(10)
        drawn_on.append(threading.current_thread().name)
        draw(event)

    view.draw = slow_draw
    with view:
        for epoch in (1, 2, 3):
            view.handle(EpochEnd(epoch, 3, {"loss": 1.0 / epoch}, 0.001, 1.0, 100.0))
        assert "epoch" not in out.getvalue()  # nothing drawn yet: the terminal is stuck, training is not
        slow_terminal.set()
    rows = [line for line in out.getvalue().splitlines() if line.startswith("epoch ")]
    assert [row.split()[1] for row in rows] == ["1/3", "2/3", "3/3"]
    assert set(drawn_on) == {"cnn-tui-view"}


def test_epochs_that_end_faster_than_the_view_draws_are_printed_together_under_one_redraw_of_the_bars():
    """Each write to the terminal makes rich redraw the progress bars under the rows, on the cores training
    uses: a flood of epochs is written at most once a second, every row still there and in order."""
    from tui.headless import HeadlessView

    out = io.StringIO()
    view = HeadlessView(Console(file=out, width=200, force_terminal=True))
    view.epoch_task = view.progress.add_task("epochs", total=50, info="")
    with view:
        for epoch in range(1, 51):
            view.handle(EpochEnd(epoch, 50, {"loss": 1.0 / epoch}, 0.001, 0.01, 100.0))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n")  # colours, cursor moves
    rows = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert [int(row.split()[1].split("/")[0]) for row in rows] == list(range(1, 51))
    assert text.count("epochs") <= 5  # the bars' label, once a redraw (one a row drew it 50 times)


def test_a_row_that_comes_after_a_quiet_spell_is_printed_while_the_run_goes_on_with_the_bars_up_to_date(
        monkeypatch):
    import time

    import tui.headless
    from tui.headless import HeadlessView

    monkeypatch.setattr(tui.headless, "DRAW_EVERY", 0.2)
    out = io.StringIO()
    view = HeadlessView(Console(file=out, width=200, force_terminal=True))
    view.epoch_task = view.progress.add_task("epochs", total=3, info="")

    def screen() -> list[str]:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n").splitlines()

    with view:
        for epoch in (1, 2):
            time.sleep(0.3)
            view.handle(EpochEnd(epoch, 3, {"loss": 1.0}, 0.001, 1.0, 100.0))
            deadline = time.monotonic() + 5
            while not any(line.startswith(f"epoch   {epoch}/3") for line in screen()) and time.monotonic() < deadline:
                time.sleep(0.02)
            lines = screen()
            assert any(line.startswith(f"epoch   {epoch}/3") for line in lines)  # before the view is left
            bars = [line for line in lines if line.startswith("epochs ")]
            assert f"{epoch}/3" in bars[-1]  # the bars drawn under it count that epoch too


def test_a_run_directory_with_brackets_in_its_path_is_printed_as_it_is_with_the_rows_drawn_beside_it():
    """The rows of one draw are written as one text of rich markup: a path from outside is not read as markup."""
    from tui.core.datasets import DatasetInfo
    from tui.core.events import LayerInfo, ModelSummary, RunStarted
    from tui.headless import HeadlessView

    info = DatasetInfo("digits", (8, 8, 1), 10, tuple(str(i) for i in range(10)), 1149, 288, 360, (180,) * 10,
                       source="/data/[old]/digits")
    model = ModelSummary("simple_cnn", (LayerInfo("conv", "Conv2D", "(8, 8, 32)", 320, True),), 41_000, 41_000)
    out = io.StringIO()
    view = HeadlessView(Console(file=out, width=200))
    with view:
        view.handle(RunStarted("runs/[/]x[bold]", cfg.ExperimentConfig(), info, model, 2, 36, 32))
        view.handle(EpochEnd(1, 2, {"loss": 1.0}, 0.001, 1.0, 100.0))
    text = out.getvalue()
    assert "Run runs/[/]x[bold]" in text and "(/data/[old]/digits)" in text and "epoch   1/2 loss 1.0000" in text


def test_a_broken_doctor_and_a_broken_listener_are_reported_in_the_log_and_the_run_still_finishes(tmp_path,
                                                                                                  monkeypatch):
    def broken_rule(self, event):
        raise ZeroDivisionError("a rule divided by zero")

    def broken_view(event):
        if isinstance(event, EpochEnd):
            raise RuntimeError("the view broke")

    monkeypatch.setattr(Doctor, "observe", broken_rule)
    seen = []
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path,
                              listeners=[broken_view, seen.append])
    result = session.run()
    assert result.status == "finished" and result.summary["epochs_run"] == 2
    reports = [e for e in seen if isinstance(e, SubscriberFailed)]
    assert [(r.subscriber, r.failed_on) for r in reports] == [
        ("the doctor", "Prepare"), (f"{__name__}.{broken_view.__qualname__}", "EpochEnd")]
    # each report comes right after the event that broke its subscriber
    assert isinstance(seen[seen.index(reports[0]) - 1], Prepare)
    assert seen[seen.index(reports[1]) - 1] == next(e for e in seen if isinstance(e, EpochEnd))
    # the event log is a subscriber too: it recorded the same stream (progress of the moment aside), reports included
    logged = read_events(RunDir(session.run_dir).events_file)
    assert [type(e) for e in logged] == [type(e) for e in seen if not isinstance(e, Prepare)]
    assert [e for e in logged if isinstance(e, SubscriberFailed)] == reports
    assert isinstance(logged[-1], RunEnded)
