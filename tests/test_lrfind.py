"""The learning-rate range test (lr_find) and the one-cycle schedule."""

import itertools
import json
import math

import pytest

from tui.core import config as cfg
from tui.core import lrfind
from tui.core.lrfind import RangeTestError, RangeTestResult, find_lr, suggest
from tui.core.schedules import lr_at, one_cycle, preview_points
from tui.core.session import TrainingSession

DIGITS = {"dataset.name": "digits", "training.batch_size": 16}
"""One epoch of digits in batches of 16 is 90 steps: enough for a curve, a few seconds on a CPU."""


def digits(**extra):
    return cfg.ExperimentConfig().with_values(DIGITS).with_values({k.replace("__", "."): v for k, v in extra.items()})


# -- one_cycle ---------------------------------------------------------------------------------------------------

def test_one_cycle_follows_its_formula():
    s = cfg.ScheduleConfig(name="one_cycle", warmup_fraction=0.25, div_factor=25.0, final_div=1e4, min_momentum=0.85)
    peak = 0.4
    start, end = peak / 25, peak / 25 / 1e4
    assert one_cycle(s, peak, 0.0) == (pytest.approx(start), None)
    assert one_cycle(s, peak, 0.125)[0] == pytest.approx((start + peak) / 2)  # half-way up a half cosine
    assert one_cycle(s, peak, 0.25)[0] == pytest.approx(peak)
    assert one_cycle(s, peak, 0.625)[0] == pytest.approx((peak + end) / 2)  # half-way down
    assert one_cycle(s, peak, 1.0)[0] == pytest.approx(end)
    t = 0.1
    expected = start + (peak - start) * (1 - math.cos(math.pi * t / 0.25)) / 2
    assert one_cycle(s, peak, t)[0] == pytest.approx(expected)
    # momentum runs the other way: high at the ends, lowest at the peak rate
    assert one_cycle(s, peak, 0.0, 0.95)[1] == pytest.approx(0.95)
    assert one_cycle(s, peak, 0.25, 0.95)[1] == pytest.approx(0.85)
    assert one_cycle(s, peak, 0.125, 0.95)[1] == pytest.approx(0.90)
    assert one_cycle(s, peak, 1.0, 0.95)[1] == pytest.approx(0.95)


def test_one_cycle_is_a_schedule_choice_with_a_preview_finer_than_epochs():
    c = cfg.ExperimentConfig().with_values({"schedule.name": "one_cycle", "optimizer.learning_rate": 0.1,
                                            "training.epochs": 4})
    xs, ys = preview_points(c.schedule, 0.1, 4)
    assert len(xs) > 4 * 10 and xs[0] == 1 and xs[-1] == 5
    assert max(ys) == pytest.approx(0.1, rel=1e-3) and ys[0] == pytest.approx(0.1 / 25)
    assert lr_at(c.schedule, 0.1, 0, 4) == pytest.approx(0.1 / 25)
    assert "one_cycle" in cfg.reference_table()


def test_a_one_cycle_run_sets_rate_and_momentum_every_batch_and_saves_a_loadable_model(tmp_path, monkeypatch):
    import keras

    from tui.core import keras_parts
    from tui.core.records import load_model_safe

    c = digits(**{"dataset.train_size": 300, "model.conv_filters": 8, "model.dense_units": 16,
                  "training.epochs": 2, "optimizer.name": "momentum", "optimizer.learning_rate": 0.05,
                  "schedule.name": "one_cycle"})
    seen = []

    def record(batch, logs):
        opt = probe.model.optimizer
        seen.append((float(opt.learning_rate), float(keras.ops.convert_to_numpy(opt.momentum))))

    probe = keras.callbacks.LambdaCallback(on_train_batch_end=record)
    real = keras_parts.make_callbacks
    monkeypatch.setattr(keras_parts, "make_callbacks", lambda *a, **k: real(*a, **k) + [probe])
    session = TrainingSession(c, runs_dir=tmp_path)
    result = session.run()
    assert result.status == "finished", result.error
    total = len(seen)
    assert total % 2 == 0 and total >= 2 * 10  # every batch of both epochs
    for i, (lr, momentum) in enumerate(seen):
        want_lr, want_m = one_cycle(c.schedule, 0.05, i / total, 0.9)
        assert lr == pytest.approx(want_lr, rel=1e-5) and momentum == pytest.approx(want_m, rel=1e-5)
    assert load_model_safe(session.run_dir / "last.keras") is not None  # the optimizer's config is plain again


def test_the_momentum_cycle_reaches_the_compiled_training_step(tmp_path):
    """Keras optimizers freeze a float momentum into the train step; one_cycle's momentum must really change it."""
    def first_loss(optimizer, min_momentum):
        c = digits(**{"dataset.train_size": 300, "model.conv_filters": 8, "model.dense_units": 16,
                      "training.epochs": 1, "training.batch_size": 32, "optimizer.name": optimizer,
                      "optimizer.learning_rate": 0.05, "schedule.name": "one_cycle",
                      "schedule.min_momentum": min_momentum, "training.gradient_every": 0})
        session = TrainingSession(c, runs_dir=tmp_path)
        assert session.run().status == "finished"
        return session.history[0]["loss"]

    assert first_loss("momentum", 0.85) != first_loss("momentum", 0.0)


# -- the suggestion ----------------------------------------------------------------------------------------------

def test_the_suggestion_is_the_steepest_descent_and_minimum_over_ten_is_shown_beside_it():
    lrs = [1e-6 * 10 ** (7 * i / 99) for i in range(100)]
    # loss flat, falls fastest around 1e-3, bottoms out near 1e-1, then blows up
    loss = [2 - 1.5 / (1 + math.exp(-3 * (math.log10(lr) + 3))) + (5 * (lr - 0.1) if lr > 0.1 else 0) for lr in lrs]
    steepest, min_tenth = suggest(lrs, loss)
    assert 10 ** -3.3 < steepest < 10 ** -2.7
    best = lrs[loss.index(min(loss))]
    assert min_tenth == pytest.approx(best / 10)


def test_a_loss_that_never_falls_has_no_steepest_descent():
    lrs = [1e-7 * 10 ** (8 * i / 49) for i in range(50)]
    steepest, min_tenth = suggest(lrs, [1.0 + i * 0.01 for i in range(50)])
    assert steepest is None and min_tenth is None  # no suggestion rather than the start ÷ 10


# -- on digits ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sgd_on_the_default_cnn_gets_a_rate_in_its_known_good_range(seed):
    events = []
    result = find_lr(digits(**{"optimizer.name": "sgd", "training.seed": seed}), emit=events.append)
    assert 1e-3 <= result.suggestion <= 1, result.describe()
    assert result.suggestion == result.steepest and result.chosen == "steepest descent"
    steps = [e for e in events if isinstance(e, lrfind.RangeTestStep)]
    assert [e.step for e in steps] == list(range(1, len(result.lrs) + 1))
    assert steps[0].lr == pytest.approx(1e-7) and all(a.lr < b.lr for a, b in itertools.pairwise(steps))


def test_adadelta_is_tested_on_its_own_scale():
    settings = lrfind.settings_for(digits(**{"optimizer.name": "adadelta"}))
    assert (settings.start_lr, settings.end_lr) == (1e-3, 100.0)
    assert lrfind.settings_for(digits()).start_lr == 1e-7


def test_the_real_run_starts_from_the_same_weights_with_or_without_a_range_test_before_it(tmp_path):
    c = digits(**{"dataset.train_size": 300, "model.conv_filters": 8, "model.dense_units": 16,
                  "training.epochs": 1, "optimizer.name": "sgd", "optimizer.learning_rate": 0.05})
    first = TrainingSession(c, runs_dir=tmp_path / "a")
    assert first.run().status == "finished"
    find_lr(c)
    second = TrainingSession(c, runs_dir=tmp_path / "b")
    assert second.run().status == "finished"
    # same seed, same initial weights, same batches: the same curve to the last digit
    assert first.history[0]["loss"] == second.history[0]["loss"]
    assert first.history[0]["val_loss"] == second.history[0]["val_loss"]


def test_a_small_training_set_takes_fewer_steps_and_says_so():
    result = find_lr(digits(**{"dataset.train_size": 250, "training.batch_size": 16}))
    assert len(result.lrs) < 100 and any("steps instead of 100" in n for n in result.notes)


def test_too_small_a_training_set_is_refused_with_what_to_change():
    with pytest.raises(RangeTestError, match="batch_size"):
        find_lr(digits(**{"dataset.train_size": 100, "training.batch_size": 32}))


def test_an_architecture_that_cannot_build_is_said_before_any_training():
    with pytest.raises(RangeTestError, match="cannot be built.*6n"):
        find_lr(digits(**{"model.architecture": "resnet", "model.depth": 21}))


def test_a_loss_that_is_nan_from_the_first_step_is_blamed_on_the_inputs_not_the_rate(monkeypatch):
    import keras

    from tui.core import keras_parts

    real = keras_parts.build_seeded

    def poisoned(config, shape, classes):
        model = real(config, shape, classes)
        return keras.Sequential([model, keras.layers.Lambda(lambda t: t * float("nan"))])

    monkeypatch.setattr(keras_parts, "build_seeded", poisoned)
    with pytest.raises(RangeTestError, match="NaN from the first step.*not the cause"):
        find_lr(digits(**{"dataset.train_size": 400}))


def test_a_result_survives_the_trip_through_summary_json():
    r = RangeTestResult("sgd", 1e-7, 10.0, 3, (1e-7, 1e-3, 10.0), (2.3, 2.0, 9.0), (2.3, 2.1, 5.0), 1e-3, 1e-4,
                        "diverged", ("note: x",))
    back = RangeTestResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r and back.suggestion == 1e-3


# -- headless, the run that follows, compare ---------------------------------------------------------------------

async def test_headless_lr_find_prints_the_curve_and_both_suggestions_then_trains_at_the_chosen_one(tmp_path,
                                                                                                 capsys):
    """lr-find --train, then the run it trained: summary.json/md keep the curve, compare (command and screen) show
    the suggestion and draw the curve."""
    from tui.cli import main
    from tui.core.compare import compare

    common = ["--set", "dataset.name=digits", "--set", "dataset.train_size=400", "--set", "training.batch_size=16",
              "--set", "model.conv_filters=8", "--set", "model.dense_units=16", "--set", "training.epochs=1",
              "--set", "optimizer.name=sgd", "--runs-dir", str(tmp_path)]
    assert main(["lr-find", *common, "--train"]) == 0
    out = capsys.readouterr().out
    assert "learning rate (log)" in out and "1e-07" in out  # the chart, with its log axis
    assert "steepest descent:" in out and "minimum ÷ 10:" in out and "← chosen" in out
    assert "steps instead of 100" in out  # 400 samples: fewer steps, and it says so
    chosen = float(out.split("optimizer.learning_rate=")[1].split()[0])

    run_dir = next(tmp_path.glob("*-digits-*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["lr_find"]["suggestion"] == pytest.approx(chosen, rel=1e-2)
    assert summary["config"]["optimizer"]["learning_rate"] == pytest.approx(chosen, rel=1e-2)
    assert len(summary["lr_find"]["lrs"]) == len(summary["lr_find"]["smoothed"]) > 10
    md = (run_dir / "summary.md").read_text()
    assert "## Learning-rate range test" in md and "← chosen" in md

    assert main(["train", *common, "--set", "optimizer.learning_rate=0.01"]) == 0  # a run without a range test
    other = next(p for p in tmp_path.glob("*-digits-*") if p != run_dir)
    comparison = compare([run_dir, other])
    row = next(r for r in comparison.metrics if r.label == "lr range test suggestion")
    assert row.values[0].startswith(f"{chosen:.3g}") and row.values[1] == "—"
    assert "learning-rate range test" in comparison.to_markdown()
    assert list(comparison.lr_find_curves()) == [comparison.names[0]]  # the run without a test has no curve

    from textual.widgets import DataTable

    from tui.ui.app import CnnTuiApp
    from tui.ui.screens.compare import CompareScreen
    from tui.ui.widgets.chart import LineChart

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await app.push_screen(CompareScreen(comparison, tmp_path))
        await pilot.pause()
        chart = app.screen.query_one("#compare-lr-find", LineChart)
        assert chart.labels == (comparison.names[0],) and chart.log_x
        metrics = app.screen.query_one("#compare-metrics", DataTable)
        labels = [str(metrics.get_row_at(i)[0]) for i in range(metrics.row_count)]
        assert "lr range test suggestion" in labels
