"""Run history: the runs in the runs folder, sortable and filterable; open one to see its curves, findings and
summary (a live one: attach to it); resume one that was interrupted; mark several (space) and compare them (c);
delete or archive an ended one (with a confirmation)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList, Static

from tui.core.diagnostics import Finding, Fix
from tui.core.render import run_results
from tui.core.rundir import RunDir
from tui.core.runs import COLUMNS, SORT_KEYS, RunIndex, RunRecord
from tui.ui.messages import AttachRequested, FixRequested, ResumeRequested, RunsRead
from tui.ui.widgets.chart import LineChart
from tui.ui.widgets.findings_list import FindingsList
from tui.ui.widgets.footer import Footer
from tui.ui.widgets.picture import ExamplesView
from tui.ui.widgets.run_table import MARK_WIDTH, RunTable, layout

WATCH_SECONDS = 2.0
"""How often the history looks for runs that came, went, or progressed while it is shown."""


class RunsScreen(Screen):
    """The runs come from a worker reading the folder through its index (tui.core.runs): the newest show
    first and the rest fill in, with a count, while the screen answers keys; filtering and sorting work on the
    records in memory."""

    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back"), Binding("f5", "reload", "Reload"),
                Binding("space", "mark", "Mark"), Binding("c", "compare", "Compare marked"),
                Binding("s", "sort_next", "Sort by next column"), Binding("o", "sort_reverse", "Reverse order"),
                Binding("slash", "focus_filter", "Filter", show=False),
                Binding("delete", "remove('delete')", "Delete"), Binding("a", "remove('archive')", "Archive")]

    AUTO_FOCUS = "#runs"
    """The table has the focus from the start (focusing it after Textual focused the filter moved the focus twice:
    each move rebuilt the footer, 100 ms of a loaded machine before every row was listed)."""

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.records: list[RunRecord] = []
        self._earlier: dict[str, RunRecord] | None = None
        """While a reading of the folder replaces the rows of an earlier one (a reload): every record shown, by its
        directory as text, so that a run read again replaces its row. None on the first reading, whose batches
        are disjoint and only added (making the text of 10,000 Paths took 10-50 ms before every row was listed)."""
        self.marked: list[str] = []
        """Names of the runs marked for comparison, in the order they were marked."""
        self._sort: tuple[int, bool] = (1, True)
        self.scanning: tuple[int, int] | None = None
        """(read, total) while the worker reads the folder; None once every run is listed."""
        self._scan_id = 0
        self._folders: list[Path] = [runs_dir]
        """The folders runs live in: the runs folder and its sweeps (their times change when a run comes or goes)."""
        self._folder_token: list[int] | None = None
        self._orders: dict[tuple[int, bool], list[RunRecord]] = {}
        """Every record in each order asked for so far, sorted once per set of records: a key only filters."""
        self._last_filter: tuple[str, list[RunRecord], list[RunRecord]] | None = None
        """(filter text, the order it filtered, the rows it let through): a longer filter looks only in those."""
        self._drawn = threading.Event()
        """Set once the first rows the current reading handed out are on screen."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: any text in the row (dataset, architecture, status…)", id="filter")
        yield Static("", id="runs-header")
        yield RunTable(id="runs")
        yield Static("", id="runs-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"cnn-tui — runs in {self.runs_dir}"
        # the rows are filtered as the filter's text changes, in the same turn: the letter typed and the rows it
        # lets through reach the terminal in one frame (Input.Changed, a message later, took a frame of its own)
        self.watch(self.query_one("#filter", Input), "value", self._filtered, init=False)
        self.set_interval(WATCH_SECONDS, self._watch)

    def on_screen_resume(self) -> None:
        """Shown (first, or back from a run): read the folder again; unchanged runs come from the index."""
        self.action_reload()

    def action_reload(self) -> None:
        self._drawn = threading.Event()
        self._earlier = {str(r.path): r for r in self.records} if self.records else None
        self._scan_id += 1
        self.scanning = (0, 0)
        self._hint()
        self._scan(self._scan_id, max(100, self.app.size.height))

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs", description="reading the runs folder")
    def _scan(self, scan: int, first: int) -> None:
        """The newest `first` runs (at least a screenful) are handed out before the rest is read: on a warm index
        whose folder has not changed they come from the index's first lines alone."""
        drawn = self._drawn

        def batch(b: Any) -> None:
            # the records' filter text comes with them (kept in the index, or worked out here when a run is read),
            # not on a key
            self.post_message(RunsRead(b.records, b.done, b.total, scan=scan))
            # the first screenful is drawn before the rest is read: the reading holds the interpreter's lock, and
            # would otherwise leave the screen a turn every few milliseconds
            drawn.wait(2.0)

        folders = self._folders
        token = self._token(folders)  # before reading: a run that comes meanwhile is seen by the next watch
        listing = RunIndex(self.runs_dir).scan(batch, first=first)
        self._folders = [self.runs_dir, *listing.sweeps]
        # a sweep that came or went: the next watch reads the folder again, with the new sweeps' times
        self._folder_token = token if set(self._folders) == set(folders) else None
        self.post_message(RunsRead(listing.records, listing.total, listing.total, final=True, scan=scan))

    def _token(self, folders: list[Path]) -> list[int] | None:
        """The folders' identities and modification times: they change when a run comes or goes."""
        import os
        import time

        token: list[int] = []
        for folder in sorted(set(folders)):
            try:
                st = os.stat(folder)
            except OSError:
                return None
            if time.time() - st.st_mtime_ns / 1e9 <= 2.0:
                return None  # too recent to tell from the next change
            token += [st.st_ino, st.st_mtime_ns]
        return token

    def _watch(self) -> None:
        if self.scanning is None and self.is_current:
            self._watch_folder(self._scan_id, [r for r in self.records if r.status == "running"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-watch", description="watching the runs")
    def _watch_folder(self, scan: int, live: list[RunRecord]) -> None:
        """Every few seconds: a run that came or went reads the folder again; a run in progress is read again."""
        from tui.core.runs import read_run

        token = self._token(self._folders)
        if token is None or token != self._folder_token:
            self.app.call_from_thread(self.action_reload)
            return
        fresh = [new for r in live if (new := read_run(r.path)) is not None and new != r]
        if fresh:
            self.post_message(RunsRead(fresh, 0, 0, scan=scan, live=True))

    @on(RunsRead)
    def _read(self, message: RunsRead) -> None:
        if message.scan != self._scan_id:
            return  # an earlier reading, overtaken by a reload
        self._orders.clear()
        if message.final:  # every run, newest first: the order shown until another is asked for
            self.records = list(message.records)
            self._earlier = None
            self.scanning = None
            self._orders[(1, True)] = self.records
        elif message.live:  # runs in progress read again
            fresh = {str(r.path): r for r in message.records}
            self.records = [fresh.get(str(r.path), r) if r.live else r for r in self.records]
        else:
            if self._earlier is None:
                self.records = self.records + message.records
            else:
                self._earlier.update((str(r.path), r) for r in message.records)
                self.records = list(self._earlier.values())
            self.scanning = (message.done, message.total)
            self.call_after_refresh(self._drawn.set)
        if self.marked:
            names = {r.name for r in self.records}
            self.marked = [name for name in self.marked if name in names]
        self._fill()

    def _ordered(self) -> list[RunRecord]:
        """Every record in the current order."""
        rows = self._orders.get(self._sort)
        if rows is None:
            col, reverse = self._sort
            rows = self._orders[self._sort] = sorted(self.records, key=SORT_KEYS[col], reverse=reverse)
        return rows

    def _fill(self) -> None:
        needle = self.query_one("#filter", Input).value.strip().lower()
        ordered = self._ordered()
        rows = ordered
        if needle:
            last = self._last_filter
            # typing one more letter narrows what the last one let through
            source = last[2] if last and last[0] and last[1] is ordered and needle.startswith(last[0]) else ordered
            rows = [r for r in source if needle in r.search_text]
        self._last_filter = (needle, ordered, rows)
        table = self.query_one(RunTable)
        table.set_rows(rows)
        self.query_one("#runs-header", Static).update(self._header(), layout=False)
        self._hint()

    def _header(self) -> str:
        text = self.query_one(RunTable).header_text()
        col, reverse = self._sort
        name = COLUMNS[col]
        at = text.find(name)
        if at >= 0:
            arrow = "▼" if reverse else "▲"
            text = text[:at] + name + arrow + text[at + len(name) + 1:]
        return text

    def _hint(self) -> None:
        table = self.query_one(RunTable)
        scanning = ""
        if self.scanning is not None:
            done, total = self.scanning
            scanning = f"reading the folder… {done:,}/{total:,} · " if total else "reading the folder… · "
        self.query_one("#runs-hint", Static).update(
            f"{scanning}{table.row_count:,}/{len(self.records):,} runs · Enter opens (attaches to a ● live one) · "
            f"space marks ({len(self.marked)}) · c compares · s sorts · o reverses · / filters",
            layout=False)  # one line whatever it says: a key redraws the line, not the screen's layout

    def _filtered(self) -> None:
        self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(RunTable).focus()

    def action_focus_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))  # at once: the keys typed next go to the filter

    def sort_by(self, col: int) -> None:
        """Sort by column `col` (of COLUMNS); again on the same column reverses the order."""
        self._sort = (col, not self._sort[1] if self._sort[0] == col else col in (1, 5, 6, 7))
        self._fill()
        self.query_one(RunTable).cursor = 0  # a new order is read from its top

    def action_sort_next(self) -> None:
        self.sort_by((self._sort[0] + 1) % len(COLUMNS))

    def action_sort_reverse(self) -> None:
        self.sort_by(self._sort[0])

    def on_resize(self) -> None:
        self.query_one("#runs-header", Static).update(self._header(), layout=False)

    def on_click(self, event: events.Click) -> None:
        """A click on the header line sorts by the column under the pointer."""
        if event.widget is not self.query_one("#runs-header"):
            return
        x, edge = event.x - MARK_WIDTH, 0
        for col, width in enumerate(layout(self.query_one(RunTable).scrollable_content_region.width)):
            edge += width + 1
            if x < edge:
                self.sort_by(col)
                return

    @on(RunTable.Selected)
    def _open(self, event: RunTable.Selected) -> None:
        if event.record.live:
            self.post_message(AttachRequested(event.record.path))
            return
        self.app.push_screen(RunDetailScreen(event.record))

    def action_remove(self, how: str) -> None:
        """Delete or archive (RUNS/archive/NAME.tar.gz) the run under the cursor, after a confirmation."""
        from tui.core.runs import RunRemoveError, archive_run, delete_run
        from tui.ui.screens.dialogs import ConfirmDialog

        record = self.query_one(RunTable).current
        if record is None:
            return
        name = record.name
        question = (f"Delete {name} for good (every file in {record.path})?" if how == "delete" else
                    f"Archive {name} into {record.path.parent / 'archive'}/{name}.tar.gz and remove the folder?")

        def decided(yes: bool | None) -> None:
            if not yes:
                return
            try:
                done = (delete_run if how == "delete" else archive_run)(record.path)
            except (RunRemoveError, OSError) as exc:
                self.notify(str(exc), title="Not removed", severity="error", timeout=10)
                return
            self.notify(f"{'Deleted' if how == 'delete' else 'Archived to'} {done}", title="Run history")
            self.action_reload()

        self.app.push_screen(ConfirmDialog(question, yes="Delete" if how == "delete" else "Archive"), decided)


    def action_mark(self) -> None:
        """Toggle the mark on the run under the cursor."""
        table = self.query_one(RunTable)
        record = table.current
        if record is None:
            return
        if record.name in self.marked:
            self.marked.remove(record.name)
            table.marked.discard(str(record.path))
        else:
            self.marked.append(record.name)
            table.marked.add(str(record.path))
        table.action_cursor(1)
        table.refresh()
        self._hint()

    def action_compare(self) -> None:
        from tui.core.compare import MAX_RUNS, MIN_RUNS, CompareError, compare
        from tui.ui.screens.compare import CompareScreen

        if not MIN_RUNS <= len(self.marked) <= MAX_RUNS:
            self.notify(f"Mark {MIN_RUNS} to {MAX_RUNS} runs with space, then press c "
                        f"({len(self.marked)} marked).", severity="warning")
            return
        paths = {r.name: r.path for r in self.records}
        try:
            comparison = compare([paths.get(name, self.runs_dir / name) for name in self.marked])
        except CompareError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(CompareScreen(comparison, self.runs_dir))


class RunDetailScreen(Screen):
    """One run: its curves, findings and summary; `r` resumes it when it was interrupted."""

    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back"), Binding("r", "resume", "Resume"),
                Binding("d", "doctor", "Doctor"), Binding("i", "inside", "Inside")]

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
            yield ExamplesView(id="detail-examples")
            # (imported here: Markdown brings markdown-it, which the first F2 waited for without needing it)
            from textual.widgets import Markdown

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
        results = run_results(summary, self.record.path, examples=False)
        self.query_one("#detail-results", Static).update(results if results is not None else "")
        if results is not None:
            self.run_worker(self.query_one(ExamplesView).show_run(self.record.path), group="examples")
        text = run.read_summary_md() or "_No summary yet: the run is in progress or was killed._"
        from textual.widgets import Markdown

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
                self.app.post_message(FixRequested(config, fix))

        self.app.push_screen(FindingScreen([finding]), decided)

    def action_inside(self) -> None:
        """Filters, feature maps and Grad-CAM of this run's saved model, on its kept mistakes or any image."""
        from tui.ui.screens.inside import InsideScreen

        self.app.push_screen(InsideScreen(run_dir=self.record.path))

    def action_resume(self) -> None:
        if not self.record.resumable:
            self.notify(f"This run is {self.record.status}; only interrupted runs can be resumed.",
                        severity="warning")
            return
        self.app.post_message(ResumeRequested(self.record.path))
