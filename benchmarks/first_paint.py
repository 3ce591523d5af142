"""Time to first paint of `cnn-tui` in a real terminal (tmux), and when the TensorFlow-backed model summary
arrives, measured by polling the screen. TensorFlow must not delay the first paint.

    python benchmarks/first_paint.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("Start training (bare Textual)")
        yield Static(" parameters (")
Bare().run()
"""


def once(session: str, command: str) -> tuple[float, float]:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "32"], check=True)
    t0 = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", session, command, "Enter"], check=True)
    painted = summary = None
    while time.perf_counter() - t0 < 60:
        screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True,
                                text=True).stdout
        now = time.perf_counter() - t0
        if painted is None and "Start training" in screen:
            painted = now
        if " parameters" in screen:  # the model summary (it may wrap in a narrow side panel)
            summary = now
            break
        time.sleep(0.02)
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    if painted is None or summary is None:
        raise SystemExit("the app did not paint within 60 s")
    return painted, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("needs tmux")
    # Byte-compile the project as an installed package would be (this machine sets PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tui"), str(ROOT / "models")], check=True)
    tf_import = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        tf_import.append(time.perf_counter() - t0)
    bare_file = Path("/tmp/cnn-tui-bare-textual.py")
    bare_file.write_text(BARE_APP)
    exe = Path(sys.executable).with_name("cnn-tui")
    results, bare = [], []
    for _ in range(args.runs):  # interleaved: a bare Textual app, then cnn-tui
        bare.append(once("cnn-tui-first-paint", f"{sys.executable} {bare_file}")[0])
        results.append(once("cnn-tui-first-paint", f"{exe} --runs-dir /tmp/first-paint-runs"))
    paint = statistics.median(r[0] for r in results)
    model = statistics.median(r[1] for r in results)
    base = statistics.median(bare)
    print(f"{'runs':<34}{args.runs}")
    print(f"{'bare Textual app, first paint':<34}{base:.2f} s  (each: {', '.join(f'{b:.2f}' for b in bare)})")
    print(f"{'first paint (set-up screen)':<34}{paint:.2f} s  (each: {', '.join(f'{r[0]:.2f}' for r in results)})")
    print(f"{'model summary shown (TF loaded)':<34}{model:.2f} s  (each: {', '.join(f'{r[1]:.2f}' for r in results)})")
    tf = statistics.median(tf_import)
    label = 'python -c "import tensorflow"'
    print(f"{label:<34}{tf:.2f} s  (each: {', '.join(f'{t:.2f}' for t in tf_import)})")
    print(f"{'first paint / TF import':<34}{paint / tf:.3f}   (target ≤ 0.2)")
    print(f"{'cnn-tui paint − bare paint':<34}{paint - base:+.2f} s")
    print(f"{'cnn-tui paint / bare paint':<34}{paint / base:.2f}")
    print("(times include starting Python in a tmux shell; TensorFlow loads in the background after the paint)")


if __name__ == "__main__":
    main()
