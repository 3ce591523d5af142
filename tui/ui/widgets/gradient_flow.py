"""Gradient flow: the gradient norm of each trainable layer on a log scale, first layer at the top.

Vanishing gradients show as the first layers' bars shrinking to nothing while the last layers' stay long;
exploding ones as bars past the right edge of a sane range.
"""

from __future__ import annotations

import math
from typing import Sequence

from rich.text import Text
from textual.widgets import Static

DECADES = 8
"""The bars span this many powers of ten below the largest norm; anything smaller is drawn empty."""
VANISHING_DECADES = 4
"""A layer whose norm is this many powers of ten below the largest is coloured as vanishing."""
EXPLODING_NORM = 1e3
"""A norm above this is coloured as exploding."""


def gradient_bars(layers: Sequence[str], norms: Sequence[float], width: int) -> Text:
    """One line per layer: name, a bar whose length is log10(norm) relative to the largest norm, the value."""
    out = Text()
    finite = [n for n in norms if math.isfinite(n) and n > 0]
    top = math.log10(max(finite)) if finite else 0.0
    name_w = min(14, max((len(name) for name in layers), default=4))
    bar_w = max(4, width - name_w - 10)
    for i, (name, norm) in enumerate(zip(layers, norms)):
        if not math.isfinite(norm):
            fraction, colour = 1.0, "red"
        elif norm <= 0:
            fraction, colour = 0.0, "red"
        else:
            decades_below = top - math.log10(norm)
            fraction = max(0.0, 1.0 - decades_below / DECADES)
            colour = ("red" if decades_below >= VANISHING_DECADES or norm > EXPLODING_NORM
                      else "yellow" if decades_below >= VANISHING_DECADES / 2 else "green")
        full = round(fraction * bar_w)
        out.append(f"{name[:name_w]:<{name_w}} ")
        out.append("█" * full, style=colour)
        out.append("·" * (bar_w - full), style="dim")
        out.append(f" {norm:8.1e}")
        if i < len(layers) - 1:
            out.append("\n")
    return out


class GradientFlow(Static):
    """Shows the latest GradientNorms event; says so while none has arrived."""

    DEFAULT_CSS = """
    GradientFlow { height: auto; min-height: 3; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("[dim]gradient norms appear after the first sampled batches[/]", id=id, classes=classes)
        self.border_title = "gradient flow (log)"
        self.norms: tuple[tuple[str, ...], tuple[float, ...]] | None = None

    def show(self, layers: Sequence[str], norms: Sequence[float], subtitle: str = "") -> None:
        self.norms = (tuple(layers), tuple(norms))
        self.border_subtitle = subtitle
        self._draw()

    def on_resize(self) -> None:
        if self.norms is not None:
            self._draw()

    def _draw(self) -> None:
        """A layout pass only where the panel's size follows its content: on the training screen its size is fixed,
        and a layout pass there repaints the whole screen (measured: most of the UI thread's time while training)."""
        assert self.norms is not None
        self.update(gradient_bars(*self.norms, max(20, self.size.width - 2)), layout=self.styles.auto_dimensions)
