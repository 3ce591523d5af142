"""Rich renderables shared by the headless command and the app: the test evaluation (per-class table, coloured
confusion matrix), example predictions and dataset samples as terminal images.

Rich only (no Textual): the app puts these inside a Static, the headless command prints them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from rich.color import Color
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from tui.core.evaluation import Evaluation, Examples
from tui.core.images import image_text
from tui.core.rundir import RunDir

MAX_GRID_CLASSES = 20
"""Larger confusion matrices show only the classes with the lowest recall."""


def _score_style(v: float) -> str:
    return "green" if v >= 0.9 else "yellow" if v >= 0.7 else "bold red"


def _pct(v: float) -> str:
    return f"{v:.3f}"


def evaluation_header(ev: Evaluation) -> Text:
    """One line: accuracy, balanced accuracy, macro F1, loss, samples (and a warning when they disagree)."""
    t = Text()
    t.append("Test: ", style="bold")
    t.append(f"accuracy {ev.accuracy:.4f}", style=_score_style(ev.accuracy))
    t.append("  balanced accuracy ")
    t.append(f"{ev.balanced_accuracy:.4f}", style=_score_style(ev.balanced_accuracy))
    t.append(f"  macro F1 {ev.macro_f1:.4f}")
    if ev.loss is not None:
        t.append(f"  loss {ev.loss:.4f}")
    t.append(f"  ({ev.total:,} samples)", style="dim")
    if ev.accuracy - ev.balanced_accuracy > 0.02:
        t.append("\nBalanced accuracy is lower than accuracy: the model does worse on the smaller classes.",
                 style="yellow")
    return t


def per_class_table(ev: Evaluation) -> Table:
    """Precision, recall, F1 and support per class; the class with the lowest recall is flagged."""
    worst = ev.worst_recall_class
    table = Table("class", "precision", "recall", "F1", "support", title="Per class (test split)",
                  title_justify="left", show_edge=False, pad_edge=False)
    top = max(ev.support) if ev.support else 0
    for i, name in enumerate(ev.class_names):
        flag = Text(" ◀ lowest recall", style="bold red") if i == worst and ev.recall[i] < 1.0 else Text("")
        share = f"{ev.support[i]:,}" + (f" ({ev.support[i] / ev.total:.0%})" if ev.total else "")
        table.add_row(Text(name, style="bold red" if flag else ""), Text(_pct(ev.precision[i]),
                      _score_style(ev.precision[i])), Text(_pct(ev.recall[i]), _score_style(ev.recall[i])) + flag,
                      Text(_pct(ev.f1[i]), _score_style(ev.f1[i])),
                      Text(share, style="bold" if top and ev.support[i] < top / 2 else ""))
    return table


def _shade(base: tuple[int, int, int], strength: float) -> Style:
    """A background from dark gray (strength 0) to `base` (strength 1)."""
    s = max(0.0, min(1.0, strength))
    dark = (40, 40, 40)
    rgb = tuple(round(d + (b - d) * (0.25 + 0.75 * s)) for d, b in zip(dark, base))
    return Style(color="white" if s < 0.6 else "black", bgcolor=Color.from_rgb(*rgb), bold=True)


def confusion_grid(ev: Evaluation, label_width: int = 10) -> RenderableType:
    """The confusion matrix: rows are true classes, columns predictions; the diagonal green (brighter = higher
    recall), errors red (brighter = more of them)."""
    n = len(ev.class_names)
    idx = list(range(n))
    note = ""
    if n > MAX_GRID_CLASSES:
        idx = sorted(sorted(range(n), key=lambda i: ev.recall[i])[:MAX_GRID_CLASSES])
        note = f"\n{n} classes: showing the {MAX_GRID_CLASSES} with the lowest recall"
    cm = np.array(ev.confusion, dtype=np.int64)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    max_off = max(int(off.max()), 1)
    name_width = min(max(len(ev.class_names[j]) for j in idx), 6 if len(idx) <= 12 else 3)
    width = max(4, len(str(int(cm.max()))) + 1, name_width + 1)
    table = Table(show_header=True, show_edge=False, box=None, padding=(0, 0), pad_edge=False)
    table.add_column(Text("true\\pred", style="dim"), no_wrap=True, max_width=label_width)
    for j in idx:
        table.add_column(Text(ev.class_names[j][:width - 1], style="bold"), justify="right", width=width,
                         no_wrap=True)
    for i in idx:
        cells: list[Text] = []
        for j in idx:
            v = int(cm[i, j])
            if i == j:
                style = _shade((40, 170, 70), v / ev.support[i] if ev.support[i] else 0.0)
            elif v:
                style = _shade((210, 50, 50), v / max_off)
            else:
                style = Style(color="grey42")
            cells.append(Text(f"{v if v or i == j else '·'} ".rjust(width), style=style))
        table.add_row(Text(ev.class_names[i][:label_width], style="bold"), *cells)
    title = Text("Confusion matrix", style="bold")
    title.append(" (rows: true class, columns: predicted)" + note, style="dim")
    return Group(title, table)


def evaluation_renderable(ev: Evaluation) -> RenderableType:
    return Group(evaluation_header(ev), Text(""), per_class_table(ev), Text(""), confusion_grid(ev))


def _fit(shape: Sequence[int], max_width: int, max_height: int) -> tuple[int, int]:
    return min(max_width, shape[1]), min(max_height, (shape[0] + 1) // 2)


def examples_renderable(ex: Examples, max_width: int = 14, max_height: int = 7) -> RenderableType:
    """The saved test examples as small images with true/predicted labels and confidence, mistakes first."""
    parts: list[RenderableType] = []
    for title, want in (("Most confident mistakes", True), ("Correct predictions (a sample)", False)):
        cells = []
        for k in np.flatnonzero(ex.mistake == want):
            w, h = _fit(ex.images[k].shape, max_width, max_height)
            true, pred = ex.class_names[int(ex.y_true[k])], ex.class_names[int(ex.y_pred[k])]
            caption = Text(f"{true[:w + 4]}", style="bold")
            if want:
                caption.append(f"→{pred}"[:w + 4], style="bold red")
            caption.append(f"\n{float(ex.confidence[k]):.0%}", style="red" if want else "green")
            cells.append(Group(image_text(ex.images[k], w, h), caption))
        parts.append(Text(title + (f" ({len(cells)})" if cells else ": none"), style="bold"))
        if cells:
            parts.append(Columns(cells, padding=(0, 2)))
    return Group(*parts)


def preview_indices(y: np.ndarray, num_classes: int, per_class: int = 4, seed: int = 0) -> list[np.ndarray]:
    """For each class, up to `per_class` seeded random sample indices of that class in `y`."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.permutation(np.flatnonzero(y == c))[:per_class]) for c in range(num_classes)]


def dataset_preview(images: Sequence[np.ndarray], class_names: Sequence[str], counts: Sequence[int],
                    max_width: int = 12, max_height: int = 6) -> RenderableType:
    """A few samples per class, one class per row, with the class name and its sample count (small classes in
    red). `images[c]` holds class c's samples (N x H x W x C uint8); classes past len(images) are only counted."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=12)
    top = max(counts) if len(counts) else 0
    for c, name in enumerate(class_names[:len(images)]):
        label = Text(name[:12] + "\n", style="bold")
        label.append(f"{counts[c]:,}", style="bold red" if top and counts[c] < top / 2 else "dim")
        row: list[RenderableType] = [label]
        for img in images[c]:
            w, h = _fit(img.shape, max_width, max_height)
            row.append(image_text(img, w, h))
        grid.add_row(*row)
    if len(class_names) > len(images):
        return Group(grid, Text(f"first {len(images)} of {len(class_names)} classes", style="dim"))
    return grid


def run_results(summary: Mapping[str, Any], run_dir: str | Path | None) -> RenderableType | None:
    """A run's test evaluation and its saved example predictions; the reason when there is no test split;
    None when the summary has no test block (stopped early, failed, or written by an older version)."""
    from tui.core.evaluation import load_examples
    from tui.core.records import NO_TEST_SPLIT

    ev = Evaluation.from_dict(summary["test"]) if summary.get("test") else None
    if ev is None:
        no_split = (summary.get("dataset") or {}).get("test") == 0
        return Text(NO_TEST_SPLIT, style="yellow") if no_split else None
    parts: list[RenderableType] = [evaluation_renderable(ev)]
    examples = load_examples(RunDir(Path(run_dir)).predictions_file) if run_dir else None
    if examples is not None and len(examples):
        parts += [Text(""), examples_renderable(examples)]
    return Group(*parts)
