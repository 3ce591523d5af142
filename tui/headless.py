"""The headless command's view: rich progress bars and an epoch table, fed by session events.

Listeners run on the training thread, and what they do there training waits for. So while the view is shown
(`with view:`) its listener only queues the event, and a thread of the view's own draws it (benchmarks/README.md,
throughput round 14).

That thread still shares the two cores with training, so it draws at most once a second (`DRAW_EVERY`): it
sleeps out the rest of the second after a draw, then takes every event queued meanwhile, updates the bars and
prints the rows they bring in one write. A row printed after a quiet second appears at once. Each write makes
rich redraw the bars (~1 ms), and rich's own 2 Hz refresh thread is off: at one write per 0.75 s epoch plus the
refreshes, the view took ~4 ms of CPU an epoch and the session read 0.982 × bare against 0.994 × with no view;
drawing at most once a second, ~1-2 ms (benchmarks/README.md, throughput rounds 21-22).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tui.core.events import (BatchEnd, ControlAck, Diagnosis, EpochEnd, Event, Prepare, RunEnded, RunStarted,
                             SettingsChanged, StateChanged, SubscriberFailed)
from tui.core.control import Interruptible
from tui.core.params import format_value
from tui.core.records import format_metric
from tui.core.render import run_results

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
DRAW_EVERY = 1.0
"""Seconds between two draws of the shown view: events that come faster are drawn together."""
log = logging.getLogger(__name__)


class HeadlessView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console, transient=False,
            auto_refresh=False)
        self.prepare_task: Any = None
        self.epoch_task: Any = None
        self.batch_task: Any = None
        self.shown: set[str] = set()  # finding ids already printed
        self._queue: queue.SimpleQueue[Event | None] | None = None
        """While the view is shown: the events its thread has still to draw."""
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        """Set when the view is left: its thread draws what is queued without waiting out the second."""
        self._rows: list[str] = []
        """Lines (rich markup) the events drawn since the last write bring, printed together by `flush`."""

    def __enter__(self) -> "HeadlessView":
        self.progress.start()
        self._queue = queue.SimpleQueue()
        self._closing.clear()
        self._thread = threading.Thread(target=self._draw_queued, args=(self._queue,), name="cnn-tui-view",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._queue is not None and self._thread is not None:
            self._closing.set()
            self._queue.put(None)  # after every event queued: all of them are drawn before the bars stop
            self._thread.join()
        self._queue = self._thread = None
        self.progress.stop()

    def handle(self, event: Event) -> None:
        """The session's listener: queued while the view is shown (drawn by its thread, in order), else drawn
        now."""
        q = self._queue
        if q is not None:
            q.put(event)
        else:
            self.draw(event)
            self.flush()

    def _draw_queued(self, q: "queue.SimpleQueue[Event | None]") -> None:
        """The view's thread: draws what is queued, then waits out the rest of `DRAW_EVERY` (or the view's end)
        before the next draw, so that a flood of events is drawn together."""
        event: Event | None = q.get()
        while event is not None:
            drawn_at = time.monotonic()
            while event is not None:
                self._draw_one(event)
                try:
                    event = q.get_nowait()
                except queue.Empty:
                    break
            self._flush_safely()
            if event is not None:
                self._closing.wait(DRAW_EVERY - (time.monotonic() - drawn_at))
                event = q.get()

    def _draw_one(self, event: Event) -> None:
        try:
            self.draw(event)
        except Exception:  # a view that cannot draw one event goes on with the next (training is elsewhere)
            log.warning("the progress view could not show %s", type(event).__name__, exc_info=True)

    def _flush_safely(self) -> None:
        try:
            self.flush()
        except Exception:
            log.warning("the progress view could not write to the terminal", exc_info=True)

    def flush(self) -> None:
        """One draw: the bars brought up to date, then the rows drawn since the last draw printed above them."""
        rows, self._rows = self._rows, []
        self.progress.refresh()  # (rich draws under every print the bars as they were at its last refresh)
        if rows:
            self.progress.console.print("\n".join(rows), overflow="fold")

    def draw(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, Prepare):
            if self.prepare_task is None:
                self.prepare_task = p.add_task(event.message, total=event.total, info="")
            p.update(self.prepare_task, description=event.message, completed=event.done, total=event.total)
        elif isinstance(event, RunStarted):
            if self.prepare_task is not None:
                p.remove_task(self.prepare_task)
                self.prepare_task = None
            d = event.dataset
            # (the rows of one draw are printed as one markup text: names that come from outside are escaped)
            self._rows.append(f"[bold]Run[/] {escape(str(event.run_dir))}")
            self._rows.append(f"Dataset {escape(d.name)}: {d.train} train / {d.val} val / {d.test} test, "
                              f"{d.num_classes} classes, input {d.input_shape} ({escape(d.source)})")
            self._rows.append(f"Model {escape(event.model.name)}: {event.model.total_params:,} parameters "
                              f"({event.model.trainable_params:,} trainable)")
            self.epoch_task = p.add_task("epochs", total=event.epochs, info="")
            self.batch_task = p.add_task("batches", total=event.steps_per_epoch, info="")
        elif isinstance(event, BatchEnd) and self.batch_task is not None:
            p.update(self.batch_task, completed=event.batch, description=f"epoch {event.epoch}",
                     info=f"loss {event.loss:.4f}  {event.samples_per_second:,.0f} samples/s")
        elif isinstance(event, EpochEnd) and self.epoch_task is not None:
            logs = event.logs
            p.update(self.epoch_task, completed=event.epoch)
            self._rows.append(
                f"epoch {event.epoch:>3}/{event.epochs} loss {logs.get('loss', float('nan')):.4f} "
                f"acc {logs.get('accuracy', float('nan')):.4f} val_loss {logs.get('val_loss', float('nan')):.4f} "
                f"val_acc {logs.get('val_accuracy', float('nan')):.4f} lr {event.lr:.2g} {event.seconds:.1f}s"
                + (" (cut short)" if event.partial else ""))
        elif isinstance(event, RunEnded) and self.prepare_task is not None:
            p.remove_task(self.prepare_task)
            self.prepare_task = None
        elif isinstance(event, Diagnosis):
            for finding in event.findings:
                if finding.id not in self.shown:
                    self.shown.add(finding.id)
                    self._rows.append(render_finding(finding.as_dict()))
        elif isinstance(event, StateChanged) and event.state == "stopping":
            self._rows.append("[yellow]stopping at the next batch…[/]")
        elif isinstance(event, SettingsChanged):
            from tui.core.changes import describe

            if "training.epochs" in event.values and self.epoch_task is not None:
                p.update(self.epoch_task, total=event.values["training.epochs"])
            self._rows.append(f"[cyan]changed[/] at epoch {event.epoch}, batch {event.batch}: "
                              f"{escape(describe(event.values, event.previous))}"
                              + (" (again, after the resume)" if event.resumed else ""))
        elif isinstance(event, ControlAck):  # a request from an attached view (tui.core.control)
            self._rows.append(f"[cyan]control[/] {event.action} from another terminal: {escape(event.message)}"
                              + ("" if event.ok else " [red](refused)[/]"))
        elif isinstance(event, SubscriberFailed):
            self._rows.append(f"[yellow]warning[/] {escape(event.message)}")

    def print_result(self, result: RunEnded | None) -> None:
        c = self.console
        if self.prepare_task is not None:
            self.progress.remove_task(self.prepare_task)
        if result is None:
            c.print("[red]The run ended without a result.[/]")
            return
        s = result.summary
        colour = {"finished": "green", "stopped": "yellow"}.get(result.status, "red")
        c.print(f"\n[bold {colour}]{result.status.upper()}[/]" + (f": {result.error}" if result.error else ""))
        if s:
            table = Table(show_header=False, box=None)
            if s.get("best"):
                b = s["best"]
                table.add_row("best", f"epoch {b['epoch']}: val_accuracy {format_metric(b['val_accuracy'])}, "
                                      f"val_loss {format_metric(b['val_loss'])}")
            if s.get("final"):
                f = s["final"]
                table.add_row("final", f"loss {format_metric(f['loss'])} acc {format_metric(f['accuracy'])} val_loss "
                                       f"{format_metric(f['val_loss'])} val_acc {format_metric(f['val_accuracy'])}")
            if s.get("test"):
                table.add_row("test", f"accuracy {format_metric(s['test']['accuracy'])}, "
                                      f"loss {format_metric(s['test']['loss'])}")
            table.add_row("time", f"{s['wall_seconds']:.1f} s, {format_metric(s.get('train_samples_per_second'), 0)} "
                                  f"samples/s")
            c.print(table)
            results = run_results(s, result.run_dir)
            if results is not None:
                c.print()
                c.print(results)
            if s.get("findings"):
                c.print(f"\n[bold]Doctor[/]: {len(s['findings'])} finding(s)")
                for finding in s["findings"]:
                    c.print(render_finding(finding), overflow="fold")
        if result.run_dir:
            c.print(f"Run directory: [bold]{result.run_dir}[/]")


def render_finding(f: Any) -> str:
    """One finding (``Finding.as_dict()``) as rich markup: severity in colour, title, evidence, the fixes with the
    settings they change (``--set`` syntax, ready to paste)."""
    style = SEVERITY_STYLE.get(f.get("severity", ""), "white")
    when = "before training" if not f.get("epoch") else f"epoch {f['epoch']}"
    lines = [f"[{style}]{f.get('severity', '').upper()}[/] [bold]{escape(f.get('title', ''))}[/] ({f.get('id')}, "
             f"{when})", f"  {escape(f.get('evidence', ''))}"]
    for fix in f.get("fixes", []):
        changes = " ".join(f"--set {k}={format_value(v)}" for k, v in (fix.get("changes") or {}).items())
        lines.append(f"  → {escape(fix.get('label', ''))}" + (f"  [dim]{escape(changes)}[/]" if changes else ""))
    return "\n".join(lines)



def stop_on_signals(console: Console, target: Interruptible, stopping: str, exiting: str) -> None:
    """Ctrl+C / SIGTERM ask `target` (a session or a sweep) to stop at its next batch; a second one exits at once."""
    import os
    import signal

    def _stop(signum: int, frame: Any) -> None:
        if target.stop_requested:
            console.print(f"[red]{exiting}[/]")
            os._exit(130)
        console.print(f"[yellow]{stopping}[/]")
        target.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
