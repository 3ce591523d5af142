"""Time to first paint of `cnn-tui` in a real terminal (tmux), and when the TensorFlow-backed model summary
arrives, measured by looking at the screen every 5 ms through one tmux control client (benchmarks/_tmux.py).
TensorFlow must not delay the first paint.

    python benchmarks/first_paint.py [--runs 3]
    python benchmarks/first_paint.py --runs 6 --compare /tmp/base   # also another checkout, in the same rounds

`--compare DIR` times a second checkout of the project (e.g. `git worktree add /tmp/base <commit>`) interleaved
with this one, so a before/after on a busy machine is measured side by side rather than in two runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import shlex
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import control_line, mean_ci, ratios, target_line
from _tmux import Tmux

ROOT = Path(__file__).resolve().parents[1]
SESSION = f"cnn-tui-first-paint-{os.getpid()}"
"""A tmux session of this run's own (two runs at once must not close each other's)."""


BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        yield Header()
        yield Static("Start training (bare Textual)")
        yield Static(" parameters (")
        yield Footer()
Bare().run()
"""


TIMEOUT = 180
"""Seconds to wait for the paint and the model summary (a busy machine takes minutes to load TensorFlow)."""


def once(session: str, command: str) -> tuple[float, float]:
    with Tmux(session, 100, 32) as tmux:
        t0 = time.perf_counter()
        tmux.send(command, "Enter")
        painted = summary = None
        while time.perf_counter() - t0 < TIMEOUT:
            screen = tmux.screen()
            now = time.perf_counter() - t0
            if painted is None and "Start training" in screen:
                painted = now
            if " parameters" in screen:  # the model summary (it may wrap in a narrow side panel)
                summary = now
                break
            time.sleep(0.005 if painted is None else 0.05)
    if painted is None:
        raise SystemExit(f"the app did not paint within {TIMEOUT} s")
    return painted, summary if summary is not None else float("nan")  # nan: no summary within TIMEOUT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--compare", metavar="DIR", default=None,
                        help="also time the app of another checkout (before/after), in the same rounds")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("needs tmux")
    # Byte-compile the project as an installed package would be (this machine sets PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tui"), str(ROOT / "models")], check=True)
    bare_file = Path("/tmp/cnn-tui-bare-textual.py")
    bare_file.write_text(BARE_APP)
    app = app_command(ROOT)
    other = None
    if args.compare:
        other_root = Path(args.compare).resolve()
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(other_root / "tui"),
                        str(other_root / "models")], check=True)
        other = app_command(other_root)
    results, bare, bare2, tf_import, compared = [], [], [], [], []
    for _ in range(args.runs):  # interleaved: import tensorflow, a bare Textual app, then cnn-tui
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        tf_import.append(time.perf_counter() - t0)
        bare.append(once(SESSION, f"{sys.executable} {bare_file}")[0])
        results.append(once(SESSION, app))
        if other is not None:
            compared.append(once(SESSION, other)[0])
        bare2.append(once(SESSION, f"{sys.executable} {bare_file}")[0])  # the control
    paint = statistics.median(r[0] for r in results)
    model = statistics.median(r[1] for r in results)
    base = statistics.median(bare)
    print(f"{'rounds':<34}{args.runs}   ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"{'bare Textual app, first paint':<34}{base:.2f} s  (each: {', '.join(f'{b:.2f}' for b in bare)})")
    print(f"{'first paint (set-up screen)':<34}{paint:.2f} s  (each: {', '.join(f'{r[0]:.2f}' for r in results)})")
    print(f"{'model summary shown (TF loaded)':<34}{model:.2f} s  (each: {', '.join(f'{r[1]:.2f}' for r in results)})")
    tf = statistics.median(tf_import)
    label = 'python -c "import tensorflow"'
    print(f"{label:<34}{tf:.2f} s  (each: {', '.join(f'{t:.2f}' for t in tf_import)})")
    print(f"{'cnn-tui paint − bare paint':<34}{paint - base:+.2f} s (medians)")
    print("(times include starting Python in a tmux shell; TensorFlow loads in the background after the paint)")
    paints = [r[0] for r in results]
    print(target_line("first paint / bare Textual paint", *mean_ci(ratios(paints, bare)), args.runs, at_most=1.3))
    print(target_line("first paint / import tensorflow", *mean_ci(ratios(paints, tf_import)), args.runs,
                      at_most=0.2))
    print(control_line("bare paint / bare paint again", ratios(bare2, bare)))
    if compared:
        print(f"{'first paint of ' + str(args.compare):<34}{statistics.median(compared):.2f} s  "
              f"(each: {', '.join(f'{c:.2f}' for c in compared)})")
        m, lo, hi = mean_ci(ratios(compared, bare))
        print(f"COMPARE {args.compare}: first paint / bare Textual paint  {m:.3f}  95% CI {lo:.3f}–{hi:.3f}  "
              f"N={args.runs}")
        m, lo, hi = mean_ci(ratios(paints, compared))
        print(f"COMPARE this checkout / {args.compare}: first paint  {m:.3f}  95% CI {lo:.3f}–{hi:.3f}  "
              f"N={args.runs}")


def app_command(root: Path) -> str:
    """`cnn-tui` from the checkout at `root` (not whatever the installed `cnn-tui` script points at)."""
    return (f"cd {shlex.quote(str(root))} && PYTHONPATH={shlex.quote(str(root))} {shlex.quote(sys.executable)} "
            "-m tui.cli --runs-dir /tmp/first-paint-runs")


if __name__ == "__main__":
    main()
