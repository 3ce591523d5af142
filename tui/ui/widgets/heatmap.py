"""The sweep heatmap as a widget: the core's rich renderable, redrawn when the screen hands it a new state."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from tui.core.heatmap import render_heatmap


class Heatmap(Static):
    """Best validation accuracy per cell; pending ·, running ▶, failed ✗."""

    DEFAULT_CSS = """
    Heatmap { height: auto; width: auto; padding: 0 1; }
    """

    def show(self, state: Any) -> None:
        self.update(render_heatmap(state))
