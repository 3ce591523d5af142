"""The training screen's epoch table: the latest epochs in a bounded window, the newest on screen and highlighted;
arrow keys move the highlight back through the window."""

from textual.app import App, ComposeResult

from tui.ui.widgets.epoch_table import EpochTable


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield EpochTable(id="epochs", max_rows=50)

    def on_mount(self) -> None:
        self.query_one(EpochTable).add_columns("epoch", "loss")


def screen_text(table: EpochTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.scrollable_content_region.height)]


async def test_the_newest_epochs_show_and_the_oldest_go():
    async with Host().run_test(size=(40, 8)) as pilot:
        table = pilot.app.query_one(EpochTable)
        for epoch in range(1, 81):
            table.add_row(str(epoch), f"{1 / epoch:.4f}")
        await pilot.pause()
        assert table.row_count == 50 and table.get_row_at(0)[0] == "31"
        lines = screen_text(table)
        assert lines[0].split() == ["epoch", "loss"]
        assert lines[-1].split() == ["80", "0.0125"]
        assert table.cursor_row == 49


async def test_a_change_row_spans_the_columns_after_the_first():
    async with Host().run_test(size=(60, 8)) as pilot:
        table = pilot.app.query_one(EpochTable)
        table.add_row("1", "0.5000")
        table.add_row("Δ 1·36", "learning rate 0.001 → 0.01", "")
        await pilot.pause()
        assert screen_text(table)[2].split() == ["Δ", "1·36", "learning", "rate", "0.001", "→", "0.01"]


async def test_up_moves_the_highlight_back_and_end_returns_to_the_newest():
    async with Host().run_test(size=(40, 8)) as pilot:
        table = pilot.app.query_one(EpochTable)
        for epoch in range(1, 21):
            table.add_row(str(epoch), "0.1")
        table.focus()
        await pilot.press("up", "up")
        assert table.cursor_row == 17
        await pilot.press("pageup", "pageup", "pageup", "pageup")
        assert table.cursor_row == 0 and screen_text(table)[1].split()[0] == "1"
        table.add_row("21", "0.1")  # the highlight stays where the user put it
        await pilot.pause()
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 20 and screen_text(table)[-1].split()[0] == "21"


async def test_a_run_of_thousands_of_epochs_keeps_the_table_s_memory_bounded():
    """Rows that leave the window take their drawn lines with them (the app's memory grew with every epoch)."""
    import tracemalloc

    async with Host().run_test(size=(40, 8)) as pilot:
        table = pilot.app.query_one(EpochTable)

        async def epochs(first: int, last: int) -> None:
            for epoch in range(first, last):
                table.add_row(str(epoch), f"{1 / epoch:.4f}")
                for y in range(table.scrollable_content_region.height):  # drawn, as the screen draws it
                    table.render_line(y)

        # traced from the start, and measured once the bounded caches of Rich and Textual that every drawn line
        # passes through (such as Rich's 4,096 cell widths) are full: what grows after that is the table's own
        tracemalloc.start()
        try:
            await epochs(1, 4201)
            before = tracemalloc.get_traced_memory()[0]
            await epochs(4201, 6201)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # (kept lines of every row ever drawn: ~5.5 MB more; now ~0.1 MB, what Textual's own caches still take in)
        assert grown < 500_000, f"{grown:,} bytes more after 2,000 more epochs"
        assert table.row_count == 50 and table.get_row_at(49)[0] == "6200"
