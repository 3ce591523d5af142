"""A line chart of a few named series (plotext), downsampled to its width and redrawn only when data change.

A series is either `(xs, ys)` or a `tui.core.series.BoundedSeries` (anything with `view(max_points)`): the
latter is what a live chart should get, because its view costs the same however long the history is."""

from __future__ import annotations

import re
import time
from typing import Any, Mapping, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from textual.content import Content
from textual.strip import Strip
from textual_plotext import PlotextPlot

from tui.core.series import downsample

FRAMES_KEPT = 4
"""Frames of the current data kept at different sizes (a few layouts a chart moves between)."""

CONTENT = ("title", "xlabel", "log_y", "log_x", "legend", "_colors", "_series", "points_drawn", "_marks", "_subtitle",
           "_ylim", "_xlim", "_frames", "_lines", "_stale", "_stale_ok", "_fresh_after_stale", "draw_seconds",
           "_styles_cache", "_painted")
"""What a chart shows, with the frames drawn from it: what `LineChart.swap_content` exchanges (the rest, the
plotext figure and a redraw already asked for, belongs to the place on the screen)."""


class LineChart(PlotextPlot):
    """Set data with `show()`; the chart redraws on the next refresh (and on resize, from the same data).

    With `legend=False` plotext's own legend (dropped anyway when a label is wider than the plot) is left out,
    for a caller that draws its own legend in the `colors` it gives `show()`."""

    ALLOW_SELECT = False
    """Its lines carry no character offsets (drawn straight from plotext's text): nothing to select in a plot."""

    def __init__(self, title: str, *, xlabel: str = "epoch", log_y: bool = False, log_x: bool = False,
                 legend: bool = True, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.log_y = log_y
        self.log_x = log_x
        """A log x axis labelled at whole decades (learning rates)."""
        self.legend = legend
        self._colors: Mapping[str, tuple[int, int, int]] = {}
        self._series: dict[str, Any] = {}
        self.points_drawn = 0
        """How many points the last frame handed to plotext (at most the width, per curve)."""
        self._marks: tuple[float, ...] = ()
        self._subtitle = ""
        self._ylim: tuple[float, float] | None = None
        self._xlim: tuple[float, float] | None = None
        self._frames: dict[tuple[int, int, str], Content] = {}
        """The frames drawn from the current data, by (width, height, theme): a chart shown again at a size it had
        (the chart pair switched back, the compact layout left and re-entered) costs no new plotext build."""
        self._lines: dict[tuple[int, int, str], tuple[Any, list[Strip]]] = {}
        """Those frames as terminal lines (with the style they were drawn in): Textual would turn the frame into
        lines again at every repaint of the chart, each time it is shown again or the layout moves (~20 ms)."""
        self._stale: dict[tuple[int, int, str], tuple[Any, list[Strip]]] = {}
        """Lines drawn from the data before the last `show()`: painted at once while the new frame is built after
        that paint (a chart switched to by `g` answers the key without waiting for plotext)."""
        self._redraw_due = False
        self._stale_ok = False
        self._fresh_after_stale = True
        self._painted: tuple[int, int, str] | None = None
        """The (width, height, theme) the current frame was last painted at, None after a paint of the last frame:
        Textual's styled lines of that paint (its `_styles_cache`, moved with the content by `swap_content`) can
        be shown again without styling each line again."""
        self.draw_seconds = 0.0
        """CPU seconds the last frame took to draw (plotext's build and the conversion to lines): what a caller
        spaces its redraws by (tui.ui.screens.training)."""

    def shown_again(self, fresh: bool = True) -> None:
        """Call before showing the chart again: its next paint may use its last frame (while a visible chart
        whose data changed is drawn from the new data at once: two paints would cost more). With `fresh` the
        frame of the current data follows that paint at once; without it, the last frame stays up until the next
        `show()` (a caller whose drawing has a budget: tui.ui.screens.training while a run trains)."""
        self._stale_ok = True
        self._fresh_after_stale = fresh

    def swap_content(self, other: LineChart) -> None:
        """Show what `other` shows, with the frames drawn from it and Textual's styled lines of its last paint, and
        `other` what this chart showed: only the two charts are repainted, from those lines when they are current
        (`_repaint_moved`). Moving charts by hiding and showing them costs a layout pass, which re-renders
        every widget on the screen (g in a short terminal: ~15 ms of the UI thread a press, measured against
        ~6 ms for a swap that styled every line anew, and ~1.4 ms for one from the lines kept:
        benchmarks/press_cost.py)."""
        for name in CONTENT:
            mine = getattr(self, name)
            setattr(self, name, getattr(other, name))
            setattr(other, name, mine)
        self._repaint_moved()
        other._repaint_moved()

    def _repaint_moved(self) -> None:
        """Repaint content just moved here: from Textual's styled lines of its last paint when they show the current
        frame at this size and theme (styling each line again was ~¾ of a press of g), else anew."""
        region = self.size.region
        if not self.display or not region:
            return  # (a place not shown: the content's lines wait there, in its cache, until it moves back)
        if self._painted != (region.width, region.height, self.app.theme):
            self.refresh()
            return
        self.refresh(region)  # the whole widget is repainted...
        dirty = getattr(self._styles_cache, "_dirty_lines", None)  # (Textual's; a version without it: styled anew)
        if isinstance(dirty, set):
            dirty.clear()  # ...from the lines its cache holds (a line it lacks is drawn as usual)

    def show(self, series: Mapping[str, tuple[Sequence[float], Sequence[float]] | Any], *,
             mark: float | None = None,
             marks: Sequence[float] = (), subtitle: str = "",
             colors: Mapping[str, tuple[int, int, int]] | None = None,
             ylim: tuple[float, float] | None = None,
             xlim: tuple[float, float] | None = None) -> None:
        """Draw `series` ({label: (xs, ys)}), with a red vertical line at each of `marks` (and `mark`);
        `colors` gives a label its RGB colour (plotext picks otherwise); `ylim` and `xlim` fix the y and x ranges
        (plotext centres a lone point in a range of its own making otherwise)."""
        self._series = dict(series)
        self._ylim = ylim
        self._xlim = xlim
        self._colors = colors or {}
        self._marks = tuple(sorted(set(marks) | ({mark} if mark is not None else set())))
        self._subtitle = subtitle
        self._stale_ok = False  # new data are drawn at the next paint
        self._painted = None
        self._frames.clear()
        self._stale = {**self._stale, **self._lines}
        while len(self._stale) > FRAMES_KEPT:
            del self._stale[next(iter(self._stale))]
        self._lines.clear()
        self.refresh()

    @property
    def labels(self) -> tuple[str, ...]:
        """The curves shown (the legend's labels), in the order they are drawn."""
        return tuple(self._series)

    @property
    def marks(self) -> tuple[float, ...]:
        """Where the red vertical lines are drawn (x values, sorted)."""
        return self._marks

    def points(self, label: str) -> tuple[list[float], list[float]]:
        """The curve `label` as it was given (before it is cut to the chart's width); empty when not shown."""
        data = self._series.get(label)
        if data is None:
            return [], []
        if hasattr(data, "points"):  # a BoundedSeries
            xs, ys = data.points()
            return list(xs), list(ys)
        return list(data[0]), list(data[1])

    def render(self) -> Any:
        """Build the plot only when the data, the size or the theme changed (plotext takes tens of ms), and hand
        Textual the frame as Content, converted once (Textual would convert plotext's Text on every repaint)."""
        key = (self.size.width, self.size.height, self.app.theme)
        frame = self._frames.get(key)
        if frame is None:
            frame = Content.from_rich_text(self._build(), console=self.app.console)
            while len(self._frames) >= FRAMES_KEPT:
                del self._frames[next(iter(self._frames))]
            self._frames[key] = frame
        return frame

    def render_line(self, y: int) -> Strip:
        """Line `y` of the current frame, from the lines kept with it (Textual's Line API).

        The lines come straight from plotext's ANSI text (`ansi_strips`): through Rich's Text.from_ansi, Content
        and Visual.to_strips that conversion cost as much as plotext's build (py-spy, the app training)."""
        width, height = self.size
        style = self.visual_style
        key = (width, height, self.app.theme)
        kept = self._lines.get(key)
        stale = None
        if kept is not None and kept[0] == style:
            self._stale_ok = False
        else:
            stale = self._stale.get(key) if self._stale_ok else None
            if stale is not None and stale[0] == style:  # this paint from the last frame, the next from the new
                if self._fresh_after_stale and not self._redraw_due:
                    self._redraw_due = True
                    self.call_after_refresh(self._redraw)
                kept = stale
            else:
                kept = self._draw_lines()
        self._painted = None if kept is stale else key
        lines = kept[1]
        return lines[y] if 0 <= y < len(lines) else Strip.blank(width, style.rich_style)

    def _draw_lines(self) -> tuple[Any, list[Strip]]:
        width, height = self.size
        key = (width, height, self.app.theme)
        started = time.thread_time()
        kept = (self.visual_style, ansi_strips(self._plotext_frame(), width, height, self.rich_style))
        self.draw_seconds = time.thread_time() - started
        while len(self._lines) >= FRAMES_KEPT:
            del self._lines[next(iter(self._lines))]
        self._lines[key] = kept
        self._stale.pop(key, None)
        return kept

    def _redraw(self) -> None:
        """The frame of the current data, after a paint that showed the last one."""
        self._redraw_due = self._stale_ok = False
        if self.display and self.size and (self.size.width, self.size.height, self.app.theme) not in self._lines:
            self._draw_lines()
            self.refresh()

    def _plotext_frame(self) -> str:
        """plotext's frame for the current data and size, as ANSI text (textual-plotext's render, without its
        conversion to Rich Text).

        plotext leaves out a title it has no room for, and the room is known only once the frame is built (the y
        axis's tick labels take their share of the width). A title with a subtitle that was left out is tried
        again without the subtitle, so that the chart still says what it shows (the learning-rate chart's
        "— marked: changed while paused" at 80 or 90 columns: the chart had no title at all)."""
        title = self._full_title
        frame = self._plotext_build(title)
        if self._subtitle and title not in _SGR.sub("", frame):
            frame = self._plotext_build(self.title)
        return frame

    @property
    def _full_title(self) -> str:
        return self.title + (f" — {self._subtitle}" if self._subtitle else "")

    def _plotext_build(self, title: str) -> str:
        self._build(convert=False, title=title)
        plot = self._plot
        plot.plotsize(self.size.width, self.size.height)
        plot._set_size(self.size.width, self.size.height)  # (textual-plotext does both: its issue #5)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return str(plot.build())

    def _build(self, convert: bool = True, title: str | None = None) -> Any:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        # about one point per cell per curve: plotext's cost grows with the points (and the cells) it draws, so a
        # long history is cut to the width (bucket means as a line, bucket extremes as dots) and costs what a
        # short one does
        max_points = max(8, self.size.width)
        drawn = False
        self.points_drawn = 0
        all_x: list[float] = []
        for label, data in self._series.items():
            colour: dict[str, Any] = {"color": self._colors[label]} if label in self._colors else {}
            dx: list[float] = []
            if hasattr(data, "envelope"):  # a BoundedSeries
                (x, y), (dx, dy) = data.envelope(max_points)
            else:
                x, y = downsample(data[0], data[1], max_points)
            self.points_drawn += len(x) + len(dx)
            all_x += x
            if x:
                plt.plot(x, y, label=label if self.legend else None, marker="braille", **colour)
                drawn = True
            if dx:  # the dots in the colour plotext gave the line
                plt.scatter(dx, dy, marker="braille", **(colour or _last_colour(plt)))
        if drawn:
            for at in self._marks:
                plt.vline(at, "red")
        plt.title(self._full_title if title is None else title)
        plt.xlabel(self.xlabel)
        if self.log_y and drawn:
            plt.yscale("log")
        if self.log_x and drawn:
            from tui.core.lrfind import decade_ticks

            xs = [v for v in all_x if v > 0]
            plt.xscale("log")
            decade_ticks(plt, min(xs), max(xs))
        if self._ylim is not None and drawn:
            plt.ylim(*self._ylim)
        if self._xlim is not None and drawn:
            plt.xlim(*self._xlim)
        return super().render() if convert else None


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_sgr_styles: dict[str, Style] = {}


def _sgr_style(codes: str) -> Style:
    """The Rich style of an SGR parameter string ('48;2;30;30;30;38;5;12'), decoded once by Rich."""
    style = _sgr_styles.get(codes)
    if style is None:
        decoded = Text.from_ansi(f"\x1b[{codes}mx")
        style = Style.combine(span.style for span in decoded.spans if isinstance(span.style, Style))
        if len(_sgr_styles) < 4096:
            _sgr_styles[codes] = style
    return style


def ansi_strips(frame: str, width: int, height: int, base: Style) -> list[Strip]:
    """`height` lines of `width` cells from ANSI text of SGR codes (what plotext draws), on `base`; adjacent cells of
    one style are one segment (every repaint carries each segment through Textual's filters and crops)."""
    strips: list[Strip] = []
    blank = Strip.blank(width, base)
    for line in frame.split("\n")[:height]:
        segments: list[Segment] = []
        codes = ""
        pos = 0
        for match in _SGR.finditer(line):
            if match.start() > pos:
                segments.append(Segment(line[pos:match.start()], base + _sgr_style(codes) if codes else base))
            params = match.group(1)
            codes = "" if params in ("", "0") else (f"{codes};{params}" if codes else params)
            pos = match.end()
        if pos < len(line):
            segments.append(Segment(line[pos:], base + _sgr_style(codes) if codes else base))
        strips.append(Strip(segments).simplify().adjust_cell_length(width, base))
    strips += [blank] * (height - len(strips))
    return strips


def _last_colour(plt: Any) -> dict[str, Any]:
    """The colour plotext picked for the series drawn last (its own sequence, themed), as plot()'s keyword."""
    try:
        used = plt._active.monitor.color[-1]
    except (AttributeError, IndexError):
        return {}
    return {"color": used[-1] if isinstance(used, list) and used else used}
