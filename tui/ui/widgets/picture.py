"""Images in the app, drawn by textual-image: real pixels over the Kitty graphics protocol or Sixel where the
terminal answers for them, coloured half cells elsewhere (tmux, most terminals), Unicode blocks without a tty.

textual-image is imported with the first picture, told what the terminal answered before Textual started
(tui/ui/graphics.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static


def cells_for(height: int, width: int, max_width: int, max_height: int) -> tuple[int, int, int]:
    """(columns, rows, integer scale) for an image of height x width pixels in a box of cells; one cell is one
    pixel across and two pixels down at scale 1 (half cells), which keeps the picture square in pixel terminals
    too. Small images are enlarged by a whole factor (crisp), large ones shrunk to fit."""
    fit = min(max_width / width, 2 * max_height / height)
    scale = max(1, math.floor(fit)) if fit >= 1 else fit
    cols, rows = max(1, round(width * scale)), max(1, math.ceil(height * scale / 2))
    return cols, rows, max(1, int(scale))


def _pil(pixels: np.ndarray, scale: int) -> object:
    from PIL import Image

    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if scale > 1:  # nearest-neighbour enlargement here, so the renderer's resampling does not blur small filters
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1)
    return Image.fromarray(a, "L" if a.ndim == 2 else "RGB")


class Picture(Vertical):
    """One image (uint8 H x W, H x W x 1 or H x W x 3) with a caption under it, in a box of cells."""

    DEFAULT_CSS = """
    Picture { width: auto; height: auto; margin: 0 1 0 0; }
    Picture > .caption { width: auto; max-width: 100%; height: auto; color: $text-muted; }
    """

    def __init__(self, pixels: np.ndarray, caption: str = "", max_width: int = 16, max_height: int = 8,
                 *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.pixels = np.asarray(pixels)
        self.caption = caption
        self.box = cells_for(self.pixels.shape[0], self.pixels.shape[1], max_width, max_height)

    def compose(self) -> ComposeResult:
        from tui.ui.graphics import textual_image

        cols, rows, scale = self.box
        image = textual_image().Image(_pil(self.pixels, scale))
        image.styles.width = cols
        image.styles.height = rows
        yield image
        if self.caption:
            caption = Static(self.caption, classes="caption", markup=False)
            caption.styles.width = max(cols, min(len(self.caption), cols + 6))
            yield caption


class PictureGrid(Widget):
    """Pictures in as many columns as the grid's width holds; `show` replaces them."""

    DEFAULT_CSS = """
    PictureGrid { layout: grid; grid-size: 4; grid-gutter: 0 1; height: auto; width: 1fr; }
    """

    def __init__(self, pictures: Sequence[tuple[np.ndarray, str]] = (), max_width: int = 12, max_height: int = 6,
                 *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.max_width = max_width
        self.max_height = max_height
        self.pictures = list(pictures)

    def compose(self) -> ComposeResult:
        for pixels, caption in self.pictures:
            yield Picture(pixels, caption, self.max_width, self.max_height)

    def on_mount(self) -> None:
        self._fit_columns()

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        if not self.pictures:
            return
        h, w = self.pictures[0][0].shape[:2]
        cols = cells_for(h, w, self.max_width, self.max_height)[0]
        room = self.size.width or max(20, self.app.size.width - 4)
        self.styles.grid_size_columns = max(1, room // (max(cols, 6) + 1))

    async def show(self, pictures: Sequence[tuple[np.ndarray, str]]) -> None:
        await self.remove_children()
        self.pictures = list(pictures)
        self._fit_columns()
        await self.mount_all([Picture(p, c, self.max_width, self.max_height) for p, c in self.pictures])


class ExamplesView(Vertical):
    """A run's kept test examples as pictures: the most confident mistakes, then correct ones."""

    DEFAULT_CSS = """
    ExamplesView { height: auto; }
    ExamplesView > .examples-title { height: auto; margin: 1 0 0 0; text-style: bold; }
    """

    async def show_run(self, run_dir: object) -> None:
        from pathlib import Path

        from tui.core.evaluation import load_examples
        from tui.core.render import example_sections
        from tui.core.rundir import RunDir

        await self.remove_children()
        examples = load_examples(RunDir(Path(str(run_dir))).predictions_file) if run_dir else None
        if examples is None or not len(examples):
            return
        widgets: list[Widget] = []
        for title, pictures in example_sections(examples):
            widgets.append(Static(title, classes="examples-title", markup=False))
            if pictures:
                widgets.append(PictureGrid(pictures, max_width=10, max_height=5))
        await self.mount_all(widgets)


class SamplesView(Vertical):
    """A few images of each class, one class per row, its name and sample count (small classes in red) first."""

    DEFAULT_CSS = """
    SamplesView { height: auto; }
    SamplesView > Horizontal { height: auto; }
    SamplesView .samples-label { width: 12; height: auto; }
    """

    async def show(self, images: Sequence[np.ndarray], class_names: Sequence[str], counts: Sequence[int],
                   cell: int = 8) -> None:
        await self.remove_children()
        top = max(counts) if len(counts) else 0
        rows: list[Widget] = []
        for c, name in enumerate(class_names[:len(images)]):
            small = bool(top and counts[c] < top / 2)
            label = Static(f"[b]{name[:12]}[/b]\n[{'bold red' if small else 'dim'}]{counts[c]:,}[/]",
                           classes="samples-label")
            pictures = [Picture(img, "", cell, cell // 2) for img in images[c]]
            rows.append(Horizontal(label, *pictures))
        if len(class_names) > len(images):
            rows.append(Static(f"[dim]first {len(images)} of {len(class_names)} classes[/]"))
        await self.mount_all(rows)
