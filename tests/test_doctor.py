"""The training doctor: each diagnosis fires on the curves that show it, at the epoch a careful reader would name,
with its numbers and fixes that apply to the set-up; healthy runs stay silent. Rules are tested on synthetic
histories and events; the scenario presets end to end through a TrainingSession."""

import json
import math
import re
from pathlib import Path

import pytest

from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.diagnostics import FINDING_IDS, SEVERITIES, Doctor, Finding, apply_fix, preflight
from tui.core.events import BatchEnd, Diagnosis, EpochEnd, GradientNorms, RunStarted
from tui.core.presets import list_presets, resolve

SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="real datasets in ../shared/data not present")

DIGITS = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1293, 162, 180, (178,) * 10)


def config(**values):
    return cfg.ExperimentConfig().with_values({k.replace("__", "."): v for k, v in values.items()})


def started(conf, dataset=DIGITS):
    return RunStarted("run", conf, dataset, None, 10, 10, 32)


def epoch(n, **logs):
    return EpochEnd(n, 20, logs, 0.001, 1.0, 100.0)


def feed(doctor, rows):
    """Feed one EpochEnd per row; returns {finding id: epoch count when it first appeared}."""
    seen = {}
    for i, row in enumerate(rows, 1):
        doctor.observe(epoch(i, **row))
        for f in doctor.findings:
            seen.setdefault(f.id, i)
    return seen


def found(doctor, fid):
    return next((f for f in doctor.findings if f.id == fid), None)


def curves(loss, val_loss, acc=None, val_acc=None):
    rows = [{"loss": l, "val_loss": v} for l, v in zip(loss, val_loss)]
    for key, values in (("accuracy", acc), ("val_accuracy", val_acc)):
        for row, value in zip(rows, values or []):
            row[key] = value
    return rows


HEALTHY = curves(loss=[2.0, 1.2, 0.8, 0.6, 0.48, 0.40, 0.35, 0.31, 0.28, 0.26],
                 val_loss=[1.8, 1.1, 0.80, 0.62, 0.52, 0.46, 0.42, 0.40, 0.385, 0.375],
                 acc=[0.40, 0.65, 0.76, 0.82, 0.85, 0.87, 0.89, 0.90, 0.91, 0.92],
                 val_acc=[0.45, 0.66, 0.75, 0.80, 0.83, 0.85, 0.86, 0.87, 0.875, 0.88])


# -- the rules on synthetic curves --------------------------------------------------------------------------------

def test_healthy_curves_raise_nothing():
    doctor = Doctor(config())
    doctor.observe(started(config()))
    assert feed(doctor, HEALTHY) == {}
    assert not doctor.observe_test({"accuracy": 0.87, "loss": 0.4})
    assert doctor.findings == []


def test_overfitting_is_dated_from_the_first_epoch_after_the_best_validation_loss():
    rows = curves(loss=[1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12],
                  val_loss=[1.0, 0.8, 0.7, 0.65, 0.70, 0.76, 0.85])
    doctor = Doctor(config())
    seen = feed(doctor, rows)
    f = found(doctor, "overfitting")
    assert seen["overfitting"] == 7  # three epochs above the best (epoch 4) before it is called a trend
    assert f.epoch == 5 and "0.6500 (epoch 4, its best)" in f.evidence
    assert any(fix.changes.get("model.dropout") for fix in f.fixes)


def test_underfitting_at_chance_names_a_learning_rate_far_too_low_and_raises_it():
    conf = config(optimizer__name="sgd", optimizer__learning_rate=1e-5)
    doctor = Doctor(conf)
    doctor.observe(started(conf))
    seen = feed(doctor, [{"loss": 2.31, "accuracy": a, "val_loss": 2.30, "val_accuracy": 0.1}
                         for a in (0.10, 0.11, 0.09, 0.10)])
    f = found(doctor, "underfitting")
    assert seen["underfitting"] == 3 and f.epoch == 1
    assert "0.100" in f.evidence and "far too low" in f.evidence
    assert {"optimizer.learning_rate": 1e-4} in [dict(x.changes) for x in f.fixes]


def test_underfitting_from_strong_regularization_suggests_weakening_it():
    conf = config(regularization__l2=0.5, model__dropout=0.7)
    doctor = Doctor(conf)
    doctor.observe(started(conf))
    feed(doctor, [{"loss": 2.31 - 0.001 * i, "val_loss": 2.30} for i in range(5)])  # no accuracy: loss only
    f = found(doctor, "underfitting")
    assert f.epoch == 1 and "regularization too strong" in f.evidence
    assert {"regularization.l2": 0.005, "model.dropout": 0.1} in [dict(x.changes) for x in f.fixes]


def test_a_nan_loss_is_divergence_with_the_causes():
    doctor = Doctor(config(optimizer__learning_rate=0.5))
    doctor.observe(started(doctor.config))
    feed(doctor, [{"loss": 2.0, "val_loss": 1.9}, {"loss": float("nan"), "val_loss": float("nan")}])
    f = found(doctor, "divergence")
    assert f.severity == "error" and f.epoch == 2 and "nan" in f.evidence and "learning rate" in f.evidence
    assert {"optimizer.learning_rate": 0.05} in [dict(x.changes) for x in f.fixes]
    assert doctor.diverged.id == "divergence" and doctor.diverged.epoch == 2
    # 0.5 is far outside Adam's range: the doctor names that first, and says why
    assert [g.id for g in doctor.findings][:2] == ["implausible_lr", "divergence"]
    assert f.because_of == "implausible_lr" and "Treat implausible lr first" in f.evidence


def test_a_loss_growing_by_orders_of_magnitude_is_divergence():
    doctor = Doctor(config())
    doctor.observe(started(config()))
    seen = feed(doctor, [{"loss": 0.6, "val_loss": 0.5}, {"loss": 0.1, "val_loss": 0.4},
                         {"loss": 15.0, "val_loss": 20.0}])
    assert seen == {"divergence": 3} and "150× its lowest" in found(doctor, "divergence").evidence


def test_divergence_is_growth_not_size_in_the_batches():
    """A first batch loss of 250 (raw pixels with Adam) that then falls is not divergence; the same run growing
    a hundredfold above its lowest batch loss, past where it started, is."""
    doctor = Doctor(config())
    doctor.observe(started(config()))
    for batch, loss in enumerate((250.0, 120.0, 9.0, 2.2, 1.5), 1):
        assert not doctor.observe(BatchEnd(1, batch, 10, loss, 0.1, loss, 100.0, 0.1))
    assert doctor.observe(BatchEnd(1, 6, 10, 400.0, 0.1, 400.0, 100.0, 0.1))
    assert found(doctor, "divergence").epoch == 1 and "batch 6" in found(doctor, "divergence").evidence
    mse = config(training__loss="mean_squared_error")  # no ln(classes) anywhere: the same for any loss
    growing = Doctor(mse)
    for batch, loss in enumerate((0.09, 0.05, 0.01, 2.0), 1):
        growing.observe(BatchEnd(1, batch, 10, loss, 0.1, loss, 100.0, 0.1))
    assert found(growing, "divergence") is not None


def test_vanishing_gradients_need_tiny_first_layer_norms_and_a_flat_loss():
    conf = config(model__activation="sigmoid", model__kernel_initializer="normal")
    names = ("dense", "dense_1", "classes")
    doctor = Doctor(conf)
    doctor.observe(started(conf))
    doctor.observe(GradientNorms(1, 1, names, (1e-8, 1e-5, 0.6)))
    doctor.observe(epoch(1, loss=2.30, val_loss=2.30))
    f = found(doctor, "vanishing_gradients")
    assert f.epoch == 1 and "1.00e-08" in f.evidence and "6.00e-01" in f.evidence
    assert {"model.activation": "relu", "model.kernel_initializer": "he_normal"} == dict(f.fixes[0].changes)

    learning = Doctor(conf)
    learning.observe(started(conf))
    learning.observe(GradientNorms(1, 1, names, (1e-8, 1e-5, 0.6)))
    learning.observe(epoch(1, loss=1.2, val_loss=1.1))  # the loss fell by half: the gradients do their job
    healthy = Doctor(conf)
    healthy.observe(GradientNorms(1, 1, names, (0.9, 0.5, 0.6)))
    healthy.observe(epoch(1, loss=2.30, val_loss=2.30))
    assert learning.findings == [] and healthy.findings == []


def test_exploding_gradients_fire_on_the_sample_that_shows_them():
    doctor = Doctor(config())
    assert doctor.observe(GradientNorms(2, 7, ("dense", "classes"), (5e3, 12.0)))
    f = found(doctor, "exploding_gradients")
    assert f.epoch == 2 and "dense 5e+03" in f.evidence and f.fixes[0].changes == {"optimizer.clipnorm": 1.0}
    assert not Doctor(config()).observe(GradientNorms(1, 1, ("dense", "classes"), (3.0, 1.0)))


def test_wrong_loss_is_caught_before_training_and_confirmed_by_the_binary_accuracy():
    conf = config(training__loss="binary_crossentropy")
    before = preflight(conf)
    assert [f.id for f in before] == ["wrong_loss"] and before[0].epoch == 0 and before[0].severity == "error"
    assert "0.90" in before[0].evidence
    assert dict(before[0].fixes[0].changes) == {"training.loss": "categorical_crossentropy"}
    doctor = Doctor(conf)
    doctor.observe(started(conf))
    doctor.observe(epoch(1, loss=0.3, accuracy=0.9, class_accuracy=0.31, val_loss=0.3, val_accuracy=0.9))
    f = found(doctor, "wrong_loss")
    assert f.epoch == 0 and "Confirmed in epoch 1" in f.evidence and "0.310" in f.evidence

    sigmoid = preflight(config(model__output_activation="sigmoid"))
    assert [f.id for f in sigmoid] == ["wrong_loss"]
    assert dict(sigmoid[0].fixes[0].changes) == {"training.loss": "categorical_crossentropy",
                                                 "model.output_activation": "auto"}
    two = DatasetInfo("folder", (8, 8, 3), 2, ("a", "b"), 1000, 200, 200, (600, 600))
    assert preflight(conf, two) == [] and preflight(config()) == []


def test_unscaled_input_is_caught_before_training():
    (f,) = preflight(config(dataset__rescale=False))
    assert f.id == "unscaled_input" and f.epoch == 0 and "255" in f.evidence
    assert f.fixes[0].changes == {"dataset.rescale": True}


def test_plateau_counts_epochs_without_a_real_improvement_of_the_monitored_metric():
    conf = config(training__monitor="val_accuracy")
    doctor = Doctor(conf)
    accs = [0.5, 0.7, 0.8, 0.85, 0.852, 0.851, 0.853, 0.85, 0.852]
    seen = feed(doctor, [{"loss": 1 / (i + 1), "val_loss": 0.5, "val_accuracy": a} for i, a in enumerate(accs)])
    f = found(doctor, "plateau")
    assert seen == {"plateau": 9} and f.epoch == 5 and f.severity == "info"
    assert "best 0.8500 at epoch 4" in f.evidence
    assert {"schedule.name": "plateau"} in [dict(x.changes) for x in f.fixes]


def test_a_plateau_title_names_the_same_best_epoch_as_its_evidence_after_a_later_improvement():
    """The app's banner read "No progress since epoch 52" while its evidence said "best 0.0070 at epoch 267": the
    finding kept the title it was first raised with while the evidence moved on."""
    doctor = Doctor(config(training__monitor="val_loss"))
    val = [1.0, 0.5, 0.3] + [0.3] * 7 + [0.1] + [0.1] * 7  # stalls after epoch 3, improves at 11, stalls again
    feed(doctor, [{"loss": 0.5, "val_loss": v} for v in val])
    f = found(doctor, "plateau")
    assert "best 0.1000 at epoch 11" in f.evidence
    assert f.title == "No progress since epoch 11"
    assert f.epoch == 4  # first stalled there: its place among the findings and on the charts stays


def test_a_penalized_run_is_judged_on_its_loss_without_the_penalty_which_grows_as_the_fit_improves():
    """CIFAR-10 with l1_l2(0.01) (cifar10-deep-cnn-l1l2): the penalty grew with the weights, so val_loss rose from 3.4
    to 5.9 while val_data_loss fell from 1.6 to 1.0 and val_accuracy rose from 0.44 to 0.66; judged on val_loss the
    doctor said "No progress since epoch 4" and the best checkpoint kept epoch 4's model."""
    rows = []
    for i in range(15):
        penalty = 1.8 + 0.2 * i
        rows.append({"data_loss": 1.5 - 0.04 * i, "val_data_loss": 1.6 - 0.04 * i, "penalty": penalty,
                     "loss": 1.5 - 0.04 * i + penalty, "val_loss": 1.6 - 0.04 * i + penalty,
                     "accuracy": 0.45 + 0.015 * i, "val_accuracy": 0.44 + 0.014 * i})
    penalized = config(regularization__l1=0.01, regularization__l2=0.01)
    assert penalized.monitored == "val_data_loss" and config().monitored == "val_loss"
    doctor = Doctor(penalized)
    feed(doctor, rows)
    assert found(doctor, "plateau") is None, [f.title for f in doctor.findings]
    # the same curves judged on val_loss, as before (and as Keras' own callbacks would by default):
    unpenalized = Doctor(config())
    feed(unpenalized, rows)
    assert found(unpenalized, "plateau").title == "No progress since epoch 1"
    # a penalized run that really stalls is still told so, naming what it was judged on
    stalled = Doctor(penalized)
    feed(stalled, [{**row, "val_data_loss": 1.0, "loss": 4.0, "val_loss": 4.1} for row in rows])
    f = found(stalled, "plateau")
    assert f is not None and "val_data_loss (val_loss without the regularization penalty) best" in f.evidence


def test_plateau_is_not_reported_beside_overfitting_which_explains_it():
    rows = curves(loss=[1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.08, 0.05, 0.03],
                  val_loss=[1.0, 0.8, 0.7, 0.65, 0.70, 0.76, 0.85, 0.9, 1.0, 1.1])
    doctor = Doctor(config())
    feed(doctor, rows)
    assert [f.id for f in doctor.findings] == ["overfitting"]


def test_val_test_gap_compares_the_test_accuracy_with_validation_and_ignores_the_rest_of_the_block():
    doctor = Doctor(config())
    doctor.observe(started(config()))
    feed(doctor, [{"loss": 0.5, "val_loss": 0.5, "accuracy": 0.85, "val_accuracy": 0.83}])
    assert doctor.observe_test({"accuracy": 0.44, "loss": 1.9, "per_class": [{"recall": 0.5}], "x": None})
    f = found(doctor, "val_test_gap")
    assert "0.830" in f.evidence and "0.440" in f.evidence and "162 validation vs 180 test" in f.evidence
    assert not Doctor(config()).observe_test({"accuracy": 0.8})  # no validation accuracy: nothing to compare
    assert not doctor.observe_test(None) and not doctor.observe_test({"loss": 1.0})


def test_class_imbalance_reports_the_counts_and_suggests_class_weights():
    skewed = DatasetInfo("folder", (32, 32, 3), 3, ("cat", "dog", "horse"), 8000, 900, 0, (1668, 4863, 2623))
    (f,) = preflight(config(dataset__name="folder", dataset__path="x"), skewed)
    assert f.id == "class_imbalance" and "cat 1668, dog 4863, horse 2623" in f.evidence and "2.9×" in f.evidence
    assert f.fixes[0].changes == {"training.class_weight": "balanced"}
    weighted = preflight(config(dataset__name="folder", dataset__path="x", training__class_weight="balanced"),
                         skewed)
    assert weighted[0].severity == "info" and weighted[0].fixes == ()
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 54000, 6000, 10000,
                        (6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958))
    assert preflight(config(dataset__name="mnist"), mnist) == []


def test_regularization_dominating_shows_data_loss_and_penalty_apart():
    conf = config(regularization__l1=0.01)
    doctor = Doctor(conf)
    seen = feed(doctor, [{"loss": 4.0, "penalty": 2.9, "data_loss": 1.1, "val_loss": 4.0, "accuracy": 0.3},
                         {"loss": 3.8, "penalty": 2.7, "data_loss": 1.1, "val_loss": 3.8, "accuracy": 0.31}])
    f = found(doctor, "regularization_dominates")
    assert seen["regularization_dominates"] == 2 and f.epoch == 1  # seen once the data loss stalls; since epoch 1
    assert "data loss 1.1000 + penalty 2.9000 (72%)" in f.evidence and "training accuracy 0.310" in f.evidence
    assert "the fit stopped" in f.evidence
    assert {"regularization.l1": 0.001} in [dict(x.changes) for x in f.fixes]
    assert feed(Doctor(conf), [{"loss": 1.0, "penalty": 0.2, "data_loss": 0.8, "val_loss": 1.0}]) == {}


def test_a_penalty_above_the_data_loss_of_a_network_that_fits_is_not_reported():
    """The shipped L2 preset on 300 images: once the training set is fit the penalty is most of the loss, which
    is the point of the preset, not a problem."""
    conf = config(regularization__l2=0.05, dataset__train_size=300)
    rows = [{"loss": 1.2 - 0.1 * i, "penalty": 0.8, "data_loss": 0.4 - 0.1 * i, "accuracy": 0.9 + 0.02 * i,
             "val_loss": 1.4, "val_accuracy": 0.85} for i in range(4)]
    assert "regularization_dominates" not in feed(Doctor(conf), rows)


def test_every_penalty_kind_is_counted_and_every_kind_can_be_weakened():
    conf = config(regularization__activity_l2=0.5, regularization__l1=0.01)
    doctor = Doctor(conf)
    feed(doctor, [{"loss": 9.0, "penalty": 8.0, "data_loss": 1.0, "accuracy": 0.12, "val_loss": 9.0}] * 2)
    changes = [dict(x.changes) for x in found(doctor, "regularization_dominates").fixes]
    assert {"regularization.activity_l2": 0.05, "regularization.l1": 0.001} in changes
    assert any(c.get("regularization.activity_l2") == 0.0 and c.get("regularization.l1") == 0.0 for c in changes)


def test_a_finding_keeps_its_first_epoch_while_its_evidence_is_updated():
    doctor = Doctor(config())
    feed(doctor, [{"loss": 4.0, "penalty": 2.9, "data_loss": 1.1, "val_loss": 4.0, "accuracy": 0.2}] * 2)
    first = found(doctor, "regularization_dominates")
    assert doctor.observe(epoch(3, loss=3.1, penalty=2.0, data_loss=1.1, val_loss=3.1, accuracy=0.21))
    again = found(doctor, "regularization_dominates")
    assert again.epoch == first.epoch == 1 and again.evidence != first.evidence
    assert not doctor.observe(BatchEnd(4, 1, 10, 3.1, 0.5, 3.1, 100.0, 0.1))  # nothing new: no Diagnosis


def test_a_resumed_run_replays_its_history_into_the_same_findings():
    rows = curves(loss=[1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12], val_loss=[1.0, 0.8, 0.7, 0.65, 0.70, 0.76, 0.85])
    live, resumed = Doctor(config()), Doctor(config())
    feed(live, rows)
    resumed.seed([{"epoch": i, **r} for i, r in enumerate(rows, 1)])
    assert resumed.findings == live.findings != []


def test_findings_have_known_ids_severities_and_serialize_for_the_summary():
    f = preflight(config(dataset__rescale=False))[0]
    d = f.as_dict()
    assert set(d) == {"id", "severity", "epoch", "title", "evidence", "explanation", "fixes"}
    assert d["fixes"][0] == {"label": f.fixes[0].label, "changes": {"dataset.rescale": True}}
    assert json.loads(json.dumps(d)) == d
    assert f.id in FINDING_IDS and f.severity in SEVERITIES


# -- every fix any rule produces applies to the set-up ----------------------------------------------------------

def every_finding(conf) -> list[Finding]:
    """Drive every rule to fire for this configuration."""
    skewed = DatasetInfo("folder", (8, 8, 3), 3, ("a", "b", "c"), 100, 10, 10, (10, 50, 40))
    out = preflight(conf.with_values({"optimizer.name": "adam", "optimizer.learning_rate": 0.5,
                                      "dataset.name": "digits", "regularization.augment": True,
                                      "regularization.flip": True}), skewed)  # implausible lr, small val, flips
    out += preflight(conf.with_values({"training.loss": "mean_squared_error"}), skewed)
    out += preflight(conf.with_values({"training.loss": "binary_crossentropy", "dataset.rescale": False}), skewed)
    out += preflight(conf.with_values({"model.output_activation": "sigmoid"}), skewed)
    doctors = [Doctor(conf) for _ in range(11)]
    for d in doctors:
        d.observe(started(conf))
    feed(doctors[0], curves([1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12], [1.0, 0.8, 0.7, 0.65, 0.70, 0.76, 0.85]))
    feed(doctors[1], [{"loss": 2.3, "accuracy": 0.1, "val_loss": 2.3, "penalty": 2.0} for _ in range(4)])
    feed(doctors[2], [{"loss": 1.0, "val_loss": 1.0}, {"loss": math.inf, "val_loss": 1.0}])
    doctors[3].observe(GradientNorms(1, 1, ("a", "b"), (1e-9, 1e4)))
    doctors[3].observe(epoch(1, loss=2.3, val_loss=2.3))
    feed(doctors[4], [{"loss": 1.0 / (i + 1), "val_loss": 0.5, "val_accuracy": 0.9} for i in range(8)])
    feed(doctors[5], [{"loss": 0.5, "val_loss": 0.5, "accuracy": 0.9, "val_accuracy": 0.9}])
    doctors[5].observe_test({"accuracy": 0.5})
    # a rise beyond the noise of 162 validation images with 29 wrong (2/sqrt(29) = 37 %)
    feed(doctors[6], curves([1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12], [1.0, 0.8, 0.7, 0.65, 0.75, 0.88, 1.0],
                            [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95], [0.5, 0.6, 0.7, 0.75, 0.78, 0.8, 0.82]))
    feed(doctors[7], curves([1.9, 1.8, 1.79, 1.785, 1.78], [1.9, 1.8, 1.79, 1.785, 1.78],
                            [0.3, 0.38, 0.385, 0.39, 0.392], [0.3, 0.37, 0.38, 0.385, 0.39]))
    n = max(3, conf.training.epochs)  # under-trained needs 3 epochs of evidence
    feed(doctors[8], [{"loss": 0.5 + 0.1 * (n - i), "val_loss": 0.6 + 0.1 * (n - i)} for i in range(n)])
    feed(doctors[9], [{"loss": v, "val_loss": v} for v in (1.0, 1.2, 0.9, 1.3, 1.0)])
    doctors[9].observe_test({"accuracy": 0.1, "confusion_matrix": [[0, 5], [0, 5]]})
    for batch in (1, 2):
        doctors[10].observe(GradientNorms(1, batch, ("a", "b"), (0.0, 0.3)))
    doctors[10].observe(epoch(1, loss=2.3, val_loss=2.3))
    return out + [f for d in doctors for f in d.findings]


SCENARIOS = [p for p in list_presets() if p.name.startswith("scenarios/")]
CONFIGS = {"default": cfg.ExperimentConfig(),
           "sigmoid-sgd-tiny-lr": config(model__activation="tanh", model__kernel_initializer="normal",
                                         optimizer__name="sgd", optimizer__learning_rate=1e-6),
           "strong-penalties": config(regularization__l1=0.05, regularization__l2=0.5, model__dropout=0.8,
                                      regularization__activity_l2=0.1, optimizer__learning_rate=0.5),
           **{p.name: cfg.load(p.path) for p in SCENARIOS}}


def plain(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_fix_validates_against_the_configuration_schema(name):
    conf = CONFIGS[name]
    findings = every_finding(conf)
    ids = {f.id for f in findings}
    assert ids == set(FINDING_IDS) - {"plateau"} or ids == set(FINDING_IDS), ids
    for f in findings:
        assert f.id in FINDING_IDS and f.severity in SEVERITIES and f.evidence and f.explanation and f.fixes
        for fix in f.fixes:
            if not fix.changes:
                continue
            base = conf  # fixes are computed from the configuration they are offered for
            if f.epoch == 0 and any(k.startswith(("training.loss", "optimizer.", "regularization.flip",
                                                  "regularization.augment", "dataset.rescale", "model.output"))
                                    for k in fix.changes):
                continue  # the preflight findings above were computed from variants of conf
            changed = apply_fix(base, fix)  # raises ConfigError when a fix does not validate
            assert all(plain(changed.get(k)) == plain(v) for k, v in fix.changes.items()), fix
            assert changed != base, f"{f.id}: {fix.label} changes nothing"


# -- the scenario presets, end to end ---------------------------------------------------------------------------

def expectation(preset):
    if preset.diagnosis == "none":
        return None, None
    m = re.fullmatch(r"(\w+) by epoch (\d+)", preset.diagnosis)
    assert m and m.group(1) in FINDING_IDS, preset.diagnosis
    return m.group(1), int(m.group(2))


NO_SCENARIO = {"val_test_gap": "a validation set from another source than the test set, which no configuration of "
                               "the bundled datasets makes (the rule is tested on synthetic split sizes)"}


def test_scenarios_cover_every_diagnosis_and_have_healthy_runs():
    assert SCENARIOS and all(p.diagnosis for p in SCENARIOS)
    assert {expectation(p)[0] for p in SCENARIOS} | set(NO_SCENARIO) == set(FINDING_IDS) | {None}
    assert resolve("scenarios/overfitting").name == "overfitting.toml"
    assert resolve("scenarios/overfitting.toml") == resolve("scenarios/overfitting")


def run_scenario(conf, tmp_path):
    from tui.core.session import TrainingSession

    events = []
    session = TrainingSession(conf, runs_dir=tmp_path, listeners=[events.append])
    result = session.run()
    return session, result, events


def check_scenario(preset, conf, tmp_path):
    fid, by = expectation(preset)
    session, result, events = run_scenario(conf, tmp_path)
    summary = json.loads((session.run_dir / "summary.json").read_text())
    if fid is None:
        assert result.status == "finished" and summary["findings"] == [], summary["findings"]
        assert not [e for e in events if isinstance(e, Diagnosis)]
        return
    epochs_seen = 0
    for e in events:
        if isinstance(e, EpochEnd) and not e.partial:
            epochs_seen += 1
        if isinstance(e, Diagnosis) and any(f.id == fid for f in e.findings):
            break
    else:
        raise AssertionError(f"{fid} never raised; findings {[f.id for f in session.doctor.findings]}, "
                             f"history {session.history}")
    assert epochs_seen <= max(by, 1), (fid, epochs_seen)  # raised by then...
    finding = next(f for f in summary["findings"] if f["id"] == fid)
    assert finding["epoch"] <= by and finding["evidence"]  # ...and dated no later
    if fid == "divergence":
        assert result.status == "failed" and "diverged" in result.error or "NaN" in result.error
        # stopped in its first epoch, or at the latest in the second when the growth that proves it is only seen
        # at the last batches of the first (judged on growth, not size: a few batches)
        assert len([e for e in events if isinstance(e, EpochEnd) and not e.partial]) <= 1


def matrix_only(preset):
    """Scenarios that benchmarks/doctor_matrix.py runs with 3 seeds; CI covers their rules on synthetic curves."""
    from tui.core.config import read_meta

    return read_meta(preset.path).get("matrix") == "benchmark"


FAST = [p for p in SCENARIOS if cfg.load(p.path).dataset.name == "digits" and not matrix_only(p)]
SLOW = [p for p in SCENARIOS if cfg.load(p.path).dataset.name in ("mnist", "fashion_mnist") and not matrix_only(p)]


@pytest.mark.parametrize("preset", FAST, ids=[p.name for p in FAST])
def test_fast_scenario_raises_its_diagnosis_by_the_expected_epoch(preset, tmp_path):
    check_scenario(preset, cfg.load(preset.path), tmp_path)


def test_class_imbalance_scenario_on_a_skewed_image_folder(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, n in (("cat", 8), ("dog", 24), ("horse", 12)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    preset = next(p for p in SCENARIOS if p.name == "scenarios/class-imbalance")
    conf = cfg.load(preset.path).with_values({
        "dataset.path": str(tmp_path / "data"), "dataset.image_size": 8, "model.architecture": "mlp",
        "model.hidden_units": [8], "training.epochs": 1, "training.batch_size": 8,
        "training.class_weight": "balanced"})
    check_scenario(preset, conf, tmp_path / "runs")


@needs_shared
@pytest.mark.parametrize("preset", SLOW, ids=[p.name for p in SLOW])
def test_slow_scenario_on_real_data(preset, tmp_path):
    check_scenario(preset, cfg.load(preset.path).with_values({"dataset.data_dir": str(SHARED_DATA)}), tmp_path)


# -- what the run records and the headless command prints -------------------------------------------------------

def test_a_penalized_run_logs_data_loss_and_penalty_beside_the_loss(tmp_path):
    import csv

    conf = cfg.load(resolve("scenarios/regularization-dominates")).with_values({"training.epochs": 1})
    session, result, events = run_scenario(conf, tmp_path)
    row = next(csv.DictReader(open(session.run_dir / "history.csv")))
    assert float(row["data_loss"]) + float(row["penalty"]) == pytest.approx(float(row["loss"]))
    grads = [e for e in events if isinstance(e, GradientNorms)]
    assert grads and grads[0].layers[-1] == "classes" and all(n > 0 for n in grads[0].norms)


def test_headless_prints_findings_with_severity_evidence_and_fixes():
    from rich.console import Console

    from tui.headless import HeadlessView

    console = Console(record=True, width=200, color_system=None)
    view = HeadlessView(console)
    findings = tuple(preflight(config(training__loss="binary_crossentropy", dataset__rescale=False)))
    view.handle(Diagnosis(findings))
    view.handle(Diagnosis(findings))  # printed once, when it appears
    text = console.export_text()
    assert text.count("Wrong loss") == 1 and "ERROR" in text and "WARNING" in text
    assert "--set training.loss=categorical_crossentropy" in text and "--set dataset.rescale=true" in text


def test_readme_documents_every_threshold_with_its_default():
    import dataclasses

    from tui.core.diagnostics import Thresholds

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for f in dataclasses.fields(Thresholds):
        assert re.search(rf"\| `{f.name}` \| {f.default:g} \|", readme), f.name


def test_a_large_penalty_in_a_batch_loss_is_not_taken_for_divergence():
    conf = config(regularization__l1=0.5)
    doctor = Doctor(conf)
    doctor.observe(started(conf))
    assert not doctor.observe(BatchEnd(1, 2, 10, 80.0, 0.1, 80.0, 100.0, 0.1))
    assert doctor.observe(BatchEnd(1, 3, 10, math.nan, 0.1, math.nan, 100.0, 0.1))


def test_class_imbalance_evidence_gains_the_test_recalls_when_the_test_block_has_them():
    skewed = DatasetInfo("folder", (8, 8, 3), 3, ("cat", "dog", "horse"), 80, 10, 10, (10, 50, 40))
    conf = config(dataset__name="folder", dataset__path="x")
    doctor = Doctor(conf)
    doctor.observe(started(conf, skewed))
    assert doctor.observe_test({"accuracy": 0.7, "balanced_accuracy": 0.55,
                                "per_class": [{"recall": 0.1}, {"recall": 0.9}, {"recall": 0.65}]})
    evidence = found(doctor, "class_imbalance").evidence
    assert "balanced accuracy 0.550" in evidence and "cat 0.10, dog 0.90, horse 0.65" in evidence


def test_balanced_class_weights_give_each_class_the_same_total_weight():
    import numpy as np

    from tui.core.keras_parts import class_weights

    y = np.array([0] * 10 + [1] * 30 + [2] * 20)
    weights = class_weights(config(training__class_weight="balanced"), y, 3)
    assert weights == pytest.approx({0: 2.0, 1: 2 / 3, 2: 1.0})
    assert class_weights(config(), y, 3) is None


def test_preflight_without_the_dataset_still_catches_the_wrong_loss_on_a_folder():
    (f,) = preflight(config(dataset__name="folder", dataset__path="x", training__loss="binary_crossentropy"))
    assert f.id == "wrong_loss" and "several classes" in f.evidence


def test_a_finding_read_back_from_a_summary_equals_the_one_written():
    from tui.core.diagnostics import OVERFIT_FIXES, Finding

    finding = Finding("overfitting", "warning", 7, "Overfitting from epoch 7", "val_loss rose", "memorising",
                      OVERFIT_FIXES)
    assert Finding.from_dict(json.loads(json.dumps(finding.as_dict()))) == finding
