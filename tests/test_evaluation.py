"""Test evaluation: the metrics against a hand-computed case, and the test block a finished run writes."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from tui.core import config as cfg
from tui.core.evaluation import EXAMPLES_FILE, Evaluation, confusion_matrix, evaluate, load_examples
from tui.core.render import evaluation_renderable
from tui.core.session import TrainingSession

# 10 test samples of cat/dog/horse; "zebra" is a class that occurs nowhere (neither true nor predicted).
NAMES = ["cat", "dog", "horse", "zebra"]
Y_TRUE = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]
Y_PRED = [0, 1, 0, 1, 1, 1, 0, 2, 2, 2]


def test_confusion_matrix_counts_true_classes_in_rows_and_predictions_in_columns():
    assert confusion_matrix(Y_TRUE, Y_PRED, 4).tolist() == [
        [2, 1, 0, 0],
        [1, 3, 1, 0],
        [0, 0, 2, 0],
        [0, 0, 0, 0],
    ]


def test_metrics_match_the_hand_computed_case():
    ev = evaluate(Y_TRUE, Y_PRED, NAMES, loss=0.5)
    # cat: predicted 3 times, 2 right; dog: predicted 4 times, 3 right; horse: predicted 3 times, 2 right
    assert ev.precision == pytest.approx((2 / 3, 3 / 4, 2 / 3, 0.0))
    # cat 2 of 3 found, dog 3 of 5, horse 2 of 2
    assert ev.recall == pytest.approx((2 / 3, 3 / 5, 1.0, 0.0))
    # F1 = 2PR/(P+R): cat 2/3; dog 2*.75*.6/1.35 = 2/3; horse 2*(2/3)/(5/3) = 0.8
    assert ev.f1 == pytest.approx((2 / 3, 2 / 3, 0.8, 0.0))
    assert ev.support == (3, 5, 2, 0)
    assert ev.accuracy == pytest.approx(0.7)  # 7 of 10
    # mean recall over the classes present: (2/3 + 3/5 + 1) / 3 = 34/45; zebra (absent) is left out
    assert ev.balanced_accuracy == pytest.approx(34 / 45)
    assert ev.macro_f1 == pytest.approx(32 / 45)
    assert ev.worst_recall_class == 1  # dog is the class the model misses most
    assert ev.total == 10 and ev.loss == 0.5


def test_the_summary_block_round_trips():
    ev = evaluate(Y_TRUE, Y_PRED, NAMES, loss=0.25)
    back = Evaluation.from_dict(json.loads(json.dumps(ev.as_dict())))
    assert back == ev
    assert Evaluation.from_dict({"loss": 0.3, "accuracy": 0.9}) is None  # an older summary: no per-class data


def test_imbalanced_data_flags_the_class_with_the_lowest_recall():
    # 1668 cat / 4863 dog / 2623 horse; the model calls most cats dogs.
    y_true = np.repeat([0, 1, 2], [1668, 4863, 2623])
    y_pred = y_true.copy()
    y_pred[:1200] = 1
    ev = evaluate(y_true, y_pred, ["cat", "dog", "horse"])
    assert ev.accuracy > 0.86 and ev.balanced_accuracy < 0.77
    console = Console(width=100, record=True, color_system=None)
    console.print(evaluation_renderable(ev))
    text = console.export_text()
    cat_row = next(line for line in text.splitlines() if line.startswith("cat "))
    assert "lowest recall" in cat_row and "0.281" in cat_row
    assert "smaller classes" in text
    assert "Confusion matrix" in text and "1200" in text


def tiny(**values):
    base = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "simple_cnn",
            "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 1, "training.batch_size": 32}
    return cfg.ExperimentConfig().with_values({**base, **values})


def test_a_finished_run_saves_a_consistent_test_block_and_example_images(tmp_path):
    session = TrainingSession(tiny(), runs_dir=tmp_path)
    assert session.run().status == "finished"
    summary = json.loads((session.run_dir / "summary.json").read_text())
    test, ds = summary["test"], summary["dataset"]
    cm = np.array(test["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == ds["test"] == test["samples"] > 0
    assert test["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert test["per_class"]["support"] == cm.sum(axis=1).tolist()
    assert test["loss"] > 0 and test["class_names"] == ds["class_names"]
    assert "## Test evaluation" in (session.run_dir / "summary.md").read_text()

    ex = load_examples(session.run_dir / EXAMPLES_FILE)
    assert ex is not None and ex.images.dtype == np.uint8 and ex.images.shape[1:] == (8, 8, 1)
    wrong, right = ex.mistake, ~ex.mistake
    assert 0 < len(ex) <= 24 and wrong.sum() == min(12, cm.sum() - np.trace(cm))
    assert (ex.y_pred[wrong] != ex.y_true[wrong]).all() and (ex.y_pred[right] == ex.y_true[right]).all()
    assert list(ex.confidence[wrong]) == sorted(ex.confidence[wrong], reverse=True)  # most confident first


def test_without_a_test_split_the_summary_says_so_instead_of_reusing_validation(tmp_path):
    session = TrainingSession(tiny(**{"dataset.test_fraction": 0.0}), runs_dir=tmp_path)
    assert session.run().status == "finished"
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["test"] is None and summary["dataset"]["test"] == 0
    assert "No test split" in (session.run_dir / "summary.md").read_text()
    assert not (session.run_dir / EXAMPLES_FILE).exists()


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=60))))
def test_metrics_agree_with_scikit_learn_on_any_labels(case):
    from sklearn import metrics

    n, pairs = case
    y_true, y_pred = np.array(pairs).T
    ev = evaluate(y_true, y_pred, [str(i) for i in range(n)])
    labels = list(range(n))
    assert np.array(ev.confusion).tolist() == metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    assert ev.precision == pytest.approx(tuple(p)) and ev.recall == pytest.approx(tuple(r))
    assert ev.f1 == pytest.approx(tuple(f)) and ev.support == tuple(s)
    assert ev.accuracy == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": left out, as here
        assert ev.balanced_accuracy == pytest.approx(metrics.balanced_accuracy_score(y_true, y_pred))
