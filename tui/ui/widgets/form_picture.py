"""The set-up form's first tab drawn as one widget, for the first frame: the forms are ~90 widgets whose styling,
composing and layout took most of a second before anything was on the terminal (a bare Textual app paints in a
fraction of that). The set-up screen paints this picture first and swaps in the real forms right after."""

from __future__ import annotations

from textual.content import Content
from textual.markup import escape
from textual.widget import Widget

from tui.core.config import ExperimentConfig, section_params

TAB_TITLES = ("Data", "Model", "Optimizer", "Regularize", "Training")
"""The form's tabs (tui.ui.widgets.experiment_form.TABS); the first is the one shown."""
LABEL_WIDTH = 20
"""ParamField's label column."""


class FormPicture(Widget):
    """The preset row, the tab bar and the first tab's fields with their values, as text: what the forms look like
    once built. Nothing here takes input; it is replaced by the forms before any field can be focused."""

    DEFAULT_CSS = """
    FormPicture { height: 1fr; }
    """

    def __init__(self, config: ExperimentConfig, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config

    def render(self) -> Content:
        width = max(LABEL_WIDTH + 10, self.size.width)
        tabs = "  ".join(TAB_TITLES)
        lines = [
            Content.from_markup(f"[$foreground 70%]{'Load a preset…':<{width - 2}}▼[/]"),
            Content.from_markup(f" [b]{TAB_TITLES[0]}[/b]  [$foreground 50%]{tabs[len(TAB_TITLES[0]) + 2:]}[/]"),
            Content.from_markup(f"[$accent]{'━' * (len(TAB_TITLES[0]) + 2)}[/]"
                                f"[$foreground 20%]{'━' * (width - len(TAB_TITLES[0]) - 2)}[/]"),
            Content(""),
            Content.from_markup(" [b $accent]dataset[/]"),
        ]
        values = self.config.to_dict()["dataset"]
        for p in section_params("dataset"):
            value = values[p.name]
            if p.kind is bool:
                shown = f"▐X▌ {'on' if value else 'off'}"
            else:
                shown = escape(p.format_text(value)) or "[$foreground 50%](empty)[/]"
            row = Content.from_markup(f" {p.name:<{LABEL_WIDTH}}{shown}")
            if p.choices:
                row = row.pad_right(max(0, width - 2 - row.cell_length)) + Content("▼")
            lines.append(row)
        return Content("\n").join(lines)
