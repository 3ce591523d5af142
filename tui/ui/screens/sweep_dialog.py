"""The sweep dialog (F6 on the set-up screen): one or two of the form's keys and their values, a budget per cell,
checked as you type with the core's own rules; or an unfinished sweep to resume."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from models import ARCHITECTURES
from tui.core.config import SECTIONS, ExperimentConfig, section_params
from tui.core.params import ConfigError
from tui.core.sweep import list_sweeps, load_state, make_spec

SweepChoice = tuple[str, Any, int | None, str | None]
"""("new", SweepSpec, workers, scheduler) or ("resume", sweep directory, workers, scheduler); scheduler is the
address of an existing Dask cluster, or None for this machine."""


def sweepable_keys(config: ExperimentConfig) -> list[str]:
    """Keys a sweep can vary: numbers, switches and choices (not paths, not lists)."""
    params = [(f"{s}.{p.name}", p) for s in SECTIONS for p in section_params(s)]
    params[1:1] = [(f"model.{p.name}", p) for p in ARCHITECTURES[config.model.architecture].params]
    return [k for k, p in params if p.kind in (int, float, bool) or (p.kind is str and p.choices)]


def _unfinished(runs_dir: Path) -> list[tuple[str, str]]:
    out = []
    for d in list_sweeps(runs_dir)[:20]:
        try:
            s = load_state(d)
        except ConfigError:
            continue
        if s.done < s.total:
            out.append((f"{d.name} ({s.done}/{s.total} done)", str(d)))
    return out


class SweepDialog(ModalScreen[SweepChoice | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, config: ExperimentConfig, runs_dir: Path) -> None:
        super().__init__()
        self.config = config
        self.runs_dir = runs_dir
        self.spec: Any = None
        self.cell_workers: int | None = None
        self.scheduler: str | None = None

    def compose(self) -> ComposeResult:
        keys = sweepable_keys(self.config)
        arch_keys = [f"model.{p.name}" for p in ARCHITECTURES[self.config.model.architecture].params]
        first = arch_keys[0] if arch_keys else keys[0]
        second = arch_keys[1] if len(arch_keys) > 1 else Select.BLANK
        options = [(k, k) for k in keys]
        resumable = _unfinished(self.runs_dir)
        with Vertical(id="sweep-dialog"):
            yield Label("[b]Sweep[/b] one or two keys: a range 2..11, a series 2,4,...,256 or a list 8,16,32")
            with Horizontal(classes="sweep-row"):
                yield Select(options, value=first, allow_blank=False, id="key1", compact=True)
                yield Input("", placeholder="values, e.g. 2..11", id="values1", compact=True)
            with Horizontal(classes="sweep-row"):
                yield Select(options, value=second, prompt="(no second key)", id="key2", compact=True)
                yield Input("", placeholder="values, e.g. 2,4,...,256", id="values2", compact=True)
            with Horizontal(classes="sweep-row"):
                yield Label("epochs/cell", classes="sweep-label")
                yield Input(str(min(self.config.training.epochs, 3)), id="epochs", compact=True)
                yield Label("train samples", classes="sweep-label")
                yield Input(str(self.config.dataset.train_size), id="train-size", compact=True,
                            tooltip="training samples per cell (0 = all)")
                yield Label("workers", classes="sweep-label")
                yield Input("auto", id="workers", compact=True, tooltip="cells at once: auto or a number")
            with Horizontal(classes="sweep-row"):
                yield Label("Dask scheduler", classes="sweep-label")
                yield Input("", placeholder="empty: this machine; or tls://HOST:8786 of your cluster (README)",
                            id="scheduler", compact=True,
                            tooltip="send the cells to an existing Dask cluster; tls:// uses Dask's TLS configuration")
            yield Static("", id="sweep-check")
            with Horizontal(classes="sweep-buttons"):
                yield Button("Start sweep", variant="success", id="start-sweep", disabled=True)
                yield Button("Cancel", id="cancel")
            if resumable:
                with Horizontal(classes="sweep-buttons"):
                    yield Select(resumable, value=resumable[0][1], allow_blank=False, id="resume-dir", compact=True)
                    yield Button("Resume", variant="primary", id="resume")

    def on_mount(self) -> None:
        self.query_one("#values1", Input).focus()
        self._check()

    @on(Input.Changed)
    @on(Select.Changed)
    def _check(self) -> None:
        """Validate everything with make_spec; say what is wrong, or how many cells the grid has."""
        out = self.query_one("#sweep-check", Static)
        button = self.query_one("#start-sweep", Button)
        self.spec = None
        try:
            self.spec = self._build()
        except ConfigError as exc:
            out.update(f"[red]{exc}[/]")
        else:
            if self.spec is not None:
                shape = " × ".join(str(n) for n in self.spec.shape)
                said = (f"[green]{shape} = {math.prod(self.spec.shape)} cells[/] · "
                        + "; ".join(f"{a.name}: {', '.join(map(str, a.values))}" for a in self.spec.axes))
            else:
                said = "Type the values to sweep."
            if self.scheduler:
                from tui.core.cluster import address_warning

                warning = address_warning(self.scheduler)
                said += f"\n[yellow]{warning}[/]" if warning else ""
            out.update(said)
        button.disabled = self.spec is None

    def _int(self, id: str, what: str, minimum: int) -> int:
        text = self.query_one(f"#{id}", Input).value.strip()
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise ConfigError(what, f"got {text!r}; expected a whole number ≥ {minimum}")
        return value

    def _build(self) -> Any:
        grid = []
        for n in ("1", "2"):
            key = self.query_one(f"#key{n}", Select).value
            text = self.query_one(f"#values{n}", Input).value
            if key != Select.BLANK and text.strip():
                grid.append((str(key), text))
        workers = self.query_one("#workers", Input).value.strip().lower()
        self.cell_workers = None if workers == "auto" else self._int("workers", "workers", 1)
        scheduler = self.query_one("#scheduler", Input).value.strip()
        self.scheduler = None
        if scheduler:
            from tui.core.cluster import check_address

            self.scheduler = check_address(scheduler)
        epochs = self._int("epochs", "epochs per cell", 1)
        train_size = self._int("train-size", "training samples", 0)
        if not grid:
            return None
        return make_spec(self.config, grid, epochs, train_size)

    @on(Input.Submitted)
    @on(Button.Pressed, "#start-sweep")
    def _start(self) -> None:
        if self.spec is not None:
            self.dismiss(("new", self.spec, self.cell_workers, self.scheduler))

    @on(Button.Pressed, "#resume")
    def _resume(self) -> None:
        workers = self.cell_workers if self.query_one("#workers", Input).value.strip() else None
        self.dismiss(("resume", Path(str(self.query_one("#resume-dir", Select).value)), workers, self.scheduler))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
