"""Run history: the runs in the runs folder, sortable and filterable; open one to see its curves, findings and
summary; resume one that was interrupted; mark several (space) and compare them (c)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Markdown, OptionList, Static

from tui.core.diagnostics import Finding, Fix

from tui.core.rundir import RunDir
from tui.core.render import run_results
from tui.core.runs import RunRecord, list_runs
from tui.ui.widgets.chart import LineChart
from tui.ui.widgets.findings_list import FindingsList

COLUMNS = ("run", "started", "dataset", "architecture", "status", "best val_acc", "epochs", "wall s")


def _row(r: RunRecord) -> tuple[object, ...]:
    return (r.name, r.started.strftime("%Y-%m-%d %H:%M"), r.dataset, r.architecture, r.status,
            round(r.best_val_accuracy, 4) if r.best_val_accuracy is not None else -1.0, r.epochs,
            round(r.wall_seconds or 0.0, 1))


class RunsScreen(Screen):
    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back"), Binding("f5", "reload", "Reload"),
                Binding("space", "mark", "Mark"), Binding("c", "compare", "Compare marked")]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.records: list[RunRecord] = []
        self.marked: list[str] = []
        """Names of the runs marked for comparison, in the order they were marked."""
        self._sort: tuple[int, bool] = (1, True)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: any text in the row (dataset, architecture, status…)", id="filter")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"cnn-tui — runs in {self.runs_dir}"
        self._mark_column, *_ = self.query_one(DataTable).add_columns("✓", *COLUMNS)
        self.action_reload()

    def action_reload(self) -> None:
        self.records = list_runs(self.runs_dir)
        self.marked = [name for name in self.marked if any(r.name == name for r in self.records)]
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        needle = self.query_one("#filter", Input).value.strip().lower()
        rows: list[tuple[Any, ...]] = [_row(r) for r in self.records]
        rows = [row for row in rows if not needle or needle in " ".join(map(str, row)).lower()]
        col, reverse = self._sort
        rows.sort(key=lambda row: row[col], reverse=reverse)
        for row in rows:
            table.add_row("✓" if row[0] in self.marked else "", *row, key=str(row[0]))
        self._hint()

    def _hint(self) -> None:
        self.query_one("#runs-hint", Static).update(
            f"{self.query_one(DataTable).row_count}/{len(self.records)} runs · Enter opens · space marks "
            f"({len(self.marked)}) · c compares · click a header sorts")

    @on(Input.Changed, "#filter")
    def _filtered(self) -> None:
        self._fill()

    @on(DataTable.HeaderSelected)
    def _sort_by(self, event: DataTable.HeaderSelected) -> None:
        col = event.column_index - 1  # the first column holds the marks
        if col < 0:
            return
        self._sort = (col, not self._sort[1] if self._sort[0] == col else False)
        self._fill()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        record = next(r for r in self.records if r.name == event.row_key.value)
        self.app.push_screen(RunDetailScreen(record))


    def action_mark(self) -> None:
        """Toggle the mark on the run under the cursor."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        name = str(row_key.value)
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        table.update_cell(row_key, self._mark_column, "✓" if name in self.marked else "")
        table.action_cursor_down()
        self._hint()

    def action_compare(self) -> None:
        from tui.core.compare import MAX_RUNS, MIN_RUNS, CompareError, compare
        from tui.ui.screens.compare import CompareScreen

        if not MIN_RUNS <= len(self.marked) <= MAX_RUNS:
            self.notify(f"Mark {MIN_RUNS} to {MAX_RUNS} runs with space, then press c "
                        f"({len(self.marked)} marked).", severity="warning")
            return
        try:
            comparison = compare([self.runs_dir / name for name in self.marked])
        except CompareError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(CompareScreen(comparison, self.runs_dir))


class RunDetailScreen(Screen):
    """One run: its curves, findings and summary; `r` resumes it when it was interrupted."""

    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back"), Binding("r", "resume", "Resume"),
                Binding("d", "doctor", "Doctor")]

    def __init__(self, record: RunRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        yield Header()
        yield Static(f"[b]{r.name}[/b] · {r.dataset} · {r.architecture} · {r.status} · {r.epochs} epochs"
                     + (" · [yellow]interrupted: r resumes it[/]" if r.resumable else ""), id="run-title")
        with Horizontal(id="detail-charts"):
            yield LineChart("loss", id="detail-loss")
            yield LineChart("accuracy", id="detail-acc")
        yield FindingsList(id="detail-findings")
        with VerticalScroll(id="detail-summary"):
            yield Static("", id="detail-results")
            yield Markdown(id="summary-md")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "cnn-tui — run"
        run = RunDir(self.record.path)
        history = run.read_history()
        recorded = run.read_summary()
        summary = recorded.as_dict() if recorded is not None else {}
        findings = tuple(recorded.findings_list()) if recorded is not None else ()
        self.query_one(FindingsList).show(findings)
        marks = [f.epoch for f in findings if f.epoch > 0]

        def series(*keys: str) -> dict[str, tuple[list[float], list[float]]]:
            return {k: ([h["epoch"] for h in history if k in h], [h[k] for h in history if k in h]) for k in keys}

        self.query_one("#detail-loss", LineChart).show(series("loss", "val_loss"), marks=marks)
        self.query_one("#detail-acc", LineChart).show(series("accuracy", "val_accuracy"), marks=marks)
        results = run_results(summary, self.record.path)
        self.query_one("#detail-results", Static).update(results if results is not None else "")
        text = run.read_summary_md() or "_No summary yet: the run is in progress or was killed._"
        self.query_one("#summary-md", Markdown).update(text)

    def action_doctor(self) -> None:
        chosen = self.query_one(FindingsList).selected
        if chosen is None:
            self.notify("The doctor found nothing wrong in this run.", title="Doctor")
            return
        self._open(chosen)

    @on(OptionList.OptionSelected, "#detail-findings")
    def _finding_chosen(self, event: OptionList.OptionSelected) -> None:
        self._open(self.query_one(FindingsList).findings[event.option_index])

    def _open(self, finding: Finding) -> None:
        """A fix applies to this run's own configuration, loaded into the set-up form."""
        from tui.core.params import ConfigError
        from tui.ui.screens.finding import FindingScreen

        try:
            config = RunDir(self.record.path).read_config()
        except (ConfigError, OSError) as exc:
            self.notify(f"This run's config.toml cannot be read: {exc}", severity="error")
            return

        async def decided(fix: Fix | str | None) -> None:
            if isinstance(fix, Fix):
                await self.app.apply_fix(config, fix)  # type: ignore[attr-defined]

        self.app.push_screen(FindingScreen([finding]), decided)

    def action_resume(self) -> None:
        if not self.record.resumable:
            self.notify(f"This run is {self.record.status}; only interrupted runs can be resumed.",
                        severity="warning")
            return
        self.app.resume_run(self.record.path)  # type: ignore[attr-defined]
