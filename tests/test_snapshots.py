"""Snapshot tests of the screens that are stable (pytest-textual-snapshot): what a person sees, pixel for pixel.

Each screen is shown over recorded data (no training): a finding's detail, the run history, a finished sweep's
heatmap, a finished training screen, and the set-up screen once its model summary has loaded.
Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update` and review the SVGs.
"""

import json
import os
import time
from collections import deque
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input

from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.diagnostics import Finding, Fix
from tui.core.events import EpochEnd, LayerInfo, ModelSummary, RunEnded, RunStarted
from tui.core.rundir import RunDir
from tui.core.sweep import Cell, SweepState, make_spec
from still_session import StillSession

SIZE = (120, 40)
STAMP = 1_780_000_000  # a fixed 'started' time for the recorded runs
OVERFITTING = Finding(
    "overfitting", "warning", 6, "Overfitting",
    "val_loss rose from 0.3100 (epoch 5, its best) to 0.4200 (epoch 8) while training loss fell from 0.2000 to 0.0900",
    "The network is memorising the training set: what it learns no longer carries over to new images.",
    (Fix("add dropout 0.3", {"model.dropout": 0.3}), Fix("stop early (patience 3)", {"training.early_stopping": True})))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def still(app: App) -> App:
    """No animation (an indeterminate progress bar pulses otherwise)."""
    app.animation_level = "none"
    return app


async def steady(pilot) -> None:
    """Wait for the screen to settle; a text cursor that blinks is drawn steady."""
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.2)


class Host(App[None]):
    """Shows one screen with the app's stylesheet."""

    CSS_PATH = str(Path(__file__).resolve().parents[1] / "tui" / "ui" / "app.tcss")

    def __init__(self, make_screen) -> None:
        super().__init__()
        still(self)
        self.make_screen = make_screen
        self.runs_dir = Path("runs")

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


def record_run(runs: Path, name: str, status: str, val_accs: list[float], findings=()) -> RunDir:
    rd = RunDir(runs / name)
    rd.path.mkdir(parents=True)
    cfg.save(cfg.ExperimentConfig(), rd.config_file)
    rows = ["epoch,accuracy,loss,lr,val_accuracy,val_loss"]
    rows += [f"{i},{a - 0.02:.4f},{1 - a:.4f},0.001,{a:.4f},{1.1 - a:.4f}" for i, a in enumerate(val_accs)]
    rd.history_file.write_text("\n".join(rows) + "\n")
    best = max(range(len(val_accs)), key=val_accs.__getitem__)
    rd.summary_file.write_text(json.dumps({
        "status": status, "error": None, "epochs_run": len(val_accs), "wall_seconds": 12.5 * len(val_accs),
        "best": {"epoch": best + 1, "val_accuracy": val_accs[best], "val_loss": 1.1 - val_accs[best]},
        "findings": [f.as_dict() for f in findings]}))
    # the runs folder too: the screen reads a folder changed in the last 2 s again at its next watch, and a
    # snapshot taken during that reading shows "reading the folder…" (seen when the test took over 2 s)
    for path in (rd.config_file, rd.path, runs):
        os.utime(path, (STAMP, STAMP))
    return rd


def test_a_findings_detail(snap_compare):
    from tui.ui.screens.finding import FindingScreen

    assert snap_compare(Host(lambda: FindingScreen([OVERFITTING])), terminal_size=SIZE)


def test_the_run_history(snap_compare, tmp_path, monkeypatch):
    from tui.ui.screens.runs import RunsScreen

    monkeypatch.chdir(tmp_path)  # the title names the runs folder: keep it the same on every machine
    runs = Path("runs")
    record_run(runs, "20260101-120000-digits-simple_cnn", "finished", [0.5, 0.7, 0.8, 0.85])
    record_run(runs, "20260101-130000-digits-mlp", "stopped", [0.3, 0.45])
    async def listed(pilot) -> None:  # the runs are read in a worker: wait until every one is listed
        while pilot.app.screen.scanning is not None:
            await pilot.pause(0.05)
        await steady(pilot)

    assert snap_compare(Host(lambda: RunsScreen(runs)), terminal_size=SIZE, run_before=listed)


class FinishedSweep:
    """What the sweep screen reads of a runner, for a sweep that has ended."""

    workers = 1
    scheduler = None

    def __init__(self, state: SweepState) -> None:
        self.state = state

    def subscribe(self, listener) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_finished_sweep_heatmap(snap_compare):
    from tui.ui.screens.sweep import SweepScreen

    base = cfg.ExperimentConfig().with_values({"training.epochs": 2})
    spec = make_spec(base, [("model.conv_filters", [4, 8, 16]), ("model.dense_units", [16, 32])])
    cells = tuple(Cell(index, tuple(values.items()), status="finished", seconds=10.0, run_dir=f"cell-{i}",
                       best_val_accuracy=0.6 + 0.05 * sum(index)) for i, (index, values) in enumerate(spec.cells()))
    state = SweepState(Path("runs/20260101-120000-sweep-digits"), spec.axes, cells, spec.base, spec.epochs,
                       spec.train_size, status="finished", message="all cells done")
    assert snap_compare(Host(lambda: SweepScreen(FinishedSweep(state))), terminal_size=SIZE)


def test_a_finished_training_screen(snap_compare):
    from tui.ui.screens.training import TrainingScreen

    config = cfg.ExperimentConfig().with_values({"training.epochs": 8})
    info = DatasetInfo("digits", (8, 8, 1), 10, tuple(str(i) for i in range(10)), 1149, 288, 360, (180,) * 10)
    model = ModelSummary("simple_cnn", (LayerInfo("conv", "Conv2D", "(8, 8, 32)", 320, True),), 41_000, 41_000)
    events = deque([RunStarted("runs/20260101-120000-digits-simple_cnn", config, info, model, 8, 36, 32)])
    for epoch in range(1, 9):
        loss, val_loss = 1.5 / epoch, 0.3 + abs(epoch - 5) * 0.04
        events.append(EpochEnd(epoch, 8, {"loss": loss, "accuracy": 1 - loss / 2, "val_loss": val_loss,
                                          "val_accuracy": 0.9 - abs(epoch - 5) * 0.01}, 0.001, 1.5, 766.0))
    events.append(RunEnded("finished", None, "runs/20260101-120000-digits-simple_cnn", {}))

    async def drained(pilot) -> None:
        screen = pilot.app.screen
        while screen.events:  # the screen's timer folds them in a few times a second
            await pilot.pause(0.1)
        await pilot.pause(0.5)  # the drain after the last events
        await steady(pilot)

    assert snap_compare(Host(lambda: TrainingScreen(StillSession(), events)), terminal_size=SIZE,
                        run_before=drained)


def test_the_setup_screen_with_its_model_summary(snap_compare, tmp_path):
    from tui.ui.app import CnnTuiApp

    async def summary_loaded(pilot) -> None:
        from pilot_wait import until

        def shown(selector: str, text: str) -> bool:
            return text in str(pilot.app.screen.query_one(selector).render())

        # the forms, then the side column, then the dataset and the model summary (background work) come after
        # the first frame: wait for what they show, not a fixed time
        await until(pilot, lambda: shown("#dataset-info", "per class"), seconds=120)
        await until(pilot, lambda: shown("#model-summary", "parameters"), seconds=180)
        await pilot.app.workers.wait_for_complete()
        await steady(pilot)

    app = still(CnnTuiApp(cfg.ExperimentConfig(), runs_dir=tmp_path))
    assert snap_compare(app, terminal_size=SIZE, run_before=summary_loaded)
