"""Run history at 10,000 runs: `cnn-tui runs` and the app's history screen (F2) against the same on 100 runs.

Writes synthetic run directories in the formats training writes (tests/synthetic_runs.py: config.toml, summary.json,
history.csv; varied statuses, some interrupted with a backup, some without a summary), then times, interleaving the
two folder sizes round by round:

- CLI, as a user waits for it (a fresh `python -m tui.cli runs` process, interpreter start included), and the same
  call in-process (no interpreter start): first scan (index deleted), warm listing, --filter, --sort.
- App (Textual Pilot, 120x40): F2 to the first screenful and to every row, on a first scan and warm; one key typed
  in the filter; one sort key (s); CPU rows are the process's CPU seconds (all its threads).
- `cnn-tui compare` finding a run by a unique part of its name (in-process).

    python benchmarks/run_history.py [--runs 10000] [--base 100] [--rounds 5] [--keep DIR]

Targets (issue 17): warm listing <= 2x the 100-run time; no warm step over 0.5 s; a filter or sort key < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
async def app_times(folder: Path, first_scan: bool) -> dict[str, float]:
    from textual.widgets import Input

    from tui.ui.app import CnnTuiApp
    from tui.ui.widgets.run_table import RunTable

    if first_scan:
        cold(folder)
    total = len(run_names(folder))
    app = CnnTuiApp(runs_dir=folder)
    times: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()  # the set-up screen's own start-up work (model summary) is done
        await pilot.pause()
        t0, c0 = time.perf_counter(), time.process_time()
        # the key is sent in a task and the table watched meanwhile: Pilot's press returns only once the process
        # is idle (at most a second later), and the worker reading the rest of the folder keeps it busy
        press = asyncio.create_task(pilot.press("f2"))
        while not app.screen.query(RunTable):
            await asyncio.sleep(0.002)
        table = app.screen.query_one(RunTable)
        while table.row_count < min(total, 30):
            await asyncio.sleep(0.002)
        times["first screenful"] = time.perf_counter() - t0
        times["first screenful CPU"] = time.process_time() - c0
        while app.screen.scanning is not None:
            await asyncio.sleep(0.002)
        times["every row"] = time.perf_counter() - t0
        times["every row CPU"] = time.process_time() - c0
        await press
        assert table.row_count == total, (table.row_count, total)
        app.screen.query_one("#filter", Input).focus()
        await pilot.pause()
        t0, c0 = time.perf_counter(), time.process_time()
        await pilot.press("f")  # "f": finished, failed, fashion_mnist...
        times["filter key"] = time.perf_counter() - t0
        times["filter key CPU"] = time.process_time() - c0
        assert 0 < table.row_count < total
        await pilot.press("backspace")
        table.focus()
        await pilot.pause()
        t0, c0 = time.perf_counter(), time.process_time()
        await pilot.press("s")
        times["sort key"] = time.perf_counter() - t0
        times["sort key CPU"] = time.process_time() - c0
        # the same work without Pilot's key round trip and the redraw: filter and sort the records in memory
        screen = app.screen
        screen.query_one("#filter", Input).value = "fi"
        t0 = time.perf_counter()
        screen._fill()
        times["filter (work only)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        screen.sort_by(5)
        times["sort (work only)"] = time.perf_counter() - t0
    return times


def main() -> None:
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
        for step, t in asyncio.run(app_times(folders[n], first_scan=True)).items():
            add(f"app {step} (first scan)", n, t)
    time.sleep(2.5)
    for r in range(args.rounds):
        for n in sizes:
            for step, t in asyncio.run(app_times(folders[n], first_scan=False)).items():
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
