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
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    DoctorState, Finding, Fix, _finite, _series, accuracy_key, epoch_rule, fit_line, floor_share,
    guessing_margin,
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


def _data_losses(history: Sequence[Mapping[str, float]]) -> list[float]:
    out = []
    for h in history:
        v = h.get("data_loss")
        if not _finite(v) and _finite(h.get("loss")) and _finite(h.get("penalty")):
            v = h["loss"] - h["penalty"]
        if _finite(v):
            out.append(float(v))
    return out


def _stalled(history: Sequence[Mapping[str, float]], t: Any, acc: Sequence[float], guess: float | None) -> bool:
    """The fit stopped: the best data loss of the last epochs is no better than the best before them, or the
    training accuracy sits at guessing (`guess`) gaining under `bias_flat` a epoch (the penalty shrinks the weights
    while the data loss creeps down)."""
    data = _data_losses(history)
    if len(data) < 2:
        return False
    k = min(t.bias_epochs, len(data) - 1)
    if min(data[-k:]) > (1 - t.flat_loss) * min(data[:-k]):
        return True
    j = min(k, len(acc) - 1)  # "no new best": under `bias_flat` a epoch (one image of 300 is 0.33 points)
    return (guess is not None and j >= 1 and acc[-1] <= guess
            and max(acc[-j:]) - max(acc[:-j]) < t.bias_flat * j
            # ...while the data loss falls slower than `still_falling` a epoch (a fast fall is a fit starting)
            and min(data[-k:]) > (1 - t.still_falling * k) * min(data[:-k]))


def _shrinking(history: Sequence[Mapping[str, float]], t: Any) -> bool:
    """The optimizer's effort goes into the penalty: over the window `_stalled` judges, the penalty fell by at
    least as large a share as the data loss. When the data loss falls faster (SGD at a small learning rate
    under a penalty it is meant to carry: both slow), the fit is progressing and the penalty is not what stops
    it."""
    rows = [h for h in history if _finite(h.get("loss")) and _finite(h.get("penalty"))]
    data = _data_losses(rows)
    if len(rows) < 2 or len(data) != len(rows):
        return True  # nothing to compare: judged on the stall alone
    k = min(t.bias_epochs, len(rows) - 1)
    p0, p1, d0, d1 = rows[-k - 1]["penalty"], rows[-1]["penalty"], data[-k - 1], data[-1]
    if p0 <= 0 or d0 <= 0:
        return True
    return bool((p0 - p1) / p0 >= (d0 - d1) / d0)


@epoch_rule
def _regularization(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    acc = _series(history, accuracy_key(history)) or []
    floor = floor_share(doctor)
    line = fit_line(floor, t) if floor else None
    guess = floor + guessing_margin(floor, t) if floor else None
    if not _stalled(history, t, acc, guess) or not _shrinking(history, t):
        return None
    for i, h in enumerate(history):
        loss, penalty = h.get("loss"), h.get("penalty")
        if not (_finite(loss) and _finite(penalty) and loss > 0 and penalty > t.penalty_share * loss):
            continue
        # ...and it keeps the network from fitting: judged on the latest epoch, so a run that fits later is cleared
        if acc and line is not None:
            if acc[-1] >= line:
                return None
            fit = f"training accuracy {acc[-1]:.3f}, under the {line:.2f} of a network that fits"
        else:
            data = h.get("data_loss", loss - penalty)
            if doctor.classes is None or data < 0.5 * math.log(doctor.classes):
                return None
            fit = f"data loss {data:.3f}, over half the {math.log(doctor.classes):.3f} of guessing"
        data_now = _data_losses(history)
        k = min(t.bias_epochs, len(data_now) - 1)
        fit += (f"; the fit stopped: best data loss {min(data_now[-k:]):.3f} over the last {k} epoch"
                f"{'s' if k > 1 else ''} against {min(data_now[:-k]):.3f} before")
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
    return None
