"""The training screen draws within a share of one core while a run trains (tui.ui.budget): what changed waits
while the UI thread has overspent, the epoch charts first when it has saved up their cost, everything at once when
the run ends; and nothing waits forever."""

import pytest

from pilot_wait import until
from test_training_charts import Host, drawn, epoch, shown, training_screen
from tui.core.events import RunEnded
from tui.ui.budget import CpuBudget
from tui.ui.screens import training


class Clocks:
    """A wall clock and a thread CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def budget(self, share: float, burst: float) -> CpuBudget:
        return CpuBudget(share, burst, clock=lambda: self.wall, cpu=lambda: self.cpu)


def test_a_budget_starts_full_and_refills_by_its_share_of_the_wall_time():
    clocks = Clocks()
    budget = clocks.budget(share=0.02, burst=0.1)
    assert budget.update() == pytest.approx(0.1)
    clocks.cpu += 0.3  # a costly frame: overspent
    assert budget.update() == pytest.approx(-0.2)
    clocks.wall += 10  # 10 s at 2 % of a core: 0.2 s back
    assert budget.update() == pytest.approx(0.0)
    clocks.wall += 100  # never more than the burst saved up
    assert budget.update() == pytest.approx(0.1)


def test_a_cost_larger_than_the_burst_fits_a_full_budget_and_no_other():
    clocks = Clocks()
    budget = clocks.budget(share=0.01, burst=0.1)
    budget.update()
    assert budget.affords(0.5)  # put off until the bucket is full, then drawn: never put off for good
    clocks.cpu += 0.01
    budget.update()
    assert not budget.affords(0.5) and budget.affords(0.05)


def test_a_budget_needs_a_share_of_a_core_and_something_to_save():
    with pytest.raises(ValueError, match="share"):
        CpuBudget(0.0, 0.1)
    with pytest.raises(ValueError, match="burst"):
        CpuBudget(0.01, 0.0)


def overspent(screen: training.TrainingScreen) -> Clocks:
    """The screen's budget on clocks where every look at the CPU clock finds another second spent."""
    clocks = Clocks()

    def cpu() -> float:
        clocks.cpu += 1.0
        return clocks.cpu

    screen.budget = CpuBudget(0.01, 0.1, clock=lambda: clocks.wall, cpu=cpu)
    screen.budget.update()  # (a new budget starts full: the first look only starts its clocks)
    return clocks


def last_epoch_drawn(screen: training.TrainingScreen) -> float:
    """The end of the loss chart's x axis as it is on the terminal (its tick labels)."""
    lines = drawn(screen, "loss").splitlines()
    ticks = next((line for line in reversed(lines) if any(c.isdigit() for c in line)), "0")  # (no data: no axis)
    return max(float(v) for v in ticks.split())


async def test_while_the_ui_has_overspent_its_share_training_epochs_wait_and_the_run_s_end_draws_them_all():
    screen = training_screen(epochs=2)
    async with Host(screen).run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: last_epoch_drawn(screen) == 2 and not screen.events)
        overspent(screen)
        screen.events.extend(epoch(n) for n in (3, 4, 5))
        await until(pilot, lambda: screen.monitor.epochs_seen == 5 and not screen.events)
        await pilot.pause(0.6)  # two more ticks of the pump
        assert last_epoch_drawn(screen) == 2  # held back: drawing would take CPU from the training
        screen.events.append(RunEnded("finished", None, None, {}))
        await until(pilot, lambda: last_epoch_drawn(screen) == 5)


async def test_the_charts_are_drawn_every_stale_seconds_however_overspent(monkeypatch):
    monkeypatch.setattr(training, "STALE_SECONDS", 0.5)
    screen = training_screen(epochs=2)
    async with Host(screen).run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: last_epoch_drawn(screen) == 2 and not screen.events)
        overspent(screen)
        screen.events.extend(epoch(n) for n in (3, 4))
        await until(pilot, lambda: last_epoch_drawn(screen) == 4, seconds=5)


async def test_with_cpu_to_spare_each_epoch_is_drawn_as_it_ends():
    screen = training_screen(epochs=2)
    screen.budget = CpuBudget(0.5, 0.1)  # half a core: a chart frame is paid back in a tick of the pump
    async with Host(screen).run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: last_epoch_drawn(screen) == 2 and not screen.events)
        for n in (3, 4):
            screen.events.append(epoch(n))
            await until(pilot, lambda n=n: last_epoch_drawn(screen) == n, seconds=3)


async def test_g_while_overspent_answers_with_the_charts_last_frames_and_their_new_data_wait_their_turn():
    screen = training_screen(epochs=4)
    async with Host(screen).run_test(size=(100, 32)) as pilot:  # short: two charts at a time, g switches
        await until(pilot, lambda: last_epoch_drawn(screen) == 4 and not screen.events)
        await pilot.press("g")  # loss and accuracy hidden while two more epochs end
        screen.events.extend(epoch(n) for n in (5, 6))
        await until(pilot, lambda: screen.monitor.epochs_seen == 6 and not screen.events)
        overspent(screen)
        await pilot.press("g")
        assert shown(screen) == {"loss", "accuracy"}
        await pilot.pause(0.6)
        assert last_epoch_drawn(screen) == 4  # the frame it had: no plotext build for a key while overspent
        screen.events.append(RunEnded("finished", None, None, {}))
        await until(pilot, lambda: last_epoch_drawn(screen) == 6)
