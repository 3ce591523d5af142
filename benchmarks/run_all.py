"""Every benchmark with a target, one after another, then one line per target: figure, 95 % interval, N, target,
met / missed / not shown. Each benchmark's own table is printed as it runs.

    python benchmarks/run_all.py              # quick sizes: ~8-10 min on a quiet 2-core machine (an estimate)
    python benchmarks/run_all.py --full       # the sizes the README's figures use (much longer)
    python benchmarks/run_all.py --smallest   # each at its smallest size on digits (tests/test_benchmarks_run.py)
    python benchmarks/run_all.py --only throughput,latency

A target is "met" only when its whole 95 % interval clears it; "not shown" means the interval spans the target
(the machine's noise is larger than the distance to it: rerun with more rounds, or on a quieter machine). The
CONTROL lines measure the same thing twice (bare vs bare): their spread is what the machine alone does to a ratio.
Real datasets are read from ../shared/data, or from CNN_TUI_BENCH_DATA (or --data-dir).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name: (arguments at the quick size, at the full size, at the smallest size on digits, needs tmux)
BENCHMARKS: dict[str, tuple[list[str], list[str], list[str], bool]] = {
    "chart_redraw": (["--rounds", "7"], ["--rounds", "15"], ["--rounds", "2"], False),
    "first_paint": (["--runs", "5"], ["--runs", "10"], ["--runs", "1"], True),
    "latency": (["--rounds", "12", "--presses", "30"], ["--processes", "16", "--rounds", "24"],
                ["--dataset", "digits", "--start-rounds", "1", "--rounds", "6", "--presses", "3",
                 "--press-every", "0.05"], True),
    "throughput": (["--rounds", "3", "--epochs", "3", "--train-size", "4000"],
                   ["--rounds", "5", "--epochs", "4", "--train-size", "20000"],
                   ["--dataset", "digits", "--rounds", "1", "--epochs", "2"], False),
    "throughput_paired": (["--rounds", "12"], ["--processes", "16", "--rounds", "24"],
                          ["--dataset", "digits", "--start-rounds", "1", "--rounds", "2"], False),
    "gradient_overhead": (["--rounds", "2", "--epochs", "3", "--train-size", "4000"],
                          ["--rounds", "3", "--epochs", "3", "--train-size", "20000"],
                          ["--dataset", "digits", "--rounds", "1", "--epochs", "2"], False),
    "memory": (["--rounds", "3"], ["--rounds", "5"], ["--dataset", "digits", "--rounds", "1"], False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the README's sizes")
    size.add_argument("--smallest", action="store_true", help="each at its smallest size, on digits")
    parser.add_argument("--only", default="", help="comma-separated benchmark names: " + ", ".join(BENCHMARKS))
    parser.add_argument("--data-dir", default=None, help="the real datasets (default ../shared/data)")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    if args.data_dir:
        env["CNN_TUI_BENCH_DATA"] = str(Path(args.data_dir).resolve())
    summary: list[str] = []
    failed = 0
    t_all = time.perf_counter()
    for name in names:
        quick, full, smallest, tmux = BENCHMARKS[name]
        extra = full if args.full else smallest if args.smallest else quick
        if tmux and not shutil.which("tmux"):
            summary.append(f"SKIPPED {name}: needs tmux")
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
        rc = proc.wait()
        took = time.perf_counter() - t0
        if rc:
            failed += 1
            summary.append(f"FAILED {name}: exit status {rc} after {took:.0f} s (its output is above)")
            continue
        summary += [line for line in lines if line.startswith(("TARGET ", "CONTROL ", "START "))]
        summary.append(f"DONE {name} in {took:.0f} s")
    print(f"\n=== summary ({'full' if args.full else 'smallest' if args.smallest else 'quick'} sizes, "
          f"{time.perf_counter() - t_all:.0f} s, {os.cpu_count()} cores, load average now "
          f"{os.getloadavg()[0]:.1f})")
    for line in summary:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
