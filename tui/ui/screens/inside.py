"""The inside view: one image through the network. First-layer filters, every convolution's feature maps (most
active channels first), Grad-CAM for the predicted and the true class, the top classes.

Two sources: a live training session (the view opens the session's InsideTap; the training thread copies the
weights at each epoch end while it is open, and this screen computes from that copy in a worker thread), or a
finished run's saved model. The image: a test sample browsed by class, a kept confident mistake, or a file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from tui.ui.messages import InsideFailed, InsideReady
from tui.ui.widgets.picture import Picture, PictureGrid

if TYPE_CHECKING:
    from tui.core.datasets import Dataset
    from tui.core.session import TrainingSession

POLL_SECONDS = 0.25
"""How often the screen looks for a new weight snapshot while training (a lock and a comparison, nothing more)."""
MAX_CHANNELS = 16
"""Feature maps shown per layer (the most active ones)."""


class InsideScreen(Screen):
    BINDINGS = [
        Binding("escape,b", "close", "Back"),
        Binding("n", "step(1)", "Next image"),
        Binding("p", "step(-1)", "Previous"),
        Binding("c", "next_class(1)", "Next class"),
        Binding("C", "next_class(-1)", "Prev class", show=False),
        Binding("m", "mistakes", "Mistakes"),
        Binding("s", "samples", "Samples"),
        Binding("o", "open_file", "Image file…"),
    ]

    def __init__(self, *, session: TrainingSession | None = None, run_dir: str | Path | None = None) -> None:
        super().__init__()
        self.session = session
        self._run_dir = Path(run_dir) if run_dir else None
        self.view: Any = None
        """The InsideView on screen (tests read it)."""
        self.epochs_shown: list[int] = []
        self._request = 0
        self._lock = threading.Lock()
        self._snapshot_model: Any = None
        self._run_model: Any = None
        self._snapshot_epoch: int | None = None
        self._mode = "sample"
        self._class = 0
        self._index = 0
        self._pool: tuple[np.ndarray, np.ndarray] | None = None
        self._kept: list[Any] = []
        self._file: str | None = None
        self._class_names: tuple[str, ...] = ()

    @property
    def run_dir(self) -> Path | None:
        """The run's directory (a live session has one once its run starts)."""
        if self._run_dir is None and self.session is not None and self.session.run_dir:
            return Path(self.session.run_dir)
        return self._run_dir

    @property
    def live(self) -> bool:
        return self.session is not None and self.session.result is None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="inside-status")
        yield Static("", id="inside-error")
        with VerticalScroll(id="inside-body"):
            with Horizontal(id="inside-top"):
                yield Horizontal(id="inside-images")
                yield Static("", id="inside-probs")
            yield Static("", id="inside-filters-title", classes="inside-title")
            yield PictureGrid(max_width=8, max_height=4, id="inside-filters")
            yield Vertical(id="inside-maps")
        yield Input(placeholder="an image file (PNG, JPEG, …); Enter opens it, Escape cancels", id="inside-file")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "cnn-tui — inside the network"
        if self.session is not None:
            self.session.inside_tap.open()
            self.set_interval(POLL_SECONDS, self._poll)
        self._set_source()
        if self.session is None and self._mode == "sample":
            self._load_pool()  # a run without kept mistakes: browse its test samples
        elif self._mode == "mistake" or self._pool is not None:
            self._refresh()
        else:
            self._say("The dataset is still loading; the view fills in when training starts.")
        self._poll()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.inside_tap.close()

    def action_close(self) -> None:
        if self.query_one("#inside-file", Input).has_class("-shown"):
            self._hide_file_input()
            return
        self.app.pop_screen()

    # -- where images come from --------------------------------------------------------------------------
    def _set_source(self) -> None:
        """Kept mistakes first for a finished run; test samples (else validation) for a live one."""
        from tui.core.inside import kept_examples

        if self.run_dir is not None and self.session is None:
            self._kept = kept_examples(self.run_dir)
            self._mode = "mistake" if self._kept else "sample"
        data = getattr(self.session, "data", None) if self.session is not None else None
        if data is not None:
            self._use_data(data)

    def _use_data(self, data: Dataset) -> None:
        x, y = (data.x_test, data.y_test) if data.x_test is not None and len(data.x_test) else (data.x_val, data.y_val)
        self._pool = (x, np.asarray(y).reshape(-1))
        self._class_names = tuple(data.info.class_names)

    def _choice(self) -> Any:
        from tui.core.inside import Choice

        if self._mode == "mistake" and self._kept:
            return self._kept[self._index % len(self._kept)]
        if self._mode == "file" and self._file:
            return self._file
        if self._pool is None:
            return None
        x, y = self._pool
        of_class = np.flatnonzero(y == self._class)
        if not len(of_class):
            return None
        i = int(of_class[self._index % len(of_class)])
        name = self._class_names[self._class] if self._class < len(self._class_names) else str(self._class)
        return Choice(x[i], int(y[i]), f"sample {self._index % len(of_class) + 1}/{len(of_class)} of class {name} "
                      f"(test image {i})")

    def action_step(self, delta: int) -> None:
        self._index += delta
        self._refresh()

    def action_next_class(self, delta: int) -> None:
        if self._mode != "sample":
            self._mode = "sample"
        n = max(1, len(self._class_names) or 1)
        self._class = (self._class + delta) % n
        self._index = 0
        if self._pool is None and self.session is None:
            self._load_pool()
            return
        self._refresh()

    def action_mistakes(self) -> None:
        from tui.core.inside import kept_examples

        if self.run_dir is not None and not self._kept:
            self._kept = kept_examples(self.run_dir)
        if not self._kept:
            self.notify("No kept mistakes yet: they are saved with the test evaluation when a run ends.",
                        severity="warning")
            return
        self._mode, self._index = "mistake", 0
        self._refresh()

    def action_samples(self) -> None:
        self._mode, self._index = "sample", 0
        if self._pool is None and self.session is None:
            self._load_pool()
            return
        self._refresh()

    def action_open_file(self) -> None:
        field = self.query_one("#inside-file", Input)
        field.add_class("-shown")
        field.focus()

    def _hide_file_input(self) -> None:
        field = self.query_one("#inside-file", Input)
        field.remove_class("-shown")
        self.query_one("#inside-body").focus()

    @on(Input.Submitted, "#inside-file")
    def _file_chosen(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        self._hide_file_input()
        if path:
            self._mode, self._file = "file", str(Path(path).expanduser())
            self._refresh()

    @work(thread=True, exclusive=True, exit_on_error=False, group="inside-data", description="test samples")
    def _load_pool(self) -> None:
        """A finished run's dataset, for browsing its test samples by class (loaded once, off the UI)."""
        from tui.core.datasets import load_dataset
        from tui.core.rundir import RunDir

        assert self.run_dir is not None
        self.app.call_from_thread(self._say, "Loading the run's dataset for its test samples…")
        try:
            data = load_dataset(RunDir(self.run_dir).read_config().dataset)
        except Exception as exc:
            self.app.call_from_thread(self._say_error, f"The run's dataset cannot be loaded: {exc}")
            return
        self.app.call_from_thread(self._pool_loaded, data)

    def _pool_loaded(self, data: Dataset) -> None:
        self._use_data(data)
        self._refresh()

    # -- live: a new snapshot at each epoch end ---------------------------------------------------------
    def _poll(self) -> None:
        if self.session is None:
            return
        if self._pool is None and self.session.data is not None:
            self._use_data(self.session.data)
            if self._mode == "sample":
                self._refresh()
        snap = self.session.inside_tap.latest()
        if snap is not None and snap.epoch != self._snapshot_epoch:
            self._snapshot_epoch = snap.epoch
            self._refresh()
        elif snap is None and self.session.result is None and self.view is None and self._pool is not None:
            self._say("Waiting for the end of this epoch: the view takes the weights there.")

    def _refresh(self) -> None:
        choice = self._choice()
        if choice is None:
            if self._pool is not None or self.session is None:
                self._say("No image to show: press o to open an image file.")
            return
        snap = self.session.inside_tap.latest() if self.session is not None else None
        if self.session is not None and snap is None and self.session.result is None:
            self._say("Waiting for the end of this epoch: the view takes the weights there.")
            return
        self._request += 1
        self._compute(self._request, choice, snap)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inside", description="inside view")
    def _compute(self, request: int, choice: Any, snapshot: Any) -> None:
        from tui.core import inside
        from tui.core.predict import PredictError, load_run_model

        try:
            with self._lock:
                if snapshot is not None:
                    if self._snapshot_model is None:
                        self._snapshot_model = inside.SnapshotModel()
                    model = self._snapshot_model.load(snapshot)
                    names = self._class_names or tuple(str(i) for i in range(int(model.output_shape[-1])))
                    where = f"epoch {snapshot.epoch}"
                else:
                    run_dir = self.run_dir
                    if run_dir is None:
                        raise inside.InspectError("this run has no directory yet, so no saved model")
                    if self._run_model is None:
                        try:
                            self._run_model = load_run_model(run_dir)
                        except PredictError as exc:
                            raise inside.InspectError(str(exc)) from None
                    model = self._run_model.model
                    names = self._run_model.class_names
                    where = f"saved model {self._run_model.model_file.name}"
                if isinstance(choice, str):
                    choice = inside.choose_file(choice, tuple(int(v) for v in model.input_shape[1:]))
                view = inside.compute_view(model, choice.image, names, choice.true_class,
                                           epoch=snapshot.epoch if snapshot is not None else None)
        except inside.InspectError as exc:
            self.post_message(InsideFailed(str(exc), request))
            return
        except Exception as exc:
            self.post_message(InsideFailed(f"{type(exc).__name__}: {exc}", request))
            return
        self.post_message(InsideReady(view, request, f"{where} · {choice.source}"))

    # -- drawing ------------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.query_one("#inside-status", Static).update(text)

    def _say_error(self, text: str) -> None:
        error = self.query_one("#inside-error", Static)
        error.update(f"[b]{text}[/b]")
        error.add_class("-shown")

    @on(InsideFailed)
    def _failed(self, event: InsideFailed) -> None:
        if event.request == self._request:
            self._say_error(event.error)
            self.notify(event.error, title="Inside view", severity="error", timeout=8)

    @on(InsideReady)
    async def _ready(self, event: InsideReady) -> None:
        if event.request != self._request:
            return  # an older request finished after a newer one was asked for
        v = event.view
        self.query_one("#inside-error", Static).remove_class("-shown")
        live = " · [green]live[/]: refreshes at each epoch end" if self.live else ""
        self._say(f"[b]{event.source}[/b]{live}\n[dim]n/p image · c class · m kept mistakes · s samples · "
                  f"o image file[/]")
        names = v.class_names
        true = names[v.true_class] if v.true_class is not None and v.true_class < len(names) else None
        images = self.query_one("#inside-images", Horizontal)
        await images.remove_children()
        pics = [Picture(v.image, f"input{' · true ' + true if true else ''}", 20, 10)]
        for cam in v.cams:
            pics.append(Picture(cam.overlay, f"Grad-CAM {cam.which}: {cam.class_name} {cam.probability:.0%}",
                                20, 10))
        await images.mount_all(pics)
        probs = "[b]Top classes[/b]\n" + "\n".join(
            f"{'[green]' if i == 0 else ''}{name:>12} {p:6.1%} {'█' * round(p * 20)}{'[/]' if i == 0 else ''}"
            for i, (name, p) in enumerate(v.top))
        if true is not None and v.top and v.top[0][0] != true:
            probs += f"\n[red]mistake: true class {true}[/]"
        probs += "".join(f"\n[yellow]{n}[/]" for n in v.notes)
        self.query_one("#inside-probs", Static).update(probs)
        self.query_one("#inside-filters-title", Static).update(f"[b]First layer[/b] {v.filters_title}")
        await self.query_one("#inside-filters", PictureGrid).show([(t.image, t.caption) for t in v.filters])
        maps = self.query_one("#inside-maps", Vertical)
        await maps.remove_children()
        for lm in v.maps:
            h, w, c = lm.shape
            shown = min(c, MAX_CHANNELS)
            title = Static(f"[b]{lm.layer}[/b] output {h}x{w}x{c} · the {shown} most active channels of {c}",
                           classes="inside-title")
            grid = PictureGrid([(t.image, t.caption) for t in lm.tiles(MAX_CHANNELS)], max_width=8, max_height=4)
            await maps.mount_all([title, grid])
        self.view = v  # drawn: now it is what the screen shows
        if v.epoch is not None and (not self.epochs_shown or self.epochs_shown[-1] != v.epoch):
            self.epochs_shown.append(v.epoch)
