"""regularization_dominates: the weight penalty, not the data, makes up the loss."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from tui.core.diagnostics.common import DoctorState, Finding, Fix, _finite, epoch_rule

def _split_loss(h: Mapping[str, float]) -> str:
    loss, penalty = h.get("loss", math.nan), h.get("penalty", math.nan)
    return (f"loss {loss:.4f} = data loss {loss - penalty:.4f} + penalty {penalty:.4f} "
            f"({penalty / loss * 100 if loss else math.nan:.0f}%)")



@epoch_rule
def _regularization(doctor: DoctorState, history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    for i, h in enumerate(history):
        loss, penalty = h.get("loss"), h.get("penalty")
        if _finite(loss) and _finite(penalty) and loss > 0 and penalty > t.penalty_share * loss:
            last = history[-1]
            epoch = i + 1
            fixes = []
            config = doctor.config
            if config is not None:
                r = config.regularization
                change = {k: v / 10 for k, v in (("regularization.l1", r.l1), ("regularization.l2", r.l2)) if v}
                if change:
                    fixes.append(Fix("weaken the weight penalty ÷ 10", change))
                fixes.append(Fix("remove the weight penalty, use dropout instead",
                                 {"regularization.l1": 0.0, "regularization.l2": 0.0, "model.dropout": 0.3}))
            return Finding(
                id="regularization_dominates", severity="warning", epoch=epoch,
                title=f"The weight penalty dominates the loss from epoch {epoch}",
                evidence=(f"epoch {epoch}: {_split_loss(h)}; epoch {last.get('epoch', len(history)):.0f}: "
                          f"{_split_loss(last)}"),
                explanation=("The loss you see is mostly the L1/L2 penalty on the weights, not the error on the "
                             "data: the optimizer spends its effort shrinking weights instead of fitting the "
                             "images. A loss of 4 at 50% accuracy is this, not a broken network."),
                fixes=tuple(fixes) or (Fix("weaken the weight penalty"),))
    return None
