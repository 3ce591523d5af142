"""`cnn-tui attach`: the training screen for a run that another process writes (a detached run, a headless run in
another terminal, the app in another terminal, a sweep cell, a folder copied from another machine), fed by following
its event log; and the sweep heatmap for a sweep directory, where Enter attaches to a cell.

An attached view never writes into the run directory except control requests (tui.core.control): stop and pause
reach the owner, whose acknowledgement comes back through the event log. Any number of views may attach at once.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from tui.core import control, owner
from tui.core.eventlog import EventLogFollower
from tui.core.rundir import RunDir, SweepDir
from tui.core.events import BatchEnd, ControlAck, Event, GradientNorms
from tui.ui.messages import FixRequested
from tui.ui.screens.training import TrainingScreen

if TYPE_CHECKING:
    from tui.core.notify import Notifier, Sink
    from tui.core.sweep import SweepState

FOLLOW_SECONDS = 0.25
"""How often the event log is read for new records (a stat when nothing changed)."""
OWNER_CHECK_SECONDS = 1.0
VIEW_REDRAW_SECONDS = 1.0
"""An attached view redraws batch progress at most this often (an epoch's end, the doctor's findings, a state
change and the run's end at once): a viewer costs the training machine as little CPU as it can."""
VIEWER_NICE = 19
"""`cnn-tui attach` lowers its own priority to the lowest: the training it watches wins the CPU, a viewer draws in
the time the training leaves (benchmarks/attach.py measures the writer's throughput with three viewers attached:
0.977 at nice 10, 1.013 at 19 with its charts every 5 s, epochs of 3.5 s, in one sitting)."""


class NotARun(Exception):
    """The target is not a run or sweep directory; the message says what was found and what to give instead."""


def resolve_target(target: str, runs_dir: str | None = None) -> tuple[str, Path]:
    """("run" | "sweep", directory) for a RUN_DIR, a SWEEP_DIR or ``latest`` (the newest in the runs folder)."""
    if target == "latest":
        folder = Path(runs_dir or "runs")
        dirs = sorted((d for d in folder.iterdir() if d.is_dir() and (RunDir(d).is_run() or SweepDir(d).is_sweep())),
                      key=lambda d: (d.stat().st_mtime, d.name)) if folder.is_dir() else []
        if not dirs:
            raise NotARun(f"no runs in {folder}; start one (cnn-tui train --detach) or give --runs-dir")
        path = dirs[-1]
    else:
        path = Path(target).expanduser()
    if not path.is_dir():
        raise NotARun(f"{path}: no such directory; give a run directory, a sweep directory or `latest`")
    if SweepDir(path).is_sweep():
        return "sweep", path
    if RunDir(path).is_run() or RunDir(path).events_file.is_file():
        return "run", path
    raise NotARun(f"{path} is not a run directory (no config.toml or events.jsonl) nor a sweep directory (no "
                  "sweep.json); run directories are the folders under runs/ (cnn-tui runs lists them)")


class AttachedRun:
    """The attached view's handle on the run: the TrainingScreen's `session`, controlled through the channel."""

    def __init__(self, run_dir: Path, screen: "AttachScreen") -> None:
        from tui.core import config as config_mod

        self.run_dir = run_dir
        self._screen = screen
        from tui.core.params import ConfigError

        try:
            self.config = RunDir(run_dir).read_config()
        except (OSError, ConfigError):
            self.config = config_mod.ExperimentConfig()

    @property
    def paused(self) -> bool:
        return self._screen.monitor.state == "paused"

    def stop(self) -> None:
        control.send(self.run_dir, "stop")

    def pause(self) -> None:
        control.send(self.run_dir, "pause")

    def resume(self) -> None:
        control.send(self.run_dir, "resume")

    def change(self, params: dict[str, Any]) -> str:
        """Through the control channel: the run's process checks and applies it (its ControlAck says so)."""
        try:
            control.send(self.run_dir, "change", params)
        except control.ControlRefused as exc:
            raise ValueError(str(exc)) from None
        return "sent to the run's process"


class AttachScreen(TrainingScreen):
    """The training screen over a followed event log."""

    BINDINGS = [
        Binding("b,escape", "detach", "Detach"),
        Binding("r", "resume_run", "Resume", show=False),
    ]
    END_HINT = "Its process wrote summary.md into the run directory."
    STATUS_SECONDS = 2.0
    """A viewer draws the batch counter and speed every 2 s: any number of viewers may watch a run without slowing
    it (epoch rows, findings and state changes are still drawn at the next drain)."""
    BATCH_SECONDS = CHART_SECONDS = 5.0
    """A viewer redraws its charts at most every 5 s: plotext takes 15-30 ms a chart, and counted in a viewer of
    a run with epochs of 4 s, the charts took 70 % of its CPU (the batch chart, every 2 s then, 40 %). An epoch's
    row is in the table at once; with epochs longer than 5 s the epoch charts are as before."""

    def __init__(self, run_dir: Path, notify_sinks: list[Sink] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.events_in: deque[Event] = deque()
        super().__init__(AttachedRun(self.run_dir, self), self.events_in)
        self.follower = EventLogFollower(RunDir(self.run_dir).events_file)
        self.liveness = owner.NONE
        self.interrupted = False
        self.gone = False
        self._notifier: Notifier | None = None
        if notify_sinks:
            from tui.core.notify import Notifier

            self._notifier = Notifier(notify_sinks)
        self._replayed = False
        self._drawn_at = 0.0

    def on_mount(self) -> None:
        # TrainingScreen.on_mount runs too (Textual calls each class's handler): it sets up the table and the drain.
        self.call_later(self._start_following)

    def _start_following(self) -> None:
        self.title = f"cnn-tui — attached to {self.run_dir.name}"
        self.follow()
        self._replayed = True
        self.check_owner()
        self.set_interval(FOLLOW_SECONDS, self.follow)
        self.set_interval(OWNER_CHECK_SECONDS, self.check_owner)

    # -- following --------------------------------------------------------------------------------------------------
    def follow(self) -> None:
        if self.gone:
            return
        chunk = self.follower.read()
        if chunk.replaced:
            self.notify("The run's event log was replaced: showing the new run from its start.", severity="warning")
            self.app.switch_screen(AttachScreen(self.run_dir))
            return
        if chunk.missing:
            if not self.run_dir.is_dir():
                self.gone = True
                self._set("#run-status",  # the status line remembers its text: set it the same way
                    f"[red]The run directory {self.run_dir} was deleted[/] — what is shown is what was read; "
                    "b leaves")
                self.notify("The run directory was deleted.", severity="error")
            return
        for event in chunk.events:
            if isinstance(event, ControlAck):
                self.notify(f"The run's owner: {event.message}", title=f"{event.action} "
                            + ("done" if event.ok else "refused"), severity="information" if event.ok else "warning")
            if self._notifier is not None and self._replayed:
                self._notifier(event)
        self.events_in.extend(chunk.events)
        if chunk.events:
            self.drain()

    def drain(self) -> None:
        """Redraw now if something more than batch progress arrived, else at most every VIEW_REDRAW_SECONDS."""
        import time

        now = time.monotonic()
        urgent = any(not isinstance(e, (BatchEnd, GradientNorms)) for e in self.events_in)
        if not urgent and now - self._drawn_at < VIEW_REDRAW_SECONDS:
            return  # (with nothing queued, what the budget put off is drawn: tui.ui.screens.training)
        self._drawn_at = now
        super().drain()

    def check_owner(self) -> None:
        """Live, interrupted (the writer died), or owned elsewhere (read-only)."""
        if self.gone:
            return
        self.liveness = RunDir(self.run_dir).liveness()
        ended = self.monitor.ended is not None
        why = control.can_control(self.run_dir)
        self.sub_title = ("run ended" if ended else "live: s and p reach the run's process" if why is None
                          else why)
        if ended or self.interrupted:
            return
        if self.monitor.started is None and self.liveness == owner.LIVE:
            self._set("#run-status",  # the status line remembers its text: set it the same way
                "[b]The run's process is starting[/b] (loading TensorFlow, preparing the data)…")
        if self.liveness == owner.DEAD:
            self.interrupted = True
            self.monitor.state = "interrupted"
            self._set("#run-status",  # the status line remembers its text: set it the same way
                "[red]interrupted[/]: its process is gone (killed, crashed, rebooted) · r resumes it, detached")
            if self._replayed:
                self.notify("The run was interrupted: its process is gone. r resumes it.", severity="error",
                            timeout=10)

    # -- controls ---------------------------------------------------------------------------------------------------
    def _send(self, action: str, what: str) -> None:
        if self.monitor.ended is not None:
            self.notify(f"The run has ended ({self.monitor.ended.status}).", severity="warning")
            return
        try:
            control.send(self.run_dir, action)
        except control.ControlRefused as exc:
            self.notify(str(exc), title="Read-only", severity="warning", timeout=8)
            return
        except OSError as exc:
            self.notify(f"Cannot send the request: {exc}", severity="error")
            return
        self.notify(f"{what}: sent, waiting for the run's process…", timeout=4)

    def action_stop(self) -> None:
        self._send("stop", "Stop")

    def action_pause(self) -> None:
        if self.monitor.state == "paused":
            self._send("resume", "Resume")
        else:
            self._send("pause", "Pause")

    def action_export(self) -> None:
        self.notify("An attached view writes nothing into the run directory: the run's own process writes "
                    f"summary.md and summary.json into {self.run_dir} when it ends.", timeout=8)

    def action_back(self) -> None:
        self.action_detach()

    def action_detach(self) -> None:
        """Leave the view; the run goes on."""
        if _screens_below(self.app):
            self.app.pop_screen()
        else:
            self.app.exit(0)

    def action_resume_run(self) -> None:
        if not self.interrupted:
            self.notify("Only an interrupted run can be resumed.", severity="warning")
            return
        from tui.core import detach

        try:
            started = detach.resume(self.run_dir)
        except (detach.DetachRefused, OSError) as exc:
            self.notify(str(exc), title="Not resumed", severity="error", timeout=10)
            return
        self.interrupted = False
        self.monitor.state = "running"
        self.notify(f"Resumed detached (process {started.pid}); following it here.", title="Resumed")

    def action_inside(self) -> None:
        """The inside view from the saved models in the run directory (this process holds no weights)."""
        from tui.ui.screens.inside import InsideScreen

        self.app.push_screen(InsideScreen(run_dir=self.run_dir))


class SweepAttachScreen(Screen):
    """A sweep that another process runs: progress and the heatmap from sweep.json and the cells' run
    directories; Enter on a cell attaches to it."""

    BINDINGS = [Binding("b,escape", "detach", "Detach")]

    def __init__(self, sweep_dir: Path) -> None:
        super().__init__()
        self.sweep_dir = Path(sweep_dir)
        self.state: SweepState | None = None

    def compose(self) -> ComposeResult:
        from tui.ui.widgets.heatmap import Heatmap

        yield Header()
        yield Static("", id="sweep-title")
        yield ProgressBar(total=None, show_eta=False, id="sweep-bar")
        yield Static("", id="sweep-progress")
        with Horizontal():
            with VerticalScroll(id="sweep-map"):
                yield Heatmap(id="heatmap")
            yield OptionList(id="sweep-cells")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"cnn-tui — attached to sweep {self.sweep_dir.name}"
        self.refresh_state()
        self.set_interval(1.0, self.refresh_state)

    def refresh_state(self) -> None:
        from dataclasses import replace

        from tui.core import sweep
        from tui.core.heatmap import progress_line
        from tui.core.params import ConfigError
        from tui.ui.widgets.heatmap import Heatmap

        try:
            state = sweep.load_state(self.sweep_dir)
        except (ConfigError, OSError) as exc:
            self.query_one("#sweep-progress", Static).update(f"[red]{exc}[/]")
            return
        cells = []
        for c in state.cells:  # sweep.json says "stopped" for a cell whose process runs: ask its owner
            if c.run_dir and not c.done and RunDir(self.sweep_dir / c.run_dir).liveness() == owner.LIVE:
                epochs = len(RunDir(self.sweep_dir / c.run_dir).read_epochs())
                c = replace(c, status="running", epoch=epochs, epochs=state.epochs or state.base.training.epochs)
            cells.append(c)
        live = any(c.status == "running" for c in cells)
        state = replace(state, cells=tuple(cells), status="running" if live else state.status)
        self.state = state
        self.query_one("#sweep-title", Static).update(
            f"[b]{' × '.join(f'{a.key} ({len(a.values)})' for a in state.axes)}[/b] = {state.total} cells · "
            f"[dim]{self.sweep_dir}[/]")
        self.query_one("#sweep-bar", ProgressBar).update(total=state.total, progress=state.done)
        self.query_one("#sweep-progress", Static).update(progress_line(state) + "\nEnter on a cell attaches to it.")
        self.query_one(Heatmap).show(state)
        cells_list = self.query_one("#sweep-cells", OptionList)
        highlighted = cells_list.highlighted
        cells_list.clear_options()
        cells_list.add_options([Option(f"{c.status:8} {c.label()}", id=str(i)) for i, c in enumerate(state.cells)])
        if highlighted is not None and highlighted < len(state.cells):
            cells_list.highlighted = highlighted

    @on(OptionList.OptionSelected, "#sweep-cells")
    def _cell_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.state is None:
            return
        cell = self.state.cells[event.option_index]
        if not cell.run_dir or not (self.sweep_dir / cell.run_dir).is_dir():
            self.notify(f"{cell.label()} has not started yet.", severity="warning")
            return
        self.app.push_screen(AttachScreen(self.sweep_dir / cell.run_dir))

    def action_detach(self) -> None:
        if _screens_below(self.app):
            self.app.pop_screen()
        else:
            self.app.exit(0)


def _screens_below(app: App[Any]) -> int:
    """The app's own screens under the top one: the set-up screen in `cnn-tui` (F2, a live run), a sweep's view;
    Textual's blank default screen under `cnn-tui attach`'s first view is none of them."""
    return sum(type(s) is not Screen for s in app.screen_stack[:-1])


class AttachApp(App[int]):
    """The attach command's own small app: one attached screen; quitting never stops the run."""

    CSS_PATH = "app.tcss"
    TITLE = "cnn-tui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(self, kind: str, path: Path, notify: bool = False) -> None:
        super().__init__()
        self.kind, self.path, self.notify_on = kind, path, notify

    def on_mount(self) -> None:
        if self.kind == "sweep":
            self.push_screen(SweepAttachScreen(self.path))
        else:
            self.push_screen(AttachScreen(self.path, notify_sinks=ui_sinks(self) if self.notify_on else None))

    async def action_quit(self) -> None:
        self.exit(0)

    @on(FixRequested)
    def _fix_requested(self, event: FixRequested) -> None:
        """A fix chosen in the doctor's view (TrainingScreen posts it to whichever app hosts the screen): this app
        has no set-up form to load it into."""
        self.notify("Fixes go into the app's set-up form: open this run in `cnn-tui` (F2) to apply one.",
                    severity="warning")


def ui_sinks(app: App[Any]) -> list[Sink]:
    """Notification sinks for a Textual app: a toast, the bell and the desktop-notification escapes (through
    Textual's driver, never behind its back). Safe to call from any thread."""
    from tui.core.notify import Notice, escape_sequences

    def show(notice: Notice) -> None:
        def on_ui() -> None:
            app.notify(notice.line, title=notice.title, severity="error" if notice.status == "failed" else
                       "warning" if notice.kind == "finding" else "information", timeout=10)
            driver = getattr(app, "_driver", None)
            if driver is not None:
                driver.write(escape_sequences(notice))  # bell + OSC 9/777, tmux-wrapped when needed
        try:
            app.call_from_thread(on_ui)
        except RuntimeError:  # already on the UI thread
            on_ui()

    return [show]


def cmd_attach(target: str, runs_dir: str | None, notify: bool = False) -> int:
    try:
        kind, path = resolve_target(target, runs_dir)
    except NotARun as exc:
        print(f"cnn-tui attach: {exc}", file=sys.stderr)
        return 2
    try:
        os.nice(VIEWER_NICE)  # a viewer yields the CPU to the training it watches
    except OSError:
        pass
    try:
        from tui.core.settings import SettingsError, load

        notify = notify or load().notify
    except SettingsError as exc:
        print(f"cnn-tui attach: {exc}", file=sys.stderr)
        return 2
    from tui.ui.graphics import take_terminal

    take_terminal()  # (the inside view, i, loads TensorFlow and draws pictures)
    app = AttachApp(kind, path, notify=notify)
    app.run()
    return app.return_code or 0
