"""Every benchmark still runs against the current app and prints its target lines, so a UI change that breaks a
benchmark fails here instead of being found when someone needs the figure. Each runs at its smallest size on the
embedded digits (benchmarks/run_all.py --smallest). The figures themselves are not checked: a timed test on a
shared machine would be noise (the benchmarks print their own intervals)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# benchmark: the TARGET / CONTROL lines it must print
EXPECTED = {
    "chart_redraw": ["TARGET chart redraw 100k / 100 points", "CONTROL chart redraw 100 / 100 points again"],
    "first_paint": ["TARGET first paint / bare Textual paint", "TARGET first paint / import tensorflow",
                    "CONTROL bare paint / bare paint again"],
    "latency": ["TARGET key p95 while training (ms)", "TARGET key p99 while training (ms)",
                "TARGET throughput app/bare while pressing (paired epochs)", "CONTROL bare/bare2 (paired epochs)",
                "START app/bare over the first 1 rounds"],
    "throughput": ["TARGET throughput session/bare", "TARGET throughput app/bare",
                   "CONTROL throughput bare/bare again"],
    "throughput_paired": ["TARGET throughput app/bare (paired epochs)",
                          "CONTROL throughput bare/bare2 (paired epochs)", "START app/bare over the first 1 rounds"],
    "gradient_overhead": ["TARGET gradient callback share at default (%)"],
    "memory": ["TARGET memory pipeline/(TF+data), digits", "CONTROL memory TF baseline/baseline again"],
}
NEEDS_TMUX = {"first_paint", "latency"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_benchmark_runs_at_its_smallest_size_and_prints_its_target_lines(name, tmp_path):
    if name in NEEDS_TMUX and not shutil.which("tmux"):
        pytest.skip("needs tmux")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": os.environ.get("HOME", str(tmp_path))}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smallest", "--only", name],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)  # a busy machine
    summary = out.stdout.split("=== summary", 1)[-1]
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    for line in EXPECTED[name]:
        assert line in summary, f"{name} did not print {line!r}:\n{out.stdout[-3000:]}"
    for line in summary.splitlines():
        if line.startswith("TARGET "):
            assert line.rstrip().endswith(("met", "missed", "not shown (interval spans target)")), line


@pytest.mark.slow
def test_paired_throughput_over_several_processes_prints_one_line_per_process_and_figures_over_their_means(
        tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput_paired.py"), "--subject", "session",
                          "--dataset", "digits", "--start-rounds", "1", "--rounds", "2", "--processes", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert re.match(r"session, 2 processes × 2 rounds, on (commit \w+|code outside git)", lines[0])  # (pooling)
    assert [line.split(":")[0] for line in lines if line.startswith("process ")] == ["process 1/2", "process 2/2"]
    target = [line for line in lines if line.startswith("TARGET ")]
    assert len(target) == 1 and "throughput session/bare (2 processes)" in target[0] and "N=2 " in target[0]
    assert any(line.startswith("CONTROL throughput bare/bare2 (2 processes)") for line in lines)
    assert any(line.startswith("START session/bare over the first 1 rounds (2 processes)") for line in lines)
    assert any(line.startswith("AGAINST BOTH BARES: session / the mean of bare's and bare2's epoch") and "N=2 " in line
               for line in lines)
    # the same run's output twice, pooled (benchmarks/pool_processes.py): every process once more, the same figure
    log = tmp_path / "run.log"
    log.write_text(out.stdout)
    pooled = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pool_processes.py"), str(log), str(log)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert pooled.returncode == 0, pooled.stdout + pooled.stderr
    pooled_target = [line for line in pooled.stdout.splitlines() if line.startswith("TARGET ")]
    assert len(pooled_target) == 1 and "(4 processes)" in pooled_target[0] and "N=4 " in pooled_target[0]
    assert f"run.log: 2 processes, {lines[0].split(', on ')[1]}" in pooled.stdout  # each run's code, said
    # (each process's mean is printed to 3 decimals: the pooled figure may differ from the run's in the last)
    assert abs(float(pooled_target[0].split()[5]) - float(target[0].split()[5])) <= 0.0011


def test_pooling_refuses_runs_of_different_subjects_and_says_which(tmp_path):
    line = "process 1/2: {rounds} rounds, {subject}/bare 0.990, bare/bare2 1.000, CPU bare/{subject} 0.995, " \
           "{subject}/both bares 0.992\n"
    app, session = tmp_path / "app.log", tmp_path / "session.log"
    app.write_text(line.format(rounds=24, subject="app"))
    session.write_text(line.format(rounds=12, subject="session"))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pool_processes.py"), str(app), str(session)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "only runs of one subject and one size pool: app.log: app × 24 rounds, session.log: session × 12 rounds" \
        in out.stderr


def test_the_paired_conductor_writes_whose_turn_it_is_as_it_begins_and_done_after_the_last_round(
        tmp_path, monkeypatch):
    """What benchmarks/latency.py presses keys by: the app's pane only while the app's epoch is the one running."""
    import io
    import threading

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import throughput_paired

    turns = throughput_paired.Turns()
    names = ["bare", "bare2", "subject"]
    state = tmp_path / "turn"
    seen: list[tuple[str, str]] = []

    def trainer(name: str) -> None:  # an "epoch" is nothing: it reads the file as soon as it is let go
        while turns.arrive(name):
            seen.append((name, state.read_text() if state.exists() else "(no file)"))

    threads = [threading.Thread(target=trainer, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    log = io.StringIO()
    throughput_paired.conduct(turns, names, 6, out, {}, log=log, state=state)
    for t in threads:
        t.join(timeout=10)
    assert state.read_text() == "done"
    assert len(seen) == 18 and all(name == written for name, written in seen), seen
    assert [len(out[n]) for n in names] == [6, 6, 6]
    assert log.getvalue().count("round ") == 6
