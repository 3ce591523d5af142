"""Sweeps: the grid a person types, resuming without rerunning finished cells, the heatmap, the exports, and the
`cnn-tui sweep` command end to end on the embedded digits."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from tui.core import config as cfg
from tui.core.heatmap import render_heatmap
from tui.core.params import ConfigError
from tui.core.presets import list_presets, resolve
from tui.core.rundir import RunDir, SweepDir
from tests.test_sweep_cluster import listening_outside_loopback
from tui.core.runs import list_runs
from tui.core.sweep import (STATE_FILE, Cell, SweepRunner, SweepState, load_state, make_spec, parse_values,
                            read_preset_sweep, to_csv, to_markdown)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset.name": "digits", "model.architecture": "simple_cnn", "model.dense_units": 8,
        "training.batch_size": 50}


def test_values_are_ranges_series_or_lists_checked_by_the_keys_own_rules():
    assert parse_values("model.conv_filters", "2..11", "simple_cnn") == tuple(range(2, 12))
    assert parse_values("model.dense_units", "2,4,...,256", "simple_cnn") == (2, 4, 8, 16, 32, 64, 128, 256)
    assert parse_values("model.dense_units", "10,20,...,50", "simple_cnn") == (10, 20, 30, 40, 50)
    assert parse_values("model.dense_units", "1,2,3,...,6", "simple_cnn") == (1, 2, 3, 4, 5, 6)
    assert parse_values("optimizer.learning_rate", "0.001,0.01,...,1", "simple_cnn") == (0.001, 0.01, 0.1, 1.0)
    assert parse_values("model.activation", "relu, sigmoid", "simple_cnn") == ("relu", "sigmoid")
    assert parse_values("training.batch_size", "32,64", "simple_cnn") == (32, 64)


@pytest.mark.parametrize("key, text, message", [
    ("model.bogus", "1,2", "model.bogus: unknown key"),
    ("model.params.conv_filters", "1,2", "simple_cnn's own parameters are model.conv_filters, model.dense_units"),
    ("model.conv_filters", "0..3", "model.conv_filters: 0 is out of range; expected an integer ≥ 1"),
    ("model.conv_filters", "2,x", "model.conv_filters: got 'x'; expected an integer"),
    ("model.activation", "relu,softmaxx", "'softmaxx' is not allowed; expected one of relu"),
    ("optimizer.learning_rate", "1..3", "a range like 1..3 needs an integer key"),
    ("model.conv_filters", "5..2", "the range 5..2 is empty"),
    ("model.conv_filters", "2,5,...,256", "does not reach 256"),
    ("model.conv_filters", "4,4", "the value 4 is listed twice"),
    ("model.conv_filters", "", "no values"),
])
def test_a_bad_key_or_value_is_refused_with_a_message_naming_it(key, text, message):
    with pytest.raises(ConfigError) as err:
        parse_values(key, text, "simple_cnn")
    assert message in str(err.value)


def test_a_spec_takes_one_or_two_distinct_keys_and_applies_the_budget_to_every_cell():
    base = cfg.ExperimentConfig().with_values(TINY)
    spec = make_spec(base, [("model.conv_filters", "2,3"), ("model.dense_units", [4, 8, 16])], epochs=2,
                     train_size=100)
    assert spec.shape == (2, 3)
    index, values = spec.cells()[4]
    assert index == (1, 1) and values == {"model.conv_filters": 3, "model.dense_units": 8}
    c = spec.config_for(values)
    assert (c.training.epochs, c.dataset.train_size, c.arch_params()["conv_filters"]) == (2, 100, 3)
    for grid, message in (([], "one or two keys"), ([("training.epochs", "1,2")] * 2, "swept twice"),
                          ([("a.b", "1")] * 3, "one or two keys")):
        with pytest.raises(ConfigError, match=message):
            make_spec(base, grid)


def test_the_width_sweep_preset_has_its_grid_and_a_single_run_ignores_it():
    path = resolve("cifar10-width-sweep")
    table = read_preset_sweep(path)
    spec = make_spec(cfg.load(path), table["grid"], table["epochs"], table["train_size"])
    assert [a.key for a in spec.axes] == ["model.conv_filters", "model.dense_units"]
    assert spec.axes[0].values == tuple(range(2, 12)) and spec.axes[1].values == (2, 4, 8, 16, 32, 64, 128, 256)
    assert spec.base.model.architecture == "simple_cnn" and spec.base.optimizer.name == "adadelta"
    # every preset with a [sweep] table makes a valid sweep
    for p in list_presets():
        if read_preset_sweep(p.path):
            t = read_preset_sweep(p.path)
            make_spec(cfg.load(p.path), t["grid"], t["epochs"], t["train_size"])


def test_a_sweep_table_with_an_unknown_key_is_refused_and_other_unknown_sections_still_are(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ngrid = { "model.conv_filters" = "2..3" }\nepoch = 3\n')
    with pytest.raises(ConfigError, match="sweep.epoch: unknown key"):
        read_preset_sweep(bad)
    with pytest.raises(ConfigError, match="unknown section"):
        cfg.loads("[sweeep]\ngrid = 1\n")
    with pytest.raises(ConfigError, match="sweep: must be a table"):
        cfg.loads("sweep = 3\n")
    assert cfg.loads('[sweep]\ngrid = { "x.y" = "1" }\n[training]\nepochs = 2\n').training.epochs == 2


def test_train_with_a_sweep_preset_says_it_trains_the_base_experiment_once(capsys):
    from tui.cli import _note_sweep_table

    _note_sweep_table(resolve("cifar10-width-sweep"))
    assert "only `cnn-tui sweep --preset cifar10-width-sweep` runs" in capsys.readouterr().err


def test_resuming_runs_only_the_cells_that_did_not_finish(tmp_path):
    base = cfg.ExperimentConfig().with_values(TINY)
    spec = make_spec(base, [("model.conv_filters", "2,3,4")], epochs=1, train_size=200)
    runner = SweepRunner.create(spec, tmp_path, workers=1)

    def stop_after_first_cell(event):
        if event.state.done == 1:
            runner.stop()

    runner.subscribe(stop_after_first_cell)
    state = runner.run()
    assert [c.status for c in state.cells] == ["finished", "pending", "pending"]
    assert state.status == "stopped"
    sweep_dir = state.sweep_dir
    first = sweep_dir / state.cells[0].run_dir
    first_files = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}

    # the process was killed while the second cell ran: sweep.json says so, and a partial run directory is left
    recorded = json.loads((sweep_dir / STATE_FILE).read_text())
    partial = sweep_dir / "20000101-000000-partial"
    partial.mkdir()
    (partial / "config.toml").write_text(cfg.dumps(base))
    recorded["cells"][1].update(status="running", run_dir=partial.name)
    (sweep_dir / STATE_FILE).write_text(json.dumps(recorded))
    assert load_state(sweep_dir).cells[1].status == "stopped"

    ran = []
    resumed = SweepRunner.resume(sweep_dir, workers=1, listeners=[
        lambda e: ran.append(c.index for c in e.state.cells if c.status == "running")])
    final = resumed.run()
    assert [c.status for c in final.cells] == ["finished"] * 3
    assert final.cells[0].run_dir == first.name
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == first_files  # untouched
    assert not partial.exists()  # the interrupted cell ran again from scratch
    run_dirs = sorted(d.name for d in sweep_dir.iterdir() if d.is_dir())
    assert len(run_dirs) == 3 and {c.run_dir for c in final.cells} == set(run_dirs)
    assert {idx for gen in ran for idx in gen} == {(1,), (2,)}
    # the cells are ordinary runs: the run history lists them
    assert {r.name for r in list_runs(tmp_path)} == set(run_dirs)
    assert json.loads((sweep_dir / STATE_FILE).read_text())["status"] == "finished"


def known_state() -> SweepState:
    base = cfg.ExperimentConfig().with_values(TINY)
    spec = make_spec(base, [("model.conv_filters", "2,3"), ("model.dense_units", "4,8,16")], epochs=3)
    marks = {(0, 0): ("finished", 0.5), (0, 1): ("finished", 0.75), (0, 2): ("finished", 0.9),
             (1, 0): ("running", None), (1, 1): ("stopped", 0.95), (1, 2): ("failed", None)}
    cells = []
    for index, values in spec.cells():
        status, acc = marks.get(index, ("pending", None))
        cells.append(Cell(index, tuple(values.items()), status, acc, run_dir=f"run-{index[0]}{index[1]}",
                          epoch=1, epochs=3))
    return SweepState(Path("/tmp/sweep-x"), spec.axes, tuple(cells), spec.base, 3, None, status="running")


def test_the_heatmap_puts_values_and_markers_in_their_cells_and_colours_by_accuracy():
    # (an interrupted cell's partial figure is not a result: it shows as not run yet)
    console = Console(width=100, record=True, color_system="truecolor")
    console.print(render_heatmap(known_state()))
    lines = [line.split() for line in console.export_text().splitlines()]
    header = next(line for line in lines if line[:1] == ["conv_filters"])
    assert header == ["conv_filters", "4", "8", "16"]
    assert ["2", "0.500", "0.750", "0.900"] in lines
    assert ["3", "▶", "1/3", "·", "✗"] in lines
    table = render_heatmap(known_state()).renderables[1]
    low, high = list(table.columns[1].cells)[0], list(table.columns[3].cells)[0]
    assert "rgb(68,1,84)" in str(low.style) and "rgb(253,231,37)" in str(high.style)


def test_csv_and_markdown_exports_hold_every_cell():
    state = known_state()
    rows = to_csv(state).splitlines()
    assert rows[0] == "model.conv_filters,model.dense_units,status,best_val_accuracy,seconds,run_dir"
    assert rows[1] == "2,4,finished,0.5000,,run-00" and rows[6] == "3,16,failed,,,run-12"
    assert rows[5] == "3,8,stopped,,,run-11"
    md = to_markdown(state)
    assert "| conv_filters \\ dense_units | 4 | 8 | 16 |" in md
    assert "| **2** | 0.500 | 0.750 | **0.900** |" in md
    assert "| **3** | ▶ | · | ✗ |" in md
    assert "Best: conv_filters=2, dense_units=16 → 0.9000 (run `run-02`)." in md


def test_cnn_tui_sweep_runs_a_grid_headless_and_says_where_the_results_are(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "100"}
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "sweep", "--grid", "model.conv_filters=2,4", "--set", "model.dense_units=8",
         "--epochs", "1", "--train-size", "200", "--workers", "1", "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Sweep finished: 2 cells." in out.stdout
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    assert f"Results: {sweep_dir / 'results.csv'} and {sweep_dir / 'results.md'}" in out.stdout
    rows = (sweep_dir / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",finished," in r for r in rows[1:])
    bad = subprocess.run([sys.executable, "-m", "tui.cli", "sweep", "--grid", "model.conv_filter=2,4"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "model.conv_filter: unknown key" in bad.stderr


def test_a_sweep_running_in_another_process_is_not_resumed_twice(tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3")], epochs=1)
    sweep_dir = SweepRunner.create(spec, tmp_path, workers=1).state.sweep_dir
    (sweep_dir / "sweep.pid").write_text(str(os.getppid()))  # a live process that is not this one
    with pytest.raises(ConfigError, match=f"this sweep is running in process {os.getppid()}"):
        SweepRunner.resume(sweep_dir)


@pytest.mark.slow
def test_with_two_workers_two_cells_run_at_once_on_an_embedded_cluster_and_ship_their_run_dirs_back(
        tmp_path, monkeypatch):
    # the workers are told a token the sweep directory does not hold: to them it is another machine's folder
    real_write = SweepDir.write_token
    monkeypatch.setattr(SweepDir, "write_token", lambda self: real_write(self) + "-elsewhere")
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3")], epochs=1,
                     train_size=200)
    seen, exposed = [], []

    def watch(event):
        running = sum(c.status == "running" for c in event.state.cells)
        if running == 2 and max(seen, default=0) < 2:  # the embedded scheduler and workers listen on loopback only
            exposed.extend(listening_outside_loopback([SimpleNamespace(pid=os.getpid())]))
        seen.append(running)

    runner = SweepRunner.create(spec, tmp_path, workers=2, models=False, listeners=[watch])
    state = runner.run()
    assert [c.status for c in state.cells] == ["finished", "finished"]
    assert max(seen) == 2  # both cells were running at the same moment
    assert exposed == []
    for c in state.cells:
        cell = RunDir(state.sweep_dir / c.run_dir)
        for f in (cell.summary_file, cell.history_file, cell.events_file, cell.config_file):
            assert f.is_file(), f
        assert cell.read_summary().status == "finished"
        assert not cell.best_model_file.exists() and not cell.last_model_file.exists()  # --no-models
    assert "embedded Dask cluster on 127.0.0.1, 2 workers × 1 threads" in state.placement
    assert "2 shipped back by workers without models" in state.placement
    assert {r.name for r in list_runs(tmp_path)} == {c.run_dir for c in state.cells}


def test_a_sweep_whose_first_cells_all_fail_the_same_way_before_training_stops_and_stays_resumable(tmp_path):
    base = cfg.ExperimentConfig().with_values({**TINY, "training.batch_size": 500})
    spec = make_spec(base, [("model.conv_filters", "2,3,4")], epochs=1, train_size=100)
    state = SweepRunner.create(spec, tmp_path, workers=1).run()
    assert [c.status for c in state.cells] == ["stopped", "stopped", "pending"]
    assert state.status == "stopped"
    assert "the first 2 cells failed the same way before training" in state.message
    assert "batch_size = 500 is larger than the training set" in state.message


class _StaleScheduler:
    """A Dask client whose answer to "which workers are there" was taken before the newest worker joined: the
    cell's start (heard on the client's pub-sub thread) arrives while the question is being answered."""

    def __init__(self, answers, on_ask=None):
        self.answers, self.on_ask = list(answers), on_ask

    def scheduler_info(self):
        if self.on_ask:
            self.on_ask()
            self.on_ask = None
        return {"workers": {address: {} for address in self.answers.pop(0)}}


def test_a_worker_that_joins_as_its_cell_begins_is_not_reported_gone_and_a_dead_one_is(tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values({"dataset.name": "digits"}),
                     [("model.conv_filters", "2,3")], epochs=1)
    runner = SweepRunner.create(spec, tmp_path / "runs", scheduler="tcp://127.0.0.1:1")
    runner._hearing = True
    old, new = "tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"
    runner._cluster_event((0.0, ("start", [0], "a1", "cell-a", 1, old)))

    def begin_on_the_new_worker():
        runner._cluster_event((0.0, ("start", [1], "a1", "cell-b", 1, new)))

    late = _StaleScheduler([[old], [old, new], [old, new]], on_ask=begin_on_the_new_worker)
    for _ in range(3):
        runner._notice_dead_workers(late)
    assert [c.status for c in runner.state.cells] == ["running", "running"]
    assert "gone" not in (runner.state.message or "")

    dead = _StaleScheduler([[new], [new]])  # the first worker died: the scheduler lacks it on two checks
    runner._notice_dead_workers(dead)
    assert runner.state.cell((0,)).status == "running"  # one check is not enough to call a worker dead
    runner._notice_dead_workers(dead)
    assert [c.status for c in runner.state.cells] == ["pending", "running"]
    assert runner.state.message == (f"worker {old} is gone in the middle of {runner.state.cell((0,)).label()}: "
                                    "the cell runs again on another worker")


def test_a_cell_that_begins_again_on_another_worker_before_any_check_still_says_its_worker_is_gone(tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values({"dataset.name": "digits"}),
                     [("model.conv_filters", "2,3")], epochs=1)
    runner = SweepRunner.create(spec, tmp_path / "runs", scheduler="tcp://127.0.0.1:1")
    heard: list[tuple[str, str | None]] = []
    runner.subscribe(lambda event: heard.append((event.state.cell((0,)).status, event.state.message)))
    runner._hearing = True
    old, new = "tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"
    runner._cluster_event((0.0, ("start", [0], "a1", "cell-a", 1, old)))
    # the worker died and the scheduler at once gave the cell to the other one, which was free
    runner._cluster_event((0.0, ("start", [0], "a2", "cell-a2", 1, new)))
    label = runner.state.cell((0,)).label()
    assert [status for status, _ in heard] == ["running", "pending", "running"]
    assert heard[1][1] == f"worker {old} is gone in the middle of {label}: the cell runs again on another worker"
    assert runner.state.cell((0,)).run_dir == "cell-a2"
    dead = _StaleScheduler([[new], [new]])  # the checks that follow find the old worker gone: nothing more to say
    runner._notice_dead_workers(dead)
    runner._notice_dead_workers(dead)
    assert runner.state.cell((0,)).status == "running"
    assert [status for status, _ in heard][-1] == "running" and heard.count(heard[1]) == 1
