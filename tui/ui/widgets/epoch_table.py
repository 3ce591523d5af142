"""The training screen's table of epochs: a bounded window of the latest rows, each rendered once when it arrives.

A `DataTable` re-rendered every visible cell whenever a row was added (its caches are keyed on an update counter)
and asked for a layout pass (its virtual size grew): while training, that was a repaint of the whole screen per
epoch. Here a row becomes a terminal line once; a new row scrolls the window (a repaint of this widget only), and
the columns widen (every row drawn again) only when a value is wider than any before it.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

ROWS_KEPT = 200
"""The table keeps the latest this many rows (the charts show every epoch; summary.md lists them all)."""


class EpochTable(ScrollView, can_focus=True):
    """Columns set once (`add_columns`), rows appended (`add_row`), the oldest dropped past `max_rows`.

    A row whose cells after the first are empty but for the second (a change made while paused) spans the columns
    after the first with that text. The cursor (the highlighted row) follows the newest row unless the user moved
    it up (arrow keys, page keys, home/end)."""

    COMPONENT_CLASSES = {"epoch-table--header", "epoch-table--even-row", "epoch-table--odd-row",
                         "epoch-table--cursor"}
    DEFAULT_CSS = """
    EpochTable { background: $surface; color: $foreground; overflow: scroll scroll; }
    EpochTable:focus { background-tint: $foreground 5%; }
    EpochTable > .epoch-table--header { text-style: bold; background: $panel; color: $foreground; }
    EpochTable:ansi > .epoch-table--header { background: ansi_bright_blue; color: ansi_default; }
    EpochTable > .epoch-table--odd-row { }
    EpochTable > .epoch-table--even-row { background: $surface-lighten-1 50%; }
    EpochTable:dark > .epoch-table--even-row { background: $surface-darken-1 40%; }
    EpochTable > .epoch-table--cursor { background: $block-cursor-blurred-background;
                                        color: $block-cursor-blurred-foreground;
                                        text-style: $block-cursor-blurred-text-style; }
    EpochTable:focus > .epoch-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                              text-style: $block-cursor-text-style; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor(-1000000)", "First", show=False),
        Binding("end", "cursor(1000000)", "Last", show=False),
    ]

    def __init__(self, *, max_rows: int = ROWS_KEPT, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: tuple[str, ...] = ()
        self._rows: deque[tuple[int, tuple[str, ...]]] = deque(maxlen=max_rows)
        """(serial, cells): the serial numbers every row ever added (stripes do not flip as old rows go)."""
        self._added = 0
        self._widths: list[int] = []
        self._cursor: int | None = None
        """Index of the highlighted row in the window; None: the newest."""
        self._lines: dict[tuple[int, bool], Strip] = {}
        """Rows as terminal lines, by (serial, highlighted), for the current widths and styles."""
        self._styles_key: tuple[Style, ...] | None = None

    # -- data ----------------------------------------------------------------------------------------------
    def add_columns(self, *names: str) -> None:
        self.columns = tuple(names)
        self._widths = [len(n) for n in names]
        self._lines.clear()
        self._resized()

    def add_row(self, *cells: str) -> int:
        """Append a row; returns its serial number."""
        cells = tuple(str(c) for c in cells) + ("",) * (len(self.columns) - len(cells))
        wider = False
        spans = _spans(cells)
        for i, text in enumerate(cells[: 1 if spans else None]):
            if len(text) > self._widths[i]:
                self._widths[i], wider = len(text), True
        short = len(cells[1]) - (sum(w + 2 for w in self._widths[1:]) - 2) if spans else 0
        if short > 0:  # the last column widens for a spanning text longer than the columns it spans
            self._widths[-1] += short
            wider = True
        self._rows.append((self._added, cells))
        self._added += 1
        if wider:
            self._lines.clear()
        elif len(self._lines) > 2 * (self._rows.maxlen or 0) + 2:  # the lines of rows gone from the window
            oldest = self._rows[0][0]
            self._lines = {k: v for k, v in self._lines.items() if k[0] >= oldest}
        self._resized()
        return self._added - 1

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def get_row_at(self, index: int) -> tuple[str, ...]:
        """The cells of row `index` of the window (0: the oldest kept)."""
        return self._rows[index][1]

    @property
    def cursor_row(self) -> int:
        """The highlighted row's index in the window."""
        return len(self._rows) - 1 if self._cursor is None else self._cursor

    # -- geometry ------------------------------------------------------------------------------------------
    def _total_width(self) -> int:
        return sum(w + 2 for w in self._widths)

    def _resized(self) -> None:
        """Set the scrollable size without a layout pass (the scrollbars are always there: their space never
        changes)."""
        size = Size(self._total_width(), len(self._rows) + 1)
        if size == self.virtual_size:
            self.refresh()
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        if self._cursor is None:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    # -- keys ----------------------------------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        if not self._rows:
            return
        row = max(0, min(len(self._rows) - 1, self.cursor_row + step))
        self._cursor = None if row == len(self._rows) - 1 else row
        self._lines = {k: v for k, v in self._lines.items() if not k[1]}
        visible = max(1, self.scrollable_content_region.height - 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= self.scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)
        self.refresh()

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    # -- rendering -----------------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        styles = tuple(self.get_component_rich_style(name) for name in (
            "epoch-table--header", "epoch-table--even-row", "epoch-table--odd-row", "epoch-table--cursor"))
        if styles != self._styles_key:
            self._styles_key = styles
            self._lines.clear()
        header, even, odd, cursor = styles
        x = int(self.scroll_x)
        if y == 0:
            strip = self._strip(self.columns, header, False)
            return strip.crop(x, x + width).extend_cell_length(width, self.rich_style)
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._rows):
            return Strip.blank(width, self.rich_style)
        serial, cells = self._rows[index]
        highlighted = index == self.cursor_row
        key = (serial, highlighted)
        line = self._lines.get(key)
        if line is None:
            style = cursor if highlighted else (odd if serial % 2 else even)
            line = self._lines[key] = self._strip(cells, style, _spans(cells))
        return line.crop(x, x + width).extend_cell_length(width, self.rich_style)

    def _strip(self, cells: Iterable[str], style: Style, spans: bool) -> Strip:
        base = self.rich_style + style
        cells = tuple(cells)
        if spans:  # the first column, then the text across the others
            rest = sum(w + 2 for w in self._widths[1:]) - 2
            text = f" {cells[0]:<{self._widths[0]}}  {cells[1][:rest]:<{rest}} "
        else:
            text = "".join(f" {c[:w]:<{w}} " for c, w in zip(cells, self._widths))
        return Strip([Segment(text, base)])


def _spans(cells: tuple[str, ...]) -> bool:
    return len(cells) > 2 and not any(cells[2:]) and bool(cells[1])
