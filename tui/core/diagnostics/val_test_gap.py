"""val_test_gap: the validation accuracy does not predict the test accuracy."""

from __future__ import annotations

from tui.core.diagnostics.common import DoctorState, Finding, Fix


def val_test_gap(doctor: DoctorState, acc: float, val_accuracy: float) -> Finding | None:
    t = doctor.thresholds
    if not val_accuracy - acc > t.val_test_gap:
        return None
    n_val = getattr(doctor.dataset, "val", None)
    n_test = getattr(doctor.dataset, "test", None)
    sizes = f" ({n_val} validation vs {n_test} test samples)" if n_val and n_test else ""
    return Finding(
        id="val_test_gap", severity="warning", epoch=len(doctor.history) or 1,
        title="Validation accuracy does not predict test accuracy",
        evidence=(f"validation accuracy {val_accuracy:.3f} vs test accuracy {acc:.3f}{sizes}: "
                  f"{(val_accuracy - acc) * 100:.1f} points apart, over "
                  f"{t.val_test_gap * 100:.0f}"),
        explanation=("The validation set should be a fair sample of the data the model will meet. Here it "
                     "is not: it may be too small (a few dozen images make accuracy jump by whole points), "
                     "it may share images with the training set (leaked), or it comes from a different "
                     "distribution than the test set. Check its size, that no image is in both, and how "
                     "each split was collected."),
        fixes=(Fix("hold out a larger validation set (20%)", {"dataset.val_fraction": 0.2}),
               Fix("check the split for duplicates and for a different source")))
