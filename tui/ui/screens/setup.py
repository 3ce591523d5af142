"""The set-up screen: forms for every configuration key, dataset facts, a model summary and presets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Static

from tui.core import config as config_mod
from tui.core.config import ExperimentConfig
from tui.core.params import ConfigError
from tui.core.schedules import preview_points
from tui.ui.messages import (AppServices, DatasetFailed, DatasetPreview, DatasetProgress, DatasetReady, FieldChanged,
                             FixRequested, RangeTestDone, RangeTestFailed, RangeTestProgress, StartRequested,
                             SummaryFailed, SummaryProgress, SummaryReady, SweepRequested)
from tui.ui.widgets.footer import Footer
from tui.ui.widgets.form_picture import FormPicture

if TYPE_CHECKING:
    import threading

    from tui.core.datasets import DatasetInfo
    from tui.core.diagnostics import Fix
    from tui.core.lrfind import RangeTestResult
    from tui.ui.widgets.experiment_form import ExperimentForm

START_LABEL = "Start training (F5)"

FOCUS_ACTIONS = ("app.focus_next", "app.focus_previous")
"""Tab and shift+Tab: bound by Textual's Screen, they move between the forms' fields (kept until those exist)."""

PREVIEW_PER_CLASS = 3
PREVIEW_CLASSES = 20
"""The samples view (F3) shows this many images for each of the first PREVIEW_CLASSES classes."""


def _content_signature(data: Any) -> str:
    import hashlib  # (imported after the first frame, with the first signature)
    import json

    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


class SetupScreen(Screen):
    """Edits an ExperimentConfig; Start stays disabled (and says why) while any field is invalid."""

    AUTO_FOCUS = "#forms *"
    """The first field of the forms (the start button is the first focusable widget while they are built)."""
    BINDINGS = [
        Binding("f5", "start", "Start"),
        Binding("shift+f5", "start_detached", "Start detached", show=False),
        Binding("f6", "sweep", "Sweep"),
        Binding("ctrl+r", "start", "Start", show=False),
        Binding("ctrl+s", "save_preset", "Save preset"),
        Binding("f2", "app.runs", "Runs"),
        Binding("f3", "samples", "Samples"),
        Binding("f7", "range_test", "LR test"),
        Binding("f8", "use_suggestion", "Use LR"),
        Binding("escape", "stop_range_test", "Stop LR test"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, config: ExperimentConfig, preset: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.preset = preset
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.dataset_info: DatasetInfo | None = None
        self._dataset_sig = ""
        self._side_built = False
        """Whether the side column is mounted: until then a change updates the start button only (the column
        shows the configuration of the moment when it comes), and F7 waits for it."""
        self._range_test_waiting = False
        self._model_sig = ""
        self._preview: Any = None
        self._samples_shown = False
        self._range_stop: threading.Event | None = None  # set to stop the range test running now
        self._range_result: RangeTestResult | None = None  # of the last range test
        self._range_config: ExperimentConfig | None = None  # the set-up it ran on
        self._early_keys: list[tuple[str, str | None]] | None = []
        """Keys typed between the first frame and the forms (None once the forms are built): see on_key."""

    # -- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="setup"):
            with Vertical(id="forms"):  # built right after the first frame (_build_forms)
                yield FormPicture(self.config, id="form-picture")
            yield VerticalScroll(id="side")  # filled after the forms (_build_side)
        with Horizontal(id="start-row"):
            yield Static(START_LABEL, id="start-picture")  # the button, drawn: it comes with the forms
            yield Static("", id="why-not")
        yield Footer()

    def _side_panels(self) -> list[Any]:
        """The side column: the doctor's pre-flight, dataset facts and samples, the model summary, the planned
        learning rate and the range test. Mounted after the first frame: two plotext charts and the samples
        view are work the first paint need not wait for (their content comes from background work anyway)."""
        from tui.ui.widgets.chart import LineChart
        from tui.ui.widgets.picture import SamplesView

        return [
            Static("Doctor", classes="panel-title"),
            Static("", id="preflight"),
            Static("Dataset", classes="panel-title"),
            Static("…", id="dataset-info"),
            Static("", id="dataset-preview"),
            SamplesView(id="dataset-samples"),
            Static("Model", classes="panel-title"),
            Static("Loading TensorFlow in the background…", id="model-summary"),
            Static("Learning rate", classes="panel-title"),
            LineChart("planned learning rate", id="lr-preview"),
            Static("Range test", classes="panel-title"),
            LineChart("loss vs learning rate", xlabel="learning rate (log)", log_x=True, legend=False,
                      id="lr-find-chart"),
            Static("[dim]F7 trains a copy of this model for up to 100 batches while the learning rate grows from "
                   "1e-7 to 10, and suggests where to start[/]", id="lr-find-status"),
        ]

    async def _build_forms(self) -> None:
        """The preset row, the forms and the start button in place of their pictures: ~90 widgets whose styling
        and layout (and the Button's stylesheet) would otherwise keep the first frame waiting. Then the side
        column."""
        from textual.widgets import Select

        from tui.ui.widgets.experiment_form import ExperimentForm

        forms = self.query_one("#forms", Vertical)
        picture = self.query_one("#form-picture", FormPicture)
        start = self.query_one("#start-picture", Static)
        async with self.batch():  # one swap on the terminal: the pictures are never drawn beside the real thing
            await self.query_one("#start-row").mount(Button(START_LABEL, id="start", variant="success"),
                                                     before=start)  # (before the forms: here once they are)
            await forms.mount_all([Horizontal(Select(self._preset_options(), prompt="Load a preset…", id="preset",
                                                     compact=True), id="preset-row"),
                                   ExperimentForm(self.config, id="form")], before=picture)
            await picture.remove()
            await start.remove()
        self._update_start()
        if self.focused is None:  # (AUTO_FOCUS found nothing to focus in the picture)
            self.set_focus(next((w for w in self.query("#forms *") if w.focusable), None))
        self.call_later(self._replay_early_keys)  # (after any key that came in while the forms were mounted)
        self.call_after_refresh(self._build_side)

    @property
    def form(self) -> ExperimentForm | None:
        """The forms, once built (None during the first frame)."""
        from tui.ui.widgets.experiment_form import ExperimentForm

        found = self.query(ExperimentForm)
        return found.first() if found else None

    async def _build_side(self) -> None:
        await self.query_one("#side", VerticalScroll).mount_all(self._side_panels())
        self._side_built = True
        if self._range_test_waiting:
            self._range_test_waiting = False
            self.action_range_test()
        # Background work (dataset, TensorFlow) starts once the screen is on the terminal: a thread importing
        # TensorFlow holds the GIL long enough to delay the first paint by seconds.
        self.set_timer(0.05, self._config_changed)

    def _preset_options(self) -> list[tuple[str, str]]:
        from tui.core import presets

        return [(f"{p.name} — {p.description}" if p.description else p.name, str(p.path))
                for p in presets.list_presets()]

    def on_mount(self) -> None:
        self.title = "cnn-tui — set-up"
        self.sub_title = self.preset or "defaults"
        # the forms, the side panels, then the background work, once the first frame is on the terminal (a fixed
        # delay from mount was not enough on a busy machine: the first frame took longer than the delay). Not a
        # call_after_refresh from here: this screen may be mounted in Textual's start-up batch, whose frames are
        # never written, and that ran before anything was drawn. The app's queue runs after the batch
        # (CnnTuiApp._after_start).
        self.app.call_later(self._paint_then_build)

    def _paint_then_build(self) -> None:
        self.refresh()
        self.call_after_refresh(self._build_forms)

    def on_key(self, event: events.Key) -> None:
        """A key typed in the moment between the first frame and the forms (their picture takes no input) is kept
        and replayed to the forms once they are built, rather than lost: Tab, arrows, text. Keys bound to an
        action of the screen or the app (F5, F2, ctrl+s...) act at once, as they do later."""
        if self._early_keys is None:
            return
        binding = self.active_bindings.get(event.key)
        if binding is None or binding.binding.action in FOCUS_ACTIONS:
            self._early_keys.append((event.key, event.character))
            event.stop()
            event.prevent_default()

    def _replay_early_keys(self, early: list[tuple[str, str | None]] | None = None) -> None:
        """To the forms, in the order typed, one a refresh (as typed: a key acts on where the one before it moved
        the focus)."""
        if early is None:
            early, self._early_keys = self._early_keys or [], None
        if early:
            key, character = early.pop(0)
            # sent as the terminal's keys are, by the app (a key sent by this screen would not bubble back up
            # to the app, where the bindings, Tab's among them, are looked up)
            self.app.post_message(events.Key(key, character).set_sender(self.app))
            self.call_after_refresh(self._replay_early_keys, early)

    # -- editing --------------------------------------------------------------------------------------------
    @on(FieldChanged)
    async def _field_changed(self, event: FieldChanged) -> None:
        event.stop()
        self.errors = {k: v for k, v in self.errors.items() if k != event.key and not k.startswith("(")}
        if event.error is not None:
            self.errors[event.key] = event.error
            self._update_start()
            return
        self.values[event.key] = event.value
        if event.key == "model.architecture":
            await self._switch_architecture(event.value)
        self._revalidate()

    def _revalidate(self) -> None:
        pending = {k: v for k, v in self.values.items() if k not in self.errors}
        try:
            self.config = self.config.with_values(pending)
            self.values = {}
        except ConfigError as exc:
            self.errors["(" + exc.key] = exc.message
        self._update_start()
        if not self.errors:
            self._config_changed()

    async def _switch_architecture(self, name: str) -> None:
        from models import ARCHITECTURES

        old = set(ARCHITECTURES[self.config.model.architecture].params)
        self.values = {k: v for k, v in self.values.items()
                       if not (k.startswith("model.") and any(k == f"model.{p.name}" for p in old))}
        self.errors = {k: v for k, v in self.errors.items()
                       if not any(k == f"model.{p.name}" for p in old)}
        self.config = self.config.with_values({"model.architecture": name})
        if self.form is not None:
            await self.form.switch_architecture(self.config)

    def _update_start(self) -> None:
        why = self.query_one("#why-not", Static)
        for button in self.query("#start").results(Button):  # (none in the first frame: its picture)
            button.disabled = bool(self.errors)
        if self.errors:
            key, message = next(iter(self.errors.items()))
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            why.update(f"[b]Cannot start:[/b] {key.lstrip('(')}: {message}{more}")
        else:
            why.update("")

    async def load_config(self, config: ExperimentConfig, name: str) -> None:
        """Fill every form from `config` (a preset) at once."""
        self.config = config
        self.values, self.errors = {}, {}
        self.preset = name
        self.sub_title = name
        if self.form is not None:  # (else the forms are built from self.config)
            await self.form.load(config)
        self._config_changed()

    async def on_select_changed(self, event: Any) -> None:
        """A preset chosen (the fields' own selects stop their events: tui/ui/widgets/param_field.py)."""
        from textual.widgets import Select

        if event.select.id != "preset" or event.value == Select.BLANK:
            return
        try:
            config = config_mod.load(str(event.value))
        except ConfigError as exc:
            self.notify(str(exc), title="Preset not loaded", severity="error", timeout=10)
            return
        await self.load_config(config, str(event.value))
        self.notify(f"Loaded {event.value}", title="Preset")

    # -- derived panels ---------------------------------------------------------------------------------------
    def _config_changed(self) -> None:
        from tui.ui.widgets.chart import LineChart

        self._update_start()
        if not self._side_built:  # a preset chosen in the moment between the forms and the side column
            return
        c = self.config
        xs, lr = preview_points(c.schedule, c.optimizer.learning_rate, c.training.epochs)
        self.query_one("#lr-preview", LineChart).show({"lr": (xs, lr)}, subtitle=c.schedule.name)
        self._show_range_result()
        ds_sig = _content_signature(c.to_dict()["dataset"])
        if ds_sig != self._dataset_sig:
            self._dataset_sig = ds_sig
            self.dataset_info = None
            self._preview = None
            self._show_preview()
            self.query_one("#dataset-info", Static).update(f"Preparing {c.dataset.name}…")
            self.prepare_dataset(c, ds_sig)
        self._refresh_summary()
        self._refresh_preflight()

    def _refresh_preflight(self) -> None:
        """What the doctor can tell before training, updated as the forms change."""
        from tui.core.diagnostics import preflight
        from tui.ui.widgets.findings_list import finding_line

        found = preflight(self.config, self.dataset_info)
        self.query_one("#preflight", Static).update(
            "\n".join(f"{finding_line(f)}\n  {f.evidence}" for f in found)
            or "[green]✓[/] no concern with this set-up")

    def _refresh_summary(self) -> None:
        from tui.core import datasets

        c = self.config
        shape = (self.dataset_info.input_shape, self.dataset_info.num_classes) if self.dataset_info else \
            datasets.known_shape(c.dataset)
        if shape is None:
            self.query_one("#model-summary", Static).update("Waiting for the dataset's shape…")
            return
        data = c.to_dict()
        sig = _content_signature({"model": data["model"], "reg": data["regularization"], "shape": shape,
                    "loss": c.training.loss, "seed": c.training.seed})
        if sig == self._model_sig:
            return
        self._model_sig = sig
        from models import check_model

        reason = check_model(c, *shape)
        if reason:
            self.errors["(model.architecture"] = reason
            self._update_start()
            self.query_one("#model-summary", Static).update(f"[red]{reason}[/red]")
            return
        self.build_summary(c, shape, sig)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset", description="prepare dataset")
    def prepare_dataset(self, config: ExperimentConfig, sig: str) -> None:
        from tui.core import datasets
        from tui.ui.threads import lower_thread_priority

        lower_thread_priority()
        try:
            def progress(message: str, done: int, total: int | None) -> None:
                self.post_message(DatasetProgress(message, done, total))

            data = datasets.load_dataset(config.dataset, progress)
        except Exception as exc:  # shown in the panel, the app stays up
            self.post_message(DatasetFailed(str(exc), sig))
            return
        self.post_message(DatasetReady(data.info, sig))
        from tui.core.render import preview_indices

        picks = preview_indices(data.y_train, data.info.num_classes, PREVIEW_PER_CLASS, seed=config.dataset.seed)
        self.post_message(DatasetPreview([data.x_train[i] for i in picks[:PREVIEW_CLASSES]], data.info.class_names,
                                         data.info.class_counts, sig))

    @work(thread=True, exclusive=True, exit_on_error=False, group="summary", description="build model summary")
    def build_summary(self, config: ExperimentConfig, shape: tuple[Any, int], sig: str) -> None:
        from tui.core import tfenv
        from tui.ui.threads import lower_thread_priority

        lower_thread_priority()
        try:
            tfenv.import_tensorflow()
            from tui.core import weights
            from tui.core.keras_parts import build_seeded, summarize

            # The transfer backbone's ImageNet weights download here, their progress in the summary panel.
            def progress(message: str, done: int, total: int | None) -> None:
                self.post_message(SummaryProgress(message, done, total, sig))

            weights.prepare(config, shape[0], progress)
            # Seeded and under the build lock: a summary built while a run or a range test builds its model
            # must not draw from the seed generator their weights come from.
            model = build_seeded(config, shape[0], shape[1])
            self.post_message(SummaryReady(summarize(model), sig))
        except Exception as exc:
            self.post_message(SummaryFailed(str(exc), sig))

    @on(DatasetProgress)
    def _dataset_progress(self, event: DatasetProgress) -> None:
        total = f"/{event.total:,}" if event.total else ""
        self.query_one("#dataset-info", Static).update(f"{event.message} {event.done:,}{total}")

    @on(DatasetReady)
    def _dataset_ready(self, event: DatasetReady) -> None:
        if event.signature != self._dataset_sig:
            return
        i = self.dataset_info = event.info
        self.errors.pop("(dataset", None)
        counts = ", ".join(f"{n}: {c}" for n, c in zip(i.class_names, i.class_counts))
        skipped = ", ".join(f"{k}: {v}" for k, v in i.skipped.items() if v)
        self.query_one("#dataset-info", Static).update(
            f"[b]{i.name}[/b] {i.input_shape[0]}x{i.input_shape[1]}x{i.input_shape[2]}, {i.num_classes} classes\n"
            f"split: {i.train:,} train / {i.val:,} val / {i.test:,} test\n"
            f"per class: {counts}" + (f"\n[yellow]skipped files: {skipped}[/]" if skipped else "")
            + f"\n[dim]{i.source}[/]")
        self._update_start()
        self._refresh_summary()
        self._refresh_preflight()

    @on(DatasetPreview)
    def _dataset_preview(self, event: DatasetPreview) -> None:
        if event.signature != self._dataset_sig:
            return
        room = self.query_one("#side").content_size.width - 13  # after the class-name column
        per_class = max(1, min(PREVIEW_PER_CLASS, room // 10))  # fewer, larger samples in a narrow panel
        cell = max(4, min(16, room // per_class - 2))
        self._preview = ([imgs[:per_class] for imgs in event.images], event.class_names, event.counts, cell)
        self._show_preview()

    def action_samples(self) -> None:
        """Show or hide a few training images per class with the class counts (F3)."""
        self._samples_shown = not self._samples_shown
        self._show_preview()

    def _show_preview(self) -> None:
        from tui.ui.widgets.picture import SamplesView

        panel = self.query_one("#dataset-preview", Static)
        samples = self.query_one("#dataset-samples", SamplesView)
        if not self._samples_shown:
            panel.update("[dim]F3 shows a few samples of each class[/]")
            samples.remove_children()
        elif self._preview is None:
            panel.update("Loading samples…")
        else:
            panel.update("")
            self.run_worker(samples.show(*self._preview), group="samples", exclusive=True)

    @on(DatasetFailed)
    def _dataset_failed(self, event: DatasetFailed) -> None:
        if event.signature != self._dataset_sig:
            return
        self.errors["(dataset"] = event.error
        self.query_one("#dataset-info", Static).update(f"[red]{event.error}[/red]")
        self._update_start()

    @on(SummaryReady)
    def _summary_ready(self, event: SummaryReady) -> None:
        if event.signature != self._model_sig:
            return
        s = event.summary
        rows = [f"{layer.kind[:12]:<12} {layer.output_shape[1:-1]:<11} {layer.params:>8,}" for layer in s.layers]
        self.query_one("#model-summary", Static).update(
            f"[b]{s.name}[/b]: {s.total_params:,} parameters ({s.trainable_params:,} trainable)\n"
            + "\n".join(rows))

    @on(SummaryProgress)
    def _summary_progress(self, event: SummaryProgress) -> None:
        if event.signature == self._model_sig:
            total = f"/{event.total:,}" if event.total else ""
            self.query_one("#model-summary", Static).update(f"{event.message} {event.done:,}{total} bytes")

    @on(SummaryFailed)
    def _summary_failed(self, event: SummaryFailed) -> None:
        if event.signature == self._model_sig:
            self.query_one("#model-summary", Static).update(f"[red]{event.error}[/red]")

    # -- actions --------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        self._start()

    def action_start_detached(self) -> None:
        """Shift+F5: the same checks, then the run starts in a process of its own and the app attaches to it."""
        self._start(detached=True)

    def _start(self, detached: bool = False) -> None:
        if self.errors:
            key, message = next(iter(self.errors.items()))
            self.notify(f"{key.lstrip('(')}: {message}", title="Cannot start", severity="warning")
            return
        from tui.core.diagnostics import preflight

        found = [f for f in preflight(self.config, self.dataset_info) if f.severity != "info"]
        lr_find = self._range_for(self.config)
        self.action_stop_range_test()  # the run gets the CPU
        if not found:
            self.post_message(StartRequested(self.config, detached, lr_find))
            return
        from tui.ui.screens.finding import START, FindingScreen

        config = self.config

        async def decided(choice: Fix | str | None) -> None:
            if choice == START:
                self.post_message(StartRequested(config, detached, lr_find))
            elif choice is not None and not isinstance(choice, str):
                self.app.post_message(FixRequested(config, choice))

        self.app.push_screen(FindingScreen(found, offer_start=True), decided)

    # -- learning-rate range test ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_range_test":
            return self._range_stop is not None  # Esc means "stop the test" only while one runs
        if action == "use_suggestion":
            return True if self._range_result is not None and self._range_result.suggestion else None
        return True

    def action_range_test(self) -> None:
        """F7: run the range test on the set-up as it is now, in a worker; the forms stay usable."""
        from tui.ui.widgets.chart import LineChart

        if self.errors:
            key, message = next(iter(self.errors.items()))
            self.notify(f"{key.lstrip('(')}: {message}", title="Cannot run the range test", severity="warning")
            return
        if self._range_stop is not None:
            self.notify("A range test is already running (Esc stops it).", severity="warning")
            return
        if not self._side_built:  # F7 pressed as the screen opens: the test starts with its panel
            self._range_test_waiting = True
            return
        import threading

        from tui.core.lrfind import settings_for

        settings = settings_for(self.config)
        self._range_stop = threading.Event()
        self._range_result = None
        self.refresh_bindings()
        self.query_one("#lr-find-status", Static).update(
            f"Starting: {self.config.optimizer.name}, rate {settings.start_lr:.0e} → {settings.end_lr:.0e}… "
            "(Esc stops it)")
        chart = self.query_one("#lr-find-chart", LineChart)
        chart.display = True
        chart.show({})
        self.call_after_refresh(self._scroll_to_range_test)
        self.run_range_test(self.config, self._range_stop)

    def _scroll_to_range_test(self) -> None:
        """The side panel scrolls down to the curve and its text."""
        self.query_one("#side", VerticalScroll).scroll_end(animate=False)

    def action_stop_range_test(self) -> None:
        if self._range_stop is not None:
            self._range_stop.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="lr_find", description="learning-rate range test")
    def run_range_test(self, config: ExperimentConfig, stop: threading.Event) -> None:
        import time

        from tui.core import lrfind
        from tui.ui.threads import lower_thread_priority

        lower_thread_priority()
        lrs: list[float] = []
        smoothed: list[float] = []
        status, sent = [""], [0.0]  # the latest status line; when progress was last posted

        def emit(event: Any) -> None:  # the worker's thread: data only, widgets are updated by the handlers
            if isinstance(event, lrfind.RangeTestStatus):
                status[0] = event.message
            elif isinstance(event, lrfind.RangeTestStep):
                lrs.append(event.lr)
                smoothed.append(event.smoothed)
                status[0] = (f"step {event.step}/{event.steps}: rate {event.lr:.2e}, loss {event.smoothed:.4f}"
                             " (Esc stops it)")
            now = time.monotonic()
            if now - sent[0] >= 0.25:  # a few redraws a second at most
                sent[0] = now
                self.post_message(RangeTestProgress(status[0], tuple(lrs), tuple(smoothed)))

        try:
            result = lrfind.find_lr(config, emit=emit, stop_event=stop)
        except lrfind.RangeTestError as exc:
            self.post_message(RangeTestFailed(str(exc)))
            return
        except Exception as exc:  # said in the panel, the app stays up
            self.post_message(RangeTestFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(RangeTestDone(result, config))

    @on(RangeTestProgress)
    def _range_progress(self, event: RangeTestProgress) -> None:
        from tui.ui.widgets.chart import LineChart

        if self._range_stop is None:
            return
        self.query_one("#lr-find-status", Static).update(event.status)
        if len(event.lrs) >= 2:  # plotext needs a range on both axes
            from tui.core.lrfind import y_range

            self.query_one("#lr-find-chart", LineChart).show({"smoothed loss": (event.lrs, event.smoothed)},
                                                             ylim=y_range(event.smoothed))

    @on(RangeTestDone)
    def _range_done(self, event: RangeTestDone) -> None:
        self._range_stop = None
        self._range_result, self._range_config = event.result, event.config
        self.refresh_bindings()
        self._show_range_result()
        self.call_after_refresh(self._scroll_to_range_test)

    @on(RangeTestFailed)
    def _range_failed(self, event: RangeTestFailed) -> None:
        from rich.markup import escape

        self._range_stop = None
        self.refresh_bindings()
        self.query_one("#lr-find-status", Static).update(f"[red]Range test: {escape(event.error)}[/]")

    def _range_for(self, config: ExperimentConfig) -> dict[str, Any] | None:
        """The last range test as summary data, if it was run on this set-up (rate and schedule aside)."""
        from tui.core.lrfind import matches

        r = self._range_result
        if r is None or self._range_config is None or not r.lrs or not matches(self._range_config, config):
            return None
        return r.to_dict()

    def _show_range_result(self) -> None:
        from tui.ui.widgets.chart import LineChart

        r = self._range_result
        if r is None or self._range_stop is not None:
            return
        from rich.markup import escape

        from tui.core.lrfind import fmt_lr, y_range

        lines = [f"[b green]{escape(line)}[/]" if "chosen" in line else
                 f"[yellow]{escape(line)}[/]" if line.startswith("note") else escape(line) for line in r.describe()]
        if r.suggestion is not None:
            lines.append("F8 puts the chosen rate into optimizer.learning_rate"
                         + (" (the one_cycle peak)" if self.config.schedule.name == "one_cycle" else ""))
        if r.lrs and self._range_for(self.config) is None:
            lines.append("[yellow]The set-up changed since this test: F7 runs it again.[/]")
        self.query_one("#lr-find-status", Static).update("\n".join(lines))
        marks = [v for v in (r.steepest, r.min_tenth) if v is not None]
        if len(r.lrs) >= 2:
            self.query_one("#lr-find-chart", LineChart).show({"smoothed loss": (r.lrs, r.smoothed)}, marks=marks,
                                                             subtitle=f"chosen {fmt_lr(r.suggestion)}",
                                                             ylim=y_range(r.smoothed))

    def action_use_suggestion(self) -> None:
        """F8: the range test's chosen rate into optimizer.learning_rate (and so the one_cycle peak)."""
        r = self._range_result
        if r is None or r.suggestion is None:
            self.notify("No suggestion yet: F7 runs the learning-rate range test.", severity="warning")
            return
        from tui.core.params import format_value
        from tui.ui.widgets.param_field import ParamField

        value = float(f"{r.suggestion:.3g}")
        key = "optimizer.learning_rate"
        self.config = self.config.with_values({key: value})
        form = self.form
        if form is not None:
            form.config = form.config.with_values({key: value})  # a tab not built yet shows it when opened
        for field in self.query(ParamField).filter(f"#field-{key.replace('.', '-')}"):
            from textual.widgets import Input

            field.query_one("#control", Input).value = field.param.format_text(value)
        self._config_changed()
        self.notify(f"{key} = {format_value(value)} ({r.chosen})", title="Learning rate set")

    def action_sweep(self) -> None:
        """F6: pick one or two keys and their values, and sweep the current set-up (or resume a sweep)."""
        if self.errors:
            key, message = next(iter(self.errors.items()))
            self.notify(f"{key.lstrip('(')}: {message}", title="Cannot sweep", severity="warning")
            return
        from tui.ui.screens.sweep_dialog import SweepDialog

        def chosen(choice: Any) -> None:
            if choice:
                _, target, workers, scheduler = choice
                self.app.post_message(SweepRequested(target, workers, scheduler))

        runs_dir = cast(AppServices, self.app).runs_dir
        self.app.push_screen(SweepDialog(self.config, runs_dir), chosen)

    def action_save_preset(self) -> None:
        from tui.ui.screens.dialogs import SavePresetDialog

        def save(name: str | None) -> None:
            if not name:
                return
            from tui.core import presets

            path = presets.user_dir() / f"{name}.toml"
            config_mod.save(self.config, path, meta={"description": f"saved from cnn-tui ({self.sub_title})"})
            self.notify(f"Saved {path}", title="Preset saved")
            from textual.widgets import Select

            self.query_one("#preset", Select).set_options(self._preset_options())

        self.app.push_screen(SavePresetDialog(), save)
