"""regularization_dominates: the penalties (kernel and activity) make up most of the loss AND keep the network
from fitting the training data. A penalty above the data loss once the training set is fit is normal (that is
what a penalty preset shows), so it alone says nothing."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    DoctorState, Finding, Fix, _finite, _series, accuracy_key, epoch_rule, fit_line, floor_share,
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


@epoch_rule
def _regularization(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    acc = _series(history, accuracy_key(history))
    floor = floor_share(doctor)
    line = fit_line(floor, t) if floor else None
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
