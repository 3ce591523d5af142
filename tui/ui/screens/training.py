"""The training screen: live curves, progress with ETA, an epoch table, the doctor (banner, findings, gradient
flow), controls.

Events reach this screen through a deque filled by the training thread; a 4 Hz timer drains it, folds the
events into a RunMonitor and redraws only what changed. The training thread never touches a widget.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from tui.ui.messages import FixRequested

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from tui.core.changes import describe as describe_change
from tui.core.changes import describe_short
from tui.core.config import ExperimentConfig
from tui.core.control import Changeable
from tui.core.events import Event, SubscriberFailed
from tui.core.monitor import RunMonitor
from tui.core.records import format_clock
from tui.core.render import run_results
from tui.ui.budget import CpuBudget
from tui.ui.widgets.chart import LineChart
from tui.ui.widgets.doctor_banner import DoctorBanner
from tui.ui.widgets.epoch_table import EpochTable
from tui.ui.widgets.findings_list import FindingsList
from tui.ui.widgets.gradient_flow import GradientFlow
from tui.ui.widgets.picture import ExamplesView
from tui.ui.widgets.progress_row import ProgressRow

if TYPE_CHECKING:
    from tui.core.diagnostics import Finding, Fix

DRAIN_HZ = 4
UI_SHARE = 0.0075
"""The share of one core the UI thread may take while a run trains (of the run's training time: a run paused or
waiting earns nothing), all its work counted (tui.ui.budget): what
changed is drawn when the budget allows, the charts (the costliest: a plotext frame is 10-40 ms here) when it has
saved up their cost. Parts spaced each by its own cost took 4.4-5 % of a core (epochs of 2 s; benchmarks/README.md,
throughput round 7); at 1.5 % the app still read 0.987 × a bare fit over 16 processes (round 15), so 0.75 % since
round 16: on a 2-core CPU with epochs of 2 s a frame every ~7 s at 120×45 (benchmarks/live_render.py). With epochs
of tens of seconds nothing waits; with short ones the charts skip epochs (the epoch table still shows each one)."""
UI_BURST = 0.3
"""CPU seconds the budget saves up, and starts with: the first seconds of a run, and most of a short one (the
embedded default's epochs take under a second), draw every epoch as it ends; a run long enough for its throughput
to matter soon draws within UI_SHARE."""
STALE_SECONDS = 10.0
"""A frame (the epoch charts with it) at least this often while training, whatever the budget says: should the
thread's other work (key presses held down, an animation) take the whole share, the screen still moves."""
TABLE_ROWS = 200
"""The epoch table keeps the latest this many epochs (the charts show every one; summary.md lists them all): a
run of thousands of epochs must open at once."""
COMPACT_HEIGHT = 40
"""Below this many terminal rows only two charts show at once (g switches between the pairs)."""
CHARTS = ("loss", "accuracy", "lr", "batch")
"""The training screen's charts, in the order they are laid out when all four show (two pairs: g switches)."""


class RunControls(Changeable, Protocol):
    """What the screen drives: a training session in this process (tui.core.session.TrainingSession), or a run
    that another process owns, through its control channel (tui.ui.attach.AttachedRun)."""

    config: ExperimentConfig


class TrainingScreen(Screen):
    END_HINT = "e exports the summary."
    """The end-of-run notification's last words."""
    STATUS_SECONDS = 1.0
    """How often the batch counter, progress bars, speed and ETA are redrawn at most (0: at every drain, four times
    a second). Measured with benchmarks/live_render.py (epochs of 3 s): the UI thread took 2.4 % of a core at every
    drain, 1.7 % at 0.5 s; the app's training throughput loses about that share (TensorFlow's two shards per op).
    1.0 s since Dec 2, 2026, with the charts' shares: the whole UI thread 3.8 % of a core (throughput.py, DIRECT)."""
    BATCH_SECONDS = 1.0
    """How often the batch-loss chart is redrawn at most (and within the budget)."""
    CHART_SECONDS = 0.0
    """How often the epoch charts are redrawn at most (0: at every epoch the budget allows). A chart left behind
    is drawn at a later drain, or at once when the run ends."""
    UI_SHARE = UI_SHARE
    """The budget's share of a core while training (tui.ui.budget.CpuBudget)."""
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("c", "change", "Change (paused)", show=False),  # the paused status line names it
        Binding("s", "stop", "Stop"),
        Binding("e", "export", "Export"),
        Binding("b", "back", "Set-up"),
        Binding("g", "switch_charts", "Charts"),
        Binding("d", "doctor", "Doctor"),
        Binding("t", "test_results", "Test results"),
        Binding("i", "inside", "Inside"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, session: RunControls, events: deque[Event]) -> None:
        super().__init__()
        self.session = session
        self.events = events
        self.monitor = RunMonitor()
        self._rows = 0
        self._batch_drawn_at = self._status_drawn_at = self._charts_drawn_at = self._frame_at = 0.0
        self._end_shown = False
        self._charts_pending = False
        """Epochs arrived that the epoch charts do not show yet."""
        self.budget = CpuBudget(self.UI_SHARE, UI_BURST, clock=lambda: self.monitor.trained_seconds)
        """The drawing's share of the run's training time (paused, it earns nothing: nothing is budgeted then)."""
        self._status_state = ""
        self._has_results = False
        self._texts: dict[str, str] = {}
        self._changes_shown = 0
        self._second_pair = False
        """In a compact terminal: the learning-rate and batch-loss charts show instead of loss and accuracy (g)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Starting…", id="run-status")
        yield Static("", id="run-error")
        yield DoctorBanner(id="banner")
        yield ProgressRow(id="bars")
        with Grid(id="charts"):  # (the places: what each shows is in self._chart)
            yield LineChart("loss", id="chart-1")
            yield LineChart("accuracy", id="chart-2")
            yield LineChart("learning rate", id="chart-3")
            yield LineChart("batch loss", xlabel="batch", id="chart-4")
        with VerticalScroll(id="test-results"):
            yield Static("", id="test-results-body")
            yield ExamplesView(id="test-examples")
        with Horizontal(id="lower"):
            yield EpochTable(id="epochs", max_rows=TABLE_ROWS)
            yield FindingsList(id="findings")
            yield GradientFlow(id="gradients")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "cnn-tui — training"
        self.query_one("#epochs", EpochTable).add_columns("epoch", "loss", "acc", "val_loss", "val_acc", "lr", "time",
                                                          "samples/s")
        self._places = list(self.query_one("#charts", Grid).query(LineChart))
        """The four chart widgets in the order they are laid out (a short terminal shows the first two)."""
        self._chart = dict(zip(CHARTS, self._places))
        """The widget that shows each chart now (g in a short terminal moves the charts, not the widgets)."""
        self._layout_for(self.app.size.height)
        self.set_interval(1 / DRAIN_HZ, self.drain)

    def on_resize(self, event: Any) -> None:
        self._layout_for(self.app.size.height)

    def _layout_for(self, height: int) -> None:
        self.set_class(height < COMPACT_HEIGHT, "-compact")
        self._arrange_charts()

    def chart(self, name: str) -> LineChart:
        """The widget that shows chart `name` ("loss", "accuracy", "lr" or "batch") now."""
        return self._chart[name]

    def _arrange_charts(self) -> None:
        """All four charts, or in a compact terminal the pair `g` chose. A pair is brought to the two places shown
        by moving what the charts show (LineChart.swap_content), not by hiding and showing widgets: that costs a
        layout pass of the whole screen at each press of g (~15 ms of the UI thread; the swap ~6 ms)."""
        compact = self.has_class("-compact")
        shown_before = {name for name, chart in self._chart.items() if chart.display}
        first, second, third, fourth = self._places
        swapped = compact and self._second_pair  # the second pair in the first two places
        if (self._chart["lr"] is first) != swapped:
            first.swap_content(third)
            second.swap_content(fourth)
            self._chart = dict(zip(("lr", "batch", "loss", "accuracy") if swapped else CHARTS, self._places))
        for place, chart in enumerate(self._places):
            chart.display = not compact or place < 2
        training = self._training
        if training:
            self.budget.update()
        for name, chart in self._chart.items():
            if chart.display and name not in shown_before:
                # while training a chart shown again is drawn from its new data when the budget affords it;
                # otherwise its last frame answers the key and the new one waits its turn in the budget (g
                # pressed every 160 ms redrew two charts each time: benchmarks/latency.py's throughput)
                fresh = not training or self.budget.affords(chart.draw_seconds)
                chart.shown_again(fresh=fresh)
                if not fresh and name == "batch":
                    self.monitor.changed_batches = True
                elif not fresh:
                    self._charts_pending = True

    @property
    def _training(self) -> bool:
        """The run has started and is training (not preparing, paused or ended): drawing is budgeted."""
        m = self.monitor
        return m.started is not None and m.active and m.state != "paused"

    # -- the event pump -------------------------------------------------------------------------------------
    def drain(self) -> None:
        """Fold every queued event into the monitor; then, while the run trains, draw what changed in one frame
        at most every STATUS_SECONDS (an epoch's end and a state change at once) when the budget allows: one
        compositor pass for the status line, the epoch table, the doctor and the gradient panel together, and the
        charts when the budget has saved up what they cost, the group (epoch charts, batch chart) that has waited
        longer first. While that group waits no other frame is drawn: the status line cannot starve the charts.
        Not training (preparing, paused, ended): everything at once; once the end is shown the status line stays as
        the user left it (an export says where it wrote)."""
        m = self.monitor
        while self.events:
            event = self.events.popleft()
            if isinstance(event, SubscriberFailed):
                self.notify(event.message, title="Warning", severity="warning", timeout=10, markup=False)
            m.apply(event)
        budget = self.budget
        budget.update()
        now = time.monotonic()
        training = self._training
        urgent = (m.ended is not None and not self._end_shown) or m.state != self._status_state
        charts = self._chart_groups(now)
        if training and not urgent and now - self._frame_at < STALE_SECONDS:
            due = m.changed_epochs or now - self._frame_at >= self.STATUS_SECONDS
            if not due or budget.balance < 0 or (charts and not budget.affords(charts[0][1])):
                return  # what changed stays pending
        self._frame_at = now
        if urgent or m.changed_epochs or (m.ended is None and now - self._status_drawn_at >= self.STATUS_SECONDS):
            self._status_drawn_at, self._status_state = now, m.state
            self._render_status()
        if m.changed_epochs or m.changed_findings:
            m.changed_epochs = m.changed_findings = False
            self._render_epochs()
            charts = self._chart_groups(now)  # (the epoch charts are due now)
        if m.changed_gradients and m.gradients is not None:
            m.changed_gradients = False
            g = m.gradients
            self.query_one(GradientFlow).show(g.layers, g.norms, f"epoch {g.epoch} batch {g.batch}")
        available = budget.balance
        for waited, cost, draw in charts:
            if training and waited < STALE_SECONDS and available < min(cost, budget.burst):
                break
            draw()
            available -= cost
        if m.ended is not None and not self._end_shown:
            self._end_shown = True
            self._render_end()

    def _chart_groups(self, now: float) -> list[tuple[float, float, Any]]:
        """The charts with new data to draw, as (seconds waited, CPU seconds their last frames took, draw), the
        longest waiting first; while training, each group waits at least its CHART_SECONDS or BATCH_SECONDS."""
        m = self.monitor
        training = self._training
        groups = []
        if self._charts_pending and (not training or now - self._charts_drawn_at >= self.CHART_SECONDS):
            cost = sum(c.draw_seconds for name, c in self._chart.items() if name != "batch" and c.display)
            groups.append((now - self._charts_drawn_at, cost, self._render_charts))
        batch = self._chart["batch"]
        if m.changed_batches and (not training or now - self._batch_drawn_at >= self.BATCH_SECONDS):
            groups.append((now - self._batch_drawn_at, batch.draw_seconds if batch.display else 0.0,
                           self._render_batches))
        return sorted(groups, key=lambda g: -g[0])

    def _set(self, selector: str, text: str) -> None:
        """Update a Static only when its text changes, and ask for a layout pass only when its width does: a
        layout pass re-renders the whole screen (the four charts included), and the batch counter changes four
        times a second (measured with 3 attached viewers: their CPU took 5 % of the training's throughput)."""
        old = self._texts.get(selector)
        if old != text:
            self._texts[selector] = text
            same_width = old is not None and Text.from_markup(old).cell_len == Text.from_markup(text).cell_len
            self.query_one(selector, Static).update(text, layout=not same_width)

    def _render_status(self) -> None:
        m = self.monitor
        if m.started is None:
            p = m.prepare
            if p is not None:
                extra = f" {p.done:,}/{p.total:,}" if p.total else ""
                self._set("#run-status", f"[b]{p.message}[/b]{extra}")
            return
        s = m.started
        state = {"running": "[green]running[/]", "paused": "[yellow]PAUSED — c changes settings, p resumes[/]",
                 "stopping": "[yellow]stopping at the next batch…[/]",
                 "evaluating": f"[yellow]{m.prepare.message if m.prepare else 'evaluating'}[/]",
                 "finished": "[green]finished[/]",
                 "stopped": "[yellow]stopped[/]", "failed": "[red]failed[/]"}.get(m.state, m.state)
        self._set("#run-status", f"{state}  {s.dataset.name} · {s.config.model.architecture} · "
                  f"{s.model.total_params:,} params · ETA {format_clock(m.eta_seconds())}  [dim]{s.run_dir}[/]")
        running_epoch = min(s.epochs, m.epochs_seen + (1 if m.active else 0))
        b = m.last_batch
        steps, done = (b.steps, b.batch if b.epoch > m.epochs_seen else b.steps) if b else (s.steps_per_epoch, 0)
        self.query_one(ProgressRow).show(running_epoch, m.epochs_seen, s.epochs, done, steps,
                                         f"{b.samples_per_second:,.0f} samples/s" if b else "")

    def _render_charts(self) -> None:
        """The epoch charts (loss, accuracy, learning rate), from every epoch so far."""
        m = self.monitor
        self._charts_pending = False
        self._charts_drawn_at = time.monotonic()
        marks = [f.epoch for f in m.findings if f.epoch > 0]
        self.chart("loss").show(m.curves_of("loss", "val_loss"), marks=marks)
        self.chart("accuracy").show(m.curves_of("accuracy", "val_accuracy"), marks=marks)
        self.chart("lr").show(m.curves_of("lr"), marks=[c.at for c in m.changes],
                              subtitle="marked: changed while paused" if m.changes else "")

    def _render_epochs(self) -> None:
        m = self.monitor
        self._charts_pending = True
        self.query_one(DoctorBanner).show_finding(m.finding, others=len(m.findings) - 1)
        self.query_one(FindingsList).show(m.findings)
        table = self.query_one("#epochs", EpochTable)
        new = min(m.epochs_seen - self._rows, len(m.history), TABLE_ROWS)
        rows: list[tuple[tuple[int, int], tuple[str, ...]]] = []
        for h in list(m.history)[len(m.history) - new:] if new > 0 else ():
            rows.append(((int(h["epoch"]), 1), (f"{h['epoch']}{'*' if h.get('partial') else ''}", *[
                f"{h[k]:.4f}" if k in h else "–" for k in ("loss", "accuracy", "val_loss", "val_accuracy")],
                f"{h['lr']:.3g}", f"{h['epoch_seconds']:.1f}s", f"{h['samples_per_second']:,.0f}")))
        for c in m.changes[self._changes_shown:]:  # a row where the change took effect, between epoch rows
            rows.append(((c.epoch, 2 if c.batch >= c.steps else 0), (
                f"Δ {c.epoch}·{c.batch}", describe_short(c.values), "", "", "", "", "", "")))
        self._changes_shown = len(m.changes)
        for _, row in sorted(rows, key=lambda r: r[0]):
            table.add_row(*row)  # a bounded window: the full history is on disk
        self._rows = m.epochs_seen

    def _render_batches(self) -> None:
        m = self.monitor
        m.changed_batches = False
        self._batch_drawn_at = time.monotonic()
        b = m.last_batch
        # a short subtitle, so that the epoch still shows at 100 columns (where a title has no room LineChart drops
        # the subtitle and keeps "batch loss"); what a point is goes in the legend
        self.chart("batch").show({"loss, ¼ s means": m.batches}, subtitle=f"epoch {b.epoch}" if b else "",
                                 xlim=(0, b.steps) if b and b.steps else None)

    def _render_end(self) -> None:
        m = self.monitor
        end = m.ended
        assert end is not None
        error = self.query_one("#run-error", Static)
        if end.status == "failed":
            error.update(f"[b]The run failed:[/b] {end.error}\nWhat was recorded is kept in {end.run_dir or '–'}. "
                         "Press b to change the set-up, e to export what was recorded.")
            error.add_class("-shown")
        else:
            test = end.summary.get("test") if end.summary else None
            note = f" · test accuracy {test['accuracy']:.4f}" if test else ""
            results = run_results(end.summary, end.run_dir, examples=False) if end.summary else None
            if results is not None:
                self.query_one("#test-results-body", Static).update(results)
                self.run_worker(self.query_one(ExamplesView).show_run(end.run_dir), group="examples")
                self._has_results = True
                self.add_class("-results")
                note += " · t switches between test results and curves"
            self.notify(f"Run {end.status}{note}. {self.END_HINT}", title="Training ended")

    # -- controls -------------------------------------------------------------------------------------------
    def action_pause(self) -> None:
        if not self.monitor.active:
            return
        if self.session.paused:
            self.session.resume()
        else:
            self.session.pause()
            self._set("#run-status", "[yellow]pausing at the next batch…[/]")

    def action_stop(self) -> None:
        if self.monitor.active:
            self.session.stop()

    def action_change(self) -> None:
        """While paused: change the learning rate, epochs, patience or clipnorm (tui.core.changes), then p."""
        if not self.monitor.active or self.monitor.state != "paused":
            self.notify("Pause the run first (p); then c changes its learning rate, epochs, patience or clipping.",
                        severity="warning")
            return
        from tui.ui.screens.change import ChangeScreen

        def changed(values: dict[str, str] | None) -> None:
            if values:
                self.notify(f"{describe_change(values)}: applied when training continues (p).",
                            title="Changed")

        started = self.monitor.started
        fixed = () if started is None or started.config.training.early_stopping else (
            ("training.patience", "early stopping is off in this run"),)
        self.app.push_screen(ChangeScreen(self.monitor.settings(), self.session.change, dict(fixed)), changed)

    def action_back(self) -> None:
        if self.monitor.active:
            self.notify("Training is running: stop it first (s).", severity="warning")
            return
        self.app.pop_screen()

    def action_doctor(self) -> None:
        """Open the highlighted finding (else all of them) with its explanation and fixes."""
        m = self.monitor
        if not m.findings:
            self.notify("The doctor has found nothing wrong so far.", title="Doctor")
            return
        chosen = self.query_one(FindingsList).selected
        self._open_findings([chosen] if chosen else list(m.findings))

    @on(OptionList.OptionSelected, "#findings")
    def _finding_chosen(self, event: OptionList.OptionSelected) -> None:
        self._open_findings([self.monitor.findings[event.option_index]])

    def _open_findings(self, findings: list[Finding]) -> None:
        from tui.ui.screens.finding import FindingScreen

        config = self.session.config

        async def decided(fix: Fix | str | None) -> None:
            if fix is not None and not isinstance(fix, str):  # (no START offered here)
                self.app.post_message(FixRequested(config, fix))

        self.app.push_screen(FindingScreen(findings), decided)

    def action_inside(self) -> None:
        """Filters, feature maps and Grad-CAM for one image, refreshed at each epoch end while it is open."""
        from tui.core.session import TrainingSession  # loaded already: it is training
        from tui.ui.screens.inside import InsideScreen

        if isinstance(self.session, TrainingSession):  # (an attached run opens its run directory: AttachScreen)
            self.app.push_screen(InsideScreen(session=self.session))

    def action_switch_charts(self) -> None:
        if self.has_class("-results"):  # g ("Charts") on the test results shows the charts as they were
            self.remove_class("-results")
            return
        self._second_pair = not self._second_pair
        self._arrange_charts()

    def action_test_results(self) -> None:
        if not self._has_results:
            self.notify("Test results show here when the run has ended.", severity="warning")
            return
        self.toggle_class("-results")

    def action_export(self) -> None:
        m = self.monitor
        if m.active or m.ended is None or not m.ended.run_dir:
            self.notify("Export is ready when the run has ended (s stops it).", severity="warning")
            return
        from pathlib import Path

        from tui.core.records import export_run

        findings = [f.as_dict() for f in m.findings]
        try:
            files = export_run(Path(m.ended.run_dir), findings=findings)
        except (OSError, ValueError) as exc:
            self.notify(f"Export failed: {exc}", severity="error", timeout=10)
            return
        listing = "\n".join(f"{name}: {path}" for name, path in files.items())
        self.notify(listing, title="Exported", timeout=15)
        self._set("#run-status", f"[green]exported[/] to {m.ended.run_dir}")
