"""exploding_gradients and vanishing_gradients, from the per-layer gradient norms the session samples."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    ACTIVATION_FIX, BATCH_NORM_FIX, CLIP_FIX, Finding, Fix, _chance_loss, _data_loss, _finite,
    DoctorState,
)
from tui.core.diagnostics.divergence import _divergence_fixes


def exploding(doctor: DoctorState, event: Any, norms: Sequence[float]) -> Finding | None:
    t = doctor.thresholds
    big = [(name, n) for name, n in zip(event.layers, norms) if not math.isfinite(n) or n > t.exploding_norm]
    if not big:
        return None
    shown = ", ".join(f"{name} {n:.3g}" for name, n in big[:4])
    config = doctor.config
    fixes = [f for f in _divergence_fixes(config) if f is not BATCH_NORM_FIX]
    if config is None or not config.optimizer.clipnorm:
        fixes.insert(0, fixes.pop(fixes.index(CLIP_FIX)))
    fixes.append(BATCH_NORM_FIX)
    return Finding(
        id="exploding_gradients", severity="warning", epoch=event.epoch,
        title=f"Exploding gradients in epoch {event.epoch}",
        evidence=(f"gradient norms at epoch {event.epoch}, batch {event.batch}: {shown} (over "
                  f"{t.exploding_norm:g})"),
        explanation=("The gradients are so large that one step moves the weights far past any "
                     "minimum: the loss jumps around or runs away. Clipping caps each step; a smaller "
                     "learning rate, scaled inputs and batch normalization keep gradients in range."),
        fixes=tuple(fixes))


def vanishing(doctor: DoctorState, epoch: int, ratios: Sequence[float],
              last_norms: tuple[Sequence[str], list[float]],
              previous: Sequence[Mapping[str, float]]) -> Finding | None:
    t = doctor.thresholds
    if not ratios:
        return None
    ratio = sorted(ratios)[len(ratios) // 2]
    loss = _data_loss(doctor.history[-1])
    before = _data_loss(previous[-1]) if previous else _chance_loss(doctor.classes)
    if not (ratio < t.vanishing_ratio and _finite(loss) and before
            and (before - loss) < t.vanishing_flat * before):
        return None
    layers, norms = last_norms
    config = doctor.config
    fixes = [ACTIVATION_FIX]
    if config is None or not config.model.batch_norm:
        fixes.append(BATCH_NORM_FIX)
    if config is None or config.model.architecture != "resnet":
        fixes.append(Fix("use residual connections (a ResNet)"))
    if config is None or not config.optimizer.clipnorm:
        fixes.append(Fix("clip gradients to norm 1.0 (guards the opposite problem once they flow)",
                         {"optimizer.clipnorm": 1.0}))
    return Finding(
        id="vanishing_gradients", severity="warning", epoch=epoch,
        title=f"Vanishing gradients in epoch {epoch}",
        evidence=(f"gradient norm of the first layer {layers[0]} {norms[0]:.2e} vs the last {layers[-1]} "
                  f"{norms[-1]:.2e} (median ratio this epoch {ratio:.1e}, under {t.vanishing_ratio:.0e}) "
                  f"while the training loss moved only from {before:.4f} to {loss:.4f}"),
        explanation=("The error signal shrinks each time it passes back through a layer, so the first layers "
                     "hardly learn. Sigmoid and tanh squash their slope to at most 0.25 and 1, and small "
                     "initial weights shrink it further; ReLU with He initialization keeps it near 1, batch "
                     "normalization rescales it and residual connections give it a short-cut."),
        fixes=tuple(fixes))
