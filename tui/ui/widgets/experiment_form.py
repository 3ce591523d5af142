"""Every configuration key as a form, one tab per part of the experiment."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual import on
from textual.widgets import Static, TabbedContent, TabPane

from models import ARCHITECTURES
from tui.core.config import ExperimentConfig, section_params
from tui.ui.widgets.param_field import ParamField

TABS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Data", ("dataset",)),
    ("Model", ("model",)),
    ("Optimizer", ("optimizer", "schedule")),
    ("Regularize", ("regularization",)),
    ("Training", ("training",)),
)


class ExperimentForm(Vertical):
    """Built from a config; `load()` rebuilds it from another (a preset) in one step."""

    DEFAULT_CSS = """
    ExperimentForm { height: 1fr; }
    ExperimentForm .form { padding: 0 1; }
    ExperimentForm .section-title { text-style: bold; color: $accent; margin: 1 0 0 0; }
    ExperimentForm .hint { color: $text-muted; padding: 0 0 0 20; }
    ExperimentForm #arch-params { height: auto; }
    """

    def __init__(self, config: ExperimentConfig, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            for i, (title, sections) in enumerate(TABS):
                with TabPane(title, id=f"tab-{title.lower()}"):
                    # Only the first tab's fields are built up front; the others when first shown.
                    yield VerticalScroll(*(self._fields(sections) if i == 0 else ()), classes="form")

    @on(TabbedContent.TabActivated)
    async def _fill_tab(self, event: TabbedContent.TabActivated) -> None:
        scroll = event.pane.query_one(VerticalScroll)
        if not scroll.children:
            sections = next(s for t, s in TABS if f"tab-{t.lower()}" == event.pane.id)
            await scroll.mount_all(list(self._fields(sections)))

    async def load(self, config: ExperimentConfig) -> None:
        self.config = config
        await self.recompose()

    def _fields(self, sections: tuple[str, ...]) -> ComposeResult:
        values = self.config.to_dict()
        for section in sections:
            yield Static(section, classes="section-title")
            for p in section_params(section):
                yield ParamField(f"{section}.{p.name}", p, values[section][p.name])
                if section == "model" and p.name == "architecture":
                    yield Static(ARCHITECTURES[self.config.model.architecture].description,
                                 id="arch-description", classes="hint")
                    yield Vertical(*self.arch_fields(self.config), id="arch-params")

    @staticmethod
    def arch_fields(config: ExperimentConfig) -> list[ParamField]:
        arch = ARCHITECTURES[config.model.architecture]
        params = config.arch_params()
        return [ParamField(f"model.{p.name}", p, params[p.name]) for p in arch.params]

    async def switch_architecture(self, config: ExperimentConfig) -> None:
        """Show only the new architecture's own parameters."""
        self.config = config
        self.query_one("#arch-description", Static).update(ARCHITECTURES[config.model.architecture].description)
        box = self.query_one("#arch-params", Vertical)
        await box.remove_children()
        await box.mount_all(self.arch_fields(config))
