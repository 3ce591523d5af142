"""Key-to-screen latency while a run is training, in a real terminal (tmux): press `g` (switch the chart pair)
and poll the screen until it changes. The same presses after the run is stopped give the idle baseline.
Target: p95 < 100 ms while training.

    python benchmarks/latency.py [--presses 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
S = "cnn-tui-latency"


def screen() -> str:
    return subprocess.run(["tmux", "capture-pane", "-t", S, "-p"], capture_output=True, text=True).stdout


def wait_for(text: str, timeout: float = 120) -> None:
    t0 = time.perf_counter()
    while text not in screen():
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"timed out waiting for {text!r}:\n{screen()}")
        time.sleep(0.05)


def presses(n: int) -> list[float]:
    out = []
    for _ in range(n):
        before = "learning rate" in screen()
        t0 = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", S, "g"], check=True)
        while ("learning rate" in screen()) == before:
            if time.perf_counter() - t0 > 5:
                raise SystemExit("no response to a key in 5 s:\n" + screen())
        out.append(time.perf_counter() - t0)
        time.sleep(0.15)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=30)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("cnn-tui")
    data = (f"--preset fashion-mnist-cnn --data-dir {SHARED} --set training.epochs=50"
            if (SHARED / "fashion-mnist").is_dir() else "--set training.epochs=5000 --set training.batch_size=8")
    subprocess.run(["tmux", "kill-session", "-t", S], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", S, "-x", "100", "-y", "32"], check=True)
    subprocess.run(["tmux", "send-keys", "-t", S, f"{exe} {data} --runs-dir /tmp/latency-runs --start", "Enter"],
                   check=True)
    wait_for("samples/s")  # training is under way
    time.sleep(2)
    training = presses(args.presses)
    subprocess.run(["tmux", "send-keys", "-t", S, "s"], check=True)
    wait_for("stopped")
    time.sleep(1)
    idle = presses(args.presses)
    subprocess.run(["tmux", "kill-session", "-t", S], capture_output=True)
    print(f"{args.presses} presses of 'g' each, screen polled with tmux capture-pane")
    print(f"{'state':<10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, vals in (("training", training), ("idle", idle)):
        print(f"{name:<10}{pct(vals, 50) * 1000:>10.0f}{pct(vals, 95) * 1000:>10.0f}{max(vals) * 1000:>10.0f}")
    print(f"p95 training / p95 idle: {pct(training, 95) / pct(idle, 95):.2f}")


if __name__ == "__main__":
    main()
