"""The figures of several `throughput_paired.py --processes P` runs taken together, over all their processes.

Each process of a `--processes` run prints one line of its means ("process 3/16: 12 rounds, session/bare 0.978,
..."). Process means are independent samples of the same instrument, so the runs of one subject and one size, on
the same code, can be pooled: the interval is then over every process's mean, as in one run with that many
processes. It is for the runs' printed output, kept as it was printed (`... > run.log`); which code each run
measured is for the person pooling them to know (the runs say so at their top since throughput round 15).

    python benchmarks/pool_processes.py session16-a.log session16-b.log
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput_paired import PROCESS_LINE, RUN_LINE, summarize_processes


def read(path: Path) -> tuple[str, int, dict[str, list[float]], str]:
    """A run's subject, rounds per process, its processes' means and the code it says it measured."""
    text = path.read_text().splitlines()
    found = [m for m in map(PROCESS_LINE.match, text) if m]
    header = next((m for m in map(RUN_LINE.match, text) if m), None)
    if not found:
        raise SystemExit(f"{path}: no process lines (\"process 1/16: 12 rounds, session/bare ...\") in it")
    kinds = {(m["subject"], int(m["rounds"])) for m in found}
    if len(kinds) > 1:
        raise SystemExit(f"{path}: processes of different subjects or sizes in one file: {sorted(kinds)}")
    (subject, rounds), = kinds
    means = {k: [float(m[k]) for m in found] for k in ("wall", "control", "cpu", "both")}
    return subject, rounds, means, header["code"] if header else "code not said (a run before throughput round 15)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", type=Path, help="the printed output of throughput_paired.py --processes")
    args = parser.parse_args()
    runs = [(path, *read(path)) for path in args.logs]
    kinds = {(subject, rounds) for _, subject, rounds, _, _ in runs}
    if len(kinds) > 1:
        raise SystemExit("only runs of one subject and one size pool: "
                         + ", ".join(f"{p.name}: {s} × {r} rounds" for p, s, r, _, _ in runs))
    (subject, rounds), = kinds
    means: dict[str, list[float]] = {k: [] for k in ("wall", "control", "cpu", "both")}
    for path, _, _, run, code in runs:
        print(f"{path}: {len(run['wall'])} processes, {code}")
        for k in means:
            means[k] += run[k]
    summarize_processes(subject, rounds, means, f"{len(runs)} runs pooled")


if __name__ == "__main__":
    main()
