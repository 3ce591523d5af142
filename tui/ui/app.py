"""The cnn-tui Textual application: set-up screen → training screen, over the UI-free core."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.core.config import ExperimentConfig
from tui.ui.messages import AttachRequested, FixRequested, ResumeRequested, StartRequested, SweepRequested
from tui.ui.screens.setup import SetupScreen
from tui.ui.threads import lower_thread_priority

if TYPE_CHECKING:
    from tui.core.control import Stoppable
    from tui.core.diagnostics import Fix
    from tui.core.events import Event
    from tui.core.events import RunEnded
    from tui.core.session import Listener, TrainingSession
    from tui.core.sweep import SweepRunner, SweepSpec, SweepState

MIN_SIZE = (80, 24)
"""The smallest terminal the layout is designed for; below it a "make the window larger" screen shows."""

GIL_SWITCH_SECONDS = 0.001
"""Python's GIL switch interval in the app (default 5 ms): a key press hands the GIL back and forth between the
UI thread and the training thread's Python (Keras' loop, callbacks) several times before its frame is written,
and each hand-back may wait a whole interval. Measured as event-loop lag while training (busy 2-core machine):
median 3.7 → 1.7 ms, p95 41-53 → 31 ms."""

QUIT_GRACE_SECONDS = 15.0
"""How long quitting waits for training to stop at a batch boundary before leaving anyway."""


LATER_CSS = Path(__file__).with_name("app.tcss")
"""The other screens' styles (dialogs, training, history, sweeps...), added once the first frame is on the
terminal: parsing them before it was ~16 ms of the first paint. The set-up screen's own are in CSS_PATH."""


class CnnTuiApp(App[int]):
    CSS_PATH = "setup.tcss"
    TITLE = "cnn-tui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(self, config: ExperimentConfig | None = None, *, runs_dir: str | Path | None = None,
                 start: bool = False, preset: str | None = None) -> None:
        super().__init__()
        self.initial_config = config or ExperimentConfig()
        self.runs_dir = Path(runs_dir) if runs_dir else Path("runs")
        self.start_at_once = start
        self.preset = preset
        self.session: Stoppable | None = None
        """The training session or the sweep running now (or last): what quitting and closing stop."""
        self.training_worker: Worker[Any] | None = None
        self.started_at = time.perf_counter()
        self.first_paint: float | None = None
        self.training_thread_running = threading.Event()
        self.collect_after_paint = False
        """Turn Python's garbage collector on once the first frame is on the terminal. `cnn-tui` starts with it
        off (tui/cli.py, run_app): the imports and the first screen allocate hundreds of thousands of objects, and
        the collections they set off (~110 young-generation passes that free next to nothing) took 70-90 ms of a
        ~0.8 s start on this machine, about twice what the bare Textual app spends in them."""

    def on_mount(self) -> None:
        import sys

        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        self.call_later(self._after_start)
        if self.start_at_once:
            self.call_after_refresh(self.start_training, self.initial_config)

    def get_default_screen(self) -> Screen:
        """The set-up screen is the first of the stack rather than pushed onto Textual's blank one in on_mount:
        pushed there, inside Textual's start-up batch (where no frame is written), it was laid out and drawn once
        for nothing, and the blank screen was styled and laid out too; as the default screen it is laid out once,
        after the batch, as a bare app's screen is (~0.1 s of the first paint on this machine)."""
        return SetupScreen(self.initial_config, self.preset)

    def _after_start(self) -> None:
        """The app's queue, once Textual's start-up is over. That start-up (the app's compose and mount) is one
        batch in which frames are not written: a `call_after_refresh` made there may follow a refresh that never
        reached the terminal. The app's own messages are processed after the batch: a repaint from here is
        written, and what waits for the first frame waits for it."""
        self.screen.refresh()
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.first_paint = time.perf_counter() - self.started_at
        if self.collect_after_paint:
            gc.enable()
        self._add_later_css()
        self._check_size()

    def _add_later_css(self) -> None:
        """The other screens' styles (LATER_CSS), once: after the first frame, or before it when another screen
        comes first (`--start`, or a key pressed before that frame on a busy machine). A screen laid out without
        them had none of its panels' sizes: the training screen's doctor list, at auto height and no width, crashed
        Textual's layout (seen in CI: the run history's resume)."""
        location = (str(LATER_CSS), "")
        if not self.stylesheet.has_source(*location):
            self.stylesheet.add_source(LATER_CSS.read_text(encoding="utf-8"), read_from=location)

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        self._add_later_css()
        return super().push_screen(screen, *args, **kwargs)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        from tui.ui.screens.dialogs import TooSmallScreen

        size = (width or self.size.width, height or self.size.height)
        small = size[0] < MIN_SIZE[0] or size[1] < MIN_SIZE[1]
        screen = self.screen
        if isinstance(screen, TooSmallScreen):
            if small:
                screen.update_size(size)
            else:
                self.pop_screen()
        elif small:
            self.push_screen(TooSmallScreen(size, MIN_SIZE))

    # -- training -------------------------------------------------------------------------------------------
    @property
    def training_active(self) -> bool:
        return self.training_worker is not None and self.training_worker.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

    @on(StartRequested)
    def _start_requested(self, event: StartRequested) -> None:
        if event.detached:
            self.start_detached(event.config)
        else:
            self.start_training(event.config, lr_find=event.lr_find)

    def start_detached(self, config: ExperimentConfig) -> None:
        """Start the set-up as a detached run (it outlives the app) and attach to it at once."""
        from tui.core import detach
        from tui.core.settings import SettingsError, load

        try:
            run_dir = detach.start_train(config, self.runs_dir, notify=load().notify)
        except (detach.DetachRefused, SettingsError, OSError) as exc:
            self.notify(str(exc), title="Not started", severity="error", timeout=12)
            return
        self.attach(run_dir)
        self.notify(f"Detached run {run_dir.name}: it goes on when the app quits; `cnn-tui attach {run_dir}` "
                    "follows it from any terminal.", title="Started detached", timeout=10)

    def attach(self, run_dir: Path) -> None:
        """Follow a run that another process writes (b comes back here)."""
        from tui.core.settings import SettingsError, load
        from tui.ui.attach import AttachScreen, ui_sinks

        try:
            notify = load().notify
        except SettingsError:
            notify = False
        self.push_screen(AttachScreen(run_dir, notify_sinks=ui_sinks(self) if notify else None))

    @on(FixRequested)
    async def _fix_requested(self, event: FixRequested) -> None:
        await self.apply_fix(event.config, event.fix)

    @on(SweepRequested)
    def _sweep_requested(self, event: SweepRequested) -> None:
        self.start_sweep(event.target, workers=event.workers, scheduler=event.scheduler)

    @on(AttachRequested)
    def _attach_requested(self, event: AttachRequested) -> None:
        self.attach(event.run_dir)

    @on(ResumeRequested)
    def _resume_requested(self, event: ResumeRequested) -> None:
        self.resume_run(event.run_dir)

    def start_training(self, config: ExperimentConfig, lr_find: dict[str, Any] | None = None) -> None:
        from tui.core.session import TrainingSession

        self._train(lambda listener: TrainingSession(config, runs_dir=self.runs_dir, listeners=[listener],
                                                     lr_find=lr_find))

    def resume_run(self, run_dir: Path) -> None:
        """Continue an interrupted run (from the run history) in its own directory."""
        from tui.core.session import TrainingSession

        self._train(lambda listener: TrainingSession.resume_from(run_dir, listeners=[listener]))

    def _train(self, make_session: Callable[[Listener], TrainingSession]) -> None:
        if self.training_active:
            self.notify("A run is already in progress.", severity="warning")
            return
        from tui.ui.screens.training import TrainingScreen

        events: deque[Event] = deque()
        self.session = session = make_session(events.append)
        self._subscribe_notifier(session)
        self.push_screen(TrainingScreen(session, events))
        self.training_worker = self.run_training(session)

    async def apply_fix(self, config: ExperimentConfig, fix: Fix) -> bool:
        """Load `config` with the doctor's `fix` into the set-up form; go there unless a run is training."""
        from tui.core.diagnostics import apply_fix
        from tui.core.params import ConfigError

        try:
            new = apply_fix(config, fix)
        except ConfigError as exc:
            self.notify(f"{fix.label}: {exc}", title="Fix not applied", severity="error", timeout=10)
            return False
        setup = next(s for s in self.screen_stack if isinstance(s, SetupScreen))
        await setup.load_config(new, f"fix: {fix.label}")
        if self.training_active:
            self.notify(f"Applied to the set-up for the next run: {fix.label}. When this run ends, b goes back "
                        "to the set-up and F5 starts it.", title="Fix applied", timeout=8)
        else:
            while self.screen is not setup:
                self.pop_screen()
            self.notify(f"{fix.label}. Press F5 to start the next run.", title="Fix applied", timeout=8)
        return True

    def start_sweep(self, target: SweepSpec | str | Path, workers: int | None = None,
                    scheduler: str | None = None) -> None:
        """Run a sweep (a SweepSpec, or the directory of one to resume) in the background, on a SweepScreen."""
        if self.training_active:
            self.notify("A run is already in progress.", severity="warning")
            return
        from tui.core.params import ConfigError
        from tui.core.sweep import SweepRunner
        from tui.ui.screens.sweep import SweepScreen

        try:
            from tui.core.cluster import make_security

            cluster = {"scheduler": scheduler, "security": make_security(scheduler)}
            runner = (SweepRunner.resume(target, workers, **cluster) if isinstance(target, (str, Path))
                      else SweepRunner.create(target, self.runs_dir, workers, **cluster))
        except (ConfigError, OSError) as exc:
            self.notify(str(exc), title="Sweep not started", severity="error", timeout=10)
            return
        self.session = runner  # stop / quit-while-running treat a sweep like a run
        self.push_screen(SweepScreen(runner))
        self.training_worker = self.run_sweep(runner)

    def _subscribe_notifier(self, session: TrainingSession) -> None:
        """With notifications on (settings file, or the command palette): a toast, the bell, the desktop
        notification and the webhook at the run's end and its first warning."""
        from tui.core import notify as notify_mod
        from tui.core.settings import SettingsError, load
        from tui.ui.attach import ui_sinks

        try:
            user = load()
        except SettingsError as exc:
            self.notify(str(exc), title="Settings file", severity="error", timeout=10)
            return
        if not user.notify:
            return
        sinks, _ = notify_mod.sinks_for(None, user.webhook_url or None)
        session.subscribe(notify_mod.Notifier(ui_sinks(self) + sinks))

    def action_toggle_notify(self) -> None:
        from tui.core.settings import SettingsError, load, save_notify

        try:
            on = not load().notify
            path = save_notify(on)
        except (SettingsError, OSError) as exc:
            self.notify(str(exc), title="Settings file", severity="error", timeout=10)
            return
        self.notify(f"Notifications {'on' if on else 'off'} (saved in {path}); they apply to runs started from now.",
                    title="Notifications")

    def action_runs(self) -> None:
        from tui.ui.screens.runs import RunsScreen

        self.push_screen(RunsScreen(self.runs_dir))

    @work(thread=True, exclusive=True, exit_on_error=False, group="training", description="model.fit")
    def run_training(self, session: TrainingSession) -> RunEnded:
        lower_thread_priority()
        self.training_thread_running.set()
        try:
            return session.run()  # never raises: failures arrive as a RunEnded event
        finally:
            self.training_thread_running.clear()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training", description="the sweep")
    def run_sweep(self, runner: SweepRunner) -> SweepState:
        lower_thread_priority()
        self.training_thread_running.set()
        try:
            return runner.run()
        finally:
            self.training_thread_running.clear()

    def on_unmount(self) -> None:
        """The app closes without asking (a closed browser tab, SIGTERM): a run still training stops at the next
        batch and writes its summary; the process ends when the training thread does."""
        if self.session is not None and self.training_thread_running.is_set():
            self.session.stop()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """Every background job's failure ends here: said in plain words, the app stays up."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{event.worker.description} failed: {type(error).__name__}: {error}",
                        title="Background job failed", severity="error", timeout=15)

    # -- quitting -------------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        if not self.training_active:
            self.exit(0)
            return
        from tui.ui.screens.dialogs import ConfirmDialog

        def decided(yes: bool | None) -> None:
            if yes:
                self.stop_and_exit()

        self.push_screen(ConfirmDialog("Training is running. Stop it and quit?", yes="Stop and quit"), decided)

    @work(exclusive=True, group="quit", description="stop training and quit")
    async def stop_and_exit(self) -> None:
        if self.session is not None:
            self.session.stop()
        self.notify("Stopping training at the next batch…", timeout=QUIT_GRACE_SECONDS)
        if self.training_worker is not None:
            try:
                await asyncio.wait_for(self.training_worker.wait(), QUIT_GRACE_SECONDS)
            except Exception:  # timed out or failed: leave anyway, the summary is on disk
                pass
        self.exit(0)

    # -- command palette ------------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run history", "The runs in the runs folder: compare, open, resume (F2)",
                            self.action_runs)
        yield SystemCommand("Notifications on/off", "Bell, desktop notification and webhook at a run's end and "
                            "first warning (saved in the settings file)", self.action_toggle_notify)
        if isinstance(screen, SetupScreen):
            yield SystemCommand("Start training", "Train the current set-up (F5)", screen.action_start)
            yield SystemCommand("Start detached", "Train the set-up in a process of its own that outlives the app, "
                                "and attach to it (shift+F5)", screen.action_start_detached)
            yield SystemCommand("Sweep", "Train a grid of one or two keys' values, with a heatmap (F6)",
                                screen.action_sweep)
            yield SystemCommand("Save preset", "Save the forms as a preset (ctrl+s)", screen.action_save_preset)
            yield SystemCommand("Learning-rate range test", "Find the learning rate to start from: loss against a "
                                "growing rate (F7; Esc stops it)", screen.action_range_test)
            yield SystemCommand("Use the suggested learning rate", "Put the range test's suggestion into "
                                "optimizer.learning_rate (F8)", screen.action_use_suggestion)
        from tui.ui.screens.training import TrainingScreen  # imported lazily, off the start-up path

        if isinstance(screen, TrainingScreen):
            yield SystemCommand("Pause / resume", "Hold training at a batch boundary (p)", screen.action_pause)
            yield SystemCommand("Change while paused", "Learning rate, epochs, patience, clipnorm of the paused run "
                                "(c)", screen.action_change)
            yield SystemCommand("Stop training", "Stop gracefully at the next batch (s)", screen.action_stop)
            yield SystemCommand("Export summary", "Write summary.md/json and list the files (e)",
                                screen.action_export)
            yield SystemCommand("Back to set-up", "Change the experiment (b)", screen.action_back)


def run_app(config: ExperimentConfig, *, runs_dir: str | None = None, start: bool = False,
            preset: str | None = None) -> int:
    """Run the app in this terminal, with TensorFlow's native log kept off the screen."""
    from tui.ui.graphics import take_terminal

    take_terminal()
    app = CnnTuiApp(config, runs_dir=runs_dir, start=start, preset=preset)
    app.collect_after_paint = not gc.isenabled()  # (turned off by tui/cli.py for the start)
    app.run()
    return app.return_code or 0
