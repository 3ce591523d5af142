"""A long run's records stay compact and read the same: the session's epoch history (and fit's History, read from
it), the charts' curves and the doctor's batch losses, fed 10,000 synthetic epochs through the hooks training
calls."""

import math
import random

from tui.core.diagnostics import Doctor
from tui.core.epochs import EpochHistory
from tui.core.events import BatchEnd
from tui.core.records import build_summary
from tui.core.series import BoundedSeries


def row(e: int, n: int = 10_000) -> dict:
    return {"epoch": e, "loss": 1 / e, "accuracy": 1 - 1 / (e + 1), "val_loss": 1.2 / e + (0.3 if e > n // 2 else 0),
            "val_accuracy": 0.9 - (0.05 if e > n // 2 else 0), "lr": 1e-3, "epoch_seconds": 0.25}


def test_an_epoch_history_reads_like_the_list_of_dicts_it_replaces():
    rows = [row(e) for e in range(1, 6)] + [{**row(6), "samples_per_second": 1234.5, "partial": True}]
    h = EpochHistory(rows)
    assert len(h) == 6 and h == rows and rows == list(h)
    assert h[-1]["partial"] is True and h[0].get("partial") is None and "partial" not in h[0]
    assert type(h[2]["epoch"]) is int and h[2]["epoch"] == 3 and h[2]["loss"] == 1 / 3
    assert list(h[-1]) == [*row(6), "samples_per_second", "partial"]  # the keys in the order appended
    assert [r["epoch"] for r in h[-3:]] == [4, 5, 6] and dict(h[1]) == rows[1]
    assert h.column("loss") == [r["loss"] for r in rows]
    assert h.column("partial") is None  # not every epoch has it: a rule reading the series sees it missing
    assert h.rows() == rows and EpochHistory(h) == h
    summary = build_summary(status="stopped", error=None, history=h, test=None, wall_seconds=1.0, params=None,
                            dataset=None, versions={}, device="cpu")
    assert summary["best"]["epoch"] == 6 and summary["epochs_run"] == 6 and summary["final"]["loss"] == 1 / 6


def test_the_event_callback_keeps_ten_thousand_epochs_with_their_types_for_the_summary():
    from tests.test_keras_callbacks import event_callback

    cb, *_ = event_callback(lambda e: None, previous=[row(1)])
    cb.on_train_begin()
    for epoch in range(1, 10_000):
        cb.on_epoch_begin(epoch)
        cb.on_train_batch_end(3, {"loss": 1.0})
        cb.on_epoch_end(epoch, {k: v for k, v in row(epoch + 1).items() if k not in ("epoch", "lr", "epoch_seconds")})
    h = cb.history
    assert len(h) == 10_000 and [r["epoch"] for r in h[:3]] == [1, 2, 3] and h[-1]["epoch"] == 10_000
    assert h[-1]["val_loss"] == row(10_000)["val_loss"] and h[-1]["lr"] == 0.01 and h[-1]["samples_per_second"] > 0
    summary = build_summary(status="finished", error=None, history=h, test=None, wall_seconds=1.0, params=None,
                            dataset=None, versions={}, device="cpu")
    assert summary["best"]["epoch"] == 5_000 and summary["final"]["loss"] == 1 / 10_000


def test_divergence_after_ten_thousand_batches_is_judged_against_the_lowest_and_the_first_loss():
    doctor = Doctor()
    losses = [2.0, 1.0, 0.05] + [0.1 + 0.01 * math.sin(i) for i in range(10_000)]
    for i, loss in enumerate(losses, 1):
        assert not doctor.observe(BatchEnd(1 + i // 100, i % 100 + 1, 100, loss, None, loss, 1.0, 0.1))
    assert doctor.observe(BatchEnd(101, 1, 100, 9.0, None, 9.0, 1.0, 0.1))  # 180× the lowest, above the first
    evidence = doctor.diverged.evidence
    assert "its lowest value so far (0.05)" in evidence and "above where it started (2)" in evidence


def test_a_curve_fed_ten_thousand_epochs_holds_real_points_across_the_whole_run():
    rng = random.Random(1)
    ys = [1 / e + rng.gauss(0, 0.01) for e in range(1, 10_001)]
    ys[7_777] = 3.0
    curve = BoundedSeries(64)
    for e, y in enumerate(ys, 1):
        curve.append(e, y)
    xs, vs = curve.points()
    assert len(xs) <= 64 and xs[0] == 1 and xs[-1] == 10_000  # epoch 1..10000, downsampled
    assert all(ys[int(x) - 1] == v for x, v in zip(xs, vs))  # every point a real one, none averaged
    assert max(vs) == 3.0 and min(vs) == min(ys) and vs[-1] == ys[-1]
    assert xs == sorted(xs)


def test_fits_history_is_read_from_the_event_callbacks_record_instead_of_kept_again():
    from tests.test_keras_callbacks import event_callback
    from tui.core.keras.progress import RecordHistory

    cb, *_ = event_callback(lambda e: None)
    history = RecordHistory(cb)
    history.set_model(cb.model)
    cb.on_train_begin()
    history.on_train_begin()
    for epoch in range(3):
        cb.on_epoch_begin(epoch)
        cb.on_train_batch_end(3, {"loss": 1.0})
        logs = {"loss": 1.0 / (epoch + 1), "val_loss": 2.0}
        cb.on_epoch_end(epoch, logs)
        history.on_epoch_end(epoch, logs)
    assert cb.model.history is history and history.epoch == [0, 1, 2]  # Keras counts epochs from 0
    assert history.history["loss"] == [1.0, 0.5, 1 / 3] and history.history["val_loss"] == [2.0] * 3
    assert history.history["lr"] == [0.01] * 3 and "epoch" not in history.history
