"""The doctor, round 2 (issue #13): no misdiagnosis, causes ranked by evidence, fixes computed from the set-up that
never make things worse, and the diagnoses that were missing. Synthetic histories and events: each test fails on
the doctor before this round. The matrix of real runs is benchmarks/doctor_matrix.py."""

import math

import pytest

from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.diagnostics import Doctor, apply_fix, most_severe, preflight
from tui.core.events import BatchEnd, EpochEnd, GradientNorms, RunStarted

DIGITS = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1293, 162, 180, (178,) * 10)


def config(**values):
    return cfg.ExperimentConfig().with_values({k.replace("__", "."): v for k, v in values.items()})


def doctor_for(conf, dataset=DIGITS):
    d = Doctor(conf)
    d.observe(RunStarted("run", conf, dataset, None, conf.training.epochs, 10, 32))
    return d


def feed(doctor, rows, lrs=None):
    for i, row in enumerate(rows, 1):
        doctor.observe(EpochEnd(i, len(rows), row, (lrs or {}).get(i, 0.001), 1.0, 100.0))
    return [f.id for f in doctor.findings]


def found(doctor, fid):
    return next((f for f in doctor.findings if f.id == fid), None)


def changes(finding):
    return [dict(f.changes) for f in finding.fixes]


def rows(loss, val_loss, acc=None, val_acc=None, **extra):
    out = [{"loss": a, "val_loss": b} for a, b in zip(loss, val_loss)]
    for key, values in (("accuracy", acc), ("val_accuracy", val_acc), *extra.items()):
        for row, v in zip(out, values or []):
            row[key] = v
    return out


RISING = dict(loss=[1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12], val_loss=[1.0, 0.8, 0.7, 0.65, 0.70, 0.76, 0.85],
              acc=[0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])


# -- a large loss from a penalty is never divergence -------------------------------------------------------------

def test_a_penalized_model_compiles_a_data_loss_metric_so_the_penalty_is_measured_over_the_same_batches():
    from tui.core.keras_parts import make_metrics

    names = [getattr(m, "name", m) for m in make_metrics(config(regularization__activity_l2=0.01))]
    assert "data_loss" in names  # activity penalties included: penalty = loss - data_loss
    assert "data_loss" not in [getattr(m, "name", m) for m in make_metrics(config())]


def test_a_loss_in_the_hundreds_that_is_all_penalty_is_named_with_its_share_and_is_not_divergence():
    conf = config(regularization__l1=1.0)
    doctor = doctor_for(conf)
    for batch, loss in enumerate((3100.0, 2400.0, 1500.0, 900.0, 480.0), 1):  # the batches of epoch 1
        doctor.observe(BatchEnd(1, batch, 40, loss, 0.1, loss, 100.0, 0.1))
    ids = feed(doctor, [{"loss": 655.9, "data_loss": 2.301, "penalty": 653.6, "accuracy": 0.117,
                         "val_loss": 173.6, "val_accuracy": 0.105},  # epochs 1-2 of the scenario preset
                        {"loss": 63.05, "data_loss": 2.303, "penalty": 60.75, "accuracy": 0.076,
                         "val_loss": 62.0, "val_accuracy": 0.099}])
    assert "divergence" not in ids and ids[0] == "regularization_dominates"
    f = found(doctor, "regularization_dominates")
    assert "(100%)" in f.evidence and {"regularization.l1": 0.1} in changes(f)


# -- overfitting vs overconfidence, and fixes from the configuration ----------------------------------------------

def test_val_loss_rising_while_val_accuracy_improves_is_overconfidence_not_overfitting():
    doctor = Doctor(config())
    ids = feed(doctor, rows(**RISING, val_acc=[0.5, 0.6, 0.7, 0.75, 0.78, 0.80, 0.82]))
    assert ids == ["overconfidence"]
    f = found(doctor, "overconfidence")
    assert "val_accuracy held or improved: 0.750 then, 0.820 now" in f.evidence
    assert {"training.monitor": "val_accuracy"} in changes(f)
    worse = Doctor(config())
    assert feed(worse, rows(**RISING, val_acc=[0.5, 0.6, 0.7, 0.75, 0.74, 0.73, 0.72])) == ["overfitting"]


def test_overfitting_fixes_strengthen_what_the_user_set_and_offer_nothing_already_on():
    conf = config(model__dropout=0.5, regularization__l2=1e-2, training__early_stopping=True,
                  model__architecture="mlp")
    doctor = Doctor(conf)
    feed(doctor, rows(**RISING, val_acc=[0.5, 0.6, 0.7, 0.75, 0.74, 0.73, 0.72]))
    offered = changes(found(doctor, "overfitting"))
    assert {"model.dropout": 0.7} in offered and {"regularization.l2": 0.1} in offered
    assert {"regularization.augment": True, "regularization.flip": False} in offered  # digits: no flips
    assert not any("training.early_stopping" in c or "dataset.train_size" in c for c in offered)
    for fix in found(doctor, "overfitting").fixes:
        if fix.changes:
            assert apply_fix(conf, fix) != conf
    subset = Doctor(config(dataset__train_size=300, regularization__augment=True))
    feed(subset, rows(**RISING, val_acc=[0.5, 0.6, 0.7, 0.75, 0.74, 0.73, 0.72]))
    offered = changes(found(subset, "overfitting"))
    assert {"dataset.train_size": 0} in offered and not any("regularization.augment" in c for c in offered)


# -- underfitting: the floor is the majority share; high bias; causes by evidence ------------------------------

def test_the_floor_of_guessing_is_the_largest_class_share_not_one_over_classes():
    skewed = DatasetInfo("folder", (8, 8, 3), 4, tuple("abcd"), 1000, 200, 200, (700, 100, 100, 100))
    conf = config(dataset__name="folder", dataset__path="x")
    doctor = doctor_for(conf, skewed)
    ids = feed(doctor, [{"loss": 0.9, "accuracy": 0.70, "val_loss": 0.9, "val_accuracy": 0.7}] * 3)
    assert "underfitting" in ids and "largest class: 0.700" in found(doctor, "underfitting").evidence


def test_six_percent_on_a_hundred_classes_is_not_guessing():
    many = DatasetInfo("folder", (32, 32, 3), 100, tuple(str(i) for i in range(100)), 5000, 1000, 1000,
                       (50,) * 100)
    doctor = doctor_for(config(dataset__name="folder", dataset__path="x"), many)
    ids = feed(doctor, [{"loss": 4.2, "accuracy": a, "val_loss": 4.2, "val_accuracy": a}
                        for a in (0.055, 0.06, 0.062)])
    assert "underfitting" not in ids


def test_train_equal_to_validation_both_low_and_flat_is_high_bias_with_a_bigger_model_from_its_widths():
    conf = config(model__architecture="mlp", model__hidden_units=[4])
    doctor = doctor_for(conf)
    ids = feed(doctor, rows([1.9, 1.8, 1.79, 1.785, 1.78], [1.9, 1.8, 1.79, 1.785, 1.78],
                            [0.30, 0.38, 0.385, 0.39, 0.392], [0.30, 0.37, 0.38, 0.385, 0.39]))
    assert ids == ["high_bias"]
    assert {"model.hidden_units": [8]} in changes(found(doctor, "high_bias"))


def test_causes_come_by_evidence_and_glorot_is_not_blamed_for_tanh():
    conf = config(model__activation="tanh", model__kernel_initializer="glorot_uniform", model__dropout=0.5,
                  optimizer__name="sgd", optimizer__learning_rate=0.01, regularization__l2=0.1)
    doctor = doctor_for(conf)
    feed(doctor, [{"loss": 6.0, "penalty": 3.8, "data_loss": 2.2, "accuracy": 0.1, "val_loss": 6.0}] * 3)
    f = found(doctor, "underfitting")
    assert "regularization too strong (the penalty is 63% of the loss)" in f.evidence
    assert "tanh" not in f.evidence and "saturating" not in f.evidence
    assert f.because_of == "regularization_dominates"  # the penalty finding explains it and is listed first
    assert [x.id for x in doctor.findings][0] == "regularization_dominates"
    assert not any(c == {"model.batch_norm": True} for c in changes(f))


# -- divergence, gradients ---------------------------------------------------------------------------------------

def test_a_dead_first_layer_is_dead_layers_not_vanishing_and_relu_is_not_offered_to_a_relu_net():
    conf = config(model__architecture="mlp", optimizer__name="sgd", optimizer__learning_rate=1.5)
    doctor = doctor_for(conf)
    for batch in (4, 8, 12):
        doctor.observe(GradientNorms(1, batch, ("dense", "dense_1", "classes"), (0.0, 0.0, 0.04)))
    ids = feed(doctor, [{"loss": 2.30, "accuracy": 0.1, "val_loss": 2.30, "val_accuracy": 0.1}])
    assert "dead_layers" in ids and "vanishing_gradients" not in ids
    f = found(doctor, "dead_layers")
    assert "dense, dense_1" in f.evidence
    assert {"optimizer.learning_rate": 0.15} in changes(f) and {"model.activation": "leaky_relu"} in changes(f)
    assert not any(c.get("model.activation") == "relu" for c in changes(f))


def test_vanishing_gradients_are_never_cured_with_clipping():
    conf = config(model__activation="sigmoid", model__kernel_initializer="normal")
    doctor = doctor_for(conf)
    doctor.observe(GradientNorms(1, 1, ("dense", "classes"), (1e-8, 0.6)))
    feed(doctor, [{"loss": 2.30, "val_loss": 2.30}])
    offered = changes(found(doctor, "vanishing_gradients"))
    assert offered and not any("optimizer.clipnorm" in c for c in offered)


def test_exploding_gradients_from_a_large_initial_scale_get_an_initialisation_fix_and_no_batch_norm_when_on():
    conf = config(model__kernel_initializer="normal", model__init_std=1.0, model__batch_norm=True)
    doctor = doctor_for(conf)
    doctor.observe(GradientNorms(1, 1, ("dense", "classes"), (5e4, 30.0)))
    offered = changes(found(doctor, "exploding_gradients"))
    assert offered[0] == {"model.kernel_initializer": "he_normal"}
    assert {"model.batch_norm": True} not in offered


def test_exploding_gradients_are_named_before_the_divergence_they_cause():
    doctor = doctor_for(config())
    doctor.observe(GradientNorms(1, 1, ("dense", "classes"), (5e4, 30.0)))
    feed(doctor, [{"loss": 2.0, "val_loss": 2.0}, {"loss": math.nan, "val_loss": math.nan}])
    ids = [f.id for f in doctor.findings]
    assert ids[:2] == ["exploding_gradients", "divergence"]
    assert found(doctor, "divergence").because_of == "exploding_gradients"
    assert most_severe(doctor.findings).id == "exploding_gradients"  # the banner shows the cause


# -- wrong loss, plateau, val/test gap ----------------------------------------------------------------------------

def test_wrong_loss_says_the_reported_accuracy_misleads_and_flags_mean_squared_error():
    (bce,) = preflight(config(training__loss="binary_crossentropy"))
    assert "network itself usually trains fine" in bce.explanation and "class_accuracy" in bce.explanation
    (mse,) = preflight(config(training__loss="mean_squared_error"))
    assert mse.id == "wrong_loss" and "regression loss" in mse.evidence
    assert dict(mse.fixes[0].changes) == {"training.loss": "categorical_crossentropy"}


def test_a_plateau_under_a_decayed_learning_rate_does_not_advise_a_smaller_one():
    conf = config(schedule__name="step", schedule__step_epochs=1, optimizer__learning_rate=0.01)
    doctor = Doctor(conf)
    lrs = {i: 0.01 * 0.1 ** (i - 1) for i in range(1, 10)}
    ids = feed(doctor, [{"loss": 0.5, "val_loss": v} for v in (0.9, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5)], lrs)
    assert ids == ["plateau"]
    f = found(doctor, "plateau")
    assert "decayed the learning rate" in f.evidence
    assert not any("optimizer.learning_rate" in c for c in changes(f))


def test_val_test_gap_uses_the_split_sizes():
    small = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1500, 16, 180, (178,) * 10)
    noisy = doctor_for(config(), small)
    feed(noisy, [{"loss": 0.5, "val_loss": 0.5, "accuracy": 0.7, "val_accuracy": 0.62}])
    noisy.observe_test({"accuracy": 0.48})
    assert found(noisy, "val_test_gap") is None  # 14 points on 16 images is noise...
    assert found(noisy, "small_validation") is not None  # ...and the split itself is the finding
    big = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 55000, 5000, 10000, (5500,) * 10)
    real = doctor_for(config(dataset__name="mnist"), big)
    feed(real, [{"loss": 0.2, "val_loss": 0.2, "accuracy": 0.95, "val_accuracy": 0.95}])
    real.observe_test({"accuracy": 0.90})
    f = found(real, "val_test_gap")
    assert f is not None and "5000 validation vs 10000 test" in f.evidence  # 5 points on 5k/10k is real


def test_val_test_gap_compares_the_test_with_the_epoch_whose_weights_were_restored():
    conf = config(training__early_stopping=True, training__restore_best=True, training__monitor="val_loss")
    big = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 55000, 5000, 10000, (5500,) * 10)
    doctor = doctor_for(conf, big)
    feed(doctor, [{"loss": 0.3, "val_loss": 0.20, "accuracy": 0.92, "val_accuracy": 0.90},
                  {"loss": 0.2, "val_loss": 0.25, "accuracy": 0.97, "val_accuracy": 0.96}])
    doctor.observe_test({"accuracy": 0.90})  # the tested weights are epoch 1's, whose validation accuracy is 0.90
    assert found(doctor, "val_test_gap") is None


# -- the missing diagnoses ------------------------------------------------------------------------------------------

def test_a_loss_still_falling_fast_at_the_last_epoch_is_undertrained():
    conf = config(training__epochs=4, optimizer__name="sgd", optimizer__learning_rate=0.01)
    doctor = doctor_for(conf)
    ids = feed(doctor, rows([2.2, 1.7, 1.3, 1.0], [2.1, 1.6, 1.25, 0.98], [0.3, 0.5, 0.65, 0.75],
                            [0.3, 0.5, 0.64, 0.74]))
    assert ids == ["undertrained"]
    offered = changes(found(doctor, "undertrained"))
    assert {"training.epochs": 8} in offered and {"optimizer.learning_rate": 0.03} in offered


def test_a_loss_that_rises_and_swings_is_a_learning_rate_too_high():
    doctor = doctor_for(config(optimizer__learning_rate=0.03))
    ids = feed(doctor, rows([1.2, 0.31, 0.24, 0.10, 0.13, 0.107, 0.094, 0.187],
                            [0.45, 0.41, 0.19, 0.17, 0.26, 0.25, 0.33, 0.21]))
    assert "lr_too_high" in ids and "divergence" not in ids
    assert {"optimizer.learning_rate": 0.01} in changes(found(doctor, "lr_too_high"))


@pytest.mark.parametrize("opt, lr, flagged", [("adam", 0.5, True), ("adam", 1e-3, False), ("sgd", 0.1, False),
                                               ("sgd", 1e-6, True), ("adadelta", 1e-3, False),
                                               ("adadelta", 1e-4, True)])
def test_a_learning_rate_implausible_for_its_optimizer_is_caught_before_training(opt, lr, flagged):
    found_ids = [f.id for f in preflight(config(optimizer__name=opt, optimizer__learning_rate=lr))]
    assert ("implausible_lr" in found_ids) == flagged


def test_every_prediction_one_class_from_the_confusion_matrix_and_from_training_accuracy():
    doctor = doctor_for(config())
    feed(doctor, [{"loss": 2.3, "val_loss": 2.3, "accuracy": 0.1, "val_accuracy": 0.1}])
    matrix = [[0] * 9 + [18] for _ in range(10)]
    assert doctor.observe_test({"accuracy": 0.1, "confusion_matrix": matrix, "class_names": list("0123456789")})
    assert "180 of 180 predictions (100%) are class 9" in found(doctor, "one_class").evidence
    skewed = DatasetInfo("folder", (8, 8, 3), 3, tuple("abc"), 1000, 200, 200, (800, 100, 100))
    pinned = doctor_for(config(dataset__name="folder", dataset__path="x"), skewed)
    assert "one_class" in feed(pinned, [{"loss": 0.6, "val_loss": 0.6, "accuracy": 0.8, "val_accuracy": 0.8}] * 2)


def test_a_tiny_validation_split_and_flips_on_digits_are_caught_before_training():
    tiny = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1500, 16, 180, (178,) * 10)
    ids = [f.id for f in preflight(config(dataset__val_fraction=0.01), tiny)]
    assert "small_validation" in ids
    assert [f.id for f in preflight(config(), DIGITS)] == []  # 162 images: fine
    (flip,) = preflight(config(regularization__augment=True))  # flips default to on
    assert flip.id == "flip_augment" and dict(flip.fixes[0].changes) == {"regularization.flip": False}
    assert preflight(config(regularization__augment=True, dataset__name="cifar10")) == []


# -- one real run: the new user's L1 = 1.0 on the default set-up --------------------------------------------------

def test_the_default_set_up_with_l1_of_one_is_told_about_its_penalty_and_keeps_training(tmp_path):
    """The run that used to be stopped as 'diverged' with advice to divide the learning rate by 10."""
    from tui.core.presets import resolve
    from tui.core.session import TrainingSession

    conf = cfg.load(resolve("scenarios/penalty-l1-default")).with_values(
        {"training.epochs": 2, "dataset.train_size": 300})  # one epoch shows no trend: the finding needs two
    session = TrainingSession(conf, runs_dir=tmp_path)
    result = session.run()
    ids = [f.id for f in session.doctor.findings]
    assert result.status == "finished" and "divergence" not in ids
    assert ids[0] == "regularization_dominates", ids
    f = session.doctor.findings[0]
    assert "penalty" in f.evidence and not any("optimizer.learning_rate" in c for c in changes(f))
    h = session.history[0]
    assert h["data_loss"] < 10 < h["penalty"]  # the data loss is a guess's, the hundreds are penalty


def test_nothing_already_on_is_offered_before_training():
    (f,) = preflight(config(dataset__rescale=False, model__batch_norm=True))
    assert f.id == "unscaled_input" and changes(f) == [{"dataset.rescale": True}]


def test_when_a_penalty_stops_the_fit_the_overfitting_advice_to_add_more_is_listed_second_and_says_why():
    conf = config(regularization__l2=1.0)
    doctor = doctor_for(conf)
    feed(doctor, [{"loss": 5.0, "penalty": 3.5, "data_loss": 1.5, "accuracy": a, "val_loss": 5.2,
                   "val_accuracy": v} for a, v in ((0.40, 0.35), (0.45, 0.33), (0.48, 0.33), (0.50, 0.33))])
    ids = [f.id for f in doctor.findings]
    assert ids.index("regularization_dominates") < ids.index("overfitting")
    over = found(doctor, "overfitting")
    assert over.because_of == "regularization_dominates"
    assert "more regularization would make that worse" in over.evidence


# -- a penalty preset early in its long budget is slow, not stopped ------------------------------------------------

# Epochs 1-12 of the shipped 300-image presets cut to 40 epochs (seed 42, measured): the penalty is 95-97% of the
# loss and training accuracy is still under the 0.55 of a fit, but the data loss keeps falling.
L2_300 = [(2.350, 59.59, 0.150), (2.309, 59.23, 0.187), (2.277, 58.87, 0.213), (2.251, 58.52, 0.227),
          (2.228, 58.17, 0.257), (2.206, 57.82, 0.283), (2.187, 57.48, 0.300), (2.170, 57.14, 0.327),
          (2.152, 56.80, 0.340), (2.135, 56.46, 0.333), (2.119, 56.12, 0.340), (2.104, 55.79, 0.360)]
L1_300 = [(2.295, 43.68, 0.230), (2.099, 42.73, 0.363), (1.922, 41.82, 0.407), (1.788, 40.93, 0.393),
          (2.064, 40.07, 0.283), (1.495, 39.21, 0.630), (1.776, 38.41, 0.450), (1.577, 37.58, 0.497),
          (1.298, 36.78, 0.623), (1.184, 36.01, 0.620), (1.659, 35.27, 0.457), (0.960, 34.51, 0.783)]


# seed 2 of the L2 preset: the accuracy stays at 0.097 in epoch 2 while the data loss falls 3% (a slow start)
L2_300_SEED2 = [(2.4913, 59.64, 0.0967), (2.4098, 59.28, 0.0967), (2.3585, 58.92, 0.120), (2.3226, 58.57, 0.1333),
                (2.2956, 58.22, 0.1467), (2.2729, 57.87, 0.1533), (2.2530, 57.52, 0.1667), (2.2352, 57.18, 0.1833)]


def penalty_rows(triples):
    return [{"loss": d + p, "data_loss": d, "penalty": p, "accuracy": a, "val_loss": d + p + 0.1}
            for d, p, a in triples]


@pytest.mark.parametrize("preset, triples", [("l2", L2_300), ("l1", L1_300), ("l2", L2_300_SEED2)],
                         ids=["l2-300", "l1-300", "l2-300-seed2"])
def test_a_penalty_preset_whose_data_loss_still_falls_is_not_told_to_weaken_its_penalty(preset, triples):
    conf = config(**{f"regularization__{preset}": 0.05, "dataset__train_size": 300})
    for n in range(1, len(triples) + 1):  # at no epoch, not only at the end
        assert "regularization_dominates" not in feed(doctor_for(conf), penalty_rows(triples[:n])), n


def test_the_same_penalty_is_reported_once_the_data_loss_stops_falling_under_a_fit():
    conf = config(regularization__l2=0.05, dataset__train_size=300)
    stalled = L2_300[:6] + [(2.21, 57.5 - 0.3 * i, 0.28) for i in range(4)]  # flat data loss, accuracy 0.28
    doctor = doctor_for(conf)
    ids = feed(doctor, penalty_rows(stalled))
    f = found(doctor, "regularization_dominates")
    assert "regularization_dominates" in ids and f.epoch == 1 and "the fit stopped" in f.evidence
    assert {"regularization.l2": 0.005} in changes(f)


def test_a_penalty_that_holds_accuracy_at_guessing_is_reported_though_the_data_loss_creeps_down():
    """scenarios/regularization-dominates, seed 2 (measured): one more image right in epoch 2 is not a fit."""
    conf = config(regularization__l1=0.1, dataset__train_size=300)
    doctor = doctor_for(conf)
    ids = feed(doctor, penalty_rows([(2.3588, 82.29, 0.1033), (2.3265, 73.39, 0.1067)]))
    assert ids[0] == "regularization_dominates", ids

def test_a_gap_that_holds_once_training_accuracy_reaches_100_percent_is_overfitting_not_a_plateau():
    """40 training images, a 256×256 MLP (tests/test_app.py's overfitting run): training accuracy 1.000 from epoch
    10, validation stuck at 0.883 and val_loss flat. The gap does not grow (training cannot go above 100 %), yet a
    network at training loss 0.002 against 0.43 on validation has memorised its 40 images."""
    from tui.core.diagnostics import Doctor
    from tui.core.events import EpochEnd

    doctor = Doctor()
    val = [0.506, 0.70, 0.80, 0.84, 0.83, 0.81, 0.796, 0.85, 0.87, 0.883, 0.87, 0.866, 0.864, 0.88, 0.885, 0.889,
           0.88, 0.875, 0.87, 0.88, 0.883, 0.883]
    for i, v in enumerate(val, start=1):
        acc = min(1.0, 0.1 + 0.1 * i)
        logs = {"loss": max(0.002, 2.3 / i ** 2), "accuracy": acc, "val_loss": 0.42 + 0.02 * (v == 0.883),
                "val_accuracy": v}
        doctor.observe(EpochEnd(i, 40, logs, 0.003, 0.1, 400.0))
    found = doctor.findings
    assert found and found[0].id == "overfitting", [f.id for f in found]
    assert "a gap of 11.7 points" in found[0].evidence


def test_a_training_set_learnt_by_heart_is_overfitting_while_validation_still_creeps_up():
    """scenarios/mnist-overfitting as measured (300 MNIST images, 512-512 MLP): training accuracy 0.993 at epoch 6
    with loss 0.041 against 0.612 on validation, a 16-point gap since epoch 3, and validation accuracy still
    gaining a point or less an epoch. Requiring validation to make no new best delayed the finding to epoch 12."""
    from tui.core.diagnostics import Doctor
    from tui.core.events import EpochEnd

    rows = [(0.433, 1.866, 0.682, 1.27), (0.81, 0.729, 0.761, 0.764), (0.913, 0.327, 0.796, 0.651),
            (0.963, 0.163, 0.79, 0.671), (0.977, 0.087, 0.819, 0.613), (0.993, 0.041, 0.827, 0.612)]
    doctor = Doctor()
    for i, (acc, loss, val_acc, val_loss) in enumerate(rows, start=1):
        doctor.observe(EpochEnd(i, 12, {"loss": loss, "accuracy": acc, "val_loss": val_loss,
                                        "val_accuracy": val_acc}, 0.001, 1.0, 300.0))
    found = {f.id: f for f in doctor.findings}
    assert "overfitting" in found and found["overfitting"].epoch <= 6, list(found)
    assert "learnt by heart" in found["overfitting"].evidence


# -- round 3: no false alarm on healthy and study runs ---------------------------------------------------------------
LR_001 = rows(  # epochs 1-15 of the default set-up at Adam 0.01, seed 1 (measured): val_accuracy 0.96-0.99
    loss=[1.0811, 0.2869, 0.1848, 0.1365, 0.0897, 0.0765, 0.0613, 0.0490, 0.0430, 0.0272, 0.0458, 0.0370, 0.0382,
          0.0224, 0.0160],
    val_loss=[0.2955, 0.1562, 0.1323, 0.1019, 0.0682, 0.0734, 0.0631, 0.0699, 0.0675, 0.0858, 0.0813, 0.0918,
              0.0512, 0.0639, 0.0396],
    acc=[0.6591, 0.9120, 0.9471, 0.9560, 0.9732, 0.9746, 0.9814, 0.9801, 0.9849, 0.9911, 0.9849, 0.9842, 0.9876,
         0.9938, 0.9952],
    val_acc=[0.9136, 0.9506, 0.9630, 0.9753, 0.9815, 0.9877, 0.9691, 0.9691, 0.9753, 0.9753, 0.9630, 0.9630, 0.9753,
             0.9753, 0.9877])

MNIST_300 = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 300, 6000, 10000, (7000,) * 10)


def test_a_near_zero_val_loss_moving_by_a_few_hundredths_at_97_to_99_percent_accuracy_is_not_overfitting():
    """The default digits set-up at Adam 0.01 (measured, seed 1): a val_loss under 0.1 that moves by a few
    hundredths while 2-6 of the 162 validation images are wrong; 36 % over its best at epoch 10 (overconfidence)
    and epoch 11 (overfitting) for the doctor before, but one or two images' confidence, not a trend."""
    conf = config(optimizer__learning_rate=0.01, training__epochs=len(LR_001))
    ids = feed(doctor_for(conf), LR_001)
    assert "overfitting" not in ids and "overconfidence" not in ids, ids
    # the same rule still sees a rise that is more than the noise of its split: 6,000 images at 75 %
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 54000, 6000, 10000, (7000,) * 10)
    assert "overfitting" in feed(doctor_for(config(dataset__name="mnist"), mnist),
                                 rows(**RISING, val_acc=[0.5, 0.6, 0.7, 0.75, 0.74, 0.73, 0.72]))


def test_two_epochs_are_no_evidence_of_undertraining():
    """mnist-adam's budget is 2 epochs: the mean fall per epoch of a 2-epoch run is its last fall, so 'still on
    the steep part' could not fail."""
    conf = config(dataset__name="mnist", training__epochs=2, optimizer__learning_rate=0.01)
    ids = feed(doctor_for(conf, MNIST_300), rows([0.95, 0.35], [0.42, 0.31], [0.71, 0.90], [0.88, 0.91]))
    assert "undertrained" not in ids
    three = config(dataset__name="mnist", training__epochs=3, optimizer__learning_rate=0.01)
    assert "undertrained" in feed(doctor_for(three, MNIST_300),
                                  rows([0.95, 0.60, 0.35], [0.62, 0.45, 0.31], [0.71, 0.82, 0.90],
                                       [0.75, 0.85, 0.91]))


def test_a_slow_penalty_run_whose_loss_falls_at_its_pace_is_neither_guessing_nor_high_bias():
    """mnist-overfit-300-l2 cut to 40 epochs (SGD 0.01, 3 batches an epoch): the accuracy of 300 images sits at
    guessing for a few epochs, then gains under a point an epoch for three, while the data loss falls steadily."""
    conf = config(regularization__l2=0.05, dataset__name="mnist", dataset__train_size=300, training__batch_size=100,
                  optimizer__name="sgd", optimizer__learning_rate=0.01)
    for triples in (L2_300, L2_300_SEED2):
        history = [dict(r, val_accuracy=r["accuracy"] - 0.01) for r in penalty_rows(triples)]
        for dataset in (MNIST_300, DIGITS):  # 3 batches an epoch (pooled), and 13 (epoch by epoch)
            for n in range(1, len(history) + 1):
                ids = feed(doctor_for(conf, dataset), history[:n])
                assert not {"underfitting", "high_bias", "regularization_dominates"} & set(ids), (n, ids)


def test_three_epochs_of_three_batches_each_are_too_few_to_call_an_accuracy_flat():
    """mnist-overfit-300-l1 seed 2 (measured, SGD 0.1, 3 batches an epoch): training accuracy 0.353, 0.467, 0.500,
    0.357 in epochs 3-6 is two swings, not a flat line; the doctor before called it high bias at epoch 6."""
    conf = config(regularization__l1=0.005, dataset__name="mnist", dataset__train_size=300, training__batch_size=100,
                  optimizer__name="sgd", optimizer__learning_rate=0.1)
    measured = [(2.3656, 43.58, 0.1100, 0.1753), (2.1644, 42.63, 0.2433, 0.2485), (2.0094, 41.72, 0.3533, 0.3410),
                (1.8242, 40.83, 0.4667, 0.2173), (1.6841, 39.97, 0.5000, 0.3332), (1.8691, 39.13, 0.3567, 0.3898),
                (1.4668, 38.30, 0.6167, 0.3988), (1.5179, 37.50, 0.5167, 0.5737)]
    history = [{"loss": d + p, "data_loss": d, "penalty": p, "accuracy": a, "val_loss": d + p, "val_accuracy": v}
               for d, p, a, v in measured]
    for n in range(1, len(history) + 1):
        assert "high_bias" not in feed(doctor_for(conf, MNIST_300), history[:n]), n


def test_the_swings_of_an_epoch_of_three_batches_are_pooled_before_they_count():
    """mnist-overfit-300-l1 (SGD 0.1, 300 images in batches of 100): each epoch's loss is a mean of 3 batch losses
    and swings by 15-40 % while the run falls from 2.3 to 1.0; pooled into means of 12 batches it falls."""
    conf = config(regularization__l1=0.005, dataset__name="mnist", dataset__train_size=300, training__batch_size=100,
                  optimizer__name="sgd", optimizer__learning_rate=0.1)
    for n in range(1, len(L1_300) + 1):
        assert "lr_too_high" not in feed(doctor_for(conf, MNIST_300), penalty_rows(L1_300[:n])), n
    # the same epochs from a run of 41 batches an epoch are rises that count
    many = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 4100, 6000, 10000, (7000,) * 10)
    assert "lr_too_high" in feed(doctor_for(conf, many), penalty_rows(L1_300[:7]))


def test_a_penalty_is_not_said_to_stop_the_fit_while_the_data_loss_falls_faster_than_the_penalty():
    """A slow start under the L2 study preset's penalty (SGD 0.01): accuracy at guessing for three epochs and the
    data loss falling ~1.3 % an epoch, under the 2 % of a fit starting, while the penalty falls 0.6 %: the
    optimizer is fitting the data, slowly, not shrinking the weights instead."""
    conf = config(regularization__l2=0.05, dataset__name="mnist", dataset__train_size=300, training__batch_size=100,
                  optimizer__name="sgd", optimizer__learning_rate=0.01)
    slow = [(2.45, 59.60, 0.100), (2.42, 59.25, 0.100), (2.388, 58.90, 0.103), (2.357, 58.55, 0.107)]
    for n in range(1, len(slow) + 1):
        ids = feed(doctor_for(conf, MNIST_300), penalty_rows(slow[:n]))
        assert "regularization_dominates" not in ids and "underfitting" not in ids, (n, ids)
    # the same accuracy while the penalty is what falls (scenarios/regularization-dominates) is reported
    crushing = [(2.3588, 82.29, 0.1033), (2.3265, 73.39, 0.1067)]
    assert feed(doctor_for(conf, MNIST_300), penalty_rows(crushing))[0] == "regularization_dominates"


def test_a_validation_accuracy_that_holds_within_its_noise_while_val_loss_rises_is_overconfidence():
    """MNIST's 6,000 validation images: accuracy 0.962 at val_loss's best, then 0.961, 0.9605, 0.9615 (a tenth of a
    point, 6 images, under two standard errors of 0.25 points) while val_loss climbs 20 %: not worse on unseen
    data, so not overfitting (the doctor before called it overfitting from one epoch's dip)."""
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 10000, 6000, 10000, (7000,) * 10)
    history = rows(loss=[0.45, 0.15, 0.09, 0.05, 0.03, 0.01, 0.005, 0.003],
                   val_loss=[0.27, 0.20, 0.19, 0.17, 0.15, 0.165, 0.172, 0.181],
                   acc=[0.86, 0.95, 0.97, 0.98, 0.99, 0.997, 0.999, 1.0],
                   val_acc=[0.918, 0.941, 0.943, 0.95, 0.962, 0.961, 0.9605, 0.9615])
    ids = feed(doctor_for(config(dataset__name="mnist"), mnist), history)
    assert "overconfidence" in ids and "overfitting" not in ids, ids


# -- a rise or a fall is evidence only beyond the loss's own noise -------------------------------------------------

def converged_run(epochs=100):
    """The default digits set-up left at Adam for 100 epochs without early stopping (as a new user ran it): the
    training loss falls to ~0.015 in 20 epochs, then wobbles 0.014 ↔ 0.015 at 0.997-0.998 training accuracy (a 7 %
    rise of a thousandth, carried by the 2-4 training images still wrong)."""
    fall = [1.6 * 0.79 ** i for i in range(20)]  # 1.6 → 0.018
    out = []
    for i in range(epochs):
        wobble = (0.014, 0.015, 0.0145, 0.015, 0.014, 0.0148)[i % 6]
        loss = fall[i] if i < len(fall) else wobble
        acc = min(0.998, 0.55 + 0.03 * i) if i < len(fall) else (0.998 if loss < 0.0145 else 0.997)
        out.append({"loss": loss, "accuracy": acc})
    return out


def test_a_converged_loss_wobbling_by_a_thousandth_for_100_epochs_raises_nothing():
    conf = config(training__epochs=100)
    history = converged_run()
    doctor = doctor_for(conf)
    for n in range(1, len(history) + 1):  # at no epoch
        doctor.observe(EpochEnd(n, 100, history[n - 1], 0.001, 1.0, 100.0))
        assert doctor.findings == [], (n, [f.id for f in doctor.findings])
    # with the validation series of such a run the one thing true of it is that it stopped improving (plateau,
    # info: stop early), not that its learning rate is too high, nor that it overfits
    with_val = [{**h, "val_loss": 0.06 + 0.004 * ((i * 5) % 3), "val_accuracy": 0.98 - 0.006 * ((i * 7) % 2)}
                if i >= 20 else
                {**h, "val_loss": max(0.062, 1.5 * 0.82 ** i), "val_accuracy": min(0.98, 0.55 + 0.03 * i)}
                for i, h in enumerate(history)]
    assert set(feed(doctor_for(conf), with_val)) <= {"plateau"}


def test_a_rise_of_the_same_share_at_a_loss_that_is_not_converged_still_counts():
    """The noise is the loss's own, not a fixed share: a training loss swinging 0.30 ↔ 0.45 at 0.90 training
    accuracy (130 of 1,293 images wrong: rises of 50 % against a noise of 2/√130 = 18 %) is a learning rate too
    high, and the fix divides it."""
    swings = [1.5, 0.6, 0.35, 0.30, 0.45, 0.32, 0.47, 0.31, 0.44]
    accs = [0.6, 0.82, 0.89, 0.90, 0.85, 0.90, 0.84, 0.90, 0.86]
    doctor = doctor_for(config(optimizer__learning_rate=0.03, training__epochs=9))
    ids = feed(doctor, [{"loss": v, "accuracy": a} for v, a in zip(swings, accs)])
    assert ids[0] == "lr_too_high", ids
    assert {"optimizer.learning_rate": 0.01} in changes(found(doctor, "lr_too_high"))
    # the same shape near zero (0.014 ↔ 0.021, 2-3 images wrong) is within the noise of a converged run
    tiny = [v / 21 for v in swings]
    ids = feed(doctor_for(config(training__epochs=9)),
               [{"loss": v, "accuracy": 0.998 if i > 2 else a} for i, (v, a) in enumerate(zip(tiny, accs))])
    assert "lr_too_high" not in ids, ids


# -- causes ranked by evidence: what developed during training comes after what caused it --------------------------

ALL_SEVENS = {"accuracy": 0.1, "confusion_matrix": [[0] * 7 + [18] + [0] * 2 for _ in range(10)]}


def collapse(first_ratio):
    """A tanh MLP whose gradient ratio is `first_ratio` after its first batch and 1e-4 from epoch 2, the loss flat
    near guessing, every test prediction one class (scenarios/one-class)."""
    doctor = doctor_for(config(model__activation="tanh", optimizer__name="sgd", optimizer__learning_rate=1.5,
                               training__epochs=3))
    layers = ("dense", "dense_1", "classes")
    doctor.observe(GradientNorms(1, 1, layers, (0.3 * first_ratio, 0.2, 0.3)))
    doctor.observe(EpochEnd(1, 3, {"loss": 2.9, "accuracy": 0.11, "val_loss": 2.6, "val_accuracy": 0.1},
                            1.5, 1.0, 100.0))
    for epoch, loss in ((2, 2.31), (3, 2.305)):
        doctor.observe(GradientNorms(epoch, 1, layers, (3e-5, 1e-4, 0.3)))
        doctor.observe(EpochEnd(epoch, 3, {"loss": loss, "accuracy": 0.1, "val_loss": 2.31, "val_accuracy": 0.1},
                                1.5, 1.0, 100.0))
    doctor.observe_test(ALL_SEVENS)
    return doctor


def test_gradients_that_vanished_during_a_collapse_to_one_class_are_ranked_after_the_collapse():
    doctor = collapse(first_ratio=1.0)  # healthy after the first batch: the large steps saturated the units
    assert [f.id for f in doctor.findings][:2] == ["one_class", "vanishing_gradients"]
    assert found(doctor, "vanishing_gradients").because_of == "one_class"
    assert "vanished during training" in found(doctor, "vanishing_gradients").evidence
    assert {"optimizer.learning_rate": 0.15} in changes(doctor.findings[0])  # the cure for the collapse, first
    # the loss rising as the collapsed network grows surer of its one answer is named after the collapse too
    for epoch, loss in ((4, 9.0), (5, 4.0), (6, 12.0)):
        doctor.observe(EpochEnd(epoch, 6, {"loss": loss, "accuracy": 0.1, "val_loss": loss, "val_accuracy": 0.1},
                                1.5, 1.0, 100.0))
    assert doctor.findings[0].id == "one_class" and found(doctor, "lr_too_high").because_of == "one_class"
    # gradients that vanished from the first batch (sigmoid, tiny init) are the cause of the one answer instead
    doctor = collapse(first_ratio=1e-4)
    assert doctor.findings[0].id == "vanishing_gradients"
    assert found(doctor, "one_class").because_of == "vanishing_gradients"


def test_a_measured_run_at_a_rate_too_high_is_still_caught():
    """scenarios/lr-too-high as first frozen (seed 42: digits MLP, Adam 0.03, 600 images in batches of 32, 12 epochs):
    the training loss 0.094 → 0.187 at 0.97 accuracy and 0.041 → 0.061 at 0.98 (10 wrong: √(0.98/10) = 31 %), both
    beyond the noise of the images still wrong."""
    history = [(1.2251, 0.59), (0.3104, 0.9017), (0.2427, 0.9133), (0.1004, 0.9667), (0.1080, 0.97), (0.1065, 0.9583),
               (0.0939, 0.97), (0.1868, 0.9433), (0.0704, 0.9783), (0.0409, 0.9833), (0.0613, 0.9783),
               (0.0729, 0.975)]
    six_hundred = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 600, 162, 180, (178,) * 10)
    conf = config(optimizer__learning_rate=0.03, dataset__train_size=600, training__epochs=12)
    ids = feed(doctor_for(conf, six_hundred), [{"loss": v, "accuracy": a} for v, a in history])
    assert ids == ["lr_too_high"], ids
