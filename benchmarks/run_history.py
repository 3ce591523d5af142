"""Run history at 10,000 runs: `cnn-tui runs` and the app's history screen (F2) against the same on 100 runs.

Writes synthetic run directories in the formats training writes (tests/synthetic_runs.py: config.toml, summary.json,
history.csv; varied statuses, some interrupted with a backup, some without a summary), then times, interleaving the
two folder sizes round by round:

- CLI, as a user waits for it (a fresh `python -m tui.cli runs` process, interpreter start included), and the same
  call in-process (no interpreter start): first scan (index deleted), warm listing, --filter, --sort.
- App (Textual Pilot, 120x40, each app in a fresh process as a user's is), once the set-up screen's own start-up
  work (TensorFlow's import, the model summary, in background threads) is over: F2 to the first screenful and to
  every row listed (the count says so), on a first scan and warm; End to the oldest run; one key typed in the
  filter; one sort key (s). Every app step is timed from the key sent to the end of the first frame that shows its
  outcome (the new rows, the count), rendered to the terminal's escape sequences as a real terminal gets them. CPU
  rows are the process's CPU seconds (all threads).
- `cnn-tui compare` finding a run by a unique part of its name (in-process).

    python benchmarks/run_history.py [--runs 10000] [--base 100] [--rounds 5] [--keep DIR]

Targets (issue 17): warm listing <= 2x the 100-run time; no warm step over 0.5 s; a filter or sort key < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from synthetic_runs import write_runs  # noqa: E402 (after the path set-up above)

from tui.core.runs import INDEX_FILE  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "LINES": "40"}
# a user's Python keeps compiled modules (__pycache__) after the first start; this workplace sets
# PYTHONDONTWRITEBYTECODE, which made every timed process compile cnn-tui's modules from source again: the child
# processes write theirs under the benchmark's own folder instead (one untimed start compiles them)
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def run_names(folder: Path) -> list[str]:
    """The run directories in `folder` (the index's own hidden folder left out)."""
    return [p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]


def folder_of(parent: Path, n: int) -> Path:
    folder = parent / f"runs-{n}"
    have = len(run_names(folder)) if folder.is_dir() else 0
    if have != n:
        if have:
            raise SystemExit(f"{folder} holds {have} runs, not {n}: remove it or use another --keep folder")
        t0 = time.perf_counter()
        write_runs(folder, n)
        print(f"wrote {n:,} runs in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return folder


def cold(folder: Path) -> None:
    (folder / INDEX_FILE).unlink(missing_ok=True)


# -- CLI ----------------------------------------------------------------------------------------------------------
CLI_STEPS = {"listing": [], "filter": ["--filter", "finished"], "sort": ["--sort", "best"]}


def cli_process(folder: Path, extra: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `cnn-tui runs` process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tui.cli", "runs", "--runs-dir", str(folder), *extra], env=ENV,
                         check=False, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t0
    if out.returncode or " shown" not in out.stdout:
        raise SystemExit(f"cnn-tui runs failed: {out.stderr or out.stdout}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cli_inprocess(folder: Path, extra: list[str]) -> tuple[float, float]:
    from tui.cli import main

    buf = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(buf):
        main(["runs", "--runs-dir", str(folder), "-n", "33", *extra])
    return time.perf_counter() - t0, time.process_time() - c0


def unique_part(folder: Path) -> str:
    """The shortest end of the middle run's name that no other run's name contains (what a user types)."""
    names = sorted(run_names(folder))
    name = names[len(names) // 2]
    for n in range(4, len(name) + 1):
        if sum(name[-n:] in other for other in names) == 1:
            return name[-n:]
    return name


def compare_resolve(folder: Path, part: str) -> tuple[float, float]:
    """`cnn-tui compare` finding a run by a unique part of its name (tui.core.compare.resolve_run), in-process."""
    from tui.core.compare import resolve_run

    t0, c0 = time.perf_counter(), time.process_time()
    found = resolve_run(part, folder)
    took = time.perf_counter() - t0, time.process_time() - c0
    assert part in found.name, (part, found)
    return took


# -- app ----------------------------------------------------------------------------------------------------------
class Frames:
    """What the app sends to the terminal: every screen update, rendered to its escape sequences as on a real
    terminal (the headless test driver skips that step), with the time it was done. A step is timed to the end of
    the first frame that shows its outcome: key press -> the screen showing the new rows."""

    def __init__(self, app: Any) -> None:
        self.log: list[tuple[float, str]] = []
        display = app._display

        def shown(screen: Any, update: Any) -> None:
            display(screen, update)
            if update is not None and hasattr(update, "render_segments"):
                self.log.append((time.perf_counter(), update.render_segments(app.console)))

        app._display = shown

    async def showing(self, since: float, *patterns: str, timeout: float = 60.0) -> float:
        """Seconds from `since` until each of `patterns` (regular expressions) was in a frame drawn after it."""
        import re

        left = [re.compile(p) for p in patterns]
        last, at = since, 0
        end = time.perf_counter() + timeout
        while left:
            for t, text in self.log[at:]:
                if t >= since:
                    still = [p for p in left if not p.search(text)]
                    if len(still) < len(left):
                        last = max(last, t)
                    left = still
            at = len(self.log)
            if left:
                if time.perf_counter() > end:
                    raise SystemExit(f"the screen never showed {[p.pattern for p in left]}")
                await asyncio.sleep(0.001)
        return last - since


def press(app: Any, key: str) -> float:
    """Send one key as the terminal would (what Pilot's press does, without its waits for the process to go idle,
    which alone take 40 ms or more); the time it was sent."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    t0 = time.perf_counter()
    app._driver.send_message(event)
    return t0


async def background_done(app: Any, pilot: Any) -> None:
    """Until the set-up screen's own start-up work is over: its side panels are built and the work they start
    (the dataset, TensorFlow's import and the model summary, in threads) has finished. Timing F2 while TensorFlow
    loads in the background measured the import as much as the history (93 vs 415 ms in two quiet runs)."""
    end = time.monotonic() + 300
    screen = app.screen
    while not (getattr(screen, "_side_built", True) and screen.query("#model-summary")
               and "…" not in str(screen.query_one("#model-summary").render())):
        if time.monotonic() > end:
            raise SystemExit("the set-up screen's start-up work did not finish in 5 minutes")
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


def names_on_screen(table: Any) -> list[str]:
    top = int(table.scroll_offset.y)
    return [r.name for r in table.rows[top:top + table.scrollable_content_region.height]]


def new_rows(table: Any, before: list[str]) -> list[str]:
    """Patterns for the rows on screen now that were not on it before (at most the first and the last)."""
    import re

    fresh = [n for n in names_on_screen(table) if n not in before]
    return [re.escape(n) for n in (fresh[:1] + fresh[-1:])]


async def app_times(folder: Path, first_scan: bool) -> dict[str, float]:
    import re

    from textual.widgets import Input

    from tui.ui.app import CnnTuiApp
    from tui.ui.widgets.run_table import RunTable

    if first_scan:
        cold(folder)
    names = sorted(run_names(folder), reverse=True)  # newest first: a run's name starts with its time
    total = len(names)
    app = CnnTuiApp(runs_dir=folder)
    times: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await background_done(app, pilot)
        frames = Frames(app)
        c0 = time.process_time()
        t0 = press(app, "f2")
        # the first screenful: the newest run and the 30th newest drawn
        times["first screenful"] = await frames.showing(t0, re.escape(names[0]), re.escape(names[min(total, 30) - 1]))
        times["first screenful CPU"] = time.process_time() - c0
        # every row: the count says every run is listed (no longer "reading the folder… · N/M runs")
        times["every row"] = await frames.showing(t0, "(?<! · )" + re.escape(f"{total:,}/{total:,} runs"))
        times["every row CPU"] = time.process_time() - c0
        await pilot.pause()
        table = app.screen.query_one(RunTable)
        assert table.row_count == total and app.screen.scanning is None, (table.row_count, total)
        # ... and the user can go to any of them: End shows the oldest run
        t0 = press(app, "end")
        times["end key (oldest run shown)"] = await frames.showing(t0, re.escape(names[-1]))
        press(app, "home")
        await pilot.pause()
        app.screen.query_one("#filter", Input).focus()
        await pilot.pause()
        before = names_on_screen(table)
        c0 = time.process_time()
        t0 = press(app, "f")  # "f": finished, failed, fashion_mnist...
        while table.row_count == total:  # the rows the key lets through, known once the screen has filtered
            await asyncio.sleep(0.001)
        count = re.escape(f"{table.row_count:,}/{total:,} runs")
        times["filter key"] = await frames.showing(t0, count, *new_rows(table, before))
        times["filter key CPU"] = time.process_time() - c0
        assert 0 < table.row_count < total
        await pilot.press("backspace")
        table.focus()
        await pilot.pause()
        before, order = names_on_screen(table), list(table.rows)
        c0 = time.process_time()
        t0 = press(app, "s")  # by the next column (dataset)
        while table.rows == order:
            await asyncio.sleep(0.001)
        times["sort key"] = await frames.showing(t0, "dataset▲", *new_rows(table, before))
        times["sort key CPU"] = time.process_time() - c0
        # the same work without the key's way through the app and the redraw: filter and sort the records
        screen = app.screen
        screen.query_one("#filter", Input).value = "fi"
        t0 = time.perf_counter()
        screen._fill()
        times["filter (work only)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        screen.sort_by(5)
        times["sort (work only)"] = time.perf_counter() - t0
    return times


def app_process(folder: Path, first_scan: bool) -> dict[str, float]:
    """app_times in a process of its own, as a user's app is: one app after another in one process left the later
    ones with the earlier ones' objects for the garbage collector to walk (and TensorFlow imported by an earlier
    app, whose import is where the app moves its objects out of the collector's reach)."""
    out = subprocess.run([sys.executable, __file__, "--app-child", str(folder), *(["--first-scan"] if first_scan
                          else [])], env=ENV, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the app's timing failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--app-child" in sys.argv:
        folder = Path(sys.argv[sys.argv.index("--app-child") + 1])
        print(json.dumps(asyncio.run(app_times(folder, first_scan="--first-scan" in sys.argv))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--base", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", default=None, help="write the run folders here and reuse them")
    args = parser.parse_args()
    parent = Path(args.keep or tempfile.mkdtemp(prefix="cnn-tui-history-"))
    parent.mkdir(parents=True, exist_ok=True)
    sizes = (args.base, args.runs)
    folders = {n: folder_of(parent, n) for n in sizes}
    parts = {n: unique_part(folders[n]) for n in sizes}
    ENV["PYTHONPYCACHEPREFIX"] = str(parent / "pycache")
    subprocess.run([sys.executable, "-m", "tui.cli", "runs", "--runs-dir", str(folders[args.base]), "-n", "1"], env=ENV,
                   check=True, capture_output=True)
    time.sleep(2.5)  # past the index's racy window: the runs were made "earlier"
    results: dict[str, dict[int, list[float]]] = {}

    def add(step: str, n: int, seconds: float) -> None:
        results.setdefault(step, {}).setdefault(n, []).append(seconds)

    # first scans (the slow step the index exists to pay once): once each, interleaved
    for n in sizes:
        cold(folders[n])
        wall, cpu = cli_process(folders[n], [])
        add("cli first scan (process)", n, wall)
        add("cli first scan (process) CPU", n, cpu)
    time.sleep(2.5)
    for r in range(args.rounds):
        for n in sizes:  # interleaved: 100 runs, then 10,000, every round
            for step, extra in CLI_STEPS.items():
                for how, measure in (("process", cli_process), ("in-process", cli_inprocess)):
                    wall, cpu = measure(folders[n], extra)
                    add(f"cli {step} ({how})", n, wall)
                    add(f"cli {step} ({how}) CPU", n, cpu)
            wall, cpu = compare_resolve(folders[n], parts[n])
            add("compare by part of a name (in-process)", n, wall)
            add("compare by part of a name (in-process) CPU", n, cpu)
        print(f"cli round {r + 1} done", flush=True)
    for n in sizes:
        for step, t in app_process(folders[n], first_scan=True).items():
            add(f"app {step} (first scan)", n, t)
    time.sleep(2.5)
    for r in range(args.rounds):
        for n in sizes:
            for step, t in app_process(folders[n], first_scan=False).items():
                add(f"app {step}", n, t)
        print(f"app round {r + 1} done", flush=True)

    small, big = sizes
    print(f"\n{big:,} vs {small:,} synthetic runs, median of {args.rounds} interleaved rounds (first scans: once); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print("CPU rows: CPU seconds of the process (user + system), which the other agents' load does not inflate "
          "as much as the wall time")
    print(f"{'step':<44}{f'{small:,} runs':>12}{f'{big:,} runs':>14}{'ratio':>8}   verdict")
    for step, by_n in results.items():
        a, b = statistics.median(by_n[small]), statistics.median(by_n[big])
        verdict = ""
        if "first scan" not in step:
            limit = 0.1 if "key" in step or "work only" in step else 0.5
            verdict = "ok" if b <= limit else f"OVER {limit:g} s"
            if step.startswith(("cli listing", "app first screenful")):
                verdict += ", ratio ok" if b <= 2 * a else ", RATIO OVER 2"
        print(f"{step:<44}{a * 1000:>10.0f}ms{b * 1000:>12.0f}ms{b / a:>8.2f}   {verdict}")


if __name__ == "__main__":
    main()
