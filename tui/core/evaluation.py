"""Test-set evaluation from predictions: confusion matrix, accuracy, balanced accuracy, per-class precision,
recall and F1; and the example images (confident mistakes, correct ones) kept beside a run.

Pure numpy, no UI and no TensorFlow: the session predicts, this module counts.

Conventions (those of scikit-learn): confusion[i][j] counts samples of true class i predicted as j; a class
never predicted has precision 0, a class absent from the test set has recall 0 and is left out of balanced
accuracy (the mean recall over the classes that occur).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tui.core.rundir import RunDir

EXAMPLES_FILE = RunDir(Path()).predictions_file.name
"""Deprecated: use RunDir(run_dir).predictions_file."""
"""Inside a run directory: a few test images with their true and predicted labels and confidences."""


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """num_classes x num_classes counts, rows = true class, columns = predicted class."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(num, den, out=np.zeros(len(num), dtype=np.float64), where=den > 0)
    return out


@dataclass(frozen=True)
class Evaluation:
    """Everything measured on the test split; `as_dict()` is the `test` block of summary.json."""

    class_names: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    accuracy: float
    balanced_accuracy: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    loss: float | None = None

    @property
    def total(self) -> int:
        return int(sum(self.support))

    @property
    def macro_f1(self) -> float:
        present = [f for f, s in zip(self.f1, self.support) if s]
        return float(np.mean(present)) if present else 0.0

    @property
    def worst_recall_class(self) -> int | None:
        """Index of the class the model misses most (lowest recall among classes in the test set)."""
        present = [i for i, s in enumerate(self.support) if s]
        return min(present, key=lambda i: (self.recall[i], i)) if present else None

    def as_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "macro_f1": self.macro_f1, "samples": self.total, "class_names": list(self.class_names),
                "confusion_matrix": [list(row) for row in self.confusion],
                "per_class": {"precision": list(self.precision), "recall": list(self.recall),
                              "f1": list(self.f1), "support": list(self.support)}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evaluation | None:
        """Back from a summary.json `test` block; None for an older summary without per-class numbers."""
        try:
            pc = d["per_class"]
            return cls(tuple(map(str, d["class_names"])), tuple(tuple(int(v) for v in row)
                                                               for row in d["confusion_matrix"]),
                       float(d["accuracy"]), float(d["balanced_accuracy"]), tuple(map(float, pc["precision"])),
                       tuple(map(float, pc["recall"])), tuple(map(float, pc["f1"])), tuple(map(int, pc["support"])),
                       None if d.get("loss") is None else float(d["loss"]))
        except (KeyError, TypeError, ValueError):
            return None


def evaluate(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
             class_names: Sequence[str], loss: float | None = None) -> Evaluation:
    """The test evaluation of predicted class indices `y_pred` against `y_true`."""
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(cm.sum())
    present = support > 0
    return Evaluation(
        class_names=tuple(map(str, class_names)), confusion=tuple(tuple(int(v) for v in row) for row in cm),
        accuracy=float(tp.sum() / total) if total else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        precision=tuple(map(float, precision)), recall=tuple(map(float, recall)), f1=tuple(map(float, f1)),
        support=tuple(int(s) for s in support), loss=loss)


# ---------------------------------------------------------------------------------------------------------------
# Example images


@dataclass(frozen=True)
class Examples:
    """A few test images (uint8 N x H x W x C) with true/predicted class, confidence and whether it is a mistake."""

    images: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    mistake: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y_true)


def pick_examples(probs: np.ndarray, y_true: np.ndarray, mistakes: int = 12, correct: int = 12,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `mistakes` most confident wrong predictions (most confident first) and of a seeded random
    sample of `correct` right ones."""
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")][:mistakes]
    right = np.flatnonzero(pred == y_true)
    right = np.sort(np.random.default_rng(seed).permutation(right)[:correct])
    return wrong, right


def examples_from(x: np.ndarray, probs: np.ndarray, y_true: np.ndarray, class_names: Sequence[str],
                  mistakes: int = 12, correct: int = 12, seed: int = 0) -> Examples:
    wrong, right = pick_examples(probs, y_true, mistakes, correct, seed)
    idx = np.concatenate([wrong, right]).astype(np.int64)
    return Examples(np.asarray(x[idx], dtype=np.uint8), y_true[idx].astype(np.int64),
                    probs[idx].argmax(axis=1).astype(np.int64), probs[idx].max(axis=1).astype(np.float32),
                    np.arange(len(idx)) < len(wrong), tuple(map(str, class_names)))


def save_examples(path: Path, ex: Examples) -> Path:
    """Write `ex` as an .npz (plain arrays only: loading it never needs pickle)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, images=ex.images, y_true=ex.y_true, y_pred=ex.y_pred, confidence=ex.confidence,
                        mistake=ex.mistake, class_names=np.array(ex.class_names, dtype=np.str_))
    tmp.replace(path)
    return path


def load_examples(path: Path) -> Examples | None:
    """The examples saved in `path`, or None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return Examples(z["images"].astype(np.uint8), z["y_true"], z["y_pred"], z["confidence"], z["mistake"],
                            tuple(str(s) for s in z["class_names"]))
    except (OSError, KeyError, ValueError):
        return None


def markdown_lines(ev: Evaluation) -> list[str]:
    """The evaluation as Markdown: headline numbers, the per-class table and the confusion matrix."""
    worst = ev.worst_recall_class
    lines = ["## Test evaluation", "",
             f"- Accuracy {ev.accuracy:.4f}, balanced accuracy {ev.balanced_accuracy:.4f}, macro F1 "
             f"{ev.macro_f1:.4f} on {ev.total:,} test samples"]
    if worst is not None and ev.recall[worst] < 1.0:
        lines.append(f"- Lowest recall: **{ev.class_names[worst]}** ({ev.recall[worst]:.3f})")
    lines += ["", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for i, name in enumerate(ev.class_names):
        mark = " ◀" if i == worst and ev.recall[i] < 1.0 else ""
        lines.append(f"| {name}{mark} | {ev.precision[i]:.3f} | {ev.recall[i]:.3f} | {ev.f1[i]:.3f} | "
                     f"{ev.support[i]} |")
    lines += ["", "Confusion matrix (rows: true class, columns: predicted):", "",
              "| true \\ pred | " + " | ".join(ev.class_names) + " |", "| --- " * (len(ev.class_names) + 1) + "|"]
    for name, row in zip(ev.class_names, ev.confusion):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return lines + [""]
