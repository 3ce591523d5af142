"""divergence: the loss runs away or overflows; the session stops the run on it. Judged on growth, never on size:
a loss that is large from the first batch (a weight penalty, raw pixels) and falls is not diverging."""

from __future__ import annotations

import math
from typing import Any, Sequence

from tui.core.diagnostics.common import (
    BATCH_NORM_FIX, CLIP_FIX, RESCALE_FIX, DoctorState, Finding, Fix, _finite, _lower_lr, _lr,
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
                earlier: Sequence[float]) -> Finding | None:
    """``loss`` (a data loss where the run logs one) against the ``earlier`` values of the same series."""
    t = doctor.thresholds
    if loss is None:
        return None
    if not math.isfinite(loss):
        evidence = f"loss became {loss} in {where}"
    else:
        lows = [v for v in earlier if _finite(v)]
        if not lows:
            return None
        low, first = min(lows), lows[0]
        if not (low > 0 and loss > t.growth_factor * low and loss > first):
            return None
        evidence = (f"loss {loss:.4g} in {where}: {loss / low:.0f}× its lowest value so far ({low:.4g}) and above "
                    f"where it started ({first:.4g})")
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
