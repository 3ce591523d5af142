"""regularization_dominates: the penalties (kernel and activity) make up most of the loss AND keep the network
from fitting the training data. A penalty above the data loss once the training set is fit is normal (that is
what a penalty preset shows), so it alone says nothing; nor does a low accuracy while the data loss still falls
(a penalty preset early in its long budget: slow, not stopped). The rule needs the data loss to have stalled:
the best of the last `bias_epochs` epochs no better, by `flat_loss`, than the best before them (a minimum over a
window, so one noisy epoch neither raises nor hides it), or the training accuracy to sit at guessing with no
new best. One epoch shows no trend, so the earliest is epoch 2. And the penalty must be what the optimizer
shrinks: over the same window it fell by at least as large a share as the data loss (a slow run under the
penalty it is meant to carry, whose data loss falls faster than its penalty, is fitting, not held back)."""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Mapping

from tui.core.diagnostics.common import (
    DoctorState, EpochLog, Extremes, Finding, Fix, Thresholds, _finite, accuracy_key, epoch_rule, fit_line,
    floor_share, guessing_margin,
)
from tui.core.diagnostics.underfitting import weaken_regularization


def _split_loss(h: Mapping[str, float]) -> str:
    loss, penalty = h.get("loss", math.nan), h.get("penalty", math.nan)
    return (f"loss {loss:.4f} = data loss {loss - penalty:.4f} + penalty {penalty:.4f} "
            f"({penalty / loss * 100 if loss else math.nan:.0f}%)")


def _remove_penalties(config: Any) -> Fix | None:
    r = config.regularization
    change: dict[str, Any] = {f"regularization.{k}": 0.0 for k in ("l1", "l2", "activity_l1", "activity_l2")
                              if getattr(r, k)}
    if not change:
        return None
    if config.model.dropout < 0.3:
        change["model.dropout"] = 0.3
        return Fix("remove the penalties, use dropout 0.3 instead", change)
    return Fix("remove the penalties (dropout stays)", change)


def _row_data(h: Mapping[str, float]) -> float | None:
    """An epoch's data loss: ``data_loss``, else the loss less the penalty; None when neither is finite."""
    v = h.get("data_loss")
    if not _finite(v) and _finite(h.get("loss")) and _finite(h.get("penalty")):
        v = h["loss"] - h["penalty"]
    return float(v) if _finite(v) else None


@epoch_rule
class _Regularization:
    """Kept an epoch at a time: the data loss's lowest values (the last `bias_epochs` and the lowest before them),
    the training accuracy's highest the same way, the last epochs that logged a penalty, and the first epoch whose
    penalty was most of its loss."""

    def __init__(self, t: Thresholds) -> None:
        self.t = t
        self.data = Extremes(t.bias_epochs)
        self.acc = {key: Extremes(t.bias_epochs, highest=True) for key in ("accuracy", "class_accuracy")}
        self.penalised: deque[tuple[float, float]] = deque(maxlen=t.bias_epochs + 1)  # (penalty, data loss)
        self.penalised_n = 0
        self.dominant: tuple[int, Mapping[str, float]] | None = None

    def _add(self, history: EpochLog) -> None:
        h, t = history[-1], self.t
        data = _row_data(h)
        if data is not None:
            self.data.push(data)
        for key, seen in self.acc.items():
            if history.has(key):
                seen.push(float(h[key]))
        loss, penalty = h.get("loss"), h.get("penalty")
        if _finite(loss) and _finite(penalty):
            self.penalised.append((float(penalty), float(data)))  # type: ignore[arg-type]
            self.penalised_n += 1
            if self.dominant is None and loss > 0 and penalty > t.penalty_share * loss:
                self.dominant = (len(history) - 1, h)

    def _window(self) -> int:
        """k: the epochs "the last epochs" of the stall are (fewer while the run is short)."""
        return min(self.t.bias_epochs, self.data.count - 1)

    def _stalled(self, acc: Extremes | None, acc_last: float | None, guess: float | None) -> bool:
        """The fit stopped: the best data loss of the last epochs is no better than the best before them, or the
        training accuracy sits at guessing (`guess`) gaining under `bias_flat` a epoch (the penalty shrinks the
        weights while the data loss creeps down)."""
        t, data = self.t, self.data
        if data.count < 2:
            return False
        k = self._window()
        if data.last(k) > (1 - t.flat_loss) * data.before(k):
            return True
        j = min(k, (acc.count if acc is not None else 0) - 1)  # "no new best": under `bias_flat` a epoch (one image
        # of 300 is 0.33 points)
        return (guess is not None and j >= 1 and acc_last <= guess  # type: ignore[operator]
                and acc.last(j) - acc.before(j) < t.bias_flat * j  # type: ignore[union-attr]
                # ...while the data loss falls slower than `still_falling` a epoch (a fast fall is a fit starting)
                and data.last(k) > (1 - t.still_falling * k) * data.before(k))

    def _shrinking(self) -> bool:
        """The optimizer's effort goes into the penalty: over the window `_stalled` judges, the penalty fell by at
        least as large a share as the data loss. When the data loss falls faster (SGD at a small learning rate
        under a penalty it is meant to carry: both slow), the fit is progressing and the penalty is not what stops
        it."""
        if self.penalised_n < 2:
            return True  # nothing to compare: judged on the stall alone
        k = min(self.t.bias_epochs, self.penalised_n - 1)
        (p0, d0), (p1, d1) = self.penalised[-k - 1], self.penalised[-1]
        if p0 <= 0 or d0 <= 0:
            return True
        return bool((p0 - p1) / p0 >= (d0 - d1) / d0)

    def __call__(self, doctor: DoctorState, history: EpochLog) -> Finding | None:
        self._add(history)
        t = doctor.thresholds
        key = accuracy_key(history)
        has_acc = history.has(key)
        acc = self.acc.get(key) if has_acc else None
        acc_last = float(history[-1][key]) if has_acc else None
        floor = floor_share(doctor)
        line = fit_line(floor, t) if floor else None
        guess = floor + guessing_margin(floor, t) if floor else None
        if not self._stalled(acc, acc_last, guess) or not self._shrinking() or self.dominant is None:
            return None
        i, h = self.dominant
        loss, penalty = h["loss"], h["penalty"]
        # ...and it keeps the network from fitting: judged on the latest epoch, so a run that fits later is cleared
        if has_acc and line is not None:
            if acc_last >= line:  # type: ignore[operator]
                return None
            fit = f"training accuracy {acc_last:.3f}, under the {line:.2f} of a network that fits"
        else:
            data = h.get("data_loss", loss - penalty)
            if doctor.classes is None or data < 0.5 * math.log(doctor.classes):
                return None
            fit = f"data loss {data:.3f}, over half the {math.log(doctor.classes):.3f} of guessing"
        k = self._window()
        fit += (f"; the fit stopped: best data loss {self.data.last(k):.3f} over the last {k} epoch"
                f"{'s' if k > 1 else ''} against {self.data.before(k):.3f} before")
        last = history[-1]
        epoch = i + 1
        fixes: list[Fix] = []
        config = doctor.config
        if config is not None:
            for fix in (weaken_regularization(config, 10), _remove_penalties(config)):
                if fix is not None:
                    fixes.append(fix)
        return Finding(
            id="regularization_dominates", severity="warning", epoch=epoch,
            title=f"The penalty dominates the loss and stops the network fitting (from epoch {epoch})",
            evidence=(f"epoch {epoch}: {_split_loss(h)}; "
                      + (f"epoch {last.get('epoch', len(history)):.0f}: {_split_loss(last)}; " if last is not h else "")
                      + fit),
            explanation=("The loss you see is mostly the penalty on the weights or activations, not the error on "
                         "the data, and the data is not being fit: the optimizer spends its effort shrinking "
                         "weights instead of fitting the images. A large loss here is the penalty, not a "
                         "diverging network."),
            fixes=tuple(fixes) or (Fix("weaken the penalty"),))
