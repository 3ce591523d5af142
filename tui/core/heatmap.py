"""The sweep heatmap as a rich renderable (rich only, no Textual): best validation accuracy per cell, rows the
first key's values, columns the second's (one row when the sweep has one key). Shared by the CLI and the app."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tui.core.records import format_clock
from tui.core.sweep import Cell, SweepState, _fmt_value

PENDING = "·"
RUNNING = "▶"
FAILED = "✗"

# viridis at five stops: low accuracy dark purple, high bright yellow (readable for most colour blindness)
_STOPS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def colour(fraction: float) -> tuple[int, int, int]:
    """The scale's colour at `fraction` in [0, 1]."""
    f = min(1.0, max(0.0, fraction)) * (len(_STOPS) - 1)
    i = min(int(f), len(_STOPS) - 2)
    t = f - i
    a, b = _STOPS[i], _STOPS[i + 1]
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _style(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    text = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"
    return f"{text} on rgb({r},{g},{b})"


def _cell(c: Cell, lo: float, hi: float) -> Text:
    if c.best_val_accuracy is not None and c.done:
        frac = (c.best_val_accuracy - lo) / (hi - lo) if hi > lo else 1.0
        return Text(f"{c.best_val_accuracy:.3f}", style=_style(colour(frac)), justify="center")
    if c.status == "running":
        progress = f" {c.epoch}/{c.epochs}" if c.epochs else ""
        return Text(f"{RUNNING}{progress}", style="bold reverse", justify="center")
    if c.status == "failed":
        return Text(FAILED, style="bold red", justify="center")
    return Text(PENDING, style="dim", justify="center")


def format_eta(seconds: float | None) -> str:
    """The sweep's time left, as the training screen writes it (records.format_clock)."""
    return "estimating…" if seconds is None else format_clock(seconds)


def progress_line(state: SweepState) -> str:
    """One line: cells done of total, workers, ETA and the latest news."""
    running = sum(c.status == "running" for c in state.cells)
    return (f"[bold]{state.done}/{state.total}[/] cells done, {running} running, {state.workers} at a time · "
            f"ETA {format_eta(state.eta_seconds()) if state.status == 'running' else '–'} · {escape(state.message)}")


def render_heatmap(state: SweepState) -> Group:
    """The grid with a title line and a legend (colour range, markers)."""
    scored = [c.best_val_accuracy for c in state.cells if c.done and c.best_val_accuracy is not None]
    lo, hi = (min(scored), max(scored)) if scored else (0.0, 1.0)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), collapse_padding=True, show_edge=False, pad_edge=False)
    if len(state.axes) == 2:
        rows, cols = state.axes
        title = Text.assemble(("rows ", "dim"), (rows.name, "bold"), ("  columns ", "dim"), (cols.name, "bold"))
        table.add_column(rows.name, justify="right", style="bold", no_wrap=True, min_width=len(rows.name))
        for v in cols.values:
            table.add_column(_fmt_value(v), justify="center", min_width=7, no_wrap=True)
        for i, rv in enumerate(rows.values):
            table.add_row(_fmt_value(rv) + " ", *(_cell(state.cell((i, j)), lo, hi) for j in range(len(cols.values))))
    else:
        (axis,) = state.axes
        title = Text.assemble(("columns ", "dim"), (axis.name, "bold"))
        table.add_column("", justify="right", style="bold", no_wrap=True, min_width=8)
        for v in axis.values:
            table.add_column(_fmt_value(v), justify="center", min_width=7, no_wrap=True)
        table.add_row("val_acc ", *(_cell(c, lo, hi) for c in state.cells))
    legend = Text.assemble(
        ("best val_acc  ", "dim"),
        *((f" {lo + (hi - lo) * k / 4:.3f} " if scored else "   ", _style(colour(k / 4))) for k in range(5)),
        (f"  {PENDING} pending {RUNNING} running {FAILED} failed", "dim"))
    return Group(title, table, legend)
