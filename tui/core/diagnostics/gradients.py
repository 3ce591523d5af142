"""exploding_gradients, vanishing_gradients and dead_layers, from the per-layer gradient norms the session samples."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tui.core.diagnostics.common import (
    ACTIVATION_FIX, BATCH_NORM_FIX, CLIP_FIX, DoctorState, Finding, Fix, _chance_loss, _data_loss, _finite,
    _lower_lr, _lr,
)
from tui.core.diagnostics.divergence import _divergence_fixes


def exploding(doctor: DoctorState, event: Any, norms: Sequence[float]) -> Finding | None:
    t = doctor.thresholds
    big = [(name, n) for name, n in zip(event.layers, norms) if not math.isfinite(n) or n > t.exploding_norm]
    if not big:
        return None
    shown = ", ".join(f"{name} {n:.3g}" for name, n in big[:4])
    config = doctor.config
    fixes: list[Fix] = []
    if config is None or not config.optimizer.clipnorm:
        fixes.append(CLIP_FIX)
    m = config.model if config is not None else None
    if m is not None and m.kernel_initializer == "normal" and m.init_std > 0.1:
        # A large initial scale multiplies the gradient at every layer: the cause, not a symptom to clip.
        init = "he_normal" if m.activation in ("relu", "leaky_relu", "elu", "gelu", "swish") else "glorot_uniform"
        fixes.insert(0, Fix(f"initialise with {init} instead of normal with std {m.init_std:g} (scaled to each "
                            "layer's width)", {"model.kernel_initializer": init}))
    fixes += [f for f in _divergence_fixes(config) if f is not BATCH_NORM_FIX and f is not CLIP_FIX]
    if config is None or not config.model.batch_norm:
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


def dead_layers(doctor: DoctorState, epoch: int, zero_runs: Mapping[str, int]) -> Finding | None:
    """Layers whose gradient norm was exactly zero in their last two samples or more (the samples are throttled
    in time, so an epoch may hold one or several)."""
    dead = [name for name, n in zero_runs.items() if n >= 2]
    if not dead:
        return None
    config = doctor.config
    fixes: list[Fix] = []
    lr = _lr(config)
    fixes.append(_lower_lr(config))
    if config is None or config.model.activation == "relu":
        fixes.append(Fix("use leaky_relu, whose units cannot die", {"model.activation": "leaky_relu"}))
    if config is not None and config.model.kernel_initializer not in ("he_normal", "he_uniform"):
        fixes.append(Fix("initialise with he_normal", {"model.kernel_initializer": "he_normal"}))
    if config is None or not config.model.batch_norm:
        fixes.append(BATCH_NORM_FIX)
    return Finding(
        id="dead_layers", severity="warning", epoch=epoch,
        title=f"Dead layers in epoch {epoch}: no gradient reaches {dead[0]}" + (" and others" if dead[1:] else ""),
        evidence=(f"gradient norm exactly 0 in the last {min(zero_runs[d] for d in dead)} or more samples up to "
                  f"epoch {epoch} for {', '.join(dead[:5])}"
                  + (f" (learning rate {lr:g})" if config is not None else "")),
        explanation=("A layer whose gradient is exactly zero has stopped learning altogether: typically every "
                     "ReLU in it outputs 0 for every image (\"dead\"), usually after a step so large it pushed "
                     "their weights far negative. Nothing below it learns either. This is not the gradual "
                     "shrinking of vanishing gradients: a smaller learning rate, units that cannot die (leaky "
                     "ReLU) or an initialisation scaled to the layer avoid it."),
        fixes=tuple(fixes))


def acquired(start_ratio: float | None, limit: float) -> bool:
    """The gradients were healthy at the first sample (the ratio at or above `limit`), so a vanishing seen later
    was acquired in training."""
    return start_ratio is not None and start_ratio >= limit


def vanishing(doctor: DoctorState, epoch: int, ratios: Sequence[float],
              last_norms: tuple[Sequence[str], list[float]],
              previous: Sequence[Mapping[str, float]], start_ratio: float | None = None) -> Finding | None:
    """`start_ratio`: the first/last layer ratio of the run's first gradient sample (after its first batch). At or
    above `vanishing_ratio` the gradients were healthy when training started and vanished during it (units
    saturated by the steps): the evidence says so, and the doctor ranks what collapsed the network first."""
    t = doctor.thresholds
    ratios = [r for r in ratios if r > 0]  # an exactly zero first layer is dead (dead_layers), not vanishing
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
    fixes = []
    m = config.model if config is not None else None
    if m is None or m.activation in ("sigmoid", "tanh", "softsign", "hard_sigmoid"):
        fixes.append(ACTIVATION_FIX)
    elif m.kernel_initializer not in ("he_normal", "he_uniform"):
        fixes.append(Fix("initialise with he_normal", {"model.kernel_initializer": "he_normal"}))
    if m is None or not m.batch_norm:
        fixes.append(BATCH_NORM_FIX)
    if m is None or m.architecture != "resnet":
        fixes.append(Fix("use residual connections (a ResNet)"))
    return Finding(
        id="vanishing_gradients", severity="warning", epoch=epoch,
        title=f"Vanishing gradients in epoch {epoch}",
        evidence=(f"gradient norm of the first layer {layers[0]} {norms[0]:.2e} vs the last {layers[-1]} "
                  f"{norms[-1]:.2e} (median ratio this epoch {ratio:.1e}, under {t.vanishing_ratio:.0e}) "
                  f"while the training loss moved only from {before:.4f} to {loss:.4f}"
                  + (f"; healthy when training started (ratio {start_ratio:.1e} after the first batch): they "
                     "vanished during training" if acquired(start_ratio, t.vanishing_ratio) else "")),
        explanation=("The error signal shrinks each time it passes back through a layer, so the first layers "
                     "hardly learn. Sigmoid and tanh squash their slope to at most 0.25 and 1, and small "
                     "initial weights shrink it further; ReLU with He initialization keeps it near 1, batch "
                     "normalization rescales it and residual connections give it a short-cut."),
        fixes=tuple(fixes))
