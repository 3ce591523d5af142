"""Runs side by side: their curves overlaid per metric, the configuration keys that differ, the best metrics;
`e` exports the comparison as Markdown into the runs folder."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from tui.core.compare import CURVES, Comparison, Row, export_markdown
from tui.ui.widgets.chart import LineChart


PALETTE = ((86, 180, 233), (230, 159, 0), (0, 158, 115), (213, 94, 0), (240, 228, 66), (204, 121, 167),
           (0, 114, 178), (153, 153, 153))
"""One colour per run (Okabe–Ito, told apart with colour-blindness too), in the charts and the legend."""


class CompareScreen(Screen):
    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back"), Binding("e", "export", "Export Markdown")]

    def __init__(self, comparison: Comparison, runs_dir: Path) -> None:
        super().__init__()
        self.comparison = comparison
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        c = self.comparison
        flags = "".join(f"\n[yellow]⚠ {escape(flag)}[/]" for flag in c.flags())
        yield Header()
        yield Static(f"[b]Comparing {len(c.runs)} runs[/b] · e exports Markdown · Esc goes back{flags}",
                     id="compare-title")
        yield Static(self._legend(), id="compare-legend")
        with Horizontal(id="compare-charts"):
            for key, title in CURVES:
                yield LineChart(title, legend=False, id=f"compare-{key.replace('_', '-')}")
            if c.lr_find_curves():
                yield LineChart("Range test: loss vs rate", xlabel="learning rate (log)", log_x=True, legend=False,
                                id="compare-lr-find")
        with VerticalScroll(id="compare-tables"):
            yield DataTable(id="compare-diff", cursor_type="none", zebra_stripes=True)
            yield DataTable(id="compare-metrics", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "cnn-tui — compare runs"
        c = self.comparison
        for key, _ in CURVES:
            self.query_one(f"#compare-{key.replace('_', '-')}", LineChart).show(c.curves(key), colors=self.run_colors)
        if curves := c.lr_find_curves():
            self.query_one("#compare-lr-find", LineChart).show(curves, colors=self.run_colors)
        self._fill("#compare-diff", "key that differs", c.diff or (Row("(none: same configuration)", ()),))
        self._fill("#compare-metrics", "metric", c.metrics)

    @property
    def run_colors(self) -> dict[str, tuple[int, int, int]]:
        return dict(zip(self.comparison.names, PALETTE))

    def _legend(self) -> Text:
        legend = Text()
        for name, (r, g, b) in self.run_colors.items():
            legend.append("━━ ", style=f"bold rgb({r},{g},{b})").append(name).append("   ")
        return legend

    def _fill(self, selector: str, corner: str, rows: tuple[Row, ...]) -> None:
        table = self.query_one(selector, DataTable)
        table.add_columns(corner, *self.comparison.names)
        for row in rows:
            cells = [Text(v, style="bold green" if i == row.best else "") for i, v in enumerate(row.values)]
            table.add_row(row.label, *cells, *[""] * (len(self.comparison.runs) - len(cells)))

    def action_export(self) -> None:
        try:
            path = export_markdown(self.comparison, runs_dir=self.runs_dir)
        except OSError as exc:
            self.notify(f"Could not write the comparison: {exc}", severity="error")
            return
        self.notify(f"Comparison written to {path}")
