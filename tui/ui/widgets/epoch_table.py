"""The training screen's table of epochs: a DataTable whose rows never keep the column widths of before they came."""

from __future__ import annotations

from typing import Iterable

from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class EpochTable(DataTable[str]):
    """A `DataTable` that forgets the lines it rendered before its columns were sized to new rows.

    Textual (8.2) sizes the columns to new rows when idle, and keys its cached lines on a counter that this sizing
    does not advance: a row drawn between `add_row` and that idle pass (the screen refreshed in between, which a busy
    machine makes likely) kept the header's widths ('0.18' for 0.1875) until the next row came, an epoch later."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        clear = getattr(self, "_clear_caches", None)  # a private method: another Textual may not have it
        if clear is not None:
            clear()

    def _refresh_scrollbars(self) -> None:
        """The scrollbar that appears when the rows outgrow the table takes the table's scroll position: the
        table may already have scrolled to its last row (the cursor follows the newest epoch) before the sizing
        made the scrollbar appear, which then drew its thumb at the top (seen once in the snapshot test)."""
        super()._refresh_scrollbars()
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.position = self.scroll_y
