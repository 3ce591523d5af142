"""The training screen's progress line: epoch and batch counters with a bar each, and the speed, as one widget.

One line drawn by one widget: as two Labels, two ProgressBars and a Static (each bar three widgets of its own)
every update of the batch counter was five to eight widgets to style and re-render, in two or three compositor
passes (a ProgressBar hands its percentage to its Bar a message later): ~12 ms of the UI thread a second while
training, which is CPU taken from TensorFlow's two shards per op (benchmarks/live_render.py)."""

from __future__ import annotations

from rich.console import RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from textual.widget import Widget


class ProgressRow(Widget):
    """`show()` the counters; drawn again only when what it shows changed."""

    DEFAULT_CSS = "ProgressRow { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[int, int, int, int, int, str] = (0, 0, 0, 0, 0, "")
        """(running epoch, epochs done, epochs, batch, steps, speed) as drawn; no epochs or steps: a dash."""

    @property
    def text(self) -> str:
        """The counters as words ("epoch 3/10  batch 12/47  3,000 samples/s"), for a reader and for tests."""
        epoch, _, epochs, batch, steps, speed = self._shown
        return "  ".join(part for part in (
            f"epoch {epoch}/{epochs}" if epochs else "epoch –", f"batch {batch}/{steps}" if steps else "batch –",
            speed) if part)

    def show(self, epoch: int, epochs_done: int, epochs: int, batch: int, steps: int, speed: str = "") -> None:
        """`epoch` of `epochs` is running (its bar shows `epochs_done`), `batch` of its `steps` done."""
        shown = (epoch, epochs_done, epochs, batch, steps, speed)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def render(self) -> RenderableType:
        epoch, epochs_done, epochs, batch, steps, speed = self._shown
        theme = self.app.current_theme
        done, going = theme.success or "green", theme.warning or "yellow"

        def bar(completed: int, total: int) -> ProgressBar:
            return ProgressBar(total=max(total, 1), completed=completed, style="grey30",
                               complete_style=going, finished_style=done)

        row = Table.grid(padding=(0, 1), expand=True)
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        row.add_column(no_wrap=True, min_width=18, justify="right")
        row.add_row(Text(f"epoch {epoch:>{len(str(epochs))}}/{epochs}" if epochs else "epoch –"),
                    bar(epochs_done, epochs),
                    Text(f"batch {batch:>{len(str(steps))}}/{steps}" if steps else "batch –"), bar(batch, steps),
                    Text(speed))
        return row
