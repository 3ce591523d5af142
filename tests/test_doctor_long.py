"""The doctor on a run left going overnight: 10,000 epochs get the findings that the first 200 got, and the doctor's
memory and its work per epoch stay what they were after a few hundred epochs (it kept every epoch's logs as a dict
and walked them all after each epoch: ~0.4 KB and a little more time with every epoch, 43 ms an epoch by epoch
1,500). Synthetic epochs, the doctor's own hooks; what is counted is calls and retained allocations, not time."""

import functools
import sys
import tracemalloc

from tui.core import config as cfg
from tui.core.datasets import DatasetInfo
from tui.core.diagnostics import Doctor
from tui.core.events import EpochEnd, RunStarted

DIGITS = DatasetInfo("digits", (8, 8, 1), 10, tuple("0123456789"), 1293, 162, 180, (178,) * 10)
LONG = 10_000


def memorising(i: int) -> dict[str, float]:
    """Epoch i of a network that learns its training set by heart: the training loss keeps falling, the validation
    loss is best at epoch 20 and rises after it, validation accuracy drops back to 0.70."""
    return {"loss": 0.5 / i + 0.01, "accuracy": min(0.995, 0.5 + 0.05 * i),
            "val_loss": 1.0 - 0.02 * i if i <= 20 else 0.6 + 0.02 * (i - 20),
            "val_accuracy": 0.5 + 0.015 * i if i <= 20 else 0.70}


def started_doctor(epochs: int) -> Doctor:
    conf = cfg.ExperimentConfig().with_values({"training.epochs": epochs})
    doctor = Doctor(conf)
    doctor.observe(RunStarted("run", conf, DIGITS, None, epochs, 41, 32))
    return doctor


def verdicts(doctor: Doctor) -> list[tuple[str, int, str]]:
    return [(f.id, f.epoch, f.title) for f in doctor.findings]


def calls_during(doctor: Doctor, events: list[EpochEnd]) -> int:
    """Python and C calls the doctor makes while it takes `events` (a measure of its work that does not depend
    on the machine's speed or load)."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        count += 1

    sys.setprofile(profile)
    try:
        for e in events:
            doctor.observe(e)
    finally:
        sys.setprofile(None)
    return count


@functools.cache
def long_run() -> dict:
    """One 10,000-epoch run through the doctor: its findings, the calls it made for 20 epochs early and 20 at the
    end, and what it allocated and still held between epoch 2,000 and the end (traced from epoch 1,000)."""
    doctor = started_doctor(LONG)
    events = [EpochEnd(i, LONG, memorising(i), 0.001, 1.0, 100.0) for i in range(1, LONG + 1)]
    for e in events[:199]:
        doctor.observe(e)
    early = calls_during(doctor, events[199:219])
    for e in events[219:1000]:
        doctor.observe(e)
    tracemalloc.start()
    try:
        for e in events[1000:2000]:
            doctor.observe(e)
        before = tracemalloc.take_snapshot()
        for e in events[2000:LONG - 20]:
            doctor.observe(e)
        late = calls_during(doctor, events[LONG - 20:])
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename")
               if "diagnostics" in s.traceback[0].filename)
    return {"findings": verdicts(doctor), "early": early, "late": late, "held": held}


def test_ten_thousand_epochs_get_the_findings_the_first_two_hundred_got():
    short = started_doctor(LONG)
    for i in range(1, 201):
        short.observe(EpochEnd(i, LONG, memorising(i), 0.001, 1.0, 100.0))
    assert [f[0] for f in verdicts(short)] == ["overfitting"]
    assert long_run()["findings"] == verdicts(short)  # same finding, dated from the same epoch


def test_the_doctors_work_per_epoch_does_not_grow_with_the_epochs_behind_it():
    run = long_run()
    # the old doctor re-read every epoch so far after each one: ~50x the calls at epoch 10,000 as at epoch 200
    assert run["late"] <= 1.1 * run["early"], run


def test_the_doctor_holds_no_more_memory_after_ten_thousand_epochs_than_after_two_thousand():
    held = long_run()["held"]
    # the old doctor kept each epoch's logs: ~3 MB more over these 8,000 epochs
    assert held < 32 * 1024, f"the doctor kept {held / 1024:.0f} KB more over 8,000 epochs"


def test_a_run_at_guessing_for_a_thousand_epochs_is_dated_from_its_start_with_a_readable_evidence():
    doctor = started_doctor(1000)
    for i in range(1, 1001):
        doctor.observe(EpochEnd(i, 1000, {"loss": 2.302, "accuracy": 0.1, "val_loss": 2.302,
                                          "val_accuracy": 0.1}, 0.001, 1.0, 100.0))
    f = next(f for f in doctor.findings if f.id == "underfitting")
    assert f.epoch == 1  # at guessing from the first epoch (said after the third), and kept
    assert "in epochs 1–1000" in f.evidence
    assert f.evidence.count("0.100") <= 12  # the first and the last few accuracies, not a thousand of them
