"""Compare: 2–8 runs side by side — only the configuration keys that differ, the best metrics, the curves
overlaid, a Markdown export — from `cnn-tui compare` and from the app's runs screen."""

import json

import pytest
from textual.widgets import DataTable, Static

from pilot_wait import Notices

from tui.cli import main
from tui.core import config as cfg
from tui.core import presets
from tui.core.compare import MISSING, UNUSED, CompareError, compare, config_diff, flatten, metric_rows
from tui.core.runs import list_runs
from tui.core.session import TrainingSession
from tui.ui.app import CnnTuiApp
from tui.ui.widgets.run_table import RunTable


def flat(**values):
    return flatten(cfg.ExperimentConfig().with_values(values).to_dict())


def fake_run(runs_dir, name, history=(), summary=None, **values):
    """A run directory as training leaves it (config.toml, history.csv, summary.json), without training."""
    run = runs_dir / name
    run.mkdir(parents=True)
    cfg.save(cfg.ExperimentConfig().with_values(values), run / "config.toml")
    if history:
        lines = ["epoch,accuracy,loss,val_accuracy,val_loss"]
        lines += [f"{i},{a},{l},{va},{vl}" for i, (a, l, va, vl) in enumerate(history)]
        (run / "history.csv").write_text("\n".join(lines) + "\n")
    (run / "summary.json").write_text(json.dumps(summary or {"status": "finished"}))
    return run


def test_only_the_configuration_keys_that_differ_are_listed():
    rows = config_diff([flat(**{"model.activation": "relu", "optimizer.name": "adam"}),
                        flat(**{"model.activation": "sigmoid", "optimizer.name": "sgd"})])
    assert [(r.label, r.values) for r in rows] == [("model.activation", ("relu", "sigmoid")),
                                                  ("optimizer.name", ("adam", "sgd"))]


def test_sgd_momentum_adam_show_the_optimizer_and_the_momentum_only_one_of_them_uses():
    # note 004 runs all three at learning rate 0.01: the rate is the same, so it is not a difference
    configs = [flatten(cfg.load(presets.resolve(f"mnist-{o}")).to_dict()) for o in ("sgd", "momentum", "adam")]
    rows = {r.label: r.values for r in config_diff(configs)}
    assert list(rows) == ["optimizer.name", "optimizer.momentum"]
    assert rows["optimizer.name"] == ("sgd", "momentum", "adam")
    assert rows["optimizer.momentum"] == (UNUSED, "0.9", UNUSED)


def test_with_and_without_l2_and_another_architecture_read_well():
    assert [(r.label, r.values) for r in config_diff([flat(), flat(**{"regularization.l2": 0.001})])] == [
        ("regularization.l2", ("0", "0.001"))]
    rows = {r.label: r.values for r in config_diff([flat(), flat(**{"model.architecture": "mlp"})])}
    assert rows["model.architecture"] == ("simple_cnn", "mlp")
    assert rows["model.conv_filters"][1] == MISSING and rows["model.hidden_units"][0] == MISSING


def test_best_metrics_side_by_side_with_the_better_run_picked(tmp_path):
    a = fake_run(tmp_path, "a", [(0.5, 1.2, 0.6, 1.0), (0.8, 0.6, 0.9, 0.5), (0.9, 0.4, 0.85, 0.55)],
                 {"status": "finished", "test": {"accuracy": 0.88}, "params": {"total": 12345},
                  "wall_seconds": 3.21})
    b = fake_run(tmp_path, "b", [(0.3, 2.0, 0.4, 1.8)], {"status": "stopped", "wall_seconds": 1.0},
                 **{"model.activation": "sigmoid"})
    rows = {r.label: r for r in metric_rows(compare([a, b]).runs)}
    assert rows["best val accuracy"].values == ("0.9000 (epoch 2)", "0.4000 (epoch 1)")
    assert rows["best val loss"].values == ("0.5000 (epoch 2)", "1.8000 (epoch 1)")
    assert rows["final train loss"].values == ("0.4000", "2.0000") and rows["final train loss"].best == 0
    assert rows["test accuracy"].values == ("0.8800", MISSING)
    assert rows["epochs"].values == ("3", "1") and rows["parameters"].values == ("12,345", MISSING)
    assert rows["wall time"].values == ("3.2 s", "1.0 s") and rows["status"].values == ("finished", "stopped")


def test_the_markdown_has_the_runs_the_diff_the_metrics_and_a_chart_per_metric(tmp_path):
    a = fake_run(tmp_path, "relu-run", [(0.5, 1.2, 0.6, 1.0), (0.8, 0.6, 0.9, 0.5)])
    b = fake_run(tmp_path, "sigmoid-run", [(0.2, 2.2, 0.2, 2.1), (0.3, 2.0, 0.4, 1.8)],
                 **{"model.activation": "sigmoid"})
    md = compare([a, b]).to_markdown()
    assert "| key | relu-run | sigmoid-run |" in md
    assert "| `model.activation` | relu | sigmoid |" in md and "`optimizer.name`" not in md
    assert "| best val accuracy | **0.9000 (epoch 2)** | 0.4000 (epoch 2) |" in md
    for title in ("## Validation loss", "## Validation accuracy", "## Training loss"):
        chart = md.split(title)[1].split("```")[1]
        assert "relu-run" in chart and "sigmoid-run" in chart


def test_a_run_that_failed_before_its_first_epoch_is_shown_and_flagged(tmp_path):
    ok = fake_run(tmp_path, "ok", [(0.5, 1.2, 0.6, 1.0)])
    failed = fake_run(tmp_path, "failed", (), {"status": "failed", "error": "out of memory"})
    c = compare([ok, failed])
    assert c.flags() == ["failed: no epochs recorded (failed: out of memory)"]
    assert list(c.curves("val_loss")) == ["ok"]
    assert {r.label: r.values for r in c.metrics}["best val accuracy"] == ("0.6000 (epoch 1)", MISSING)
    assert "⚠ no epochs recorded (failed: out of memory)" in c.to_markdown()


def test_too_few_too_many_and_not_runs_are_refused_with_what_is_wrong(tmp_path):
    runs = [fake_run(tmp_path, f"r{i}", [(0.5, 1.0, 0.5, 1.0)]) for i in range(9)]
    with pytest.raises(CompareError, match="2 to 8 runs; 1 given"):
        compare(runs[:1])
    with pytest.raises(CompareError, match="2 to 8 runs; 9 given"):
        compare(runs)
    (tmp_path / "notes").mkdir()
    with pytest.raises(CompareError, match=r"notes is not a run directory: config.toml is missing"):
        compare([runs[0], tmp_path / "notes"])
    with pytest.raises(CompareError, match="given twice"):
        compare([runs[0], runs[0]])
    with pytest.raises(CompareError, match="'r' matches 9 runs"):
        compare(["r", "r1"], runs_dir=tmp_path)
    with pytest.raises(CompareError, match="'nope' is neither a directory nor a run in"):
        compare(["r1", "nope"], runs_dir=tmp_path)
    assert compare(["r1", "r2"], runs_dir=tmp_path).names == ["r1", "r2"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real one-epoch digits runs, ReLU and sigmoid."""
    runs = tmp_path_factory.mktemp("runs")
    tiny = {"dataset.train_size": 150, "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 1,
            "training.batch_size": 50}
    for activation in ("relu", "sigmoid"):
        config = cfg.ExperimentConfig().with_values({**tiny, "model.activation": activation})
        TrainingSession(config, runs_dir=runs).run()
    return runs


def test_cnn_tui_compare_prints_the_diff_and_metrics_and_writes_markdown(two_runs, tmp_path, capsys):
    names = sorted(r.name for r in list_runs(two_runs))
    out_md = tmp_path / "cmp.md"
    assert main(["compare", "--runs-dir", str(two_runs), *names, "--markdown", str(out_md)]) == 0
    out = capsys.readouterr().out
    assert "model.activation" in out and "relu" in out and "sigmoid" in out and "best val accuracy" in out
    assert "optimizer.name" not in out
    assert f"Markdown written to {out_md}" in out.replace("\n", "")
    assert "| `model.activation` | relu | sigmoid |" in out_md.read_text()
    assert main(["compare", str(two_runs / names[0])]) == 2
    assert "compare takes 2 to 8 runs; 1 given" in capsys.readouterr().err


async def test_mark_runs_compare_them_in_the_app_and_export(two_runs):
    app = CnnTuiApp(runs_dir=two_runs)
    notices = Notices()
    async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
        await pilot.press("f2")
        await app.workers.wait_for_complete()  # the runs are read in a worker
        await pilot.pause()
        app.screen.query_one(RunTable).focus()
        await pilot.press("space", "c")
        await pilot.pause()
        assert notices.count("Mark 2 to 8 runs")
        await pilot.press("space", "c")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "CompareScreen"
        legend = str(screen.query_one("#compare-legend", Static).render())
        assert all(name in legend for name in screen.comparison.names)
        diff = screen.query_one("#compare-diff", DataTable)
        assert [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)] == ["model.activation"]
        await pilot.press("e")
        await pilot.pause()
        written = list((two_runs / "comparisons").glob("compare-*.md"))
        assert len(written) == 1 and notices.count(str(written[0]))
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "RunsScreen"


async def test_the_compare_screen_shows_a_run_without_epochs_flagged(tmp_path):
    fake_run(tmp_path, "ok", [(0.5, 1.2, 0.6, 1.0), (0.7, 0.9, 0.7, 0.8)])
    fake_run(tmp_path, "failed", (), {"status": "failed", "error": "out of memory"})
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("f2")
        await app.workers.wait_for_complete()  # the runs are read in a worker
        await pilot.pause()
        app.screen.query_one(RunTable).focus()
        await pilot.press("space", "space", "c")
        await pilot.pause()
        assert "⚠ failed: no epochs recorded (failed: out of memory)" in str(
            app.screen.query_one("#compare-title", Static).render())
        metrics = app.screen.query_one("#compare-metrics", DataTable)
        assert "⚠ no epochs" in str(metrics.get_row_at(0)[list(app.screen.comparison.names).index("failed") + 1])
