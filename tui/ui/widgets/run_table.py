"""A table of runs that stays fast at tens of thousands of rows: it draws only the lines on screen (Textual's
Line API) from a list of records, so filtering or sorting replaces a Python list instead of rebuilding widgets
(a DataTable takes seconds to refill with 10,000 rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.runs import COLUMNS, RunRecord

WIDTHS = (None, 16, 13, 13, 11, 12, 6, 12)
"""Column widths; the run name takes what is left."""
MARK_WIDTH = 2


def layout(width: int) -> list[int]:
    """The width of each column (the first column, the mark, excluded) for a table `width` cells wide."""
    fixed = sum(w for w in WIDTHS if w) + len(WIDTHS)  # one space between columns
    return [w if w else max(12, width - MARK_WIDTH - fixed) for w in WIDTHS]


def line(texts: Sequence[str], widths: Sequence[int], mark: str = "") -> str:
    return f"{mark:<{MARK_WIDTH}}" + " ".join(
        (t if len(t) <= w else t[: w - 1] + "…").ljust(w) if i < 5 else t.rjust(w)
        for i, (t, w) in enumerate(zip(texts, widths)))


class RunTable(ScrollView, can_focus=True):
    """Rows are `RunRecord`s; the header line is drawn by the screen (`header_text`)."""

    BINDINGS = [Binding("up", "cursor(-1)", show=False), Binding("down", "cursor(1)", show=False),
                Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
                Binding("home", "cursor(-1000000000)", show=False), Binding("end", "cursor(1000000000)", show=False),
                Binding("enter", "select", show=False)]

    cursor = reactive(0, always_update=True)

    @dataclass
    class Selected(Message):
        """Enter (or a click on the highlighted row) on a run."""

        record: RunRecord

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[RunRecord] = []
        self.marked: set[str] = set()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def current(self) -> RunRecord | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_rows(self, rows: list[RunRecord]) -> None:
        """Show these rows (already filtered and sorted); the cursor stays on the same run when it is still there."""
        keep = self.current
        self.rows = rows
        if keep is not None and keep is not (rows[self.cursor] if self.cursor < len(rows) else None):
            index = next((i for i, r in enumerate(rows) if r is keep), None)  # the same record, most often
            if index is None:  # the same run read again: names first (comparing 10,000 Paths took 20 ms a key)
                name, path = keep.name, keep.path
                index = next((i for i, r in enumerate(rows) if r.name == name and r.path == path), None)
            self.cursor = min(self.cursor, max(0, len(rows) - 1)) if index is None else index
        else:
            self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.virtual_size = Size(self.size.width, len(rows))
        self.refresh()

    def header_text(self) -> str:
        return line(COLUMNS, layout(self.scrollable_content_region.width or self.size.width), "✓")

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width)
        record = self.rows[index]
        text = line(record.row, layout(width), "✓" if str(record.path) in self.marked else "")
        if index == self.cursor:
            style = self.get_component_rich_style("run-table--cursor") if self.has_focus else Style(reverse=True)
        else:
            style = Style(bgcolor="grey11") if index % 2 else Style()
        return Strip([Segment(text[:width].ljust(width), style)], width)

    COMPONENT_CLASSES = {"run-table--cursor"}
    DEFAULT_CSS = """
    RunTable > .run-table--cursor { background: $accent; color: $text; text-style: bold; }
    """

    def watch_cursor(self, old: int, new: int) -> None:
        self.scroll_to_region_of(new)
        self.refresh()

    def scroll_to_region_of(self, index: int) -> None:
        height = self.scrollable_content_region.height
        top = int(self.scroll_offset.y)
        if height <= 0:
            return
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self.current))

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if 0 <= index < len(self.rows):
            if index == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = index

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))
