"""divergence: the loss runs away or overflows; the session stops the run on it."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    BATCH_NORM_FIX, CLIP_FIX, RESCALE_FIX, Finding, Fix, _chance_loss, _data_loss, _finite, _lower_lr, _lr,
    DoctorState,
)

def _divergence_fixes(config: Any) -> tuple[Fix, ...]:
    fixes = [_lower_lr(config)]
    if config is not None and not config.dataset.rescale:
        fixes.insert(0, RESCALE_FIX)
    if config is None or not config.optimizer.clipnorm:
        fixes.append(CLIP_FIX)
    if config is None or not config.model.batch_norm:
        fixes.append(BATCH_NORM_FIX)
    return tuple(fixes)


def _divergence(doctor: DoctorState, epoch: int, where: str, loss: float | None,
                history: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    ref = _chance_loss(doctor.classes)
    if loss is None:
        return None
    if not math.isfinite(loss):
        evidence = f"loss became {loss} in {where}"
    elif ref and loss > t.blowup_factor * ref:
        evidence = (f"loss {loss:.4g} in {where}: over {t.blowup_factor:g}× the {ref:.3f} of guessing among "
                    f"{doctor.classes} classes")
    else:
        lows = [v for v in (_data_loss(h) for h in history) if _finite(v)]
        low = min(lows) if lows else None
        if not (low and loss > t.growth_factor * low and (ref is None or loss > ref)):
            return None
        evidence = f"loss {loss:.4g} in {where}: {loss / low:.0f}× its lowest value so far ({low:.4g})"
    config = doctor.config
    causes = ["the learning rate is too high" + (f" ({_lr(config):g})" if config is not None else "")]
    if config is not None and not config.dataset.rescale:
        causes.insert(0, "the input is unscaled 0–255 pixels")
    if config is None or not config.optimizer.clipnorm:
        causes.append("no gradient clipping")
    return Finding(
        id="divergence", severity="error", epoch=epoch, title=f"Training diverged in epoch {epoch}",
        evidence=f"{evidence}; training was stopped at once. Likely causes: {', '.join(causes)}",
        explanation=("Each step made the weights worse instead of better, so the loss ran away (or overflowed "
                     "to NaN). The steps are too big for this network: a high learning rate, inputs in the "
                     "hundreds instead of 0–1, or one huge gradient with nothing to clip it."),
        fixes=_divergence_fixes(config))
