"""A sweep in progress: overall progress and ETA, and the heatmap filling in live; stop, and resume later.

The sweep runs in the app's background worker; its listener only posts SweepUpdated messages (never touches a
widget), and the screen redraws at most a few times a second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from tui.core.heatmap import progress_line
from tui.ui.messages import AppServices, SweepRequested, SweepUpdated
from tui.ui.widgets.heatmap import Heatmap

if TYPE_CHECKING:
    from tui.core.sweep import SweepProgress, SweepRunner

REDRAW_INTERVAL = 0.25
"""Seconds between two redraws at most (updates in between are folded into the next one)."""


class SweepScreen(Screen):
    BINDINGS = [Binding("s", "stop", "Stop"), Binding("r", "resume", "Resume"),
                Binding("escape,b", "back", "Back")]

    def __init__(self, runner: SweepRunner) -> None:
        super().__init__()
        self.runner = runner
        self.state = runner.state
        self.ended = False
        self._drawn_at = 0.0
        self._redraw_pending = False
        runner.subscribe(self._listen)

    def _listen(self, event: SweepProgress) -> None:
        """Runs on the sweep's thread: hand the snapshot to the UI as a message."""
        self.post_message(SweepUpdated(event.state, event.final))

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="sweep-title")
        yield ProgressBar(total=self.state.total, show_eta=False, id="sweep-bar")
        yield Static("", id="sweep-progress")
        with VerticalScroll(id="sweep-map"):
            yield Heatmap(id="heatmap")
        yield Footer()

    def _title(self) -> str:
        s, b = self.state, self.state.base
        grid = " × ".join(f"{a.key} ({len(a.values)})" for a in s.axes)
        budget = f"{b.training.epochs} epochs" + (f", {b.dataset.train_size} samples" if b.dataset.train_size else "")
        return (f"[b]{grid}[/b] = {s.total} cells of {b.model.architecture} on {b.dataset.name}, {budget} each · "
                + (f"on the Dask scheduler {self.runner.scheduler}" if self.runner.scheduler else
                   f"{self.runner.workers} at a time") + f"\n[dim]{s.sweep_dir}[/]")

    def on_mount(self) -> None:
        self.title = "cnn-tui — sweep"
        self._draw()

    @on(SweepUpdated)
    def _updated(self, event: SweepUpdated) -> None:
        self.state = event.state
        self.ended = self.ended or event.final
        wait = REDRAW_INTERVAL - (time.monotonic() - self._drawn_at)
        if event.final or wait <= 0:
            self._draw()
        elif not self._redraw_pending:
            self._redraw_pending = True
            self.set_timer(wait, self._draw)

    def _draw(self) -> None:
        self._redraw_pending = False
        self._drawn_at = time.monotonic()
        s = self.state
        self.query_one("#sweep-bar", ProgressBar).update(total=s.total, progress=s.done)
        text = progress_line(s)
        if self.ended:
            text += (f"\nResults: {s.sweep_dir / 'results.csv'} and results.md" if s.status == "finished" else
                     "\n[yellow]Stopped.[/] r resumes the cells left (finished cells are not run again).")
        self.query_one("#sweep-progress", Static).update(text)
        self.query_one(Heatmap).show(s)

    @property
    def running(self) -> bool:
        return not self.ended and cast(AppServices, self.app).training_active

    def action_stop(self) -> None:
        if self.running:
            self.runner.stop()
            self.notify("Stopping the running cells at their next batch…")

    def action_resume(self) -> None:
        if self.running or self.state.status == "finished":
            self.notify("Nothing to resume: the sweep is " + ("running." if self.running else "finished."),
                        severity="warning")
            return
        sweep_dir, workers = self.state.sweep_dir, self.runner.workers
        self.app.pop_screen()
        self.app.post_message(SweepRequested(sweep_dir, workers, self.runner.scheduler))

    def action_back(self) -> None:
        if self.running:
            self.notify("The sweep is running: s stops it first (it can be resumed).", severity="warning")
            return
        self.app.pop_screen()
